//! Validation and rewriting of an OpenAI chat-completions request body.
//!
//! The body is kept as a `serde_json::Map`, but only fields on the caller's tier's allow-list
//! reach the upstream ([`ChatRequest::check_fields`]): a field that changes the price or where
//! the data goes (`service_tier`, `store`, `modalities`...) is refused with a 400 naming it
//! rather than forwarded unpriced. The fields that set the cost are read here and clamped when
//! the body is rewritten: both output caps, `n`, and `user`, which becomes oachat's own opaque
//! id for the caller.

use serde_json::{Map, Value};

use crate::error::ProxyError;

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
    /// The caller's larger output cap, of `max_completion_tokens` and `max_tokens` (both are
    /// clamped before forwarding; the reservation covers the larger).
    pub max_tokens: Option<u64>,
    /// How many choices the caller asked for (`n`, default 1): each one is generated, billed
    /// and reserved in full.
    pub n: u64,
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

/// A request body that must be one JSON object (chat completions, responses).
pub fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, ProxyError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|error| ProxyError::InvalidRequest {
            message: format!("The body is not valid JSON: {error}."),
            param: None,
        })?;
    let Value::Object(body) = value else {
        return Err(ProxyError::InvalidRequest {
            message: "The body must be a JSON object.".into(),
            param: None,
        });
    };
    Ok(body)
}

/// Parses and validates a request body. Errors name the offending field.
pub fn parse_chat_request(bytes: &[u8]) -> Result<ChatRequest, ProxyError> {
    let mut body = json_object(bytes)?;

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
                // The larger of the two is what the upstream may generate under one of them.
                Some(cap) if cap > 0 => {
                    max_tokens = Some(max_tokens.map_or(cap, |earlier: u64| earlier.max(cap)))
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

    let n = match body.get("n") {
        None | Some(Value::Null) => 1,
        Some(value) => match value.as_u64() {
            Some(n) if n >= 1 => n,
            _ => return Err(ProxyError::invalid("n", "`n` must be a positive integer.")),
        },
    };

    // A null is what some SDKs send for "not set": it is dropped rather than judged, so the
    // allow-list sees only fields that say something.
    body.retain(|_, value| !value.is_null());

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
        n,
        scenario,
        conversation_id,
    })
}

/// Fields every chat request may carry whatever its tier: the request itself, and `user`,
/// which is never forwarded as sent (see [`ChatRequest::upstream_body`]).
const ALWAYS_ACCEPTED: [&str; 4] = ["model", "messages", "stream", "user"];

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
    /// Refuses the first field that is neither always accepted nor on the tier's allow-list,
    /// naming it: a field oachat cannot price must not reach the upstream.
    pub fn check_fields(&self, allowed: &[String]) -> Result<(), ProxyError> {
        let refused = self.body.keys().find(|field| {
            !ALWAYS_ACCEPTED.contains(&field.as_str())
                && !allowed.iter().any(|allowed| allowed == *field)
        });
        match refused {
            None => Ok(()),
            Some(field) => Err(ProxyError::invalid(
                &clip_field(field),
                format!(
                    "`{}` is not accepted by this deployment: it can change the cost or where \
                     the data goes. Remove it, or ask the administrator to allow it for your tier.",
                    clip_field(field)
                ),
            )),
        }
    }

    /// The number of user turns in `messages`: what a round is for a request without a
    /// server-side conversation (each user message asks for one answer).
    pub fn user_turns(&self) -> u32 {
        let Some(Value::Array(messages)) = self.body.get("messages") else {
            return 0;
        };
        let turns = messages
            .iter()
            .filter(|message| message.get("role").and_then(Value::as_str) == Some("user"))
            .count();
        u32::try_from(turns).unwrap_or(u32::MAX)
    }

    /// Rewrites the body for the upstream: the resolved model; every output cap the caller
    /// sent clamped to `cap` (or `max_tokens = cap` when it sent none); `user` replaced by
    /// `opaque_user`; and always a stream with `include_usage`, also for a caller that wants
    /// one JSON answer (the proxy assembles it): a streamed upstream sends its head when it
    /// accepts the request, so the first-byte timeout and failover mean the same thing for
    /// both kinds of call, and usage is reported either way.
    pub fn upstream_body(
        &self,
        upstream_model: &str,
        cap: u64,
        opaque_user: &str,
    ) -> Map<String, Value> {
        let mut body = self.body.clone();
        body.insert("model".into(), Value::String(upstream_model.to_string()));
        let mut capped = false;
        for field in ["max_tokens", "max_completion_tokens"] {
            if let Some(asked) = body.get(field).and_then(Value::as_u64) {
                body.insert(field.into(), asked.min(cap).into());
                capped = true;
            }
        }
        if !capped {
            body.insert("max_tokens".into(), cap.into());
        }
        body.insert("user".into(), Value::String(opaque_user.to_string()));
        body.insert("stream".into(), Value::Bool(true));
        let options = body
            .entry("stream_options")
            .or_insert_with(|| Value::Object(Map::new()));
        if !options.is_object() {
            *options = Value::Object(Map::new());
        }
        if let Value::Object(options) = options {
            options.insert("include_usage".into(), Value::Bool(true));
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

/// A field name as quoted in an error: at most 64 characters of what the caller sent.
fn clip_field(field: &str) -> String {
    field.chars().take(64).collect()
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
        let body = request.upstream_body("gpt-4o-mini", 100, "oa_user");
        assert_eq!(body["user"], "oa_user");
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
        assert!(!request.upstream_body("m", 10, "o").contains_key("oachat"));
    }

    #[test]
    fn max_completion_tokens_is_kept_as_named() {
        let request = parse_chat_request(
            br#"{"max_completion_tokens":9000,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        assert_eq!(request.max_tokens, Some(9000));
        let body = request.upstream_body("m", 2048, "o");
        assert_eq!(body["max_completion_tokens"], 2048);
        assert!(!body.contains_key("max_tokens"));
    }

    #[test]
    fn both_caps_are_clamped_and_the_larger_is_reserved() {
        let request = parse_chat_request(
            br#"{"max_tokens":100000,"max_completion_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        assert_eq!(request.max_tokens, Some(100_000));
        let body = request.upstream_body("m", 200, "o");
        assert_eq!(body["max_tokens"], 200);
        assert_eq!(body["max_completion_tokens"], 5);
    }

    #[test]
    fn every_call_goes_upstream_as_a_stream_with_usage_and_our_own_user() {
        let request = parse_chat_request(
            br#"{"user":"alice@example.com","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        assert!(!request.stream);
        let body = request.upstream_body("m", 64, "oa_0123");
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
        assert_eq!(body["user"], "oa_0123");
        assert_eq!(body["max_tokens"], 64);
    }

    #[test]
    fn n_is_read_and_must_be_positive() {
        let one = parse_chat_request(br#"{"messages":[{"role":"user","content":"x"}]}"#).unwrap();
        assert_eq!(one.n, 1);
        let many =
            parse_chat_request(br#"{"n":128,"messages":[{"role":"user","content":"x"}]}"#).unwrap();
        assert_eq!(many.n, 128);
        check_refused(
            r#"{"n":0,"messages":[{"role":"user","content":"x"}]}"#,
            Some("n"),
        );
        check_refused(
            r#"{"n":"2","messages":[{"role":"user","content":"x"}]}"#,
            Some("n"),
        );
    }

    #[track_caller]
    fn check_field_refused(body: &str, field: &str) {
        let request = parse_chat_request(body.as_bytes()).unwrap();
        let allowed: Vec<String> = crate::config::DEFAULT_ALLOWED_FIELDS
            .iter()
            .map(|field| field.to_string())
            .collect();
        match request.check_fields(&allowed) {
            Err(ProxyError::InvalidRequest { param, .. }) => {
                assert_eq!(param.as_deref(), Some(field), "{body}")
            }
            other => panic!("expected {field} refused in {body}, got {other:?}"),
        }
    }

    #[test]
    fn fields_that_change_cost_or_privacy_are_refused_by_name() {
        let messages = r#""messages":[{"role":"user","content":"x"}]"#;
        for (field, value) in [
            ("service_tier", r#""priority""#),
            ("store", "true"),
            ("modalities", r#"["audio"]"#),
            ("web_search_options", "{}"),
            ("prediction", r#"{"type":"content","content":"x"}"#),
            ("metadata", r#"{"a":"b"}"#),
            ("x_vendor", "1"),
        ] {
            check_field_refused(&format!(r#"{{"{field}":{value},{messages}}}"#), field);
        }
        // Nulls say nothing and are dropped; `user` is always accepted (and replaced).
        let request = parse_chat_request(
            format!(r#"{{"service_tier":null,"user":"u","temperature":0.5,{messages}}}"#)
                .as_bytes(),
        )
        .unwrap();
        assert!(request.check_fields(&["temperature".to_string()]).is_ok());
        assert!(!request.body.contains_key("service_tier"));
    }

    #[test]
    fn user_turns_count_user_messages() {
        let request = parse_chat_request(
            br#"{"messages":[{"role":"system","content":"s"},{"role":"user","content":"1"},
                 {"role":"assistant","content":"a"},{"role":"user","content":"2"}]}"#,
        )
        .unwrap();
        assert_eq!(request.user_turns(), 2);
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
