//! Prompts and answers as the GenAI conventions record them (`otel.capture_content = true`
//! only): `gen_ai.input.messages` and `gen_ai.output.messages`, each a JSON string (the
//! conventions' form for span attributes where structured values are not supported, and what
//! Langfuse and most backends read) of `[{role, parts: [{type, ...}]}]`.
//!
//! Bounded, because a conversation's history can be large and collectors cap attribute and
//! request sizes: each text is cut to [`PART_BYTES`], images are recorded by type only (never
//! their data), and when the whole is still over [`CONTENT_BYTES`] the oldest messages are
//! left out first. Cutting always keeps the JSON valid and the order of what is kept.

use serde_json::{json, Map, Value};

/// The most bytes of one text (a message's content, a tool result, an answer) recorded.
pub const PART_BYTES: usize = 4096;

/// The most bytes of one content attribute, as serialized.
pub const CONTENT_BYTES: usize = 16 * 1024;

/// A content attribute, and whether anything was cut to make it fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bounded {
    pub json: String,
    pub truncated: bool,
}

/// `gen_ai.input.messages` from the upstream body oachat sent (a chat-completions request:
/// its `messages`, with the route's system prompt and a conversation's history as sent).
pub fn input_messages(upstream_body: &str) -> Bounded {
    let body: Value = serde_json::from_str(upstream_body).unwrap_or(Value::Null);
    let mut truncated = false;
    let messages: Vec<Value> = body
        .get("messages")
        .and_then(Value::as_array)
        .map(|messages| {
            messages
                .iter()
                .map(|message| input_message(message, &mut truncated))
                .collect()
        })
        .unwrap_or_default();
    bound(messages, truncated)
}

/// `gen_ai.output.messages` for an answer given as text (a stream, a cached answer): one
/// assistant message.
pub fn output_text(text: &str, finish_reason: Option<&str>) -> Bounded {
    let mut truncated = false;
    let parts = if text.is_empty() {
        Vec::new()
    } else {
        vec![text_part(text, &mut truncated)]
    };
    bound(vec![output_message(parts, finish_reason)], truncated)
}

/// `gen_ai.output.messages` for a whole chat completion: one message per choice, with its
/// text and tool calls.
pub fn output_completion(completion: &Value) -> Bounded {
    let mut truncated = false;
    let messages = completion
        .get("choices")
        .and_then(Value::as_array)
        .map(|choices| {
            choices
                .iter()
                .map(|choice| {
                    let message = choice.get("message").unwrap_or(&Value::Null);
                    let mut parts = Vec::new();
                    if let Some(text) = message.get("content").and_then(Value::as_str) {
                        if !text.is_empty() {
                            parts.push(text_part(text, &mut truncated));
                        }
                    }
                    parts.extend(tool_call_parts(message, &mut truncated));
                    let reason = choice.get("finish_reason").and_then(Value::as_str);
                    output_message(parts, reason)
                })
                .collect()
        })
        .unwrap_or_default();
    bound(messages, truncated)
}

fn output_message(parts: Vec<Value>, finish_reason: Option<&str>) -> Value {
    json!({
        "role": "assistant",
        "parts": parts,
        // Required by the output schema; a stream cut before its end has none to give.
        "finish_reason": finish_reason.unwrap_or(""),
    })
}

fn input_message(message: &Value, truncated: &mut bool) -> Value {
    let role = message
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or("user");
    let mut parts = Vec::new();
    if role == "tool" {
        // A tool's result answers the call it names.
        let result = content_text(message.get("content"));
        parts.push(json!({
            "type": "tool_call_response",
            "id": message.get("tool_call_id").and_then(Value::as_str).unwrap_or_default(),
            "result": cut(&result, truncated),
        }));
    } else {
        match message.get("content") {
            Some(Value::String(text)) if !text.is_empty() => {
                parts.push(text_part(text, truncated));
            }
            Some(Value::Array(items)) => {
                for item in items {
                    let kind = item.get("type").and_then(Value::as_str).unwrap_or("text");
                    match item.get("text").and_then(Value::as_str) {
                        Some(text) if kind == "text" => parts.push(text_part(text, truncated)),
                        // Images and files: their kind only, never their data or URL (a
                        // data URL is the whole image).
                        _ => parts.push(json!({ "type": kind })),
                    }
                }
            }
            _ => {}
        }
        parts.extend(tool_call_parts(message, truncated));
    }
    let mut out = Map::new();
    out.insert("role".into(), Value::from(role));
    out.insert("parts".into(), Value::Array(parts));
    if let Some(name) = message.get("name").and_then(Value::as_str) {
        out.insert("name".into(), Value::from(name));
    }
    Value::Object(out)
}

/// An assistant message's `tool_calls` as `tool_call` parts, arguments parsed where they are
/// JSON (the conventions want an object), kept as text where they are not.
fn tool_call_parts(message: &Value, truncated: &mut bool) -> Vec<Value> {
    let Some(calls) = message.get("tool_calls").and_then(Value::as_array) else {
        return Vec::new();
    };
    calls
        .iter()
        .map(|call| {
            let function = call.get("function").unwrap_or(&Value::Null);
            let raw = function
                .get("arguments")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let arguments = if raw.len() <= PART_BYTES {
                serde_json::from_str(raw).unwrap_or_else(|_| Value::from(raw))
            } else {
                Value::from(cut(raw, truncated))
            };
            json!({
                "type": "tool_call",
                "id": call.get("id").and_then(Value::as_str).unwrap_or_default(),
                "name": function.get("name").and_then(Value::as_str).unwrap_or_default(),
                "arguments": arguments,
            })
        })
        .collect()
}

fn text_part(text: &str, truncated: &mut bool) -> Value {
    json!({ "type": "text", "content": cut(text, truncated) })
}

/// A message's content as text: a string, or an array's text parts joined.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| item.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// `text` cut to [`PART_BYTES`] at a character boundary, saying how much was left out.
fn cut(text: &str, truncated: &mut bool) -> String {
    if text.len() <= PART_BYTES {
        return text.to_string();
    }
    *truncated = true;
    let mut end = PART_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[{} bytes not recorded]", &text[..end], text.len() - end)
}

/// The messages as one JSON string of at most [`CONTENT_BYTES`]: the oldest left out first,
/// then, should one message alone be too large, its last parts.
fn bound(mut messages: Vec<Value>, mut truncated: bool) -> Bounded {
    let size = |messages: &[Value]| Value::from(messages.to_vec()).to_string().len();
    while messages.len() > 1 && size(&messages) > CONTENT_BYTES {
        messages.remove(0);
        truncated = true;
    }
    if let Some(Value::Array(parts)) = messages.first_mut().and_then(|m| m.get_mut("parts")) {
        while !parts.is_empty()
            && Value::from(parts.clone()).to_string().len() > CONTENT_BYTES - 256
        {
            parts.pop();
            truncated = true;
        }
    }
    Bounded {
        json: Value::from(messages).to_string(),
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(bounded: &Bounded) -> Value {
        serde_json::from_str(&bounded.json).unwrap_or(Value::Null)
    }

    #[test]
    fn chat_messages_become_role_and_parts() {
        let body = json!({"model": "m", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "leave_balance", "arguments": "{\"year\":2026}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "5 days"}
        ]});
        let input = input_messages(&body.to_string());
        assert!(!input.truncated);
        assert_eq!(
            parsed(&input),
            json!([
                {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
                {"role": "user", "parts": [
                    {"type": "text", "content": "What is this?"},
                    {"type": "image_url"}
                ]},
                {"role": "assistant", "parts": [
                    {"type": "tool_call", "id": "call_1", "name": "leave_balance",
                     "arguments": {"year": 2026}}
                ]},
                {"role": "tool", "parts": [
                    {"type": "tool_call_response", "id": "call_1", "result": "5 days"}
                ]}
            ])
        );
        assert!(!input.json.contains("base64"));
    }

    #[test]
    fn answers_become_assistant_messages_with_their_finish_reason() {
        assert_eq!(
            parsed(&output_text("Hello!", Some("stop"))),
            json!([{"role": "assistant", "parts": [{"type": "text", "content": "Hello!"}],
                    "finish_reason": "stop"}])
        );
        let completion = json!({"choices": [
            {"index": 0, "message": {"role": "assistant", "content": "A"}, "finish_reason": "stop"},
            {"index": 1, "message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c", "function": {"name": "f", "arguments": "not json"}}]},
             "finish_reason": "tool_calls"}
        ]});
        let output = parsed(&output_completion(&completion));
        assert_eq!(output[0]["parts"][0]["content"], "A");
        assert_eq!(output[1]["parts"][0]["arguments"], "not json");
        assert_eq!(output[1]["finish_reason"], "tool_calls");
        assert_eq!(parsed(&output_text("", None))[0]["finish_reason"], "");
    }

    #[test]
    fn content_is_bounded_and_stays_valid_json() {
        let long = "长".repeat(3000);
        let answer = output_text(&long, Some("length"));
        assert!(answer.truncated);
        let text = parsed(&answer)[0]["parts"][0]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(text.len() < PART_BYTES + 64, "{}", text.len());
        assert!(text.ends_with("bytes not recorded]"));

        let history: Vec<Value> = (0..40)
            .map(|turn| json!({"role": "user", "content": format!("{turn}: {}", "x".repeat(2000))}))
            .collect();
        let input = input_messages(&json!({ "messages": history }).to_string());
        assert!(input.truncated);
        assert!(input.json.len() <= CONTENT_BYTES, "{}", input.json.len());
        let kept = parsed(&input);
        let kept = kept.as_array().cloned().unwrap_or_default();
        assert!(!kept.is_empty());
        // The newest message is kept; the oldest go first.
        let last = kept.last().map(|m| m["parts"][0]["content"].clone());
        assert!(last
            .and_then(|c| c.as_str().map(|c| c.starts_with("39: ")))
            .unwrap_or(false));

        let many_parts: Vec<Value> = (0..50)
            .map(|_| json!({"type": "text", "text": "y".repeat(1000)}))
            .collect();
        let one = json!({"messages": [{"role": "user", "content": many_parts}]});
        let input = input_messages(&one.to_string());
        assert!(input.truncated && input.json.len() <= CONTENT_BYTES);
        assert!(parsed(&input).is_array());
    }

    #[test]
    fn an_unreadable_body_records_no_messages() {
        assert_eq!(input_messages("not json").json, "[]");
    }
}
