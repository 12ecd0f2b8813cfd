//! An answer from the exact-match cache, streamed like a live answer when asked. Metered as
//! cached: the ledger keeps the tokens with every prompt token marked cached, at zero cost,
//! and the reservation is released.

use oachat_core::cache::CachedAnswer;
use oachat_core::ledger::Ending;
use oachat_core::metering::Usage;
use oachat_core::plan::Plan;
use oachat_core::request::ChatRequest;
use oachat_protocol::encode_event_into;
use worker::{Response, ResponseBuilder};

use super::{answer_headers, finish, stream_headers, Call};
use crate::error::HandlerError;
use crate::limits::Admission;
use crate::responses::ResponsesTurn;
use crate::time::now_ms;

/// Characters per streamed piece: keeps the widget's typewriter feel on a cached answer.
const PIECE_CHARS: usize = 24;

/// With `responses`, the cached answer's chunks go through the Responses translator, as a
/// live answer's would.
pub(super) async fn answer(
    call: &Call<'_>,
    plan: Plan,
    mut admission: Admission,
    chat: &ChatRequest,
    hit: CachedAnswer,
    responses: Option<ResponsesTurn>,
) -> Result<Response, HandlerError> {
    let headers = answer_headers(&plan, "hit", call.cors)?;
    let created_s = plan.started_ms / 1000;
    let id = format!("chatcmpl-{}", plan.request_id);
    let usage = Usage {
        prompt_tokens: hit.prompt_tokens,
        completion_tokens: hit.completion_tokens,
        cached_tokens: hit.prompt_tokens,
        reasoning_tokens: 0,
        estimated: false,
    };
    let mut row = plan.ledger_row("", usage, 200, Ending::Cached, 0, now_ms(), 0);
    row.cost_micro_usd = 0;
    admission
        .trace
        .answered(Some(&hit.finish_reason), &hit.content);
    finish::after_response(call, admission, vec![row]);
    if let Some(turn) = responses {
        let mut translator = turn.stream(&plan);
        let mut events = String::new();
        for chunk in hit.stream_events(&id, created_s, PIECE_CHARS, true) {
            translator.chunk(&chunk, &mut events);
        }
        translator.complete(&usage, &mut events);
        turn.keep_answer(call.env, &plan.identity.user, &translator)
            .await;
        let body = if plan.stream {
            stream_headers(&headers)?;
            events
        } else {
            headers.set("content-type", "application/json")?;
            translator.response().to_string()
        };
        return Ok(ResponseBuilder::new()
            .with_status(200)
            .with_headers(headers)
            .fixed(body.into_bytes()));
    }
    let body = if plan.stream {
        stream_headers(&headers)?;
        let mut body = String::new();
        for event in hit.stream_events(&id, created_s, PIECE_CHARS, chat.client_wants_usage) {
            encode_event_into(&mut body, &event);
        }
        body
    } else {
        headers.set("content-type", "application/json")?;
        hit.completion(&id, created_s).to_string()
    };
    Ok(ResponseBuilder::new()
        .with_status(200)
        .with_headers(headers)
        .fixed(body.into_bytes()))
}
