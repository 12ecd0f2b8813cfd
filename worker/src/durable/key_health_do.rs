//! `KeyHealthDo`: the authoritative health of every upstream key, shared by all isolates.
//! A thin shell: it applies reports to the core [`KeyPool`] and persists its snapshot.

use std::cell::RefCell;

use oachat_core::config::Config;
use oachat_core::key_health_call::{Exchange, KeyHealthCall, Snapshots};
use oachat_core::keypool::{HealthSnapshot, KeyPool};
use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::durable::client::{answer, call};
use crate::durable::tables::Tables;
use crate::runtime::{key_pools, runtime};

const SCHEMA: &[&str] =
    &["CREATE TABLE IF NOT EXISTS health (upstream TEXT PRIMARY KEY, snapshot TEXT NOT NULL)"];

#[durable_object]
pub struct KeyHealthDo {
    state: State,
    env: Env,
    tables: Tables,
    /// (upstream name, pool); loaded from storage on first use.
    pools: RefCell<Option<Vec<(String, KeyPool)>>>,
}

impl DurableObject for KeyHealthDo {
    fn new(state: State, env: Env) -> Self {
        KeyHealthDo {
            state,
            env,
            tables: Tables::new(&[SCHEMA]),
            pools: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        self.tables.ensure(&self.state)?;
        match call(&mut req).await? {
            KeyHealthCall::Exchange(exchange) => {
                answer::<Exchange>(self.handle_exchange(exchange)?)
            }
        }
    }
}

impl KeyHealthDo {
    fn handle_exchange(&self, Exchange { reports }: Exchange) -> worker::Result<Snapshots> {
        // A pull without reports (every isolate's periodic refresh, the admin view) changes
        // nothing: answer it without a storage write.
        let changed = !reports.is_empty();
        self.load()?;
        let sql = self.state.storage().sql();
        let mut guard = self.pools.borrow_mut();
        let pools = guard.get_or_insert_with(Vec::new);
        for report in reports {
            if let Some((_, pool)) = pools.iter_mut().find(|(name, _)| *name == report.upstream) {
                pool.report(&report.key_id, report.outcome, report.at_ms);
            }
        }
        let mut snapshots = Snapshots::default();
        for (name, pool) in pools.iter() {
            let snapshot = pool.snapshot();
            if changed {
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
