//! `POST /v1/responses`, the shell: the body is translated by `oachat_core::responses` into a
//! chat-completions request (with the stored conversation of `previous_response_id` before its
//! input) and served by `chat::serve`, the chat path itself: identity, limits, budgets,
//! routing, metering, the ledger and key failover are the same code. Only the answer's dialect
//! differs: the relay (or the whole answer's assembly) turns chunks into Responses events.
//! A stored answer's conversation is kept in the caller's own `UserDo` after the answer.

use oachat_core::error::ProxyError;
use oachat_core::plan::Plan;
use oachat_core::request::parse_chat_request;
use oachat_core::responses::{
    parse_responses_request, read_conversation, response_id, stored_conversation,
    valid_response_id, ResponseHead, ResponsesStream,
};
use oachat_core::user_call::StoreResponse;
use serde_json::{Map, Value};
use worker::{Env, Request, Response};

use crate::chat::{self, Call};
use crate::error::HandlerError;
use crate::time::now_ms;
use crate::user_client::UserClient;

/// Tries of a `previous_response_id` lookup before a 404: a streamed answer's conversation is
/// stored just after its last event, so a client that continues at once can arrive first.
const LOOKUP_ATTEMPTS: u32 = 3;
const LOOKUP_RETRY_MS: u64 = 150;

/// What the chat path needs to answer in the Responses dialect.
pub struct ResponsesTurn {
    echo: Map<String, Value>,
    /// The conversation before the answer, kept with it; `None` with `store: false`.
    keep: Option<Vec<Value>>,
}

pub async fn create(mut req: Request, call: &Call<'_>) -> Result<Response, HandlerError> {
    let started_ms = now_ms();
    let identity = crate::auth::authenticate(&req, call.env, &call.runtime).await?;
    let bytes = crate::body::request_bytes(&mut req, call.runtime.config.max_body_bytes).await?;
    let request = parse_responses_request(&bytes)?;
    let history = match &request.previous_response_id {
        None => Vec::new(),
        Some(id) => previous_conversation(call.env, &identity.user, id).await?,
    };
    let chat = parse_chat_request(&request.chat_body(&history))?;
    let turn = ResponsesTurn {
        echo: request.echo.clone(),
        keep: request.store.then(|| request.conversation(&history)),
    };
    chat::serve(call, identity, chat, started_ms, None, Some(turn)).await
}

/// The stored conversation of one of the caller's own responses.
async fn previous_conversation(
    env: &Env,
    user: &str,
    id: &str,
) -> Result<Vec<Value>, HandlerError> {
    if !valid_response_id(id) {
        return Err(ProxyError::ResponseNotFound.into());
    }
    let object = UserClient::new(env, user);
    for attempt in 1..=LOOKUP_ATTEMPTS {
        if let Some(stored) = object.response(id).await? {
            return Ok(read_conversation(&stored));
        }
        if attempt < LOOKUP_ATTEMPTS {
            worker::Delay::from(std::time::Duration::from_millis(LOOKUP_RETRY_MS)).await;
        }
    }
    Err(ProxyError::ResponseNotFound.into())
}

impl ResponsesTurn {
    /// The translator for this request's answer, named after its plan.
    pub fn stream(&self, plan: &Plan) -> ResponsesStream {
        ResponsesStream::new(ResponseHead {
            id: response_id(&plan.request_id),
            created_at: plan.started_ms / 1000,
            model: plan.upstream_model.clone(),
            echo: self.echo.clone(),
        })
    }

    /// Keeps the conversation with its answer, when asked to and something was answered. A
    /// failure to store is logged: the answer itself was delivered.
    pub async fn keep_answer(&self, env: &Env, user: &str, stream: &ResponsesStream) {
        let (Some(before), Some(answer)) = (&self.keep, stream.assistant_message()) else {
            return;
        };
        let mut conversation = before.clone();
        conversation.push(answer);
        let response = StoreResponse {
            id: stream.head().id.clone(),
            conversation: stored_conversation(&conversation),
            now_ms: now_ms(),
        };
        if let Err(error) = UserClient::new(env, user).store_response(response).await {
            worker::console_error!("oachat: storing a response failed: {error}");
        }
    }
}
