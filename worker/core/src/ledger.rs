//! The usage ledger: one row per request, its schema, and usage-report aggregation.
//!
//! A row is made once, after the response (never delaying the stream), and stored in the
//! user's object together with the settle it accounts for (one transaction); the object's
//! alarm moves stored rows to D1 in batches with `INSERT OR IGNORE`, so a row is either whole
//! or absent, never partial, and a batch retried after a crash cannot write a row twice.

use serde::{Deserialize, Serialize};

/// How a request ended, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// The upstream finished and reported usage.
    Completed,
    /// The client disconnected mid-stream; the upstream was cancelled.
    ClientAborted,
    /// The upstream connection broke mid-stream.
    UpstreamCut,
    /// No upstream answer could be had (all keys failed, timeouts).
    Failed,
    /// Served from the exact-match cache.
    Cached,
    /// An upstream attempt given up at the first-byte timeout before the request moved to
    /// another key. The upstream may have billed it, so it has a row of its own (id
    /// `<request id>:a<n>`), charged at its prompt estimate and marked estimated.
    Abandoned,
    /// The upstream stopped the answer with a content filter (`finish_reason`
    /// `content_filter`, or Zhipu's `sensitive`). Charged as metered: the tokens were made.
    Filtered,
    /// The upstream ended the stream reporting its own failure in `finish_reason` (Zhipu's
    /// `network_error`: "model inference error") rather than by breaking the connection.
    UpstreamError,
}

impl Ending {
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Completed => "completed",
            Ending::ClientAborted => "client_aborted",
            Ending::UpstreamCut => "upstream_cut",
            Ending::Failed => "failed",
            Ending::Cached => "cached",
            Ending::Abandoned => "abandoned",
            Ending::Filtered => "filtered",
            Ending::UpstreamError => "upstream_error",
        }
    }

    /// How a stream that reached its end ended, from its last `finish_reason`: a content
    /// filter or an upstream-reported failure, or `None` for an ordinary ending (`stop`,
    /// `length`, `tool_calls`...), which the shell records as it would have.
    pub fn from_finish_reason(finish_reason: Option<&str>) -> Option<Ending> {
        match finish_reason? {
            "content_filter" | "sensitive" => Some(Ending::Filtered),
            "network_error" => Some(Ending::UpstreamError),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerRow {
    pub id: String,
    pub ts_ms: u64,
    /// The day `YYYY-MM-DD` in `budget.timezone` (default Asia/Shanghai), the unit of budgets
    /// and reports: the same day the request's budgets counted it on.
    pub day: String,
    pub user: String,
    /// Which credential: `jwt`, `vkey:<id>` or `guest`.
    pub credential: String,
    pub upstream: String,
    /// The key's id (`key_1a2b3c4d`), never the key.
    pub key_id: String,
    pub model_asked: String,
    pub model_used: String,
    pub route: String,
    pub route_reason: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    /// Completion tokens spent on reasoning; a subset of `completion_tokens`. Rows written
    /// before this field existed read as 0.
    #[serde(default)]
    pub reasoning_tokens: u64,
    pub cost_micro_usd: u64,
    pub status: u16,
    pub ending: Ending,
    pub ttfb_ms: u64,
    pub total_ms: u64,
    pub estimated: bool,
    pub attempts: u32,
    pub stream: bool,
    /// The tools the answer called, in order, comma-separated (empty: none). Rows written
    /// before this field existed read as empty.
    #[serde(default)]
    pub tools: String,
    /// Their arguments (a JSON array of the raw texts, at most 4 KiB), only with
    /// `ledger.tool_args = true`. Never the results.
    #[serde(default)]
    pub tool_args: Option<String>,
    /// The user's department (the token's `dept`), for reports by department. Rows written
    /// before this field existed read as none.
    #[serde(default)]
    pub dept: Option<String>,
    /// The tier the request was served under, for reports by tier ("" in older rows).
    #[serde(default)]
    pub tier: String,
}

/// Created once per isolate before the first write; idempotent.
pub const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS ledger (
        id TEXT PRIMARY KEY,
        ts_ms INTEGER NOT NULL,
        day TEXT NOT NULL,
        user TEXT NOT NULL,
        credential TEXT NOT NULL,
        upstream TEXT NOT NULL,
        key_id TEXT NOT NULL,
        model_asked TEXT NOT NULL,
        model_used TEXT NOT NULL,
        route TEXT NOT NULL,
        route_reason TEXT NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        cached_tokens INTEGER NOT NULL,
        cost_micro_usd INTEGER NOT NULL,
        status INTEGER NOT NULL,
        ending TEXT NOT NULL,
        ttfb_ms INTEGER NOT NULL,
        total_ms INTEGER NOT NULL,
        estimated INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        stream INTEGER NOT NULL,
        feedback INTEGER,
        reasoning_tokens INTEGER NOT NULL DEFAULT 0,
        tools TEXT NOT NULL DEFAULT '',
        tool_args TEXT,
        dept TEXT,
        tier TEXT NOT NULL DEFAULT ''
    )",
    "CREATE INDEX IF NOT EXISTS ledger_day_user ON ledger (day, user)",
    "CREATE INDEX IF NOT EXISTS ledger_day_model ON ledger (day, model_used)",
];

/// Columns added after a ledger may already exist: each is added when missing (its `ALTER`
/// fails, harmlessly, where the column is already there).
pub const MIGRATIONS: &[&str] = &[
    "ALTER TABLE ledger ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE ledger ADD COLUMN tools TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE ledger ADD COLUMN tool_args TEXT",
    "ALTER TABLE ledger ADD COLUMN dept TEXT",
    "ALTER TABLE ledger ADD COLUMN tier TEXT NOT NULL DEFAULT ''",
];

pub const INSERT: &str = "INSERT OR IGNORE INTO ledger (id, ts_ms, day, user, credential, upstream, \
    key_id, model_asked, model_used, route, route_reason, prompt_tokens, completion_tokens, \
    cached_tokens, cost_micro_usd, status, ending, ttfb_ms, total_ms, estimated, attempts, stream, \
    reasoning_tokens, tools, tool_args, dept, tier) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)";

/// A completed, priced row with every field set, for tests that change only the fields they
/// are about (`LedgerRow { prompt_tokens: 3, ..sample_row("req_a", "u:alice") }`).
#[cfg(test)]
pub(crate) fn sample_row(id: &str, user: &str) -> LedgerRow {
    LedgerRow {
        id: id.into(),
        ts_ms: 0,
        day: "2026-12-05".into(),
        user: user.into(),
        credential: "jwt".into(),
        upstream: "openai".into(),
        key_id: "key_1".into(),
        model_asked: "auto".into(),
        model_used: "gpt-4o-mini".into(),
        route: "general".into(),
        route_reason: "asked".into(),
        prompt_tokens: 10,
        completion_tokens: 20,
        cached_tokens: 4,
        reasoning_tokens: 5,
        cost_micro_usd: 30,
        status: 200,
        ending: Ending::Completed,
        ttfb_ms: 300,
        total_ms: 1_500,
        estimated: false,
        attempts: 1,
        stream: true,
        tools: String::new(),
        tool_args: None,
        dept: None,
        tier: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filtered_and_failed_streams_are_told_apart_from_ordinary_endings() {
        assert_eq!(
            Ending::from_finish_reason(Some("sensitive")),
            Some(Ending::Filtered)
        );
        assert_eq!(
            Ending::from_finish_reason(Some("content_filter")),
            Some(Ending::Filtered)
        );
        assert_eq!(
            Ending::from_finish_reason(Some("network_error")),
            Some(Ending::UpstreamError)
        );
        for ordinary in [Some("stop"), Some("length"), Some("tool_calls"), None] {
            assert_eq!(Ending::from_finish_reason(ordinary), None);
        }
        let json = serde_json::to_string(&Ending::UpstreamError).unwrap_or_default();
        assert_eq!(json, "\"upstream_error\"");
        assert_eq!(Ending::Filtered.as_str(), "filtered");
    }

    #[test]
    fn rows_stored_before_reasoning_tokens_read_as_zero() {
        let old = r#"{"id":"r","ts_ms":1,"day":"1970-01-01","user":"u","credential":"jwt",
            "upstream":"openai","key_id":"k","model_asked":"m","model_used":"m","route":"",
            "route_reason":"asked","prompt_tokens":1,"completion_tokens":2,"cached_tokens":0,
            "cost_micro_usd":3,"status":200,"ending":"completed","ttfb_ms":0,"total_ms":0,
            "estimated":false,"attempts":1,"stream":true}"#;
        let row: Option<LedgerRow> = serde_json::from_str(old).ok();
        assert_eq!(
            row.map(|row| (row.reasoning_tokens, row.tools, row.tool_args)),
            Some((0, String::new(), None))
        );
    }
}
