//! Sharing key health between isolates through the `KeyHealthDo`, off the hot path.
//!
//! A request that saw a key fail reports it after the response (`wait_until`); the DO applies
//! the reports to the authoritative pool and answers with its snapshot, which this isolate
//! merges. Isolates that saw no failure still pull the snapshot every
//! [`HEALTH_SYNC_INTERVAL_MS`], so a key one isolate found rate-limited cools down everywhere.

use std::rc::Rc;

use oachat_core::key_health_call::{Exchange, KeyReport, RequestCounts, Snapshots};
use worker::{Context, Env};

use crate::runtime::{Runtime, HEALTH_SYNC_INTERVAL_MS};
use crate::time::now_ms;
use crate::upstream::HealthReport;

pub const BINDING: &str = "KEY_HEALTH";
/// One object holds every upstream's key health: failures are rare events, not per-request traffic.
pub const OBJECT_NAME: &str = "global";

/// Reports failures (if any) and refreshes this isolate's view, after the response. The
/// request is counted (and as failed when `failed`: no upstream answer) for the error-rate
/// alert; the counts ride on the next exchange.
pub fn share_after_response(
    ctx: &Context,
    env: &Env,
    runtime: &Rc<Runtime>,
    reports: Vec<HealthReport>,
    failed: bool,
) {
    let mut counts = runtime.request_counts.get();
    counts.total += 1;
    counts.failed += u64::from(failed);
    runtime.request_counts.set(counts);
    let now = now_ms();
    let due = now.saturating_sub(runtime.health_synced_ms.get()) >= HEALTH_SYNC_INTERVAL_MS;
    if reports.is_empty() && !due {
        return;
    }
    runtime.health_synced_ms.set(now);
    let wire: Vec<KeyReport> = reports
        .into_iter()
        .map(|report| KeyReport {
            upstream: runtime.upstreams[report.upstream_index].name.clone(),
            key_id: report.key_id,
            outcome: report.outcome,
            at_ms: report.at_ms,
        })
        .collect();
    let requests = runtime.request_counts.replace(RequestCounts::default());
    let env = env.clone();
    let runtime = runtime.clone();
    ctx.wait_until(async move {
        match exchange_counted(&env, wire, requests).await {
            Ok(snapshots) => apply(&runtime, &snapshots),
            Err(error) => worker::console_warn!("oachat: key health sync failed: {error}"),
        }
    });
}

/// A fresh isolate knows nothing of the keys' health: before its first upstream call it asks
/// the `KeyHealthDo` once, so a key benched by another isolate (or before a restart) is not
/// tried again. One round trip per isolate; later refreshes happen after responses.
pub async fn sync_before_first_use(env: &Env, runtime: &Runtime) {
    if runtime.health_synced_ms.get() != 0 {
        return;
    }
    // Set first: concurrent first requests go ahead rather than queue behind this one.
    runtime.health_synced_ms.set(now_ms());
    match exchange(env, Vec::new()).await {
        Ok(snapshots) => apply(runtime, &snapshots),
        Err(error) => worker::console_warn!("oachat: key health sync failed: {error}"),
    }
}

/// Sends reports (possibly none) and returns the shared snapshots.
pub async fn exchange(env: &Env, reports: Vec<KeyReport>) -> worker::Result<Snapshots> {
    exchange_counted(env, reports, RequestCounts::default()).await
}

/// [`exchange`], with the requests finished since the last one.
async fn exchange_counted(
    env: &Env,
    reports: Vec<KeyReport>,
    requests: RequestCounts,
) -> worker::Result<Snapshots> {
    let stub = env.durable_object(BINDING)?.get_by_name(OBJECT_NAME)?;
    crate::durable::client::ask(&stub, Exchange { reports, requests }).await
}

fn apply(runtime: &Runtime, snapshots: &Snapshots) {
    for (name, snapshot) in &snapshots.upstreams {
        if let Some(upstream) = runtime.upstreams.iter().find(|u| &u.name == name) {
            upstream.pool.borrow_mut().merge(snapshot);
        }
    }
}
