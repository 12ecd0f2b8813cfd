//! The answer to a request that carries tool results: one paragraph per
//! result, `工具 \`NAME\` 返回：` and the result in a fenced code block, so a
//! test can see which result reached the model, byte for byte.

use crate::chat::Message;

/// Stands in for the name of a result nothing links to a call.
pub const UNKNOWN_TOOL: &str = "unknown";

/// The result of one call, as the request carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolResult {
    pub name: String,
    pub content: String,
}

/// The results at the end of the conversation (every `tool` or `function`
/// message after the last other message), in order, each named by the
/// preceding assistant message's call with its `tool_call_id`, else by the
/// message's own `name`, else by the id itself.
pub fn trailing_results(messages: &[Message]) -> Vec<ToolResult> {
    let first_result = messages
        .iter()
        .rposition(|message| !message.is_tool_result())
        .map_or(0, |last_other| last_other + 1);
    let caller = first_result.checked_sub(1).map(|at| &messages[at]);
    messages[first_result..]
        .iter()
        .map(|result| {
            let id = result.tool_call_id();
            let name = id
                .and_then(|id| caller.and_then(|caller| caller.called_function(id)))
                .or(result.name())
                .or(id)
                .unwrap_or(UNKNOWN_TOOL);
            ToolResult {
                name: name.to_owned(),
                content: result.text(),
            }
        })
        .collect()
}

/// The markdown that quotes every result. A result that is JSON is fenced
/// as `json`, anything else as `text`; the fence is longer than any run of
/// backticks in the result, so no result can close it early.
pub fn quote_results(results: &[ToolResult]) -> String {
    results
        .iter()
        .map(|result| {
            let fence = "`".repeat(longest_backtick_run(&result.content).max(2) + 1);
            let language = if serde_json::from_str::<serde_json::Value>(&result.content).is_ok() {
                "json"
            } else {
                "text"
            };
            format!(
                "工具 `{name}` 返回：\n\n{fence}{language}\n{content}\n{fence}",
                name = result.name,
                content = result.content,
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn messages(conversation: Value) -> Vec<Message> {
        serde_json::from_value(conversation).unwrap_or_default()
    }

    #[track_caller]
    fn check_results(conversation: Value, expected: &[(&str, &str)]) {
        let results = trailing_results(&messages(conversation));
        let pairs: Vec<(&str, &str)> = results
            .iter()
            .map(|result| (result.name.as_str(), result.content.as_str()))
            .collect();
        assert_eq!(pairs, expected);
    }

    #[test]
    fn results_are_named_by_the_call_they_answer() {
        check_results(
            json!([
                {"role": "user", "content": "两个都查"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "balance", "arguments": "{}"}},
                    {"id": "call_b", "type": "function", "function": {"name": "holidays", "arguments": "{}"}},
                ]},
                {"role": "tool", "tool_call_id": "call_b", "content": "[\"10-01\"]"},
                {"role": "tool", "tool_call_id": "call_a", "content": [{"type": "text", "text": "{\"days\":5}"}]},
            ]),
            &[("holidays", "[\"10-01\"]"), ("balance", "{\"days\":5}")],
        );
    }

    #[test]
    fn unlinked_results_fall_back_to_name_then_id() {
        check_results(
            json!([
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": null},
                {"role": "tool", "tool_call_id": "call_zzz", "content": "a"},
                {"role": "tool", "tool_call_id": "call_y", "name": "named", "content": "b"},
                {"role": "function", "name": "legacy", "content": "c"},
                {"role": "tool", "content": "d"},
            ]),
            &[
                ("call_zzz", "a"),
                ("named", "b"),
                ("legacy", "c"),
                (UNKNOWN_TOOL, "d"),
            ],
        );
        check_results(
            json!([{"role": "tool", "tool_call_id": "t", "content": "only"}]),
            &[("t", "only")],
        );
        check_results(json!([{"role": "user", "content": "no results"}]), &[]);
    }

    #[test]
    fn quotes_fence_each_result() {
        let quoted = quote_results(&[
            ToolResult {
                name: "balance".into(),
                content: r#"{"days":5}"#.into(),
            },
            ToolResult {
                name: "note".into(),
                content: "has ``` inside\n<b>html</b>".into(),
            },
        ]);
        assert_eq!(
            quoted,
            "工具 `balance` 返回：\n\n```json\n{\"days\":5}\n```\n\n\
             工具 `note` 返回：\n\n````text\nhas ``` inside\n<b>html</b>\n````"
        );
    }
}
