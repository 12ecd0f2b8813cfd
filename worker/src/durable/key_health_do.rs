//! `KeyHealthDo`: the authoritative health of every upstream key, shared by all isolates.
//! A thin shell: it applies reports to the core [`KeyPool`] and persists its snapshot.

use std::cell::RefCell;

use oachat_core::alerts::sources::ErrorWindow;
use oachat_core::config::Config;
use oachat_core::key_health_call::{Exchange, KeyHealthCall, RequestCounts, Snapshots};
use oachat_core::key_history::{
    changes, HealthChange, HealthHistory, HistoryQuery, KEEP_ENTRIES, KEEP_MS, MAX_ANSWER,
};
use oachat_core::keypool::{HealthSnapshot, KeyPool};
use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::alerts;
use crate::durable::client::{answer, call};
use crate::durable::tables::Tables;
use crate::runtime::{key_pools, runtime};
use crate::time::now_ms;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS health (upstream TEXT PRIMARY KEY, snapshot TEXT NOT NULL)",
    // Key health over time (`oachat_core::key_history`): one row per state change.
    "CREATE TABLE IF NOT EXISTS health_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, \
     at_ms INTEGER NOT NULL, upstream TEXT NOT NULL, key_id TEXT NOT NULL, state TEXT NOT NULL, \
     until_ms INTEGER)",
];

#[durable_object]
pub struct KeyHealthDo {
    state: State,
    env: Env,
    tables: Tables,
    /// (upstream name, pool); loaded from storage on first use.
    pools: RefCell<Option<Vec<(String, KeyPool)>>>,
    /// The last 5 minutes' request outcomes, for `alerts.error_rate` (in memory: a restart
    /// forgets at most one window).
    errors: RefCell<ErrorWindow>,
}

impl DurableObject for KeyHealthDo {
    fn new(state: State, env: Env) -> Self {
        KeyHealthDo {
            state,
            env,
            tables: Tables::new(&[SCHEMA]),
            pools: RefCell::new(None),
            errors: RefCell::new(ErrorWindow::default()),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        self.tables.ensure(&self.state)?;
        match call(&mut req).await? {
            KeyHealthCall::Exchange(exchange) => {
                answer::<Exchange>(self.handle_exchange(exchange)?)
            }
            KeyHealthCall::History(query) => answer::<HistoryQuery>(self.handle_history(query)?),
        }
    }
}

impl KeyHealthDo {
    fn handle_exchange(
        &self,
        Exchange { reports, requests }: Exchange,
    ) -> worker::Result<Snapshots> {
        self.count_outcomes(requests);
        // A pull without reports (every isolate's periodic refresh, the admin view) changes
        // nothing: answer it without a storage write.
        let changed = !reports.is_empty();
        self.load()?;
        let sql = self.state.storage().sql();
        let mut guard = self.pools.borrow_mut();
        let pools = guard.get_or_insert_with(Vec::new);
        let before: Vec<HealthSnapshot> = pools.iter().map(|(_, pool)| pool.snapshot()).collect();
        for report in reports {
            if let Some((_, pool)) = pools.iter_mut().find(|(name, _)| *name == report.upstream) {
                pool.report(&report.key_id, report.outcome, report.at_ms);
            }
        }
        let mut snapshots = Snapshots::default();
        for ((name, pool), before) in pools.iter().zip(&before) {
            let snapshot = pool.snapshot();
            if changed {
                alerts::key_health_changed(&self.state, &self.env, name, before, &snapshot);
                self.log_changes(&changes(name, before, &snapshot, now_ms()))?;
                sql.exec(
                    "INSERT OR REPLACE INTO health (upstream, snapshot) VALUES (?, ?)",
                    vec![
                        name.as_str().into(),
                        serde_json::to_string(&snapshot)?.into(),
                    ],
                )?;
            }
            snapshots.upstreams.push((name.clone(), snapshot));
        }
        Ok(snapshots)
    }

    /// Appends state changes to the log, forgetting what is older than it keeps.
    fn log_changes(&self, found: &[HealthChange]) -> worker::Result<()> {
        if found.is_empty() {
            return Ok(());
        }
        let sql = self.state.storage().sql();
        for change in found {
            let until = change
                .until_ms
                .map_or(worker::SqlStorageValue::Null, |until| {
                    worker::SqlStorageValue::from(until as f64)
                });
            sql.exec(
                "INSERT INTO health_log (at_ms, upstream, key_id, state, until_ms) \
                 VALUES (?, ?, ?, ?, ?)",
                vec![
                    (change.at_ms as f64).into(),
                    change.upstream.as_str().into(),
                    change.key_id.as_str().into(),
                    change.state.as_str().into(),
                    until,
                ],
            )?;
        }
        let oldest = now_ms().saturating_sub(KEEP_MS) as f64;
        sql.exec(
            "DELETE FROM health_log WHERE at_ms < ? OR seq <= \
             (SELECT MAX(seq) FROM health_log) - ?",
            vec![oldest.into(), (KEEP_ENTRIES as f64).into()],
        )?;
        Ok(())
    }

    fn handle_history(&self, query: HistoryQuery) -> worker::Result<HealthHistory> {
        #[derive(serde::Deserialize)]
        struct Row {
            at_ms: f64,
            upstream: String,
            key_id: String,
            state: String,
            until_ms: Option<f64>,
        }
        let limit = query.limit.clamp(1, MAX_ANSWER);
        let rows: Vec<Row> = self
            .state
            .storage()
            .sql()
            .exec(
                "SELECT at_ms, upstream, key_id, state, until_ms FROM health_log \
                 WHERE at_ms >= ? ORDER BY seq LIMIT ?",
                vec![(query.since_ms as f64).into(), f64::from(limit).into()],
            )?
            .to_array()?;
        Ok(HealthHistory {
            changes: rows
                .into_iter()
                .map(|row| HealthChange {
                    at_ms: row.at_ms as u64,
                    upstream: row.upstream,
                    key_id: row.key_id,
                    state: row.state,
                    until_ms: row.until_ms.map(|until| until as u64),
                })
                .collect(),
        })
    }

    /// Every isolate's request outcomes arrive here with the health exchange it makes anyway
    /// (at most every 2 s, or with failure reports), so the error rate costs no call of its
    /// own and no per-request work beyond two counters.
    fn count_outcomes(&self, requests: RequestCounts) {
        let Some(threshold) = runtime(&self.env)
            .ok()
            .and_then(|runtime| runtime.config.alerts.error_rate)
        else {
            return;
        };
        let now = now_ms();
        let mut errors = self.errors.borrow_mut();
        if requests.total > 0 {
            errors.record(requests.total, requests.failed, now);
        }
        if let Some(alert) = errors.alert(threshold, now) {
            alerts::raise_from_object(&self.state, &self.env, vec![alert]);
        }
    }

    fn load(&self) -> worker::Result<()> {
        if self.pools.borrow().is_some() {
            return Ok(());
        }
        let config: Config = match runtime(&self.env) {
            Ok(runtime) => runtime.config.clone(),
            Err(_) => Config::default(),
        };
        let sql = self.state.storage().sql();
        #[derive(serde::Deserialize)]
        struct Row {
            upstream: String,
            snapshot: String,
        }
        let stored: Vec<Row> = sql
            .exec("SELECT upstream, snapshot FROM health", None)?
            .to_array()?;
        let mut pools = Vec::new();
        for (upstream, mut pool) in config.upstreams.iter().zip(key_pools(&self.env, &config)) {
            if let Some(row) = stored.iter().find(|row| row.upstream == upstream.name) {
                if let Ok(snapshot) = serde_json::from_str::<HealthSnapshot>(&row.snapshot) {
                    pool.merge(&snapshot);
                }
            }
            pools.push((upstream.name.clone(), pool));
        }
        *self.pools.borrow_mut() = Some(pools);
        Ok(())
    }
}
