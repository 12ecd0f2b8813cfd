//! The ledger on D1: the one module that runs SQL on D1, implementing the core's
//! [`LedgerStore`]. The schema (the ledger and the virtual keys' listing) is created once per
//! isolate, before the first statement. The SQL text of the ledger's rows and reports is the
//! core's (`oachat_core::ledger`, `oachat_core::usage`), SQLite that a self-hosted store can
//! share.

use std::cell::Cell;

use oachat_core::admin_query::SqlValue;
use oachat_core::error::ProxyError;
use oachat_core::ledger::{LedgerRow, INSERT, MIGRATIONS, SCHEMA};
use oachat_core::ledger_store::{KeyListing, LedgerStore, RecentQuery};
use oachat_core::overview::{assemble, queries, Window};
use oachat_core::usage::{Totals, UsageQuery, UsageRow};
use serde::Deserialize;
use serde_json::Value;
use wasm_bindgen::JsValue;
use worker::{D1Database, Env};

use crate::error::internal;

pub const BINDING: &str = "LEDGER";

const KEYS_TABLE: &str = "CREATE TABLE IF NOT EXISTS virtual_keys (
    id TEXT PRIMARY KEY, hash TEXT NOT NULL, name TEXT NOT NULL, tier TEXT,
    created_ms INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)";

const KEY_COLUMNS: &str = "SELECT id, hash, name, tier, created_ms, revoked FROM virtual_keys";

thread_local! {
    static SCHEMA_READY: Cell<bool> = const { Cell::new(false) };
}

pub struct D1Ledger {
    db: D1Database,
}

impl D1Ledger {
    /// The ledger of this deployment, its schema created if this isolate has not yet.
    pub async fn open(env: &Env) -> Result<D1Ledger, ProxyError> {
        let db = env.d1(BINDING).map_err(internal)?;
        if !SCHEMA_READY.with(Cell::get) {
            let statements = SCHEMA
                .iter()
                .chain(std::iter::once(&KEYS_TABLE))
                .map(|sql| db.prepare(*sql))
                .collect();
            db.batch(statements).await.map_err(internal)?;
            for migration in MIGRATIONS {
                // Fails where the column is already there, which is what it is for.
                let _ = db.prepare(*migration).run().await;
            }
            // After the migrations: the triggers read the columns they add. One batch, one
            // transaction: the triggers and the one-time rollup of older rows go in together.
            let rollups = oachat_core::rollup::schema()
                .into_iter()
                .map(|sql| db.prepare(sql))
                .collect();
            db.batch(rollups).await.map_err(internal)?;
            SCHEMA_READY.with(|ready| ready.set(true));
        }
        Ok(D1Ledger { db })
    }
}

impl D1Ledger {
    /// The console's overview (`oachat_core::overview`): its queries over the rollups in one
    /// batch, one round trip.
    pub async fn overview(&self, window: &Window) -> Result<Value, ProxyError> {
        let statements = queries(window)
            .iter()
            .map(|statement| {
                self.db
                    .prepare(&statement.sql)
                    .bind(&js_values(&statement.values))
            })
            .collect::<worker::Result<Vec<_>>>()
            .map_err(internal)?;
        let mut rows = Vec::new();
        for result in self.db.batch(statements).await.map_err(internal)? {
            rows.push(result.results::<Value>().map_err(internal)?);
        }
        Ok(assemble(window, &rows))
    }
}

/// A core statement's bound values as D1 takes them.
pub fn js_values(values: &[SqlValue]) -> Vec<JsValue> {
    values
        .iter()
        .map(|value| match value {
            SqlValue::Text(text) => JsValue::from_str(text),
            SqlValue::Integer(number) => JsValue::from_f64(*number as f64),
        })
        .collect()
}

/// Writes `rows` straight to D1: what a request does when its user's object is unreachable,
/// and what the outbox's alarm does with the rows it holds.
pub async fn insert_all(env: &Env, rows: &[LedgerRow]) -> Result<(), ProxyError> {
    if rows.is_empty() {
        return Ok(());
    }
    D1Ledger::open(env).await?.insert(rows).await
}

#[derive(Deserialize)]
struct AggregateRow {
    key: Option<String>,
    requests: f64,
    prompt_tokens: Option<f64>,
    completion_tokens: Option<f64>,
    cached_tokens: Option<f64>,
    reasoning_tokens: Option<f64>,
    cost_micro_usd: Option<f64>,
}

#[derive(Deserialize)]
struct KeyRow {
    id: String,
    hash: String,
    name: String,
    tier: Option<String>,
    created_ms: f64,
    revoked: f64,
}

impl From<KeyRow> for KeyListing {
    fn from(row: KeyRow) -> KeyListing {
        KeyListing {
            id: row.id,
            hash: row.hash,
            name: row.name,
            tier: row.tier,
            created_ms: row.created_ms as u64,
            revoked: row.revoked != 0.0,
        }
    }
}

impl LedgerStore for D1Ledger {
    async fn insert(&self, rows: &[LedgerRow]) -> Result<(), ProxyError> {
        let statements = rows
            .iter()
            .map(|row| self.db.prepare(INSERT).bind(&values(row)))
            .collect::<worker::Result<Vec<_>>>()
            .map_err(internal)?;
        self.db.batch(statements).await.map_err(internal)?;
        Ok(())
    }

    async fn rate(&self, request_id: &str, user: &str, rating: i8) -> Result<bool, ProxyError> {
        let rating = match rating {
            0 => JsValue::NULL,
            rating => JsValue::from_f64(f64::from(rating)),
        };
        // `AND user = ?` is what keeps a user to their own rows.
        let result = self
            .db
            .prepare("UPDATE ledger SET feedback = ?1 WHERE id = ?2 AND user = ?3")
            .bind(&[rating, request_id.into(), user.into()])
            .map_err(internal)?
            .run()
            .await
            .map_err(internal)?;
        let changes = result
            .meta()
            .map_err(internal)?
            .and_then(|meta| meta.changes);
        Ok(changes.is_some_and(|changes| changes > 0))
    }

    async fn usage(&self, query: &UsageQuery) -> Result<Vec<UsageRow>, ProxyError> {
        let (sql, values) = query.sql();
        let bound: Vec<JsValue> = values.iter().map(|v| JsValue::from_str(v)).collect();
        let rows: Vec<AggregateRow> = self
            .db
            .prepare(sql)
            .bind(&bound)
            .map_err(internal)?
            .all()
            .await
            .map_err(internal)?
            .results()
            .map_err(internal)?;
        let number = |n: Option<f64>| n.unwrap_or(0.0) as u64;
        Ok(rows
            .into_iter()
            .map(|r| {
                Totals {
                    requests: r.requests as u64,
                    prompt_tokens: number(r.prompt_tokens),
                    completion_tokens: number(r.completion_tokens),
                    cached_tokens: number(r.cached_tokens),
                    reasoning_tokens: number(r.reasoning_tokens),
                    cost_micro_usd: number(r.cost_micro_usd),
                }
                .into_row(r.key.unwrap_or_default())
            })
            .collect())
    }

    async fn recent(&self, query: &RecentQuery) -> Result<Vec<Value>, ProxyError> {
        let limit = JsValue::from_f64(f64::from(query.limit));
        let offset = JsValue::from_f64(f64::from(query.offset));
        let statement = match &query.user {
            Some(user) => self
                .db
                .prepare(
                    "SELECT * FROM ledger WHERE user = ?3 ORDER BY ts_ms DESC, id LIMIT ?1 OFFSET ?2",
                )
                .bind(&[limit, offset, user.as_str().into()]),
            None => self
                .db
                .prepare("SELECT * FROM ledger ORDER BY ts_ms DESC, id LIMIT ?1 OFFSET ?2")
                .bind(&[limit, offset]),
        };
        statement
            .map_err(internal)?
            .all()
            .await
            .map_err(internal)?
            .results()
            .map_err(internal)
    }

    async fn add_key(&self, key: &KeyListing) -> Result<(), ProxyError> {
        let tier = key.tier.as_deref().map_or(JsValue::NULL, JsValue::from_str);
        self.db
            .prepare(
                "INSERT INTO virtual_keys (id, hash, name, tier, created_ms, revoked) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .bind(&[
                key.id.as_str().into(),
                key.hash.as_str().into(),
                key.name.as_str().into(),
                tier,
                JsValue::from_f64(key.created_ms as f64),
                JsValue::from_f64(f64::from(u8::from(key.revoked))),
            ])
            .map_err(internal)?
            .run()
            .await
            .map_err(internal)?;
        Ok(())
    }

    async fn keys(&self) -> Result<Vec<KeyListing>, ProxyError> {
        let rows: Vec<KeyRow> = self
            .db
            .prepare(format!("{KEY_COLUMNS} ORDER BY created_ms"))
            .all()
            .await
            .map_err(internal)?
            .results()
            .map_err(internal)?;
        Ok(rows.into_iter().map(KeyListing::from).collect())
    }

    async fn key(&self, id: &str) -> Result<Option<KeyListing>, ProxyError> {
        let row: Option<KeyRow> = self
            .db
            .prepare(format!("{KEY_COLUMNS} WHERE id = ?1"))
            .bind(&[id.into()])
            .map_err(internal)?
            .first(None)
            .await
            .map_err(internal)?;
        Ok(row.map(KeyListing::from))
    }

    async fn revoke_key(&self, id: &str) -> Result<(), ProxyError> {
        self.db
            .prepare("UPDATE virtual_keys SET revoked = 1 WHERE id = ?1")
            .bind(&[id.into()])
            .map_err(internal)?
            .run()
            .await
            .map_err(internal)?;
        Ok(())
    }
}

fn values(row: &LedgerRow) -> [JsValue; 27] {
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
        number(row.reasoning_tokens),
        JsValue::from_str(&row.tools),
        row.tool_args
            .as_deref()
            .map_or(JsValue::NULL, JsValue::from_str),
        row.dept.as_deref().map_or(JsValue::NULL, JsValue::from_str),
        JsValue::from_str(&row.tier),
    ]
}
