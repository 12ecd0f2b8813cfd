//! A Responses `input` as chat-completions `messages`: a string is one user message; an array
//! holds messages (roles user, assistant, system, developer; content a string or text parts)
//! and the items of a tool loop (`function_call`, `function_call_output`). Anything else is
//! refused with a 400 naming the item and its type: passing it on unpriced or silently dropping
//! it would both answer a different question than the one asked.

use serde_json::{json, Map, Value};

use crate::error::ProxyError;

/// Message roles a Responses input may carry; `developer` goes upstream as `system`, which
/// every chat-completions upstream understands.
const ROLES: [&str; 4] = ["user", "assistant", "system", "developer"];

/// Content part types that are plain text.
const TEXT_PARTS: [&str; 3] = ["input_text", "output_text", "text"];

/// Input items that are kept by OpenAI for its own reasoning models and mean nothing to a
/// chat-completions upstream: skipped (an SDK replays them after a reasoning answer).
const SKIPPED_ITEMS: [&str; 1] = ["reasoning"];

/// Translates `input` into chat messages (without `instructions`).
pub fn input_messages(input: &Value) -> Result<Vec<Value>, ProxyError> {
    match input {
        Value::String(text) => Ok(vec![json!({"role": "user", "content": text})]),
        Value::Array(items) => {
            let mut messages: Vec<Value> = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                item_into(&mut messages, item, &format!("input[{index}]"))?;
            }
            Ok(messages)
        }
        _ => Err(ProxyError::invalid(
            "input",
            "`input` must be a string or an array of messages and items.",
        )),
    }
}

fn item_into(messages: &mut Vec<Value>, item: &Value, at: &str) -> Result<(), ProxyError> {
    let Value::Object(item) = item else {
        return Err(ProxyError::invalid(
            at,
            format!("`{at}` must be an object."),
        ));
    };
    let kind = item.get("type").and_then(Value::as_str);
    match kind {
        None | Some("message") => messages.push(message(item, at)?),
        Some("function_call") => push_function_call(messages, item, at)?,
        Some("function_call_output") => {
            let call_id = required_string(item, "call_id", at)?;
            let output = match item.get("output") {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Array(parts)) => text_of_parts(parts, &format!("{at}.output"))?,
                _ => {
                    return Err(ProxyError::invalid(
                        &format!("{at}.output"),
                        format!("`{at}.output` must be a string."),
                    ))
                }
            };
            messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": output}));
        }
        Some(skipped) if SKIPPED_ITEMS.contains(&skipped) => {}
        Some(other) => {
            return Err(ProxyError::invalid(
                &format!("{at}.type"),
                format!(
                    "Input items of type `{}` are not supported by this deployment's \
                     /v1/responses (it speaks chat completions upstream): use messages, \
                     `function_call` and `function_call_output` items, or \
                     `previous_response_id`.",
                    clip(other)
                ),
            ))
        }
    }
    Ok(())
}

/// A `function_call` item joins the assistant message just before it, when that one already
/// holds tool calls (parallel calls are one assistant message in chat completions).
fn push_function_call(
    messages: &mut Vec<Value>,
    item: &Map<String, Value>,
    at: &str,
) -> Result<(), ProxyError> {
    let call = json!({
        "id": required_string(item, "call_id", at)?,
        "type": "function",
        "function": {
            "name": required_string(item, "name", at)?,
            "arguments": item.get("arguments").and_then(Value::as_str).unwrap_or("{}"),
        },
    });
    if let Some(Value::Array(calls)) = messages
        .last_mut()
        .filter(|last| last["role"] == "assistant")
        .and_then(|last| last.get_mut("tool_calls"))
    {
        calls.push(call);
        return Ok(());
    }
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [call]}));
    Ok(())
}

fn message(item: &Map<String, Value>, at: &str) -> Result<Value, ProxyError> {
    let role = match item.get("role").and_then(Value::as_str) {
        Some(role) if ROLES.contains(&role) => role,
        _ => {
            return Err(ProxyError::invalid(
                &format!("{at}.role"),
                format!("`{at}.role` must be one of {}.", ROLES.join(", ")),
            ))
        }
    };
    let content = match item.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => text_of_parts(parts, &format!("{at}.content"))?,
        _ => {
            return Err(ProxyError::invalid(
                &format!("{at}.content"),
                format!("`{at}.content` must be a string or an array of text parts."),
            ))
        }
    };
    let role = if role == "developer" { "system" } else { role };
    Ok(json!({"role": role, "content": content}))
}

/// Text parts joined; an image, file or audio part is refused by its type.
fn text_of_parts(parts: &[Value], at: &str) -> Result<String, ProxyError> {
    let mut text = String::new();
    for (index, part) in parts.iter().enumerate() {
        let kind = part.get("type").and_then(Value::as_str).unwrap_or_default();
        if !TEXT_PARTS.contains(&kind) {
            return Err(ProxyError::invalid(
                &format!("{at}[{index}].type"),
                format!(
                    "Content parts of type `{}` are not supported by this deployment's \
                     /v1/responses: only text (`input_text`, `output_text`).",
                    clip(kind)
                ),
            ));
        }
        match part.get("text") {
            Some(Value::String(piece)) => text.push_str(piece),
            _ => {
                return Err(ProxyError::invalid(
                    &format!("{at}[{index}].text"),
                    format!("`{at}[{index}].text` must be a string."),
                ))
            }
        }
    }
    Ok(text)
}

fn required_string(item: &Map<String, Value>, field: &str, at: &str) -> Result<String, ProxyError> {
    match item.get(field) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
        _ => Err(ProxyError::invalid(
            &format!("{at}.{field}"),
            format!("`{at}.{field}` must be a non-empty string."),
        )),
    }
}

/// A caller's type name echoed in an error, cut short.
pub(super) fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: Value, expected: Value) {
        let messages = input_messages(&input).unwrap_or_else(|error| panic!("{error:?}"));
        assert_eq!(Value::Array(messages), expected);
    }

    #[track_caller]
    fn refused(input: Value, param: &str, names: &str) {
        match input_messages(&input) {
            Err(ProxyError::InvalidRequest {
                message,
                param: Some(got),
            }) => {
                assert_eq!(got, param);
                assert!(message.contains(names), "{message}");
            }
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn a_string_is_one_user_message() {
        check(json!("hi"), json!([{"role": "user", "content": "hi"}]));
    }

    #[test]
    fn messages_with_parts_become_text_and_developer_becomes_system() {
        check(
            json!([
                {"role": "developer", "content": "be brief"},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]},
                {"role": "assistant", "content": [{"type": "output_text", "text": "ok", "annotations": []}], "id": "msg_1"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
            ]),
            json!([
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "ab"},
                {"role": "assistant", "content": "ok"},
            ]),
        );
    }

    #[test]
    fn parallel_function_calls_are_one_assistant_message_and_outputs_are_tool_messages() {
        check(
            json!([
                {"role": "user", "content": "weather?"},
                {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{\"city\":\"A\"}"},
                {"type": "function_call", "call_id": "c2", "name": "w", "arguments": "{\"city\":\"B\"}"},
                {"type": "function_call_output", "call_id": "c1", "output": "sun"},
                {"type": "function_call_output", "call_id": "c2", "output": "rain"},
            ]),
            json!([
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"A\"}"}},
                    {"id": "c2", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"B\"}"}},
                ]},
                {"role": "tool", "tool_call_id": "c1", "content": "sun"},
                {"role": "tool", "tool_call_id": "c2", "content": "rain"},
            ]),
        );
    }

    #[test]
    fn images_files_audio_and_unknown_items_are_refused_by_name() {
        refused(
            json!([{"role": "user", "content": [{"type": "input_image", "image_url": "https://x"}]}]),
            "input[0].content[0].type",
            "input_image",
        );
        refused(
            json!([{"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_file", "file_id": "f"}]}]),
            "input[0].content[1].type",
            "input_file",
        );
        refused(
            json!([{"role": "user", "content": [{"type": "input_audio"}]}]),
            "input[0].content[0].type",
            "input_audio",
        );
        refused(
            json!([{"type": "item_reference", "id": "msg_1"}]),
            "input[0].type",
            "item_reference",
        );
        refused(
            json!([{"role": "tool", "content": "x"}]),
            "input[0].role",
            "one of",
        );
        refused(json!(5), "input", "string or an array");
        refused(
            json!([{"type": "function_call", "name": "f"}]),
            "input[0].call_id",
            "call_id",
        );
    }
}
