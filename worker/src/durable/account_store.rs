//! A user's [`Account`] in its object's SQLite, as rows (`core/account_rows.rs` says which):
//! read once when the object starts, then written one changed row at a time. SQL calls are
//! synchronous and the writes of one event commit together, so an admission's rows are
//! stored whole or not at all.

use oachat_core::account::Account;
use oachat_core::account_rows::{parse_budget, Change, Snapshot};
use oachat_core::budget::Reservation;
use oachat_core::limiter::Tracked;
use serde::Deserialize;
use worker::{SqlStorage, SqlStorageValue, State};

pub const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS account_admissions (
        ms INTEGER PRIMARY KEY, admitted INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS account_rounds (
        conversation TEXT PRIMARY KEY, rounds INTEGER NOT NULL, seq INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS account_reservations (
        id TEXT PRIMARY KEY, tokens INTEGER NOT NULL, micro_usd INTEGER NOT NULL,
        created_ms INTEGER NOT NULL)",
    // Reservations charged in full at expiry, and on which day (a table of its own rather
    // than a column, so objects created before it need no ALTER).
    "CREATE TABLE IF NOT EXISTS account_charged (id TEXT PRIMARY KEY, day INTEGER NOT NULL)",
];

/// The budget's document, in the object's `docs` table.
const BUDGET_DOC: &str = "account_budget";
/// The whole account as one document, as stored before the rows; migrated on first load.
const LEGACY_ACCOUNT_DOC: &str = "account";

/// Reads the account (once per object instance: the object calls this when it first needs
/// it), migrating an old account document.
pub fn open(state: &State) -> worker::Result<Account> {
    let sql = state.storage().sql();
    if let Some(document) = read_doc(&sql, LEGACY_ACCOUNT_DOC)? {
        let account = Account::restore(Snapshot::from_legacy_document(&document));
        apply(state, &account.rows())?;
        sql.exec(
            "DELETE FROM docs WHERE name = ?",
            vec![LEGACY_ACCOUNT_DOC.into()],
        )?;
        return Ok(account);
    }
    Ok(Account::restore(read(&sql)?))
}

/// Writes the changed rows. Needs [`open`] to have run in this object instance.
pub fn apply(state: &State, changes: &[Change]) -> worker::Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let sql = state.storage().sql();
    for change in changes {
        match change {
            Change::Admissions { at_ms, added } => sql.exec(
                "INSERT INTO account_admissions (ms, admitted) VALUES (?, ?)
                 ON CONFLICT (ms) DO UPDATE SET admitted = admitted + excluded.admitted",
                vec![integer(*at_ms), integer(*added)],
            )?,
            Change::ExpiredBefore {
                oldest_ms: Some(oldest_ms),
            } => sql.exec(
                "DELETE FROM account_admissions WHERE ms < ?",
                vec![integer(*oldest_ms)],
            )?,
            Change::ExpiredBefore { oldest_ms: None } => {
                sql.exec("DELETE FROM account_admissions", None)?
            }
            Change::Rounds {
                conversation,
                tracked,
            } => sql.exec(
                "INSERT OR REPLACE INTO account_rounds (conversation, rounds, seq) VALUES (?, ?, ?)",
                vec![
                    conversation.as_str().into(),
                    integer(u64::from(tracked.rounds)),
                    integer(tracked.seq),
                ],
            )?,
            Change::Forgot { conversation } => sql.exec(
                "DELETE FROM account_rounds WHERE conversation = ?",
                vec![conversation.as_str().into()],
            )?,
            Change::Reserved { id, reservation } => {
                if let Some(day) = reservation.charged_day {
                    sql.exec(
                        "INSERT OR REPLACE INTO account_charged (id, day) VALUES (?, ?)",
                        vec![id.as_str().into(), integer(u64::from(day))],
                    )?;
                }
                sql.exec(
                    "INSERT OR REPLACE INTO account_reservations (id, tokens, micro_usd, created_ms)
                     VALUES (?, ?, ?, ?)",
                    vec![
                        id.as_str().into(),
                        integer(reservation.tokens),
                        integer(reservation.micro_usd),
                        integer(reservation.created_ms),
                    ],
                )?
            }
            Change::Unreserved { id } => {
                sql.exec(
                    "DELETE FROM account_charged WHERE id = ?",
                    vec![id.as_str().into()],
                )?;
                sql.exec(
                    "DELETE FROM account_reservations WHERE id = ?",
                    vec![id.as_str().into()],
                )?
            }
            Change::Budget { document } => sql.exec(
                "INSERT OR REPLACE INTO docs (name, body) VALUES (?, ?)",
                vec![BUDGET_DOC.into(), document.as_str().into()],
            )?,
        };
    }
    Ok(())
}

// SQLite integers reach Rust as JS numbers; read them as f64 and convert. Every value here
// (milliseconds, counts, tokens, micro-USD) is far below 2^53, so none loses precision.
#[derive(Deserialize)]
struct AdmissionRow {
    ms: f64,
    admitted: f64,
}

#[derive(Deserialize)]
struct RoundRow {
    conversation: String,
    rounds: f64,
    seq: f64,
}

#[derive(Deserialize)]
struct ReservationRow {
    id: String,
    tokens: f64,
    micro_usd: f64,
    created_ms: f64,
    charged_day: Option<f64>,
}

fn read(sql: &SqlStorage) -> worker::Result<Snapshot> {
    let admissions: Vec<AdmissionRow> = sql
        .exec("SELECT ms, admitted FROM account_admissions", None)?
        .to_array()?;
    let rounds: Vec<RoundRow> = sql
        .exec("SELECT conversation, rounds, seq FROM account_rounds", None)?
        .to_array()?;
    let reservations: Vec<ReservationRow> = sql
        .exec(
            "SELECT r.id AS id, r.tokens AS tokens, r.micro_usd AS micro_usd,
                    r.created_ms AS created_ms, c.day AS charged_day
             FROM account_reservations r LEFT JOIN account_charged c ON c.id = r.id",
            None,
        )?
        .to_array()?;
    Ok(Snapshot {
        admissions: admissions
            .into_iter()
            .map(|row| (row.ms as u64, row.admitted as u64))
            .collect(),
        rounds: rounds
            .into_iter()
            .map(|row| {
                let tracked = Tracked {
                    rounds: row.rounds as u32,
                    seq: row.seq as u64,
                };
                (row.conversation, tracked)
            })
            .collect(),
        budget: read_doc(sql, BUDGET_DOC)?.as_deref().and_then(parse_budget),
        reservations: reservations
            .into_iter()
            .map(|row| {
                let reservation = Reservation {
                    tokens: row.tokens as u64,
                    micro_usd: row.micro_usd as u64,
                    created_ms: row.created_ms as u64,
                    charged_day: row.charged_day.map(|day| day as u32),
                };
                (row.id, reservation)
            })
            .collect(),
    })
}

fn read_doc(sql: &SqlStorage, name: &str) -> worker::Result<Option<String>> {
    #[derive(Deserialize)]
    struct Row {
        body: String,
    }
    let rows: Vec<Row> = sql
        .exec("SELECT body FROM docs WHERE name = ?", vec![name.into()])?
        .to_array()?;
    Ok(rows.into_iter().next().map(|row| row.body))
}

/// SQLite integers are signed 64-bit; our values never come near the top.
fn integer(value: u64) -> SqlStorageValue {
    i64::try_from(value).unwrap_or(i64::MAX).into()
}
