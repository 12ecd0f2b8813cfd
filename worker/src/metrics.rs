//! `GET /metrics` (Prometheus text), and this isolate's side of the counts behind it.
//!
//! On Cloudflare a scrape reaches one isolate of many, so the figures cannot live in isolate
//! memory: each isolate counts into [`IsolateMetrics`] and adds its counts to the
//! deployment's `MetricsDo` within about a second of making them (one call per isolate per
//! flush, on `wait_until`, never on a request's path). A scrape reads the object's totals and,
//! at that moment, the key health and the deployment budget objects for the gauges. Nothing
//! is counted while `OACHAT_METRICS_TOKEN` is unset.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use oachat_core::deployment_call::CapUsageCall;
use oachat_core::error::ProxyError;
use oachat_core::jwt::constant_time_eq;
use oachat_core::keypool::Health;
use oachat_core::ledger::LedgerRow;
use oachat_core::metrics::render::{render, CONTENT_TYPE};
use oachat_core::metrics::{Counts, Gauges};
use oachat_core::metrics_call::{Add, TotalsQuery};
use worker::{Delay, Env, Headers, Request, Response, ResponseBuilder};

use crate::durable::budget_do;
use crate::durable::client::ask;
use crate::error::HandlerError;
use crate::health;
use crate::runtime::Runtime;
use crate::time::now_ms;

pub const BINDING: &str = "METRICS";
pub const OBJECT_NAME: &str = "global";

/// How long counts wait before a flush, so that those made meanwhile ride along.
const FLUSH_DELAY_MS: u64 = 1_000;
/// A flush loops while counts keep coming, at most this many times: `wait_until` work must
/// end within 30 s of the response.
const FLUSH_ROUNDS: u32 = 10;
/// A flush that started longer ago than this was cut off with its request: another may start.
const FLUSH_STALE_MS: u64 = 30_000;

/// What this isolate counted and has not yet added to the `MetricsDo`.
pub struct IsolateMetrics {
    token: String,
    per_user: bool,
    pending: RefCell<Counts>,
    /// When the flush in flight started (0: none).
    flush_started_ms: Cell<u64>,
}

impl IsolateMetrics {
    /// Counting is on when the scrape token is set.
    pub fn new(token: Option<String>, per_user: bool) -> Option<IsolateMetrics> {
        Some(IsolateMetrics {
            token: token.filter(|token| !token.is_empty())?,
            per_user,
            pending: RefCell::new(Counts::default()),
            flush_started_ms: Cell::new(0),
        })
    }
}

/// The chat endpoints, whose answers `oachat_requests_total` counts.
pub fn is_chat_path(path: &str) -> bool {
    matches!(
        path,
        "/v1/chat/completions" | "/v1/responses" | "/v1/oachat/chat"
    )
}

/// A chat request answered with `response` (`refusal`: our error's code, when it was one).
/// The route and model come from the answer's headers, set once the request was planned.
pub fn answered(runtime: &Runtime, response: &Response, refusal: Option<&str>) {
    let Some(metrics) = &runtime.metrics else {
        return;
    };
    let headers = response.headers();
    let header = |name: &str| headers.get(name).ok().flatten().unwrap_or_default();
    metrics.pending.borrow_mut().request(
        &header("x-oachat-route"),
        &header("x-oachat-model"),
        response.status_code(),
        refusal,
    );
}

/// One upstream attempt and its outcome.
pub fn attempted(runtime: &Runtime, upstream: &str, outcome: &oachat_core::keypool::Outcome) {
    if let Some(metrics) = &runtime.metrics {
        metrics.pending.borrow_mut().attempt(upstream, outcome);
    }
}

/// A finished request's ledger rows: tokens, spend, latencies, cache hits.
pub fn settled(runtime: &Runtime, rows: &[LedgerRow]) {
    if let Some(metrics) = &runtime.metrics {
        metrics.pending.borrow_mut().rows(rows, metrics.per_user);
    }
}

/// Adds this isolate's counts to the `MetricsDo` soon: awaited on a `wait_until`. While one
/// flush is in flight, others return at once; it picks up what they counted.
pub async fn flush_soon(env: &Env, runtime: &Runtime) {
    let Some(metrics) = &runtime.metrics else {
        return;
    };
    let started = metrics.flush_started_ms.get();
    let now = now_ms();
    if started != 0 && now.saturating_sub(started) < FLUSH_STALE_MS {
        return;
    }
    metrics.flush_started_ms.set(now);
    for _ in 0..FLUSH_ROUNDS {
        Delay::from(Duration::from_millis(FLUSH_DELAY_MS)).await;
        if !flush(env, metrics).await {
            break;
        }
    }
    metrics.flush_started_ms.set(0);
}

/// Sends what is pending; false when there was nothing to send (or it could not be sent:
/// then it stays pending for the next flush).
async fn flush(env: &Env, metrics: &IsolateMetrics) -> bool {
    let counts = metrics.pending.replace(Counts::default());
    if counts.is_empty() {
        return false;
    }
    match send(env, counts.clone()).await {
        Ok(()) => true,
        Err(error) => {
            worker::console_warn!("oachat: metrics flush failed: {error}");
            metrics.pending.borrow_mut().merge(counts);
            false
        }
    }
}

async fn send(env: &Env, counts: Counts) -> worker::Result<()> {
    let stub = env.durable_object(BINDING)?.get_by_name(OBJECT_NAME)?;
    let counts = Box::new(counts);
    ask(&stub, Add { counts }).await.map(|_| ())
}

/// `GET /metrics`, with `Authorization: Bearer <OACHAT_METRICS_TOKEN>`. Unset token: 404.
pub async fn scrape(req: &Request, env: &Env, runtime: &Runtime) -> Result<Response, HandlerError> {
    let Some(metrics) = &runtime.metrics else {
        return Err(ProxyError::NotFound.into());
    };
    let authorization = req.headers().get("authorization")?.unwrap_or_default();
    let Some(given) = authorization.strip_prefix("Bearer ").map(str::trim) else {
        return Err(ProxyError::MissingCredential.into());
    };
    if !constant_time_eq(given.as_bytes(), metrics.token.as_bytes()) {
        return Err(ProxyError::InvalidCredential.into());
    }
    // This isolate's own counts first, so that a scrape after traffic on one isolate is exact.
    flush(env, metrics).await;
    let stub = env.durable_object(BINDING)?.get_by_name(OBJECT_NAME)?;
    let totals = ask(&stub, TotalsQuery {}).await?;
    let gauges = gauges(env, runtime).await?;
    let headers = Headers::new();
    headers.set("content-type", CONTENT_TYPE)?;
    headers.set("cache-control", "no-store")?;
    Ok(ResponseBuilder::new()
        .with_status(200)
        .with_headers(headers)
        .fixed(render(&totals, &gauges).into_bytes()))
}

/// The states a scrape reads: every configured key's health (the shared view, or this
/// isolate's for a key no isolate has reported on), and what is left of the deployment's caps.
async fn gauges(env: &Env, runtime: &Runtime) -> worker::Result<Gauges> {
    let now = now_ms();
    let shared = health::exchange(env, Vec::new()).await?;
    let mut key_states = Vec::new();
    for upstream in &runtime.upstreams {
        let pool = upstream.pool.borrow();
        let snapshot = shared
            .upstreams
            .iter()
            .find(|(name, _)| name == &upstream.name)
            .map(|(_, snapshot)| snapshot);
        for id in pool.ids() {
            let state = snapshot
                .and_then(|snapshot| snapshot.keys.get(id))
                .or_else(|| pool.state(id));
            let level = match state.map(|state| state.health) {
                Some(Health::CoolingDown { until_ms }) if until_ms > now => 1,
                Some(Health::Disabled { .. }) => 2,
                _ => 0,
            };
            key_states.push((upstream.name.clone(), id.as_str().to_string(), level));
        }
    }
    let config = &runtime.config;
    let caps = [
        ("day", config.deployment_daily_micro_usd()),
        ("month", config.deployment_monthly_micro_usd()),
    ];
    let mut deployment_remaining_usd = Vec::new();
    if caps.iter().any(|(_, cap)| cap.is_some()) {
        let stub = env
            .durable_object(budget_do::BINDING)?
            .get_by_name(budget_do::OBJECT_NAME)?;
        let used = ask(
            &stub,
            CapUsageCall {
                now_ms: now,
                department: None,
            },
        )
        .await?;
        for (period, cap) in caps {
            let granted = match period {
                "day" => used.day_granted_micro_usd,
                _ => used.month_granted_micro_usd,
            };
            if let Some(cap) = cap {
                let left = cap.saturating_sub(granted);
                deployment_remaining_usd.push((period, left as f64 / 1e6));
            }
        }
    }
    Ok(Gauges {
        deployment_remaining_usd,
        key_states,
    })
}
