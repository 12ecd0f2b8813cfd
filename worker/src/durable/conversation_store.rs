//! A user's conversations in their `UserDo`'s SQLite: two tables and the few statements the
//! widget's API needs. SQL calls are synchronous, so each function is atomic within the object.
//! The rules (ids, titles, history trimming) are in `core/conversation.rs`.

use oachat_core::conversation::{trim_history, StoredMessage};
use oachat_core::user_call::{AppendCall, MessageRow, OpenCall, Opened, Summary, Transcript};
use serde::Deserialize;
use worker::State;

pub const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS conversations (
        id TEXT PRIMARY KEY, title TEXT NOT NULL,
        created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS messages (
        conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, role TEXT NOT NULL,
        content TEXT NOT NULL, ts INTEGER NOT NULL, reasoning TEXT,
        PRIMARY KEY (conversation_id, seq))",
];

/// Columns added after objects may already hold the tables (`tables.rs` runs these and
/// ignores the failure where the column is there).
pub const MIGRATIONS: &[&str] = &["ALTER TABLE messages ADD COLUMN reasoning TEXT"];

/// Conversations listed at most, newest first: a widget's sidebar, not an archive export.
pub const LIST_LIMIT: u32 = 200;

// SQLite integers reach Rust as JS numbers; read them as f64 and convert.
#[derive(Deserialize)]
struct SummaryRow {
    id: String,
    title: String,
    created_ms: f64,
    updated_ms: f64,
}

impl From<SummaryRow> for Summary {
    fn from(row: SummaryRow) -> Summary {
        Summary {
            id: row.id,
            title: row.title,
            created_ms: row.created_ms as u64,
            updated_ms: row.updated_ms as u64,
        }
    }
}

#[derive(Deserialize)]
struct WireMessageRow {
    seq: f64,
    role: String,
    content: String,
    #[serde(default)]
    reasoning: Option<String>,
    ts: f64,
}

fn time(ms: u64) -> worker::SqlStorageValue {
    (ms as f64).into()
}

/// Conversations with at least one message, most recently used first. A conversation opened
/// by a turn that was then refused (rate, budget) has no messages and stays out of the list.
pub fn list(state: &State) -> worker::Result<Vec<Summary>> {
    let rows: Vec<SummaryRow> = state
        .storage()
        .sql()
        .exec(
            "SELECT id, title, created_ms, updated_ms FROM conversations c
             WHERE EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id)
             ORDER BY updated_ms DESC LIMIT ?",
            vec![f64::from(LIST_LIMIT).into()],
        )?
        .to_array()?;
    Ok(rows.into_iter().map(Summary::from).collect())
}

fn summary(state: &State, id: &str) -> worker::Result<Option<Summary>> {
    let rows: Vec<SummaryRow> = state
        .storage()
        .sql()
        .exec(
            "SELECT id, title, created_ms, updated_ms FROM conversations WHERE id = ?",
            vec![id.into()],
        )?
        .to_array()?;
    Ok(rows.into_iter().next().map(Summary::from))
}

fn messages(state: &State, id: &str) -> worker::Result<Vec<MessageRow>> {
    let rows: Vec<WireMessageRow> = state
        .storage()
        .sql()
        .exec(
            "SELECT seq, role, content, reasoning, ts FROM messages WHERE conversation_id = ?
             ORDER BY seq",
            vec![id.into()],
        )?
        .to_array()?;
    Ok(rows
        .into_iter()
        .map(|row| MessageRow {
            seq: row.seq as u64,
            role: row.role,
            content: row.content,
            reasoning: row.reasoning,
            ts: row.ts as u64,
        })
        .collect())
}

pub fn get(state: &State, id: &str) -> worker::Result<Option<Transcript>> {
    let Some(summary) = summary(state, id)? else {
        return Ok(None);
    };
    let messages = messages(state, id)?;
    Ok(Some(Transcript { summary, messages }))
}

/// The conversation a turn opens, with its history trimmed to the window; `None` when the
/// turn names a conversation that is not there. Writes nothing: a new conversation is only
/// created (`create`) once its first turn is admitted.
pub fn open(state: &State, call: &OpenCall) -> worker::Result<Option<Opened>> {
    match &call.conversation_id {
        Some(id) => {
            if summary(state, id)?.is_none() {
                return Ok(None);
            }
            let history: Vec<StoredMessage> = messages(state, id)?
                .into_iter()
                .map(|row| StoredMessage {
                    role: row.role,
                    content: row.content,
                    reasoning: row.reasoning,
                })
                .collect();
            Ok(Some(Opened {
                id: id.clone(),
                history: trim_history(&history, &call.new_message, call.window_tokens),
            }))
        }
        None => Ok(Some(Opened {
            id: call.new_id.clone(),
            history: Vec::new(),
        })),
    }
}

/// Creates the conversation a first turn opened (nothing when it names an existing one).
pub fn create(state: &State, call: &OpenCall) -> worker::Result<()> {
    if call.conversation_id.is_some() {
        return Ok(());
    }
    state.storage().sql().exec(
        "INSERT OR IGNORE INTO conversations (id, title, created_ms, updated_ms)
         VALUES (?, ?, ?, ?)",
        vec![
            call.new_id.as_str().into(),
            call.title.as_str().into(),
            time(call.now_ms),
            time(call.now_ms),
        ],
    )?;
    Ok(())
}

/// Appends the turn's two messages; `false` when the conversation was deleted meanwhile.
/// The same turn twice (a settle sent again when its answer was lost) is stored once.
pub fn append(state: &State, call: &AppendCall) -> worker::Result<bool> {
    let id = call.conversation_id.as_str();
    if summary(state, id)?.is_none() {
        return Ok(false);
    }
    let sql = state.storage().sql();
    let last: Vec<WireMessageRow> = sql
        .exec(
            "SELECT seq, role, content, ts FROM messages WHERE conversation_id = ?
             ORDER BY seq DESC LIMIT 1",
            vec![id.into()],
        )?
        .to_array()?;
    let stored_already = last.first().is_some_and(|row| {
        row.role == "assistant" && row.ts as u64 == call.now_ms && row.content == call.answer
    });
    if stored_already {
        return Ok(true);
    }
    #[derive(Deserialize)]
    struct Next {
        next: f64,
    }
    let next: Next = sql
        .exec(
            "SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM messages WHERE conversation_id = ?",
            vec![id.into()],
        )?
        .one()?;
    let seq = next.next;
    for (offset, role, content, reasoning) in [
        (0.0, "user", call.user_message.as_str(), None),
        (
            1.0,
            "assistant",
            call.answer.as_str(),
            call.reasoning.as_deref(),
        ),
    ] {
        sql.exec(
            "INSERT INTO messages (conversation_id, seq, role, content, ts, reasoning)
             VALUES (?, ?, ?, ?, ?, ?)",
            vec![
                id.into(),
                (seq + offset).into(),
                role.into(),
                content.into(),
                time(call.now_ms),
                reasoning.map_or(worker::SqlStorageValue::Null, Into::into),
            ],
        )?;
    }
    sql.exec(
        "UPDATE conversations SET updated_ms = ? WHERE id = ?",
        vec![time(call.now_ms), id.into()],
    )?;
    Ok(true)
}

pub fn rename(state: &State, id: &str, title: &str) -> worker::Result<Option<Summary>> {
    if summary(state, id)?.is_none() {
        return Ok(None);
    }
    state.storage().sql().exec(
        "UPDATE conversations SET title = ? WHERE id = ?",
        vec![title.into(), id.into()],
    )?;
    summary(state, id)
}

/// Deletes the conversation and its messages; `false` when there was none.
pub fn delete(state: &State, id: &str) -> worker::Result<bool> {
    if summary(state, id)?.is_none() {
        return Ok(false);
    }
    let sql = state.storage().sql();
    sql.exec(
        "DELETE FROM messages WHERE conversation_id = ?",
        vec![id.into()],
    )?;
    sql.exec("DELETE FROM conversations WHERE id = ?", vec![id.into()])?;
    Ok(true)
}
