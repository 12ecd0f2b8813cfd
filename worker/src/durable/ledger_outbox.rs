//! The ledger's outbox in each user's object. A request's row is stored in the same storage
//! transaction as the settle it accounts for, so budget and ledger never disagree; the
//! object's alarm then moves stored rows to D1 in batches.
//!
//! Why not one D1 insert per request from the worker: a D1 database takes writes one at a
//! time, so per-request inserts make D1 the ceiling of the whole deployment, and each insert
//! is a subrequest and a JSON round trip on the request's CPU. Batched here, a busy user's rows
//! go out many per write, and the worker's request path has one subrequest fewer.

use std::cell::Cell;

use oachat_core::ledger::LedgerRow;
use serde::Deserialize;
use worker::{Env, State};

use crate::ledger_d1;

/// Rows per D1 batch: far below D1's statement limits, large enough to drain a burst quickly.
const BATCH_ROWS: usize = 100;

/// How long rows gather before the alarm moves them. At one request at a time an immediate
/// alarm would write every row on its own (an alarm run, a D1 round trip and two SQL statements
/// per request); half a second lets a user's rows share a write, while reports and the admin
/// ledger stay behind by no more than that.
const FLUSH_DELAY_MS: u64 = 500;

pub const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS ledger_outbox \
     (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)"];

/// Per-object bookkeeping: whether an alarm is already set.
#[derive(Default)]
pub struct Outbox {
    alarm_set: Cell<bool>,
}

impl Outbox {
    /// Stores `row` (synchronously, so it commits with the settle written in the same event).
    pub fn record(&self, state: &State, row: &LedgerRow) -> worker::Result<()> {
        state.storage().sql().exec(
            "INSERT INTO ledger_outbox (body) VALUES (?)",
            vec![serde_json::to_string(row)?.into()],
        )?;
        Ok(())
    }

    /// Makes sure the alarm will run soon. One alarm serves every row stored until it runs.
    pub async fn schedule(&self, state: &State) -> worker::Result<()> {
        if self.alarm_set.get() {
            return Ok(());
        }
        let storage = state.storage();
        if storage.get_alarm().await?.is_none() {
            // An offset from now. Rows stored while it runs wait for the next one.
            storage
                .set_alarm(std::time::Duration::from_millis(FLUSH_DELAY_MS))
                .await?;
        }
        self.alarm_set.set(true);
        Ok(())
    }

    /// The alarm: moves stored rows to D1, a batch at a time; rows are deleted only after D1
    /// took them. A failure leaves them for the next alarm (the runtime retries a failed alarm).
    pub async fn flush(&self, state: &State, env: &Env) -> worker::Result<()> {
        self.alarm_set.set(false);
        loop {
            #[derive(Deserialize)]
            struct Stored {
                seq: f64,
                body: String,
            }
            let stored: Vec<Stored> = state
                .storage()
                .sql()
                .exec(
                    "SELECT seq, body FROM ledger_outbox ORDER BY seq LIMIT ?",
                    vec![(BATCH_ROWS as f64).into()],
                )?
                .to_array()?;
            let Some(last) = stored.last().map(|row| row.seq) else {
                return Ok(());
            };
            let rows: Vec<LedgerRow> = stored
                .iter()
                .filter_map(|row| serde_json::from_str(&row.body).ok())
                .collect();
            if rows.len() < stored.len() {
                // Only a row written by an incompatible build can fail; keeping it would block
                // the outbox for good, so it is dropped, loudly.
                worker::console_error!(
                    "oachat: {} ledger outbox row(s) unreadable, dropped",
                    stored.len() - rows.len()
                );
            }
            // Left in the outbox on failure: the next alarm tries again.
            ledger_d1::insert_all(env, &rows)
                .await
                .map_err(|error| worker::Error::RustError(error.code().to_string()))?;
            state.storage().sql().exec(
                "DELETE FROM ledger_outbox WHERE seq <= ?",
                vec![last.into()],
            )?;
            if stored.len() < BATCH_ROWS {
                return Ok(());
            }
        }
    }
}
