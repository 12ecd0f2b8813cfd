//! Deciding what an answer does about tools: matching, `tool_choice`,
//! tool results, and each directive.
use serde_json::{json, Value};

use super::*;

const LEAVE: &str = "get_leave_balance";
const ROOM: &str = "book_room";

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": LEAVE, "description": "查询年假余额：返回剩余天数",
            "parameters": {"type": "object", "required": ["year"], "properties": {
                "year": {"type": "integer", "examples": [2025]},
                "note": {"type": "string"},
            }}}},
        {"type": "function", "function": {"name": ROOM, "description": "Books a meeting room.",
            "parameters": {"type": "object", "properties": {"size": {"type": "integer", "default": 4}}}}},
    ])
}

/// The reply to `request` (`tools`, `tool_choice`, `messages`).
fn reply(request: Value) -> ToolReply {
    let array = |field: &str| request[field].as_array().cloned().unwrap_or_default();
    let offered = Offered::parse(&array("tools"), &[], request.get("tool_choice"), None);
    let messages: Vec<Message> =
        serde_json::from_value(request["messages"].clone()).unwrap_or_default();
    let last_user = messages
        .iter()
        .rev()
        .find(|message| message.role == "user")
        .map(Message::text)
        .unwrap_or_default();
    decide(&offered, &messages, &last_user)
}

fn asked(text: &str) -> Value {
    json!({"tools": tools(), "messages": [{"role": "user", "content": text}]})
}

fn with(mut request: Value, field: &str, value: Value) -> Value {
    request[field] = value;
    request
}

/// The names and arguments of the calls, or what else the reply is.
#[track_caller]
fn check_calls(request: Value, expected: &[(&str, &str)]) {
    let calls = match reply(request) {
        ToolReply::Calls(calls) => calls,
        other => panic!("expected calls, got {other:?}"),
    };
    let pairs: Vec<(&str, &str)> = calls
        .iter()
        .map(|call| (call.name.as_str(), call.arguments.as_str()))
        .collect();
    assert_eq!(pairs, expected);
}

#[track_caller]
fn check_answer(request: Value) {
    assert_eq!(reply(request), ToolReply::Answer);
}

#[test]
fn the_first_tool_the_message_asks_for_is_called() {
    check_calls(asked("帮我查询年假余额"), &[(LEAVE, r#"{"year":2025}"#)]);
    check_calls(asked("please book_room"), &[(ROOM, r#"{"size":4}"#)]);
    check_calls(
        asked("Books and 查询年假余额"),
        &[(LEAVE, r#"{"year":2025}"#)],
    );
    check_answer(asked("你好"));
    check_answer(json!({"tools": [], "messages": [{"role": "user", "content": "book_room"}]}));
}

#[test]
fn only_the_last_message_is_matched_and_only_a_users() {
    check_answer(json!({"tools": tools(), "messages": [
        {"role": "user", "content": "book_room"},
        {"role": "assistant", "content": "booked"},
        {"role": "user", "content": "thanks"},
    ]}));
    check_answer(json!({"tools": tools(), "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "book_room"},
    ]}));
}

#[test]
fn tool_choice_none_named_and_required() {
    check_answer(with(asked("book_room"), "tool_choice", json!("none")));
    let named = json!({"type": "function", "function": {"name": LEAVE}});
    check_calls(
        with(asked("你好"), "tool_choice", named),
        &[(LEAVE, r#"{"year":2025}"#)],
    );
    let unoffered = json!({"type": "function", "function": {"name": "ghost"}});
    check_calls(
        with(asked("你好"), "tool_choice", unoffered),
        &[("ghost", "{}")],
    );
    check_calls(
        with(asked("你好"), "tool_choice", json!("required")),
        &[(LEAVE, r#"{"year":2025}"#)],
    );
    check_calls(
        with(asked("Books"), "tool_choice", json!("required")),
        &[(ROOM, r#"{"size":4}"#)],
    );
    check_calls(
        json!({"tool_choice": "required", "tools": tools(), "messages": []}),
        &[(LEAVE, r#"{"year":2025}"#)],
    );
}

fn after_call(results: Value, last_user: &str) -> Value {
    let mut messages = vec![
        json!({"role": "user", "content": last_user}),
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": LEAVE, "arguments": "{}"}},
            {"id": "call_2", "type": "function", "function": {"name": ROOM, "arguments": "{}"}},
        ]}),
    ];
    messages.extend(results.as_array().cloned().unwrap_or_default());
    json!({"tools": tools(), "messages": messages})
}

#[test]
fn tool_results_are_quoted_and_never_called_again() {
    let request = after_call(
        json!([
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"days\":5}"},
            {"role": "tool", "tool_call_id": "call_2", "content": "room 301"},
        ]),
        "查询年假余额 and book_room",
    );
    assert_eq!(
        reply(with(request.clone(), "tool_choice", json!("required"))),
        ToolReply::QuoteResults(
            "工具 `get_leave_balance` 返回：\n\n```json\n{\"days\":5}\n```\n\n\
             工具 `book_room` 返回：\n\n```text\nroom 301\n```"
                .into()
        )
    );
    let directed = after_call(
        json!([{"role": "tool", "tool_call_id": "call_1", "content": "x"}]),
        "[mock tool=book_room]",
    );
    assert!(matches!(reply(directed), ToolReply::QuoteResults(_)));
}

#[test]
fn directive_tool_calls_anything_with_raw_arguments() {
    check_calls(asked("[mock tool=rm_rf]"), &[("rm_rf", "{}")]);
    check_calls(asked("[mock tool=book_room]"), &[(ROOM, r#"{"size":4}"#)]);
    check_calls(
        with(asked("[mock tool=book_room]"), "tool_choice", json!("none")),
        &[(ROOM, r#"{"size":4}"#)],
    );
    check_calls(
        asked("[mock tool=book_room args=eyJhIjo]"),
        &[(ROOM, r#"{"a":"#)],
    );
    check_calls(
        asked(r#"book_room [mock args_json={"size":"many"}]"#),
        &[(ROOM, r#"{"size":"many"}"#)],
    );
}

#[test]
fn tool_loop_calls_the_same_tool_after_each_result() {
    let looping = after_call(
        json!([{"role": "tool", "tool_call_id": "call_2", "content": "ok"}]),
        "book_room [mock tool_loop=1]",
    );
    check_calls(looping.clone(), &[(ROOM, r#"{"size":4}"#)]);
    assert!(matches!(
        reply(with(looping, "tool_choice", json!("none"))),
        ToolReply::QuoteResults(_)
    ));
    let directed = after_call(
        json!([{"role": "tool", "tool_call_id": "call_2", "content": "ok"}]),
        "[mock tool=ghost tool_loop=1]",
    );
    check_calls(directed, &[("ghost", "{}")]);
}

#[test]
fn parallel_calls_take_matching_then_offered_tools() {
    check_calls(
        asked("book_room [mock tools=2]"),
        &[(ROOM, r#"{"size":4}"#), (LEAVE, r#"{"year":2025}"#)],
    );
    check_calls(
        asked("[mock tool=ghost tools=3]"),
        &[
            ("ghost", "{}"),
            (LEAVE, r#"{"year":2025}"#),
            (ROOM, r#"{"size":4}"#),
        ],
    );
    check_calls(
        asked("book_room [mock tools=5]"),
        &[(ROOM, r#"{"size":4}"#), (LEAVE, r#"{"year":2025}"#)],
    );
    check_answer(asked("nothing asked [mock tools=2]"));
}

#[test]
fn call_ids_are_stable_and_distinct() {
    let digest = request_digest(b"{\"model\":\"m\"}");
    assert_eq!(digest, request_digest(b"{\"model\":\"m\"}"));
    assert_ne!(digest, request_digest(b"{\"model\":\"n\"}"));
    let id = call_id(digest, 0, 0);
    assert_eq!(id, call_id(digest, 0, 0));
    assert!(id.starts_with("call_") && id.len() == 21, "{id}");
    assert!(id["call_".len()..].chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(id, call_id(digest, 0, 1));
    assert_ne!(id, call_id(digest, 1, 0));
}
