//! The end of a request, after its response: the reservation settled to what was metered and
//! the ledger rows written; and an upstream failure as the client sees it.

use oachat_core::ledger::{Ending, LedgerRow};
use oachat_core::metering::Usage;
use oachat_core::plan::Plan;
use oachat_protocol::names::REQUEST_ID_HEADER;
use worker::{Env, Headers, Response, ResponseBuilder};

use super::Call;
use crate::error::HandlerError;
use crate::ledger_d1;
use crate::limits::{self, Admission};
use crate::time::now_ms;
use crate::upstream::{Failed, Failure};

/// Settles and records after the response, on the request's `wait_until`.
pub(super) fn after_response(call: &Call<'_>, admission: Admission, rows: Vec<LedgerRow>) {
    let env = call.env.clone();
    let runtime = call.runtime.clone();
    call.ctx.wait_until(async move {
        settle_and_record(&env, admission, rows, "", "", &[]).await;
        crate::metrics::flush_soon(&env, &runtime).await;
    });
}

/// Settles the reservation to what was metered (releasing the rest); the user's object stores
/// the rows (and a conversation's turn with its delivered `answer` and `reasoning`) with the settle and moves
/// the rows to D1. Should the object be unreachable, the rows go to D1 directly, so a request
/// is never missing from the ledger. The rows are counted for `GET /metrics` too (the
/// caller's `wait_until` flushes them).
pub(super) async fn settle_and_record(
    env: &Env,
    mut admission: Admission,
    rows: Vec<LedgerRow>,
    answer: &str,
    reasoning: &str,
    tool_calls: &[oachat_core::tools::ToolCall],
) {
    if let Ok(runtime) = crate::runtime::runtime(env) {
        crate::metrics::settled(&runtime, &rows);
    }
    admission.trace.end(&rows);
    if limits::settle(env, admission, &rows, answer, reasoning, tool_calls).await {
        return;
    }
    if let Err(error) = ledger_d1::insert_all(env, &rows).await {
        worker::console_error!("oachat: ledger write failed for {}: {error}", rows[0].id);
    }
}

/// No key could answer. The ledger gets the failed row (and any abandoned attempts, which the
/// upstream may bill); the client gets our error, or the upstream's own refusal of the
/// request with every key removed from it.
pub(super) fn upstream_failed(
    call: &Call<'_>,
    plan: Plan,
    admission: Admission,
    failed: Failed,
) -> Result<Response, HandlerError> {
    let Failed {
        failure,
        attempts,
        abandoned,
    } = failed;
    let status = match &failure {
        Failure::Proxy(error) => error.status(),
        Failure::Upstream(pass) => pass.status,
    };
    let row = plan.ledger_row(
        "",
        Usage::default(),
        status,
        Ending::Failed,
        0,
        now_ms(),
        attempts,
    );
    after_response(
        call,
        admission,
        plan.with_abandoned(row, &abandoned, now_ms()),
    );
    match failure {
        Failure::Proxy(error) => {
            // The router logs server errors; a 429 from a pool with every key cooling is
            // worth a line too.
            if error.status() < 500 {
                worker::console_warn!("oachat: {} {}", error.status(), error.code());
            }
            Err(HandlerError::of_request(error, &plan.request_id))
        }
        Failure::Upstream(pass) => {
            let headers = Headers::new();
            headers.set("content-type", "application/json")?;
            headers.set(REQUEST_ID_HEADER, &plan.request_id)?;
            call.cors.apply(&headers)?;
            Ok(ResponseBuilder::new()
                .with_status(pass.status)
                .with_headers(headers)
                .fixed(pass.body.into_bytes()))
        }
    }
}
