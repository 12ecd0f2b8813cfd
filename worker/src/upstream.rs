//! Sending a request upstream over the key pool: pick a key, fetch with a first-byte
//! timeout, classify the answer, fail over to another key, and stop at the first answer
//! worth giving the client. Nothing is retried once a byte has reached the client: this
//! module returns before any body byte is read.

use futures_util::future::{select, Either};
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, Response};

use crate::core::error::ProxyError;
use crate::core::keypool::{classify, should_retry, KeyId, Outcome, RetryPolicy};
use crate::core::redact::scrub_error_body;
use crate::runtime::Runtime;
use crate::time::now_ms;

/// A successful upstream answer, headers received, body not yet read.
pub struct Answer {
    pub response: Response,
    pub key_id: KeyId,
    pub attempts: u32,
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

/// Upstream error bodies that may be shown to the client (a 400 about a bad tool schema is
/// the caller's to fix), with anything key-like scrubbed. Auth errors are never passed on:
/// OpenAI's 401 text quotes part of the key.
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
}

/// Tries keys until one answers, or the attempts run out.
pub async fn send(
    runtime: &Runtime,
    upstream_index: usize,
    path: &str,
    body: &str,
    reports: &mut Vec<HealthReport>,
) -> Result<Answer, Failed> {
    let mut attempts = 0;
    let sent = try_keys(runtime, upstream_index, path, body, reports, &mut attempts).await;
    sent.map_err(|failure| Failed { failure, attempts })
}

async fn try_keys(
    runtime: &Runtime,
    upstream_index: usize,
    path: &str,
    body: &str,
    reports: &mut Vec<HealthReport>,
    attempts: &mut u32,
) -> Result<Answer, Failure> {
    let upstream = &runtime.upstreams[upstream_index];
    let policy = RetryPolicy {
        max_attempts: runtime.config.max_attempts,
        ..RetryPolicy::default()
    };
    let url = format!("{}{}", upstream.base_url, path);
    let mut tried: Vec<KeyId> = Vec::new();
    let mut last_timeout = false;
    loop {
        let now = now_ms();
        let pick = upstream
            .pool
            .borrow_mut()
            .pick(now, js_sys::Math::random(), &tried);
        let Some(pick) = pick else {
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
        *attempts += 1;
        let key_id = pick.id.clone();
        tried.push(key_id.clone());

        let controller = AbortController::default();
        let request = build_request(&url, pick.secret(), body)
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
        let outcome = match raced {
            Either::Left((Ok(response), _)) if (200..300).contains(&response.status_code()) => {
                let share = pick.probe
                    || upstream
                        .pool
                        .borrow()
                        .worth_sharing(&key_id, &Outcome::Success);
                upstream
                    .pool
                    .borrow_mut()
                    .report(&key_id, Outcome::Success, now_ms());
                if share {
                    reports.push(HealthReport {
                        upstream_index,
                        key_id: key_id.clone(),
                        outcome: Outcome::Success,
                        at_ms: now_ms(),
                    });
                }
                return Ok(Answer {
                    response,
                    key_id,
                    attempts: *attempts,
                    _controller: controller,
                });
            }
            Either::Left((Ok(response), _)) => {
                let status = response.status_code();
                let retry_after = response.headers().get("retry-after").ok().flatten();
                let text = crate::body::text(response).await.unwrap_or_default();
                let outcome = classify(status, &text, retry_after.as_deref());
                if !should_retry(&outcome) {
                    upstream
                        .pool
                        .borrow_mut()
                        .report(&key_id, outcome, now_ms());
                    return Err(Failure::Upstream(PassThrough {
                        status,
                        body: scrub_error_body(status, &text),
                    }));
                }
                last_timeout = false;
                outcome
            }
            Either::Left((Err(_), _)) => {
                last_timeout = false;
                Outcome::ServerError { status: 502 }
            }
            Either::Right(_) => {
                controller.abort();
                last_timeout = true;
                Outcome::Timeout
            }
        };
        let at = now_ms();
        upstream.pool.borrow_mut().report(&key_id, outcome, at);
        reports.push(HealthReport {
            upstream_index,
            key_id,
            outcome,
            at_ms: at,
        });
        match policy.next_delay_ms(*attempts, &outcome) {
            Some(0) => {}
            Some(delay) => Delay::from(std::time::Duration::from_millis(delay)).await,
            None => {
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

fn build_request(url: &str, key: &str, body: &str) -> worker::Result<Request> {
    let headers = Headers::new();
    headers.set("authorization", &format!("Bearer {key}"))?;
    headers.set("content-type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    Request::new_with_init(url, &init)
}
