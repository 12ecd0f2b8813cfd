//! OA actions: tools a page registers in the widget, offered to the model on
//! `/v1/oachat/chat`, called by the model, run in the browser, and answered back with
//! `tool_results`. The pure rules of the worker's half (docs/tools.md is the contract):
//!
//! - `offer.rs`: the page's `tools` and `context`, validated (errors name the field path),
//!   and how they go upstream;
//! - `results.rs`: the page's `tool_results`, validated and truncated, matched against the
//!   calls of the conversation's last answer, and the `tool` messages they become;
//! - `calls.rs`: the calls of an answer, assembled from streamed `delta.tool_calls`
//!   fragments, and the `oachat.tool_call` events and ledger fields made from them;
//! - `server.rs`: server tools (`[tools.server]`), offered beside the page's and answered by
//!   the worker itself; `webhook.rs`: the signed webhook their calls become, and its outcome
//!   as a result;
//! - `rounds.rs`: how many tool rounds a user message has had, and the rule for the round
//!   that reaches `tools.max_rounds`.
//!
//! The model is only offered the tools the page sent in this request, and results reach the
//! upstream only as `tool` messages: nothing here turns page data into instructions.

mod calls;
mod offer;
mod results;
mod rounds;
mod server;
mod webhook;

use serde::{Deserialize, Serialize};

pub use calls::{ledger_tool_args, ledger_tool_names, tool_call_events, ToolCallAssembler};
pub use offer::valid_tool_name;
pub use offer::{
    context_message, offered_names, parse_context, parse_tools, upstream_tools, ToolSpec,
};
pub use results::{
    filler_result, parse_tool_results, tool_message_content, truncate_result, ToolResult,
};
pub use rounds::{continuation, Continuation, ToolRefusal};
pub use server::{
    apply_server_answers, call_flags, check_result_status, merge_offer, route_server_tools,
    server_calls_to_answer, server_flags, webhook_arguments, withhold_server_tools,
    NOT_A_SERVER_TOOL,
};
pub use webhook::{
    check_webhook_url, log_line, sign, webhook_request, webhook_result_content, WebhookCaller,
    WebhookOutcome, WebhookRequest,
};

/// Tools a request may offer: a page's actions, not a plugin store.
pub const MAX_TOOLS: usize = 32;
/// Longest tool description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// Largest serialized `parameters` schema of one tool.
pub const MAX_PARAMETERS_BYTES: usize = 8 * 1024;
/// Largest serialized `tools` array as a whole.
pub const MAX_TOOLS_BYTES: usize = 64 * 1024;
/// Deepest JSON nesting accepted in a schema or the context: serde_json stops at 128 anyway,
/// and no real form needs more than a handful of levels.
pub const MAX_JSON_DEPTH: usize = 32;
/// Tool calls kept of one answer. Models make a few parallel calls; more is a runaway.
pub const MAX_CALLS: usize = 16;
/// Largest arguments text kept of one call (the widget validates it against the schema).
pub const MAX_ARGUMENTS_BYTES: usize = 32 * 1024;
/// Bytes of arguments the ledger keeps per row when `ledger.tool_args` is on.
pub const MAX_LEDGER_ARGS_BYTES: usize = 4 * 1024;
/// What is appended to a result cut at `tools.max_result_bytes`.
pub const TRUNCATED_MARK: &str = "…[truncated]";

/// One call the model made: its id, the tool's name and the raw arguments text (a string
/// that may not even be JSON; the widget validates it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// How the page answered a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    #[default]
    Ok,
    Error,
    Declined,
    /// A server tool's call: the worker answers it with its webhook.
    Server,
}

impl ToolStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolStatus::Ok => "ok",
            ToolStatus::Error => "error",
            ToolStatus::Declined => "declined",
            ToolStatus::Server => "server",
        }
    }
}

/// The limits the config sets on what a page sends (`[tools]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolLimits {
    pub max_result_bytes: usize,
    pub context_max_bytes: usize,
}

/// Whether `value` nests deeper than `max` arrays and objects.
pub(crate) fn too_deep(value: &serde_json::Value, max: usize) -> bool {
    // Iterative: a hostile schema must not be able to grow the stack.
    let mut stack = vec![(value, 0usize)];
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &serde_json::Value>> = match value {
            serde_json::Value::Array(items) => Box::new(items.iter()),
            serde_json::Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth >= max {
            return true;
        }
        stack.extend(children.map(|child| (child, depth + 1)));
    }
    false
}

/// `text` cut to at most `max` bytes, never inside a character.
pub(crate) fn cut_at_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_is_measured_without_recursion() {
        assert!(!too_deep(&json!({"a": {"b": [1]}}), 3));
        assert!(too_deep(&json!({"a": {"b": [1]}}), 2));
        assert!(!too_deep(&json!("flat"), 0));
        let mut deep = json!(1);
        for _ in 0..100 {
            deep = json!([deep]);
        }
        assert!(too_deep(&deep, MAX_JSON_DEPTH));
    }

    #[test]
    fn cuts_never_split_a_character() {
        assert_eq!(cut_at_boundary("héllo", 2), "h");
        assert_eq!(cut_at_boundary("héllo", 3), "hé");
        assert_eq!(cut_at_boundary("好", 2), "");
        assert_eq!(cut_at_boundary("ok", 10), "ok");
    }
}
