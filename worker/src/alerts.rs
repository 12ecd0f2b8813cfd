//! Raising alerts from the worker and its objects (docs/alerts.md). Every raise is fire and
//! forget: it runs on the caller's `wait_until`, so no request, grant or health exchange ever
//! waits for the `AlertsDo`, let alone for a webhook (those are sent from its alarm).

use std::cell::RefCell;
use std::collections::BTreeSet;

use oachat_core::alerts::sources::key_health_alerts;
use oachat_core::alerts::{budget_alerts, Alert, BudgetPeriod, Subject};
use oachat_core::alerts_call::Raise;
use oachat_core::keypool::HealthSnapshot;
use worker::{Env, State};

use crate::durable::alerts_do::{BINDING, OBJECT_NAME};
use crate::runtime::runtime;
use crate::time::now_ms;

/// Dedup keys this isolate already raised: a budget past 50% would otherwise raise the same
/// alert with every later grant. The object dedups for good; this only saves the calls.
const RAISED_MEMORY: usize = 1024;

thread_local! {
    static RAISED: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };
}

/// Spend `used_micro_usd` of a budget of `limit_micro_usd` (`None`: unlimited) in `period`,
/// for `subject`: raises the thresholds (`alerts.thresholds`) it has reached. The one call
/// every budget makes (the deployment's daily cap today; monthly and department budgets too).
pub fn budget_used(
    state: &State,
    env: &Env,
    subject: Subject,
    period: BudgetPeriod,
    used_micro_usd: u64,
    limit_micro_usd: Option<u64>,
) {
    let Some(limit) = limit_micro_usd else {
        return;
    };
    let Ok(runtime) = runtime(env) else {
        return;
    };
    let alerts = budget_alerts(
        &subject,
        &period,
        used_micro_usd,
        limit,
        &runtime.config.alerts.thresholds,
        now_ms(),
    );
    raise_from_object(state, env, alerts);
}

/// A key's health changed in the `KeyHealthDo`: raises a key disabled, or its upstream down.
pub fn key_health_changed(
    state: &State,
    env: &Env,
    upstream: &str,
    before: &HealthSnapshot,
    after: &HealthSnapshot,
) {
    raise_from_object(
        state,
        env,
        key_health_alerts(upstream, before, after, now_ms()),
    );
}

/// Raises `alerts` (those not raised by this isolate yet) on the object's `wait_until`.
/// Without webhooks nothing is raised: a deployment without alerts pays no call for them.
pub fn raise_from_object(state: &State, env: &Env, alerts: Vec<Alert>) {
    if alerts.is_empty()
        || runtime(env).map_or(true, |runtime| runtime.config.alerts.webhooks.is_empty())
    {
        return;
    }
    let alerts = not_raised_yet(alerts);
    if alerts.is_empty() {
        return;
    }
    let env = env.clone();
    state.wait_until(async move { send(&env, alerts).await });
}

fn not_raised_yet(alerts: Vec<Alert>) -> Vec<Alert> {
    RAISED.with(|raised| {
        let mut raised = raised.borrow_mut();
        if raised.len() > RAISED_MEMORY {
            raised.clear();
        }
        alerts
            .into_iter()
            .filter(|alert| raised.insert(alert.dedup_key()))
            .collect()
    })
}

async fn send(env: &Env, alerts: Vec<Alert>) {
    let keys: Vec<String> = alerts.iter().map(Alert::dedup_key).collect();
    let sent = async {
        let stub = env.durable_object(BINDING)?.get_by_name(OBJECT_NAME)?;
        crate::durable::client::ask(&stub, Raise { alerts }).await
    };
    if let Err(error) = sent.await {
        // Not raised: forget them here so the next crossing tries again.
        RAISED.with(|raised| {
            let mut raised = raised.borrow_mut();
            for key in &keys {
                raised.remove(key);
            }
        });
        worker::console_warn!("oachat: raising alerts failed: {error}");
    }
}
