//! The calls of an answer. A streamed answer sends each call in fragments
//! (`delta.tool_calls[]`, keyed by `index`: the id and name first, the arguments text in
//! pieces); they are put back together here, bounded, and told to the widget as one
//! `oachat.tool_call` event each. The ledger gets their names, and their arguments only when
//! the operator asked (`ledger.tool_args`).

use oachat_protocol::encode_event_into;
use oachat_protocol::names::TOOL_CALL_EVENT;
use serde_json::{json, Value};

use super::{cut_at_boundary, ToolCall, MAX_ARGUMENTS_BYTES, MAX_CALLS, MAX_LEDGER_ARGS_BYTES};

/// Longest tool name kept from the model (OpenAI's own limit).
const MAX_NAME_BYTES: usize = 64;
/// Longest call id kept from the model.
const MAX_ID_BYTES: usize = 128;

/// Collects the calls of one answer from its chunks (or its whole message).
#[derive(Debug, Clone, Default)]
pub struct ToolCallAssembler {
    /// By the call's `index`; a hostile index past [`MAX_CALLS`] is ignored.
    calls: Vec<Option<ToolCall>>,
}

impl ToolCallAssembler {
    /// Feeds one streamed event's data (a chunk, `[DONE]`, or anything else, ignored).
    pub fn push_chunk(&mut self, data: &str) {
        // Cheap filter first: most chunks carry text, not calls.
        if !data.contains("\"tool_calls\"") {
            return;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
            return;
        };
        for choice in chunk
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            // The widget's answers have one choice; calls of other choices are not its own.
            if choice.get("index").and_then(Value::as_u64).unwrap_or(0) != 0 {
                continue;
            }
            let fragments = choice
                .pointer("/delta/tool_calls")
                .and_then(Value::as_array);
            for (position, fragment) in fragments.into_iter().flatten().enumerate() {
                let index = fragment
                    .get("index")
                    .and_then(Value::as_u64)
                    .unwrap_or(position as u64);
                self.merge(index, fragment);
            }
        }
    }

    /// Feeds a whole (non-streamed) assistant message's `tool_calls`.
    pub fn push_message(&mut self, message: &Value) {
        let calls = message.get("tool_calls").and_then(Value::as_array);
        for (index, call) in calls.into_iter().flatten().enumerate() {
            self.merge(index as u64, call);
        }
    }

    fn merge(&mut self, index: u64, fragment: &Value) {
        let Ok(index) = usize::try_from(index) else {
            return;
        };
        if index >= MAX_CALLS {
            return;
        }
        if self.calls.len() <= index {
            self.calls.resize(index + 1, None);
        }
        let call = self.calls[index].get_or_insert_with(|| ToolCall {
            id: String::new(),
            name: String::new(),
            arguments: String::new(),
        });
        if let Some(id) = fragment.get("id").and_then(Value::as_str) {
            if !id.is_empty() && call.id.is_empty() {
                call.id = cut_at_boundary(id, MAX_ID_BYTES).to_string();
            }
        }
        let function = fragment.get("function");
        if let Some(name) = function.and_then(|f| f.get("name")).and_then(Value::as_str) {
            // Sent whole in the first fragment by OpenAI; some providers repeat it.
            if call.name.is_empty() {
                call.name = cut_at_boundary(name, MAX_NAME_BYTES).to_string();
            }
        }
        if let Some(arguments) = function
            .and_then(|f| f.get("arguments"))
            .and_then(Value::as_str)
        {
            let room = MAX_ARGUMENTS_BYTES.saturating_sub(call.arguments.len());
            call.arguments.push_str(cut_at_boundary(arguments, room));
        }
    }

    /// The complete calls in `index` order. A call without an id or a name cannot be
    /// answered, so it is not one.
    pub fn calls(&self) -> Vec<ToolCall> {
        self.calls
            .iter()
            .flatten()
            .filter(|call| !call.id.is_empty() && !call.name.is_empty())
            .cloned()
            .collect()
    }
}

/// One `event: oachat.tool_call` per call, for the widget. A server tool's call (`server`:
/// `(name, confirm)` of each) says so, and whether the user confirms it first.
pub fn tool_call_events(calls: &[ToolCall], server: &[(String, bool)]) -> String {
    let mut out = String::new();
    for call in calls {
        out.push_str("event: ");
        out.push_str(TOOL_CALL_EVENT);
        out.push('\n');
        let mut data = json!({"id": call.id, "name": call.name, "arguments": call.arguments});
        match super::call_flags(server, &call.name) {
            (false, _) => {}
            (true, false) => data["server"] = true.into(),
            (true, true) => {
                data["server"] = true.into();
                data["confirm"] = true.into();
            }
        }
        encode_event_into(&mut out, &data.to_string());
    }
    out
}

/// The ledger's `tools` column: the names called, in order, comma-separated.
pub fn ledger_tool_names(calls: &[ToolCall]) -> String {
    calls
        .iter()
        .map(|call| call.name.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The ledger's `tool_args` column (only with `ledger.tool_args`): the arguments as a JSON
/// array of strings, cut to [`MAX_LEDGER_ARGS_BYTES`].
pub fn ledger_tool_args(calls: &[ToolCall]) -> String {
    let arguments: Vec<&str> = calls.iter().map(|call| call.arguments.as_str()).collect();
    let text = Value::from(arguments).to_string();
    super::truncate_result(&text, MAX_LEDGER_ARGS_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oachat_protocol::SseParser;

    fn chunk(tool_calls: Value) -> String {
        json!({"choices": [{"index": 0, "delta": {"tool_calls": tool_calls}}]}).to_string()
    }

    #[test]
    fn fragments_are_assembled_by_index() {
        let mut calls = ToolCallAssembler::default();
        calls.push_chunk(&chunk(
            json!([{"index": 0, "id": "call_a", "type": "function",
            "function": {"name": "submit_leave", "arguments": ""}}]),
        ));
        calls.push_chunk(&chunk(
            json!([{"index": 0, "function": {"arguments": "{\"from\":"}}]),
        ));
        calls.push_chunk(&chunk(json!([{"index": 1, "id": "call_b",
            "function": {"name": "lookup", "arguments": "{}"}}])));
        calls.push_chunk(&chunk(
            json!([{"index": 0, "function": {"arguments": "\"2024-06-24\"}"}}]),
        ));
        calls.push_chunk(r#"{"choices":[{"index":0,"delta":{"content":"ignored"}}]}"#);
        calls.push_chunk("[DONE]");
        calls.push_chunk("not json \"tool_calls\"");
        assert_eq!(
            calls.calls(),
            [
                ToolCall {
                    id: "call_a".into(),
                    name: "submit_leave".into(),
                    arguments: r#"{"from":"2024-06-24"}"#.into()
                },
                ToolCall {
                    id: "call_b".into(),
                    name: "lookup".into(),
                    arguments: "{}".into()
                },
            ]
        );
    }

    #[test]
    fn hostile_fragments_are_bounded() {
        let mut calls = ToolCallAssembler::default();
        // A huge index is ignored rather than allocated.
        calls.push_chunk(&chunk(
            json!([{"index": u64::MAX, "id": "x", "function": {"name": "n"}}]),
        ));
        calls.push_chunk(&chunk(
            json!([{"index": 1_000_000, "id": "x", "function": {"name": "n"}}]),
        ));
        assert!(calls.calls().is_empty());
        // Arguments never grow past the bound, and never split a character.
        calls.push_chunk(&chunk(
            json!([{"index": 0, "id": "c", "function": {"name": "n"}}]),
        ));
        for _ in 0..20_000 {
            calls.push_chunk(&chunk(
                json!([{"index": 0, "function": {"arguments": "假"}}]),
            ));
        }
        let kept = calls.calls();
        assert!(kept[0].arguments.len() <= MAX_ARGUMENTS_BYTES);
        assert!(kept[0].arguments.chars().all(|c| c == '假'));
        // A call without an id (or name) is dropped; other choices' calls are not this answer's.
        let mut calls = ToolCallAssembler::default();
        calls.push_chunk(&chunk(
            json!([{"index": 0, "function": {"name": "n", "arguments": "{}"}}]),
        ));
        calls.push_chunk(
            &json!({"choices": [{"index": 1, "delta": {"tool_calls": [{"index": 1, "id": "z",
                "function": {"name": "other"}}]}}]})
            .to_string(),
        );
        assert!(calls.calls().is_empty());
        // A name repeated in every fragment is kept once.
        let mut calls = ToolCallAssembler::default();
        for _ in 0..3 {
            calls.push_chunk(&chunk(
                json!([{"index": 0, "id": "c", "function": {"name": "n"}}]),
            ));
        }
        assert_eq!(calls.calls()[0].name, "n");
    }

    #[test]
    fn whole_messages_give_the_same_calls() {
        let mut calls = ToolCallAssembler::default();
        calls.push_message(&json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]}));
        assert_eq!(calls.calls()[0].arguments, "{\"a\":1}");
    }

    #[test]
    fn each_call_is_one_named_event() {
        let calls = [
            ToolCall {
                id: "call_a".into(),
                name: "submit_leave".into(),
                arguments: "{\"from\":\"2024-06-24\"}\n".into(),
            },
            ToolCall {
                id: "call_b".into(),
                name: "f".into(),
                arguments: "not json".into(),
            },
        ];
        let events = SseParser::new().push(tool_call_events(&calls, &[]).as_bytes());
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event.as_deref(), Some("oachat.tool_call"));
        let data: Value = serde_json::from_str(&events[0].data).unwrap();
        assert_eq!(
            data,
            json!({"id": "call_a", "name": "submit_leave",
            "arguments": "{\"from\":\"2024-06-24\"}\n"})
        );
        assert_eq!(ledger_tool_names(&calls), "submit_leave,f");
        // A server tool's call says so (and whether the user confirms it first).
        let flagged = tool_call_events(&calls, &[("f".to_string(), true)]);
        let events = SseParser::new().push(flagged.as_bytes());
        let first: Value = serde_json::from_str(&events[0].data).unwrap();
        let second: Value = serde_json::from_str(&events[1].data).unwrap();
        assert_eq!((first.get("server"), first.get("confirm")), (None, None));
        assert_eq!(
            (&second["server"], &second["confirm"]),
            (&json!(true), &json!(true))
        );
        let unconfirmed = tool_call_events(&calls[1..], &[("f".to_string(), false)]);
        let event: Value =
            serde_json::from_str(&SseParser::new().push(unconfirmed.as_bytes())[0].data).unwrap();
        assert_eq!(
            (&event["server"], event.get("confirm")),
            (&json!(true), None)
        );
        assert_eq!(
            ledger_tool_args(&calls),
            r#"["{\"from\":\"2024-06-24\"}\n","not json"]"#
        );
        let huge = [ToolCall {
            id: "c".into(),
            name: "f".into(),
            arguments: "x".repeat(10_000),
        }];
        assert!(ledger_tool_args(&huge).len() <= MAX_LEDGER_ARGS_BYTES);
    }
}
