//! What the page answers: `tool_results`, one per call it ran (or declined, or failed), and
//! the `tool` messages they become upstream. Content is cut to `tools.max_result_bytes`
//! before it is stored or sent, so a page cannot make every later turn of the conversation
//! expensive with one huge result.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{cut_at_boundary, ToolStatus, MAX_CALLS, TRUNCATED_MARK};
use crate::error::ProxyError;

/// One call's result, as validated (and as stored in the conversation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolResult {
    pub id: String,
    pub status: ToolStatus,
    pub content: String,
}

/// What the upstream is told for a call the page left without a result.
pub const NO_RESULT: &str = "No result: the page did not answer.";

/// How a declined call starts its `tool` message, so the model knows the user said no.
pub const DECLINED_PREFIX: &str = "The user declined this action.";

/// How a failed call starts its `tool` message.
pub const ERROR_PREFIX: &str = "Error: ";

/// Longest call id accepted back: ids are the upstream's (`call_` + 24 characters at OpenAI).
const MAX_ID_BYTES: usize = 128;

fn valid_call_id(id: &str) -> bool {
    (1..=MAX_ID_BYTES).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// The request's `tool_results` (absent or `null`: this is not a continuation), validated,
/// each content cut to `max_result_bytes`.
pub fn parse_tool_results(
    value: Option<&Value>,
    max_result_bytes: usize,
) -> Result<Option<Vec<ToolResult>>, ProxyError> {
    let results = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(results)) if !results.is_empty() && results.len() <= MAX_CALLS => results,
        Some(_) => {
            return Err(ProxyError::invalid(
                "tool_results",
                format!("`tool_results` must be an array of 1 to {MAX_CALLS} results."),
            ))
        }
    };
    let mut parsed: Vec<ToolResult> = Vec::with_capacity(results.len());
    for (index, result) in results.iter().enumerate() {
        let field = |name: &str| format!("tool_results[{index}]{name}");
        let Value::Object(result) = result else {
            return Err(ProxyError::invalid(
                &field(""),
                format!(
                    "`{}` must be an object with `id`, `status` and `content`.",
                    field("")
                ),
            ));
        };
        let id = match result.get("id") {
            Some(Value::String(id)) if valid_call_id(id) => id.clone(),
            _ => {
                return Err(ProxyError::invalid(
                    &field(".id"),
                    format!("`{}` must be the id of a tool call.", field(".id")),
                ))
            }
        };
        if parsed.iter().any(|earlier| earlier.id == id) {
            return Err(ProxyError::invalid(
                &field(".id"),
                format!(
                    "`{}` answers a call that an earlier result answers.",
                    field(".id")
                ),
            ));
        }
        let status = match result.get("status") {
            None | Some(Value::Null) => ToolStatus::Ok,
            Some(Value::String(status)) => match status.as_str() {
                "ok" => ToolStatus::Ok,
                "error" => ToolStatus::Error,
                "declined" => ToolStatus::Declined,
                "server" => ToolStatus::Server,
                _ => return Err(bad_status(&field(".status"))),
            },
            Some(_) => return Err(bad_status(&field(".status"))),
        };
        let content = match result.get("content") {
            // Only the worker writes a server call's content.
            _ if status == ToolStatus::Server => "",
            None | Some(Value::Null) => "",
            Some(Value::String(content)) => content.as_str(),
            Some(_) => {
                return Err(ProxyError::invalid(
                    &field(".content"),
                    format!(
                        "`{}` must be a string (serialize a JSON result).",
                        field(".content")
                    ),
                ))
            }
        };
        parsed.push(ToolResult {
            id,
            status,
            content: truncate_result(content, max_result_bytes),
        });
    }
    Ok(Some(parsed))
}

fn bad_status(field: &str) -> ProxyError {
    ProxyError::invalid(
        field,
        format!("`{field}` must be \"ok\", \"error\", \"declined\" or \"server\"."),
    )
}

/// `content` within `max_bytes`: cut at a character boundary with [`TRUNCATED_MARK`]
/// appended, the whole still within `max_bytes`.
pub fn truncate_result(content: &str, max_bytes: usize) -> String {
    if content.len() <= max_bytes {
        return content.to_string();
    }
    let room = max_bytes.saturating_sub(TRUNCATED_MARK.len());
    let mut cut = cut_at_boundary(content, room).to_string();
    cut.push_str(TRUNCATED_MARK);
    cut
}

/// The result a call left unanswered gets, so the upstream sees a complete exchange (a call
/// without its `tool` message is a 400 there).
pub fn filler_result(id: &str) -> ToolResult {
    ToolResult {
        id: id.to_string(),
        status: ToolStatus::Error,
        content: NO_RESULT.to_string(),
    }
}

/// The content of the `tool` message a result becomes: a declined call and a failed one are
/// said to be so before whatever the page wrote.
pub fn tool_message_content(status: ToolStatus, content: &str) -> String {
    match status {
        // A server tool's content is the webhook's answer, or already says it failed.
        ToolStatus::Ok | ToolStatus::Server => content.to_string(),
        ToolStatus::Declined if content.is_empty() => DECLINED_PREFIX.to_string(),
        ToolStatus::Declined => format!("{DECLINED_PREFIX}\n{content}"),
        ToolStatus::Error => format!("{ERROR_PREFIX}{content}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[track_caller]
    fn refused_at(results: Value, expected_param: &str) {
        match parse_tool_results(Some(&results), 8192) {
            Err(ProxyError::InvalidRequest { param, .. }) => {
                assert_eq!(param.as_deref(), Some(expected_param), "{results}")
            }
            other => panic!("{results}: {other:?}"),
        }
    }

    #[test]
    fn results_default_to_ok_and_keep_their_order() {
        let parsed = parse_tool_results(
            Some(&json!([{"id": "call_a", "content": "{\"days\":5}"},
                {"id": "call_b", "status": "declined", "content": "The user declined."},
                {"id": "call_c", "status": "error"}])),
            8192,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            parsed
                .iter()
                .map(|r| (r.id.as_str(), r.status))
                .collect::<Vec<_>>(),
            [
                ("call_a", ToolStatus::Ok),
                ("call_b", ToolStatus::Declined),
                ("call_c", ToolStatus::Error)
            ]
        );
        assert_eq!(parsed[2].content, "");
        assert_eq!(parse_tool_results(None, 10).unwrap(), None);
    }

    #[test]
    fn every_problem_names_its_field_path() {
        refused_at(json!([]), "tool_results");
        refused_at(json!({"id": "x"}), "tool_results");
        let many: Vec<Value> = (0..17).map(|i| json!({"id": format!("c{i}")})).collect();
        refused_at(Value::Array(many), "tool_results");
        refused_at(json!([{"id": "a"}, 5]), "tool_results[1]");
        refused_at(json!([{"id": ""}]), "tool_results[0].id");
        refused_at(json!([{"id": "has space"}]), "tool_results[0].id");
        refused_at(json!([{"id": "x".repeat(129)}]), "tool_results[0].id");
        refused_at(json!([{"id": "a"}, {"id": "a"}]), "tool_results[1].id");
        refused_at(
            json!([{"id": "a", "status": "maybe"}]),
            "tool_results[0].status",
        );
        refused_at(
            json!([{"id": "a", "content": {"days": 5}}]),
            "tool_results[0].content",
        );
    }

    #[test]
    fn long_results_are_cut_at_a_character_boundary_with_a_mark() {
        assert_eq!(truncate_result("short", 256), "short");
        let chinese = "假".repeat(200); // 600 bytes
        let cut = truncate_result(&chinese, 256);
        assert!(cut.len() <= 256, "{}", cut.len());
        assert!(cut.ends_with(TRUNCATED_MARK));
        let kept = cut.trim_end_matches(TRUNCATED_MARK);
        assert!(kept.chars().all(|c| c == '假'));
        // Every boundary position: never a split character, never over the limit.
        let mixed = "a假🎉".repeat(100);
        for max in 256..300 {
            let cut = truncate_result(&mixed, max);
            assert!(cut.len() <= max && cut.ends_with(TRUNCATED_MARK), "{max}");
        }
        let parsed = parse_tool_results(Some(&json!([{"id": "a", "content": chinese}])), 256)
            .unwrap()
            .unwrap();
        assert!(parsed[0].content.ends_with(TRUNCATED_MARK));
    }

    #[test]
    fn declined_and_failed_calls_say_so_first() {
        assert_eq!(tool_message_content(ToolStatus::Ok, "{}"), "{}");
        assert_eq!(
            tool_message_content(ToolStatus::Declined, ""),
            "The user declined this action."
        );
        assert_eq!(
            tool_message_content(ToolStatus::Declined, "cancelled"),
            "The user declined this action.\ncancelled"
        );
        assert_eq!(
            tool_message_content(ToolStatus::Error, "timeout"),
            "Error: timeout"
        );
        let filler = filler_result("call_x");
        assert_eq!(
            tool_message_content(filler.status, &filler.content),
            "Error: No result: the page did not answer."
        );
    }
}
