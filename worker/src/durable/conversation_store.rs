//! A user's conversations in their `UserDo`'s SQLite: two tables and the few statements the
//! widget's API needs. SQL calls are synchronous, so each function is atomic within the object.
//! The rules (ids, titles, history trimming) are in `core/conversation.rs`.

use oachat_core::conversation::{trim_continued_history, trim_history, StoredMessage};
use oachat_core::tools::{continuation, ToolCall, ToolStatus};
use oachat_core::user_call::{
    clip_text, AppendCall, FoundAnswer, MessageRow, OpenCall, Opened, Summary, Transcript,
    TurnBegun, FOUND_TEXT_CHARS,
};
use serde::Deserialize;
use worker::State;

pub const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS conversations (
        id TEXT PRIMARY KEY, title TEXT NOT NULL,
        created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS messages (
        conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, role TEXT NOT NULL,
        content TEXT NOT NULL, ts INTEGER NOT NULL, reasoning TEXT,
        tool_calls TEXT, tool_call_id TEXT, status TEXT,
        PRIMARY KEY (conversation_id, seq))",
];

/// Columns added after objects may already hold the tables (`tables.rs` runs these and
/// ignores the failure where the column is there).
pub const MIGRATIONS: &[&str] = &[
    "ALTER TABLE messages ADD COLUMN reasoning TEXT",
    // OA actions: an answer's calls (JSON `[{id,name,arguments}]`), a result's call and status.
    "ALTER TABLE messages ADD COLUMN tool_calls TEXT",
    "ALTER TABLE messages ADD COLUMN tool_call_id TEXT",
    "ALTER TABLE messages ADD COLUMN status TEXT",
    // The request that made an answer: a rating of it (the Quality page) finds its turn.
    "ALTER TABLE messages ADD COLUMN request_id TEXT",
];

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
    #[serde(default)]
    tool_calls: Option<String>,
    #[serde(default)]
    tool_call_id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    ts: f64,
}

/// A stored status; anything unknown reads as an error rather than as success.
fn status_of(text: &str) -> ToolStatus {
    match text {
        "ok" => ToolStatus::Ok,
        "declined" => ToolStatus::Declined,
        // A server tool's result: its content is the webhook's answer, or says it failed.
        "server" => ToolStatus::Server,
        _ => ToolStatus::Error,
    }
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
            "SELECT seq, role, content, reasoning, tool_calls, tool_call_id, status, ts
             FROM messages WHERE conversation_id = ? ORDER BY seq",
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
            // Written by `append` from typed calls: unreadable JSON cannot be there, and
            // reads as no calls rather than failing the conversation.
            tool_calls: row
                .tool_calls
                .and_then(|json| serde_json::from_str::<Vec<ToolCall>>(&json).ok())
                .unwrap_or_default(),
            tool_call_id: row.tool_call_id,
            status: row.status.as_deref().map(status_of),
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

/// The conversation a turn opens, with its history trimmed to the window. A continuation is
/// checked against the whole conversation first (its results must answer the last answer's
/// calls, within `tools.max_rounds`), and its history ends with its results, completed.
/// `Err` with the answer when the turn cannot go on: the conversation is not there, or the
/// continuation is refused. Writes nothing: a new conversation is only created (`create`)
/// once its first turn is admitted.
pub fn open(state: &State, call: &OpenCall) -> worker::Result<Result<Opened, TurnBegun>> {
    let Some(id) = &call.conversation_id else {
        return Ok(Ok(Opened {
            id: call.new_id.clone(),
            ..Opened::default()
        }));
    };
    if summary(state, id)?.is_none() {
        return Ok(Err(TurnBegun::NotFound));
    }
    let mut history: Vec<StoredMessage> = messages(state, id)?
        .into_iter()
        .map(|row| StoredMessage {
            role: row.role,
            content: row.content,
            reasoning: row.reasoning,
            tool_calls: row.tool_calls,
            tool_call_id: row.tool_call_id,
            status: row.status,
        })
        .collect();
    let Some(asked) = &call.continuation else {
        return Ok(Ok(Opened {
            id: id.clone(),
            history: trim_history(&history, &call.new_message, call.window_tokens),
            ..Opened::default()
        }));
    };
    let continued = match continuation(
        &history,
        &asked.results,
        asked.max_tool_rounds,
        &asked.server_tools,
    ) {
        Ok(continued) => continued,
        Err(refusal) => return Ok(Err(TurnBegun::ToolsRefused(refusal))),
    };
    history.extend(continued.results.iter().map(StoredMessage::tool_result));
    Ok(Ok(Opened {
        id: id.clone(),
        history: trim_continued_history(&history, call.window_tokens),
        results: continued.results,
        offer_tools: continued.offer_tools,
    }))
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

/// Appends the turn's messages (the user's message, or a continuation's results; then the
/// answer with its tool calls); `false` when the conversation was deleted meanwhile. The same
/// turn twice (a settle sent again when its answer was lost) is stored once.
pub fn append(state: &State, call: &AppendCall) -> worker::Result<bool> {
    let id = call.conversation_id.as_str();
    if summary(state, id)?.is_none() {
        return Ok(false);
    }
    let sql = state.storage().sql();
    let last: Vec<WireMessageRow> = sql
        .exec(
            "SELECT seq, role, content, tool_calls, ts FROM messages WHERE conversation_id = ?
             ORDER BY seq DESC LIMIT 1",
            vec![id.into()],
        )?
        .to_array()?;
    let calls_json = (!call.tool_calls.is_empty())
        .then(|| serde_json::to_string(&call.tool_calls))
        .transpose()?;
    let stored_already = last.first().is_some_and(|row| {
        row.role == "assistant"
            && row.ts as u64 == call.now_ms
            && row.content == call.answer
            && row.tool_calls == calls_json
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
    let mut rows: Vec<StoredMessage> = Vec::new();
    if let Some(message) = &call.user_message {
        rows.push(StoredMessage::text("user", message));
    }
    rows.extend(call.tool_results.iter().map(StoredMessage::tool_result));
    let mut answer = StoredMessage::text("assistant", &call.answer);
    answer.reasoning = call.reasoning.clone();
    rows.push(answer);
    let text = |value: Option<&str>| value.map_or(worker::SqlStorageValue::Null, Into::into);
    for (offset, row) in rows.iter().enumerate() {
        let (tool_calls, request_id) = if row.role == "assistant" {
            (calls_json.as_deref(), call.request_id.as_deref())
        } else {
            (None, None)
        };
        sql.exec(
            "INSERT INTO messages (conversation_id, seq, role, content, ts, reasoning,
                tool_calls, tool_call_id, status, request_id)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vec![
                id.into(),
                (next.next + offset as f64).into(),
                row.role.as_str().into(),
                row.content.as_str().into(),
                time(call.now_ms),
                text(row.reasoning.as_deref()),
                text(tool_calls),
                text(row.tool_call_id.as_deref()),
                text(row.status.map(ToolStatus::as_str)),
                text(request_id),
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

/// The turns whose answers `request_ids` made, with the user's message before each: what the
/// Quality page shows of a rated answer. Requests without a kept turn (not a server-side
/// conversation, or one deleted since) are simply absent.
pub fn find_answers(state: &State, request_ids: &[String]) -> worker::Result<Vec<FoundAnswer>> {
    #[derive(Deserialize)]
    struct AnswerRow {
        request_id: String,
        conversation_id: String,
        seq: f64,
        content: String,
        title: String,
    }
    #[derive(Deserialize)]
    struct QuestionRow {
        role: String,
        content: String,
    }
    let sql = state.storage().sql();
    let mut found = Vec::new();
    for request_id in request_ids {
        let answers: Vec<AnswerRow> = sql
            .exec(
                "SELECT m.request_id, m.conversation_id, m.seq, m.content, c.title
                 FROM messages m JOIN conversations c ON c.id = m.conversation_id
                 WHERE m.request_id = ? AND m.role = 'assistant' LIMIT 1",
                vec![request_id.as_str().into()],
            )?
            .to_array()?;
        let Some(answer) = answers.into_iter().next() else {
            continue;
        };
        // The message just before the answer: the user's question, or (a continuation) the
        // page's tool results, which are not a question.
        let before: Vec<QuestionRow> = sql
            .exec(
                "SELECT role, content FROM messages WHERE conversation_id = ? AND seq < ?
                 ORDER BY seq DESC LIMIT 1",
                vec![answer.conversation_id.as_str().into(), answer.seq.into()],
            )?
            .to_array()?;
        let question = before
            .into_iter()
            .next()
            .filter(|row| row.role == "user")
            .map(|row| clip_text(&row.content, FOUND_TEXT_CHARS));
        found.push(FoundAnswer {
            request_id: answer.request_id,
            conversation_id: answer.conversation_id,
            title: answer.title,
            question,
            answer: clip_text(&answer.content, FOUND_TEXT_CHARS),
        });
    }
    Ok(found)
}
