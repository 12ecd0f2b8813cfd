//! The widget's API (`/v1/oachat/...`): server-side conversations and answer feedback.
//!
//! Conversations live in the caller's own `UserDo` (named by the verified identity), so every
//! lookup is scoped to the caller: another user's conversation id is simply not there (404).
//! `POST /v1/oachat/chat` takes one new message and runs the same path as
//! `/v1/chat/completions` (limits, budget, routing, metering): the conversation is opened with
//! the admission, which brings its history (one call to the object), and the answer is stored
//! with the settle after the stream (one more), off the response's critical path. A turn may
//! offer the page's tools and context, or continue with the results of the last answer's
//! tool calls (docs/tools.md): the same two calls, the object checking the results.

use std::rc::Rc;

use oachat_core::conversation::{
    completion_body, new_id, parse_turn, title_from_message, valid_id, validate_title,
};
use oachat_core::error::ProxyError;
use oachat_core::identity::{Credential, Identity};
use oachat_core::request::parse_chat_request;
use oachat_core::tools::{merge_offer, route_server_tools};
use oachat_core::user_call::{ContinueCall, OpenCall};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Context, Env, Method, Request, Response};

use crate::auth;
use crate::chat;
use crate::error::HandlerError;
use crate::ledger_d1::D1Ledger;
use crate::random;
use crate::respond::{json_response, Cors};
use crate::runtime::Runtime;
use crate::time::now_ms;
use crate::user_client::UserClient;
use oachat_core::ledger_store::LedgerStore;

/// The response header naming the conversation a `POST /v1/oachat/chat` answer belongs to.
pub use oachat_protocol::CONVERSATION_HEADER;

/// The caller, who must be signed: a guest's device id is chosen by the browser and only
/// trusted as a rate-limit bucket, so it must not unlock stored conversations.
async fn signed_caller(
    req: &Request,
    env: &Env,
    runtime: &Runtime,
) -> Result<Identity, ProxyError> {
    let identity = auth::authenticate(req, env, runtime).await?;
    if identity.credential == Credential::Guest {
        return Err(ProxyError::MissingCredential);
    }
    Ok(identity)
}

/// `POST /v1/oachat/chat`: one turn of a server-side conversation, answered as SSE.
pub async fn chat(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    runtime: Rc<Runtime>,
    cors: &Cors,
) -> Result<Response, HandlerError> {
    let started_ms = now_ms();
    let identity = signed_caller(&req, env, &runtime).await?;
    let bytes = crate::body::request_bytes(&mut req, runtime.config.max_body_bytes).await?;
    let tools_config = &runtime.config.tools;
    let mut turn = parse_turn(&bytes, &tools_config.limits())?;
    // Every server tool is offered here; those the turn's route does not offer are taken out
    // once it is planned (`chat::admit`).
    let server_tools = route_server_tools(tools_config, None);
    turn.tools = merge_offer(&turn.tools, &server_tools, tools_config)?;
    let continuation = turn.tool_results.as_ref().map(|results| ContinueCall {
        results: results.clone(),
        max_tool_rounds: tools_config.max_rounds,
        server_tools: tools_config.server.keys().cloned().collect(),
    });
    // `tools.max_rounds = 0` turns tools off: a call could never be continued.
    let offer_tools = tools_config.max_rounds > 0;
    let open = OpenCall {
        conversation_id: turn.conversation_id.clone(),
        new_id: new_id(&random::hex(12)),
        title: title_from_message(&turn.message),
        new_message: turn.message.clone(),
        window_tokens: u64::from(runtime.config.history_window_tokens),
        now_ms: started_ms,
        continuation,
    };
    // The conversation named, or the one this turn creates. A refused first turn (rate,
    // budget, rounds...) creates nothing: the object only creates it with the admission.
    let conversation_id = match &turn.conversation_id {
        Some(id) => id.clone(),
        None => open.new_id.clone(),
    };
    // Without the history: it comes with the admission (`chat::serve`).
    let body = completion_body(&turn, &conversation_id, &[], offer_tools);
    let request = parse_chat_request(body.to_string().as_bytes())?;
    let call = chat::Call {
        env,
        ctx,
        traceparent: crate::otel::incoming(&req, &runtime),
        runtime,
        cors,
    };
    let mut response = chat::serve(&call, identity, request, started_ms, Some(open), None).await?;
    let _ = response
        .headers_mut()
        .set(CONVERSATION_HEADER, &conversation_id);
    Ok(response)
}

#[derive(Deserialize)]
struct Rename {
    title: String,
}

/// `/v1/oachat/conversations[/<id>]`: list, load, rename, delete.
pub async fn handle(
    mut req: Request,
    env: &Env,
    runtime: &Runtime,
    cors: &Cors,
) -> Result<Response, HandlerError> {
    let identity = signed_caller(&req, env, runtime).await?;
    let user = identity.user.as_str();
    let path = req.path();
    let rest = oachat_core::path::decode_segment(
        path.trim_start_matches("/v1/oachat/conversations")
            .trim_start_matches('/'),
    )?;
    let rest = rest.as_str();
    let method = req.method();
    if rest.is_empty() {
        return match method {
            Method::Get => {
                let list = UserClient::new(env, user).conversations().await?;
                respond(&json!({"object": "list", "data": list}), cors)
            }
            _ => Err(ProxyError::MethodNotAllowed { allowed: "GET" }.into()),
        };
    }
    // An id that could never have been issued cannot exist: 404, like any unknown id.
    if !valid_id(rest) {
        return Err(ProxyError::ConversationNotFound.into());
    }
    let object = UserClient::new(env, user);
    match method {
        Method::Get => {
            let transcript = object.conversation(rest).await?;
            let transcript = transcript.ok_or(ProxyError::ConversationNotFound)?;
            respond(&serde_json::to_value(&transcript)?, cors)
        }
        Method::Patch => {
            let rename: Rename =
                crate::body::small_json(&mut req, "title", "{\"title\": \"...\"}").await?;
            let title = validate_title(&rename.title)?;
            let renamed = object.rename_conversation(rest, title).await?;
            let renamed = renamed.ok_or(ProxyError::ConversationNotFound)?;
            respond(&serde_json::to_value(&renamed)?, cors)
        }
        Method::Delete => {
            let deleted = object.delete_conversation(rest).await?;
            if !deleted {
                return Err(ProxyError::ConversationNotFound.into());
            }
            respond(&json!({"id": rest, "deleted": true}), cors)
        }
        _ => Err(ProxyError::MethodNotAllowed {
            allowed: "GET, PATCH, DELETE",
        }
        .into()),
    }
}

#[derive(Deserialize)]
struct Feedback {
    request_id: String,
    rating: i8,
}

/// `POST /v1/oachat/feedback`: a rating of one of the caller's own answers, stored on its
/// ledger row. `0` clears an earlier rating.
pub async fn feedback(
    mut req: Request,
    env: &Env,
    runtime: &Runtime,
    cors: &Cors,
) -> Result<Response, HandlerError> {
    let identity = auth::authenticate(&req, env, runtime).await?;
    let feedback: Feedback = crate::body::small_json(
        &mut req,
        "rating",
        "{\"request_id\": \"req_...\", \"rating\": 1, -1 or 0}",
    )
    .await?;
    if !matches!(feedback.rating, -1..=1) {
        return Err(ProxyError::invalid("rating", "`rating` must be 1, -1 or 0.").into());
    }
    if feedback.request_id.is_empty() || feedback.request_id.len() > 64 {
        return Err(ProxyError::RequestNotFound.into());
    }
    let ledger = D1Ledger::open(env).await?;
    // A rating sent right after the answer can arrive before its row reached D1: the row waits
    // in the caller's outbox (or its settle is still on the way there). Ask the caller's object
    // to move its rows now and try again, a few times.
    let mut attempt = 0;
    while !ledger
        .rate(&feedback.request_id, &identity.user, feedback.rating)
        .await?
    {
        attempt += 1;
        if attempt == FEEDBACK_ATTEMPTS {
            return Err(ProxyError::RequestNotFound.into());
        }
        if attempt > 1 {
            worker::Delay::from(std::time::Duration::from_millis(200)).await;
        }
        let _ = UserClient::new(env, &identity.user).flush_ledger().await;
    }
    respond(
        &json!({"request_id": feedback.request_id, "rating": feedback.rating}),
        cors,
    )
}

/// Tries of the rating's UPDATE before a 404: the first at once, the next after a flush of the
/// caller's outbox, the last after one more short wait for a settle still in flight.
const FEEDBACK_ATTEMPTS: u32 = 3;

fn respond(value: &Value, cors: &Cors) -> Result<Response, HandlerError> {
    Ok(json_response(200, value, cors)?)
}
