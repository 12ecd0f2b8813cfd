//! Validation and rewriting of an OpenAI chat-completions request body.
//!
//! The body is kept as a `serde_json::Value` so every field the proxy does not
//! understand (`tools`, `n`, `response_format`, `seed`, vendor extensions...)
//! passes through untouched; only the few fields the proxy owns are read or
//! rewritten here.

use serde_json::{Map, Value};

use crate::core::error::ProxyError;

/// What the proxy needs to know about a chat request, read once.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The whole body, unknown fields included; rewritten before forwarding.
    pub body: Map<String, Value>,
    /// The model the caller asked for (`auto` lets oachat choose).
    pub model: String,
    pub stream: bool,
    /// Whether the caller itself asked for `stream_options.include_usage`.
    pub client_wants_usage: bool,
    /// The caller's output cap, from `max_completion_tokens` or `max_tokens`.
    pub max_tokens: Option<u64>,
    /// oachat's own extension object (`"oachat": {"scenario": .., "conversation_id": ..}`),
    /// removed before forwarding.
    pub scenario: Option<String>,
    /// Counts rounds server-side; the widget always sends one.
    pub conversation_id: Option<String>,
}

/// The roles OpenAI accepts in `messages`.
const ROLES: [&str; 6] = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// Parses and validates a request body. Errors name the offending field.
pub fn parse_chat_request(bytes: &[u8]) -> Result<ChatRequest, ProxyError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|error| ProxyError::InvalidRequest {
            message: format!("The body is not valid JSON: {error}."),
            param: None,
        })?;
    let Value::Object(mut body) = value else {
        return Err(ProxyError::InvalidRequest {
            message: "The body must be a JSON object.".into(),
            param: None,
        });
    };

    let model = match body.get("model") {
        None | Some(Value::Null) => "auto".to_string(),
        Some(Value::String(model)) if !model.trim().is_empty() => model.trim().to_string(),
        Some(_) => {
            return Err(ProxyError::invalid(
                "model",
                "`model` must be a non-empty string.",
            ))
        }
    };

    validate_messages(body.get("messages"))?;

    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(stream)) => *stream,
        Some(_) => return Err(ProxyError::invalid("stream", "`stream` must be a boolean.")),
    };

    let client_wants_usage = match body.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(options)) => match options.get("include_usage") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(wanted)) => *wanted,
            Some(_) => {
                return Err(ProxyError::invalid(
                    "stream_options.include_usage",
                    "`stream_options.include_usage` must be a boolean.",
                ))
            }
        },
        Some(_) => {
            return Err(ProxyError::invalid(
                "stream_options",
                "`stream_options` must be an object.",
            ))
        }
    };

    let mut max_tokens = None;
    for field in ["max_tokens", "max_completion_tokens"] {
        match body.get(field) {
            None | Some(Value::Null) => {}
            Some(value) => match value.as_u64() {
                Some(cap) if cap > 0 => {
                    max_tokens = Some(max_tokens.map_or(cap, |earlier: u64| earlier.min(cap)))
                }
                _ => {
                    return Err(ProxyError::invalid(
                        field,
                        format!("`{field}` must be a positive integer."),
                    ))
                }
            },
        }
    }

    let (scenario, conversation_id) = match body.remove("oachat") {
        None | Some(Value::Null) => (None, None),
        Some(Value::Object(extension)) => (
            extension_string(&extension, "scenario", 64)?,
            extension_string(&extension, "conversation_id", 64)?,
        ),
        Some(_) => return Err(ProxyError::invalid("oachat", "`oachat` must be an object.")),
    };

    Ok(ChatRequest {
        body,
        model,
        stream,
        client_wants_usage,
        max_tokens,
        scenario,
        conversation_id,
    })
}

/// A short string field of the `oachat` extension object.
fn extension_string(
    extension: &Map<String, Value>,
    field: &str,
    max_chars: usize,
) -> Result<Option<String>, ProxyError> {
    match extension.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if !text.is_empty() && text.chars().count() <= max_chars => {
            Ok(Some(text.clone()))
        }
        Some(_) => Err(ProxyError::invalid(
            &format!("oachat.{field}"),
            format!("`oachat.{field}` must be a string of 1 to {max_chars} characters."),
        )),
    }
}

fn validate_messages(messages: Option<&Value>) -> Result<(), ProxyError> {
    let messages = match messages {
        None | Some(Value::Null) => {
            return Err(ProxyError::invalid("messages", "`messages` is required."))
        }
        Some(Value::Array(messages)) => messages,
        Some(_) => {
            return Err(ProxyError::invalid(
                "messages",
                "`messages` must be an array.",
            ))
        }
    };
    if messages.is_empty() {
        return Err(ProxyError::invalid(
            "messages",
            "`messages` must not be empty.",
        ));
    }
    for (index, message) in messages.iter().enumerate() {
        let Value::Object(message) = message else {
            return Err(ProxyError::invalid(
                &format!("messages[{index}]"),
                format!("`messages[{index}]` must be an object."),
            ));
        };
        match message.get("role").and_then(Value::as_str) {
            Some(role) if ROLES.contains(&role) => {}
            _ => {
                return Err(ProxyError::invalid(
                    &format!("messages[{index}].role"),
                    format!(
                        "`messages[{index}].role` must be one of {}.",
                        ROLES.join(", ")
                    ),
                ))
            }
        }
        match message.get("content") {
            None | Some(Value::Null) | Some(Value::String(_)) | Some(Value::Array(_)) => {}
            Some(_) => {
                return Err(ProxyError::invalid(
                    &format!("messages[{index}].content"),
                    format!("`messages[{index}].content` must be a string or an array of parts."),
                ))
            }
        }
    }
    Ok(())
}

impl ChatRequest {
    /// Rewrites the body for the upstream: the resolved model, the clamped
    /// output cap, and `include_usage` on every stream, so metering never
    /// depends on the caller remembering to ask for usage.
    pub fn upstream_body(
        &self,
        upstream_model: &str,
        max_tokens: Option<u64>,
    ) -> Map<String, Value> {
        let mut body = self.body.clone();
        body.insert("model".into(), Value::String(upstream_model.to_string()));
        if let Some(cap) = max_tokens {
            // Newer models only accept `max_completion_tokens`; keep whichever the caller used.
            if body.contains_key("max_completion_tokens") {
                body.insert("max_completion_tokens".into(), cap.into());
            } else {
                body.insert("max_tokens".into(), cap.into());
            }
        }
        if self.stream {
            let options = body
                .entry("stream_options")
                .or_insert_with(|| Value::Object(Map::new()));
            if !options.is_object() {
                *options = Value::Object(Map::new());
            }
            if let Value::Object(options) = options {
                options.insert("include_usage".into(), Value::Bool(true));
            }
        }
        body
    }

    /// The text of the last user message, for routing and conversation rounds.
    pub fn last_user_text(&self) -> String {
        let Some(Value::Array(messages)) = self.body.get("messages") else {
            return String::new();
        };
        messages
            .iter()
            .rev()
            .find(|message| message.get("role").and_then(Value::as_str) == Some("user"))
            .map(|message| content_text(message.get("content")))
            .unwrap_or_default()
    }
}

/// Joins the text of a message's content, whether a string or an array of parts.
pub fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[track_caller]
    fn check_refused(body: &str, param: Option<&str>) {
        match parse_chat_request(body.as_bytes()) {
            Err(ProxyError::InvalidRequest { param: got, .. }) => {
                assert_eq!(got.as_deref(), param, "for {body}")
            }
            other => panic!("expected a 400 for {body}, got {other:?}"),
        }
    }

    #[test]
    fn bad_bodies_name_the_field() {
        check_refused("not json", None);
        check_refused("[]", None);
        check_refused(r#"{"model":"x"}"#, Some("messages"));
        check_refused(r#"{"messages":"hi"}"#, Some("messages"));
        check_refused(r#"{"messages":[]}"#, Some("messages"));
        check_refused(r#"{"messages":[1]}"#, Some("messages[0]"));
        check_refused(
            r#"{"messages":[{"role":"wizard","content":"x"}]}"#,
            Some("messages[0].role"),
        );
        check_refused(
            r#"{"messages":[{"role":"user","content":5}]}"#,
            Some("messages[0].content"),
        );
        check_refused(
            r#"{"model":5,"messages":[{"role":"user","content":"x"}]}"#,
            Some("model"),
        );
        check_refused(
            r#"{"stream":"yes","messages":[{"role":"user","content":"x"}]}"#,
            Some("stream"),
        );
        check_refused(
            r#"{"max_tokens":-1,"messages":[{"role":"user","content":"x"}]}"#,
            Some("max_tokens"),
        );
        check_refused(
            r#"{"stream_options":1,"messages":[{"role":"user","content":"x"}]}"#,
            Some("stream_options"),
        );
    }

    #[test]
    fn unknown_fields_pass_through_and_usage_is_injected() {
        let request = parse_chat_request(
            br#"{"model":"fast","stream":true,"seed":7,"tools":[{"type":"function"}],
                 "x_vendor":{"a":1},"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        assert!(!request.client_wants_usage);
        let body = request.upstream_body("gpt-4o-mini", Some(100));
        assert_eq!(body["model"], "gpt-4o-mini");
        assert_eq!(body["seed"], 7);
        assert_eq!(body["x_vendor"], json!({"a":1}));
        assert_eq!(body["tools"], json!([{"type":"function"}]));
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
        assert_eq!(body["max_tokens"], 100);
    }

    #[test]
    fn oachat_extension_is_read_and_removed() {
        let request = parse_chat_request(
            br#"{"messages":[{"role":"user","content":"hi"}],"oachat":{"scenario":"code"}}"#,
        )
        .unwrap();
        assert_eq!(request.scenario.as_deref(), Some("code"));
        assert_eq!(request.model, "auto");
        assert!(!request.upstream_body("m", None).contains_key("oachat"));
    }

    #[test]
    fn max_completion_tokens_is_kept_as_named() {
        let request = parse_chat_request(
            br#"{"max_completion_tokens":9000,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        assert_eq!(request.max_tokens, Some(9000));
        let body = request.upstream_body("m", Some(2048));
        assert_eq!(body["max_completion_tokens"], 2048);
        assert!(!body.contains_key("max_tokens"));
    }

    #[test]
    fn last_user_text_joins_parts() {
        let request = parse_chat_request(
            br#"{"messages":[{"role":"user","content":"first"},{"role":"assistant","content":"a"},
                 {"role":"user","content":[{"type":"text","text":"second"},{"type":"image_url"}]}]}"#,
        )
        .unwrap();
        assert_eq!(request.last_user_text(), "second");
    }
}
