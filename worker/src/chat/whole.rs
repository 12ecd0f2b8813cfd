//! A non-streamed answer. The upstream streamed it all the same (every upstream call is a
//! stream, so a key that stalls is noticed and usage is always reported): its events are
//! metered and assembled into one chat completion (`oachat_core::assemble`).

use oachat_core::assemble::Assembler;
use oachat_core::error::ProxyError;
use oachat_core::ledger::Ending;
use oachat_core::metering::{StreamMeter, Usage};
use oachat_core::plan::{cached_answer, Plan};
use oachat_protocol::SseParser;
use worker::{Response, ResponseBuilder};

use super::{answer_headers, finish, Call};
use crate::error::HandlerError;
use crate::limits::{self, Admission};
use crate::responses::ResponsesTurn;
use crate::time::now_ms;
use crate::upstream::Answer;

/// With `responses`, the same events are fed to the Responses translator too, and its final
/// response object is the answer (kept for `previous_response_id` before it is returned, so a
/// client that continues at once finds it).
pub(super) async fn answer(
    call: &Call<'_>,
    plan: Plan,
    mut admission: Admission,
    answer: Answer,
    responses: Option<ResponsesTurn>,
) -> Result<Response, HandlerError> {
    let ttfb = now_ms().saturating_sub(plan.started_ms);
    let key_id = answer.key_id.as_str().to_string();
    let (attempts, abandoned) = (answer.attempts, answer.abandoned);
    let read = limits::while_renewing(call.env, &admission, answer.body.read_all()).await;
    let mut meter = StreamMeter::new(true);
    let mut assembler = Assembler::default();
    let mut translator = responses.as_ref().map(|turn| turn.stream(&plan));
    // The events a streamed answer would have sent: not sent, only the final object is.
    let mut unsent = String::new();
    if let Ok(bytes) = &read {
        let mut parser = SseParser::new();
        let mut events = parser.push(bytes);
        events.extend(parser.finish());
        for event in &events {
            meter.observe(&event.data);
            assembler.push(&event.data);
            if let Some(translator) = &mut translator {
                translator.chunk(&event.data, &mut unsent);
            }
        }
    }
    // Finished: `[DONE]` or the usage chunk (always asked for, and last) arrived.
    let finished = read.is_ok() && (meter.saw_done() || meter.reported_usage().is_some());
    if !finished {
        // The body broke off after a 200 head. Nothing reached the client, but the upstream
        // billed what it generated: charge what was metered, or, when the body itself is
        // lost, up to the whole reservation (estimated); answer with an error, not a
        // truncated answer passed off as complete.
        let usage = match read {
            Ok(_) => plan.metered(&meter),
            Err(_) => Usage {
                prompt_tokens: plan.prompt_estimate,
                completion_tokens: plan.reserve_tokens.saturating_sub(plan.prompt_estimate),
                cached_tokens: 0,
                reasoning_tokens: 0,
                estimated: true,
            },
        };
        let error = ProxyError::UpstreamBroken;
        let row = plan.ledger_row(
            &key_id,
            usage,
            error.status(),
            Ending::UpstreamCut,
            ttfb,
            now_ms(),
            attempts,
        );
        let rows = plan.with_abandoned(row, &abandoned, now_ms());
        finish::after_response(call, admission, rows);
        return Err(HandlerError::of_request(error, &plan.request_id));
    }
    let usage = plan.metered(&meter);
    let completion = assembler.finish();
    if let (Some(cache), Some(answer)) = (&plan.cache, cached_answer(&completion, &usage)) {
        let (key, ttl_s) = (cache.key.clone(), cache.ttl_s);
        call.ctx
            .wait_until(async move { crate::cache::store(&key, &answer, ttl_s).await });
    }
    let ending = meter.ended_abnormally().unwrap_or(Ending::Completed);
    // An ending an SDK would read as ordinary (Zhipu's `sensitive`, `network_error`) is
    // answered as the error it is. The tokens were made all the same: charged as metered.
    let refusal = meter.finish_error();
    let status = refusal.as_ref().map_or(200, ProxyError::status);
    let row = plan.ledger_row(&key_id, usage, status, ending, ttfb, now_ms(), attempts);
    admission.trace.answered_whole(&completion);
    finish::after_response(
        call,
        admission,
        plan.with_abandoned(row, &abandoned, now_ms()),
    );
    if let Some(error) = refusal {
        return Err(HandlerError::of_request(error, &plan.request_id));
    }
    let body = match (responses, translator) {
        (Some(turn), Some(mut translator)) => {
            translator.complete(&usage, &mut unsent);
            turn.keep_answer(call.env, &plan.identity.user, &translator)
                .await;
            translator.response()
        }
        _ => completion,
    };
    let headers = answer_headers(&plan, "miss", call.cors)?;
    headers.set("content-type", "application/json")?;
    Ok(ResponseBuilder::new()
        .with_status(200)
        .with_headers(headers)
        .fixed(body.to_string().into_bytes()))
}
