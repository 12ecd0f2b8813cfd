//! Sending a request upstream over the key pool: pick a key, fetch with a first-byte
//! timeout, classify the answer, fail over to another key as `core/failover.rs` decides, and
//! stop at the first answer worth giving the client.
//!
//! Every request goes upstream as a stream, so a head arrives when the upstream accepts it:
//! after a 2xx head nothing is retried (the upstream may be generating), and nothing is ever
//! retried once a byte has reached the client (this module returns before any body byte is
//! read). An attempt abandoned at the first-byte timeout may still have been billed by the
//! upstream; it is returned as `abandoned`, for the ledger to charge at its estimate.

use futures_util::future::{select, Either, LocalBoxFuture};
use oachat_core::error::ProxyError;
use oachat_core::failover::{Failover, Next};
use oachat_core::keypool::{classify, error_fingerprint, KeyId, Outcome};
use oachat_core::provider::{KeyHeader, UpstreamTarget};
use oachat_core::redact::scrub_error_body;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

use crate::runtime::Runtime;
use crate::time::now_ms;
use crate::upstream_body::{wait_first_token, UpstreamBody};

/// A successful upstream answer that has started (its first token, or its end, arrived).
pub struct Answer {
    pub body: UpstreamBody,
    pub key_id: KeyId,
    pub attempts: u32,
    /// Earlier attempts abandoned at the first-byte or first-token timeout (the upstream may
    /// bill them).
    pub abandoned: Vec<KeyId>,
    /// Keep the controller alive with the body: dropping it must not abort the stream,
    /// but the relay may abort it explicitly.
    pub _controller: AbortController,
}

/// An upstream failure reported to the shared key health, after the response.
pub struct HealthReport {
    pub upstream_index: usize,
    pub key_id: KeyId,
    pub outcome: Outcome,
    pub at_ms: u64,
}

/// An upstream refusal that is the request's own (a 400 about a bad tool schema, a model
/// the keys' project may not use), shown to its client with every key removed. Key-level
/// failures (401 quotes part of the key) never reach a client.
pub struct PassThrough {
    pub status: u16,
    pub body: String,
}

pub enum Failure {
    Proxy(ProxyError),
    Upstream(PassThrough),
}

/// A request no key could answer, with how many attempts it made (for the ledger row).
pub struct Failed {
    pub failure: Failure,
    pub attempts: u32,
    pub abandoned: Vec<KeyId>,
}

/// Called before a request tries another key after an abandoned attempt: `true` when the
/// request's reservation grew to cover that attempt's charge, `false` to stop here.
pub type CoverAbandoned<'a> = &'a dyn Fn() -> LocalBoxFuture<'a, bool>;

/// Tries keys until one answers, the request's own refusal is clear, or the keys or the
/// transient attempts run out.
pub async fn send(
    runtime: &Runtime,
    upstream_index: usize,
    target: &UpstreamTarget,
    body: &str,
    reports: &mut Vec<HealthReport>,
    cover_abandoned: CoverAbandoned<'_>,
) -> Result<Answer, Failed> {
    let mut attempt = Attempts::default();
    let tried = try_keys(
        runtime,
        upstream_index,
        target,
        body,
        reports,
        cover_abandoned,
        &mut attempt,
    );
    match tried.await {
        Ok((body, key_id, controller)) => Ok(Answer {
            body,
            key_id,
            attempts: attempt.made,
            abandoned: attempt.abandoned,
            _controller: controller,
        }),
        Err(failure) => Err(Failed {
            failure,
            attempts: attempt.made,
            abandoned: attempt.abandoned,
        }),
    }
}

#[derive(Default)]
struct Attempts {
    made: u32,
    abandoned: Vec<KeyId>,
}

async fn try_keys(
    runtime: &Runtime,
    upstream_index: usize,
    target: &UpstreamTarget,
    body: &str,
    reports: &mut Vec<HealthReport>,
    cover_abandoned: CoverAbandoned<'_>,
    attempts: &mut Attempts,
) -> Result<(UpstreamBody, KeyId, AbortController), Failure> {
    let upstream = &runtime.upstreams[upstream_index];
    let mut failover = Failover::new(runtime.config.max_attempts, BACKOFF_BASE_MS);
    let url = target.url(&upstream.base_url);
    let first_token_timeout_ms = runtime.config.first_token_timeout_ms(upstream_index);
    let mut tried: Vec<KeyId> = Vec::new();
    let mut last_timeout = false;
    // A request-level refusal met on an earlier key: what the client gets if no key is left.
    let mut refusal: Option<PassThrough> = None;
    loop {
        let now = now_ms();
        let pick = upstream
            .pool
            .borrow_mut()
            .pick(now, js_sys::Math::random(), &tried);
        let Some(pick) = pick else {
            if let Some(refusal) = refusal {
                return Err(Failure::Upstream(refusal));
            }
            if last_timeout {
                return Err(Failure::Proxy(ProxyError::UpstreamTimeout));
            }
            let retry_after_s = upstream
                .pool
                .borrow()
                .next_available_ms(now)
                .map(|at| at.saturating_sub(now).div_ceil(1000).max(1));
            return Err(Failure::Proxy(ProxyError::UpstreamExhausted {
                retry_after_s,
            }));
        };
        attempts.made += 1;
        let key_id = pick.id.clone();
        tried.push(key_id.clone());

        let controller = AbortController::default();
        // The error is not logged: it is about a request that carries the key.
        let request = build_request(&url, target.key_header, pick.secret(), body)
            .map_err(|_| Failure::Proxy(ProxyError::Internal))?;
        let fetch = Fetch::Request(request);
        // One deadline for connect and response head: a Worker's `fetch` exposes no connect
        // phase to time separately, so `connect_timeout_ms` is not enforced on its own (a
        // connect that fails fast still fails over at once, as a 502).
        let timeout_ms = runtime.config.first_byte_timeout_ms;
        let signal = controller.signal();
        let raced = select(
            Box::pin(fetch.send_with_signal(&signal)),
            Box::pin(Delay::from(std::time::Duration::from_millis(timeout_ms))),
        )
        .await;
        let (outcome, fingerprint) = match raced {
            Either::Left((Ok(response), _)) if (200..300).contains(&response.status_code()) => {
                // The head is in; nothing has reached the client until the answer starts, so
                // a key that stalls before its first token is given up like a silent one.
                let started = wait_first_token(&response, first_token_timeout_ms).await;
                match started {
                    Some(started) => {
                        let share = pick.probe
                            || upstream
                                .pool
                                .borrow()
                                .worth_sharing(&key_id, &Outcome::Success);
                        upstream
                            .pool
                            .borrow_mut()
                            .report(&key_id, Outcome::Success, now_ms());
                        crate::metrics::attempted(runtime, &upstream.name, &Outcome::Success);
                        if share {
                            reports.push(HealthReport {
                                upstream_index,
                                key_id: key_id.clone(),
                                outcome: Outcome::Success,
                                at_ms: now_ms(),
                            });
                        }
                        return Ok((started, key_id, controller));
                    }
                    None => abandon(controller, attempts, &key_id, &mut last_timeout),
                }
            }
            Either::Left((Ok(response), _)) => {
                let status = response.status_code();
                let retry_after = response.headers().get("retry-after").ok().flatten();
                // The deployment's own keys leave the text before anything reads it.
                let text = runtime
                    .redactor
                    .redact(&crate::body::text(response).await.unwrap_or_default());
                let provider = runtime.config.upstreams[upstream_index].provider;
                let outcome = classify(provider, status, &text, retry_after.as_deref());
                if let Outcome::ClientError { .. } = outcome {
                    refusal = Some(PassThrough {
                        status,
                        body: scrub_error_body(status, &text, &runtime.redactor),
                    });
                }
                last_timeout = false;
                (outcome, error_fingerprint(status, &text))
            }
            Either::Left((Err(_), _)) => {
                last_timeout = false;
                (Outcome::ServerError { status: 502 }, String::new())
            }
            Either::Right(_) => abandon(controller, attempts, &key_id, &mut last_timeout),
        };
        let at = now_ms();
        let shared = upstream.pool.borrow().worth_sharing(&key_id, &outcome);
        upstream.pool.borrow_mut().report(&key_id, outcome, at);
        crate::metrics::attempted(runtime, &upstream.name, &outcome);
        if shared {
            reports.push(HealthReport {
                upstream_index,
                key_id,
                outcome,
                at_ms: at,
            });
        }
        let next = failover.after(&outcome, &fingerprint);
        // The abandoned attempt is charged; the next one must fit the budget beside it.
        if outcome == Outcome::Timeout
            && matches!(next, Next::Retry { .. })
            && !cover_abandoned().await
        {
            return Err(Failure::Proxy(ProxyError::UpstreamTimeout));
        }
        match next {
            Next::Retry { delay_ms: 0 } => {}
            Next::Retry { delay_ms } => {
                Delay::from(std::time::Duration::from_millis(delay_ms)).await
            }
            Next::Answer => {
                if let Some(refusal) = refusal {
                    return Err(Failure::Upstream(refusal));
                }
                return Err(Failure::Proxy(ProxyError::Internal));
            }
            Next::GiveUp => {
                return Err(Failure::Proxy(if last_timeout {
                    ProxyError::UpstreamTimeout
                } else {
                    ProxyError::UpstreamExhausted {
                        retry_after_s: None,
                    }
                }))
            }
        }
    }
}

/// An attempt given up at a timeout (no head, or no first token): sent and unanswered, the
/// upstream may have started on it, so it is kept as abandoned, for the ledger to charge.
fn abandon(
    controller: AbortController,
    attempts: &mut Attempts,
    key_id: &KeyId,
    last_timeout: &mut bool,
) -> (Outcome, String) {
    controller.abort();
    *last_timeout = true;
    attempts.abandoned.push(key_id.clone());
    (Outcome::Timeout, String::new())
}

/// The first wait after a 5xx or timeout; doubles with each one (`core/failover.rs`).
const BACKOFF_BASE_MS: u64 = 100;

fn build_request(
    url: &str,
    key_header: KeyHeader,
    key: &str,
    body: &str,
) -> worker::Result<Request> {
    let headers = Headers::new();
    let (name, value) = key_header.header(key);
    headers.set(name, &value)?;
    headers.set("content-type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    Request::new_with_init(url, &init)
}
