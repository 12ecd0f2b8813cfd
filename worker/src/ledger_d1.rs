//! The ledger's D1 shell: creates the schema once per isolate and inserts batches of rows
//! (from the users' outboxes, see `durable::ledger_outbox`).

use std::cell::Cell;

use oachat_core::ledger::{LedgerRow, INSERT, SCHEMA};
use wasm_bindgen::JsValue;
use worker::Env;

pub const BINDING: &str = "LEDGER";

thread_local! {
    static SCHEMA_READY: Cell<bool> = const { Cell::new(false) };
}

pub async fn ensure_schema(env: &Env) -> worker::Result<()> {
    if SCHEMA_READY.with(Cell::get) {
        return Ok(());
    }
    let db = env.d1(BINDING)?;
    let statements = SCHEMA.iter().map(|sql| db.prepare(*sql)).collect();
    db.batch(statements).await?;
    SCHEMA_READY.with(|ready| ready.set(true));
    Ok(())
}

/// Inserts `rows` in one batch (one round trip, one transaction). Re-inserting a row that is
/// already there changes nothing (`INSERT OR IGNORE`), so a retried batch is harmless.
pub async fn insert_all(env: &Env, rows: &[LedgerRow]) -> worker::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    ensure_schema(env).await?;
    let db = env.d1(BINDING)?;
    let statements = rows
        .iter()
        .map(|row| db.prepare(INSERT).bind(&values(row)))
        .collect::<worker::Result<Vec<_>>>()?;
    db.batch(statements).await?;
    Ok(())
}

fn values(row: &LedgerRow) -> [JsValue; 22] {
    let number = |n: u64| JsValue::from_f64(n as f64);
    [
        JsValue::from_str(&row.id),
        number(row.ts_ms),
        JsValue::from_str(&row.day),
        JsValue::from_str(&row.user),
        JsValue::from_str(&row.credential),
        JsValue::from_str(&row.upstream),
        JsValue::from_str(&row.key_id),
        JsValue::from_str(&row.model_asked),
        JsValue::from_str(&row.model_used),
        JsValue::from_str(&row.route),
        JsValue::from_str(&row.route_reason),
        number(row.prompt_tokens),
        number(row.completion_tokens),
        number(row.cached_tokens),
        number(row.cost_micro_usd),
        number(u64::from(row.status)),
        JsValue::from_str(row.ending.as_str()),
        number(row.ttfb_ms),
        number(row.total_ms),
        number(u64::from(row.estimated)),
        number(u64::from(row.attempts)),
        number(u64::from(row.stream)),
    ]
}
