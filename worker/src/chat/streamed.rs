//! A streamed answer: the relay pumps the upstream's events to the client as they come,
//! metered, and after the last one the answer is cached (when complete and cacheable), the
//! reservation settled and the ledger row written.

use oachat_core::cache::CachedAnswer;
use oachat_core::ledger::Ending;
use oachat_core::metering::StreamMeter;
use oachat_core::plan::Plan;
use oachat_core::relay::RelayCore;
use oachat_core::request::ChatRequest;
use oachat_core::responses::ResponsesStream;
use oachat_core::tools;
use worker::{Response, ResponseBody, ResponseBuilder};

use super::{answer_headers, finish, stream_headers, Call};
use crate::error::HandlerError;
use crate::limits::{self, Admission};
use crate::relay::{Relay, RelayEnd};
use crate::responses::ResponsesTurn;
use crate::time::now_ms;
use crate::upstream::Answer;

/// `conversation` is whether this is a widget conversation's turn: its answer is captured
/// to be stored, and it may end with a quick-replies card. With `responses`, the relay
/// answers in the Responses dialect (metered the same), and the answer is kept for
/// `previous_response_id` after the settle.
pub(super) fn answer(
    call: &Call<'_>,
    plan: Plan,
    mut admission: Admission,
    chat: &ChatRequest,
    answer: Answer,
    conversation: bool,
    responses: Option<ResponsesTurn>,
) -> Result<Response, HandlerError> {
    let headers = answer_headers(&plan, "miss", call.cors)?;
    stream_headers(&headers)?;
    let meter = StreamMeter::new(chat.client_wants_usage);
    let meter = if conversation || plan.cache.is_some() || admission.trace.wants_content() {
        meter.capturing()
    } else {
        meter
    };
    // The widget's endpoint tells the page about the answer's calls and stores them.
    let meter = if conversation {
        meter
            .assembling_tool_calls(oachat_core::tools::offered_names(&chat.body))
            .with_server_tools(oachat_core::tools::server_flags(&call.runtime.config.tools))
    } else {
        meter
    };
    let mut core = match &responses {
        // The translator reads usage from the meter, so the meter keeps the usage chunk.
        Some(turn) => RelayCore::responses(meter, turn.stream(&plan), plan.billing()),
        None => RelayCore::new(meter),
    };
    // Cards are for the widget's own endpoint; OpenAI clients get a plain OpenAI stream.
    if conversation && !plan.follow_ups.is_empty() {
        let replies = serde_json::json!({ "replies": plan.follow_ups });
        core = core.with_card("quick-replies", &replies);
    }
    let Answer {
        body,
        key_id,
        attempts,
        abandoned,
        _controller: controller,
    } = answer;
    let native = core.passes_through(plan.target.provider, plan.billing().output_cap);
    let relay = Relay::start(body, core, native).map_err(worker::Error::from)?;
    let client_body = relay.client_body();
    let env = call.env.clone();
    let runtime = call.runtime.clone();
    let tool_args = call.runtime.config.ledger.tool_args;
    call.ctx.wait_until(async move {
        let end = limits::while_renewing(&env, &admission, relay.finished()).await;
        // Dropping the controller must not abort the stream: it lives as long as the pump.
        drop(controller);
        cache_if_complete(&plan, &end).await;
        let RelayEnd {
            ending,
            meter,
            responses_stream,
            first_event_ms,
            ended_ms,
        } = end;
        let usage = plan.metered(&meter);
        // A stream the upstream itself stopped (a content filter, its own failure) ended
        // with a finish reason, not a cut: the ledger says which.
        let ending = match ending {
            Ending::Completed => meter.ended_abnormally().unwrap_or(ending),
            other => other,
        };
        let ttfb = first_event_ms.map_or(0, |at| at.saturating_sub(plan.started_ms));
        let mut row = plan.ledger_row(
            key_id.as_str(),
            usage,
            200,
            ending,
            ttfb,
            ended_ms,
            attempts,
        );
        let tool_calls = meter.tool_calls();
        row.tools = tools::ledger_tool_names(&tool_calls);
        if tool_args && !tool_calls.is_empty() {
            row.tool_args = Some(tools::ledger_tool_args(&tool_calls));
        }
        let rows = plan.with_abandoned(row, &abandoned, now_ms());
        let (answer, reasoning) = (meter.captured_text(), meter.captured_reasoning());
        admission.trace.answered(meter.finish_reason(), answer);
        finish::settle_and_record(&env, admission, rows, answer, reasoning, &tool_calls).await;
        keep_answer(&env, &plan, responses, responses_stream).await;
        crate::metrics::flush_soon(&env, &runtime).await;
    });
    Ok(ResponseBuilder::new()
        .with_status(200)
        .with_headers(headers)
        .body(ResponseBody::Stream(client_body)))
}

/// A `/v1/responses` answer's conversation, kept after its settle.
async fn keep_answer(
    env: &worker::Env,
    plan: &Plan,
    turn: Option<ResponsesTurn>,
    stream: Option<ResponsesStream>,
) {
    if let (Some(turn), Some(stream)) = (turn, stream) {
        turn.keep_answer(env, &plan.identity.user, &stream).await;
    }
}

/// Only a complete answer is worth replaying: a `length` cut is not one.
async fn cache_if_complete(plan: &Plan, end: &RelayEnd) {
    let Some(cache) = &plan.cache else { return };
    let complete = end.ending == Ending::Completed
        && end.meter.finish_reason() == Some("stop")
        && !end.meter.captured_text().is_empty();
    if !complete {
        return;
    }
    let usage = end.meter.outcome(plan.prompt_estimate);
    let answer = CachedAnswer {
        model: plan.upstream_model.clone(),
        content: end.meter.captured_text().to_string(),
        finish_reason: "stop".into(),
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
    };
    crate::cache::store(&cache.key, &answer, cache.ttl_s).await;
}
