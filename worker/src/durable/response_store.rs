//! The `/v1/responses` answers a user keeps for `previous_response_id`, in their `UserDo`'s
//! SQLite: one row per response holding its conversation as JSON (bounded by the core's
//! `stored_conversation`), at most `MAX_STORED_RESPONSES` per user, the oldest forgotten
//! first. Being in the caller's own object, another user's id is simply not there.

use oachat_core::responses::MAX_STORED_RESPONSES;
use oachat_core::user_call::StoreResponse;
use serde::Deserialize;
use worker::State;

pub const SCHEMA: &[&str] = &["CREATE TABLE IF NOT EXISTS responses (
        id TEXT PRIMARY KEY, conversation TEXT NOT NULL, created_ms INTEGER NOT NULL)"];

#[derive(Deserialize)]
struct ConversationRow {
    conversation: String,
}

pub fn store(state: &State, response: &StoreResponse) -> worker::Result<()> {
    let sql = state.storage().sql();
    sql.exec(
        "INSERT OR REPLACE INTO responses (id, conversation, created_ms) VALUES (?, ?, ?)",
        vec![
            response.id.as_str().into(),
            response.conversation.as_str().into(),
            (response.now_ms as f64).into(),
        ],
    )?;
    sql.exec(
        "DELETE FROM responses WHERE id NOT IN
         (SELECT id FROM responses ORDER BY created_ms DESC, id DESC LIMIT ?)",
        vec![f64::from(MAX_STORED_RESPONSES).into()],
    )?;
    Ok(())
}

pub fn get(state: &State, id: &str) -> worker::Result<Option<String>> {
    let rows: Vec<ConversationRow> = state
        .storage()
        .sql()
        .exec(
            "SELECT conversation FROM responses WHERE id = ?",
            vec![id.into()],
        )?
        .to_array()?;
    Ok(rows.into_iter().next().map(|row| row.conversation))
}
