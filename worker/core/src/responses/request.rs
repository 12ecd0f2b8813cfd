//! A `POST /v1/responses` body, validated and translated: the chat-completions body it becomes
//! (which then goes through the same validation, tier checks and plan as any chat request), the
//! conversation it continues, and the options every response object echoes.

use serde_json::{json, Map, Value};

use super::input::input_messages;
use super::tools::{chat_response_format, chat_tool_choice, chat_tools};
use crate::error::ProxyError;

/// Fields accepted and translated (or echoed only: `metadata`, `store`).
const FIELDS: [&str; 17] = [
    "model",
    "input",
    "instructions",
    "stream",
    "max_output_tokens",
    "temperature",
    "top_p",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "user",
    "metadata",
    "store",
    "previous_response_id",
    "text",
    "reasoning",
    "background",
];

/// Fields SDKs send that change nothing here: what to `include` in the answer (nothing more
/// can be), `truncation` (history is stored bounded anyway), stream options, and the caching
/// and safety hints OpenAI takes.
const IGNORED: [&str; 5] = [
    "include",
    "truncation",
    "stream_options",
    "prompt_cache_key",
    "safety_identifier",
];

#[derive(Debug, Clone, PartialEq)]
pub struct ResponsesRequest {
    pub stream: bool,
    /// Keep this response for `previous_response_id` (`store`, default true).
    pub store: bool,
    pub previous_response_id: Option<String>,
    instructions: Option<String>,
    /// This request's `input` as chat messages.
    input: Vec<Value>,
    /// The chat-completions fields besides `messages`.
    options: Map<String, Value>,
    /// What the response objects echo.
    pub echo: Map<String, Value>,
}

pub fn parse_responses_request(bytes: &[u8]) -> Result<ResponsesRequest, ProxyError> {
    let mut body = crate::request::json_object(bytes)?;
    body.retain(|_, value| !value.is_null());
    if let Some(field) = body
        .keys()
        .find(|field| !FIELDS.contains(&field.as_str()) && !IGNORED.contains(&field.as_str()))
    {
        let field: String = field.chars().take(64).collect();
        let message = if field == "conversation" {
            "`conversation` is not supported by this deployment's /v1/responses: continue with \
             `previous_response_id`."
                .to_string()
        } else {
            format!("`{field}` is not supported by this deployment's /v1/responses.")
        };
        return Err(ProxyError::invalid(&field, message));
    }
    if body.get("background") == Some(&Value::Bool(true)) {
        return Err(ProxyError::invalid(
            "background",
            "`background: true` is not supported by this deployment's /v1/responses: answers \
             are streamed or returned whole.",
        ));
    }

    let input = match body.get("input") {
        Some(input) => input_messages(input)?,
        None => return Err(ProxyError::invalid("input", "`input` is required.")),
    };
    let instructions = match body.get("instructions") {
        None => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            return Err(ProxyError::invalid(
                "instructions",
                "`instructions` must be a string.",
            ))
        }
    };
    let stream = boolean(&body, "stream", false)?;
    let store = boolean(&body, "store", true)?;
    let previous_response_id = match body.get("previous_response_id") {
        None => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(_) => {
            return Err(ProxyError::invalid(
                "previous_response_id",
                "`previous_response_id` must be a string.",
            ))
        }
    };

    let mut options = Map::new();
    if let Some(model) = body.get("model") {
        options.insert("model".into(), model.clone());
    }
    if let Some(cap) = body.get("max_output_tokens") {
        // Checked again as `max_tokens` by the chat validation; named here as sent.
        if cap.as_u64().is_none_or(|cap| cap == 0) {
            return Err(ProxyError::invalid(
                "max_output_tokens",
                "`max_output_tokens` must be a positive integer.",
            ));
        }
        options.insert("max_tokens".into(), cap.clone());
    }
    for field in ["temperature", "top_p"] {
        if let Some(value) = body.get(field) {
            if !value.is_number() {
                return Err(ProxyError::invalid(
                    field,
                    format!("`{field}` must be a number."),
                ));
            }
            options.insert(field.into(), value.clone());
        }
    }
    if let Some(tools) = body.get("tools") {
        let tools = chat_tools(tools)?;
        if !tools.is_empty() {
            options.insert("tools".into(), Value::Array(tools));
        }
    }
    if let Some(choice) = body.get("tool_choice") {
        if options.contains_key("tools") {
            options.insert("tool_choice".into(), chat_tool_choice(choice)?);
        }
    }
    if let Some(parallel) = body.get("parallel_tool_calls") {
        if !parallel.is_boolean() {
            return Err(ProxyError::invalid(
                "parallel_tool_calls",
                "`parallel_tool_calls` must be a boolean.",
            ));
        }
        if options.contains_key("tools") {
            options.insert("parallel_tool_calls".into(), parallel.clone());
        }
    }
    if let Some(user) = body.get("user") {
        options.insert("user".into(), user.clone());
    }
    if let Some(text) = body.get("text") {
        if let Some(format) = chat_response_format(text)? {
            options.insert("response_format".into(), format);
        }
    }
    if let Some(effort) = body.get("reasoning").and_then(|r| r.get("effort")) {
        if !effort.is_null() {
            options.insert("reasoning_effort".into(), effort.clone());
        }
    }
    if let Some(metadata) = body.get("metadata") {
        if !metadata.is_object() {
            return Err(ProxyError::invalid(
                "metadata",
                "`metadata` must be an object.",
            ));
        }
    }

    let echo = echo(&body, store);
    Ok(ResponsesRequest {
        stream,
        store,
        previous_response_id,
        instructions,
        input,
        options,
        echo,
    })
}

fn boolean(body: &Map<String, Value>, field: &str, default: bool) -> Result<bool, ProxyError> {
    match body.get(field) {
        None => Ok(default),
        Some(Value::Bool(value)) => Ok(*value),
        Some(_) => Err(ProxyError::invalid(
            field,
            format!("`{field}` must be a boolean."),
        )),
    }
}

/// The request's options as a response object shows them (OpenAI's defaults where unset).
fn echo(body: &Map<String, Value>, store: bool) -> Map<String, Value> {
    let get = |field: &str, default: Value| body.get(field).cloned().unwrap_or(default);
    let mut echo = Map::new();
    echo.insert("instructions".into(), get("instructions", Value::Null));
    echo.insert(
        "max_output_tokens".into(),
        get("max_output_tokens", Value::Null),
    );
    echo.insert("metadata".into(), get("metadata", json!({})));
    echo.insert(
        "parallel_tool_calls".into(),
        get("parallel_tool_calls", json!(true)),
    );
    echo.insert(
        "previous_response_id".into(),
        get("previous_response_id", Value::Null),
    );
    echo.insert("reasoning".into(), json!({"effort": body.get("reasoning").and_then(|r| r.get("effort")).cloned(), "summary": null}));
    echo.insert("store".into(), json!(store));
    echo.insert("temperature".into(), get("temperature", json!(1.0)));
    echo.insert(
        "text".into(),
        get("text", json!({"format": {"type": "text"}})),
    );
    echo.insert("tool_choice".into(), get("tool_choice", json!("auto")));
    echo.insert("tools".into(), get("tools", json!([])));
    echo.insert("top_p".into(), get("top_p", json!(1.0)));
    echo.insert("truncation".into(), json!("disabled"));
    echo.insert("user".into(), get("user", Value::Null));
    echo
}

impl ResponsesRequest {
    /// The conversation before the answer: the stored `history` of `previous_response_id`
    /// and this request's input (without `instructions`, which OpenAI does not carry over).
    pub fn conversation(&self, history: &[Value]) -> Vec<Value> {
        history.iter().chain(&self.input).cloned().collect()
    }

    /// The chat-completions body: `instructions` as the first system message, then the
    /// conversation. It goes through `parse_chat_request` like any chat body.
    pub fn chat_body(&self, history: &[Value]) -> Vec<u8> {
        let mut body = self.options.clone();
        let mut messages = Vec::new();
        if let Some(instructions) = &self.instructions {
            messages.push(json!({"role": "system", "content": instructions}));
        }
        messages.extend(self.conversation(history));
        body.insert("messages".into(), Value::Array(messages));
        body.insert("stream".into(), Value::Bool(self.stream));
        Value::Object(body).to_string().into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn parse(body: Value) -> ResponsesRequest {
        parse_responses_request(body.to_string().as_bytes())
            .unwrap_or_else(|error| panic!("{error:?}"))
    }

    #[track_caller]
    fn refused(body: Value, param: &str) {
        match parse_responses_request(body.to_string().as_bytes()) {
            Err(ProxyError::InvalidRequest { param: got, .. }) => {
                assert_eq!(got.as_deref(), Some(param))
            }
            other => panic!("expected a 400 naming {param}, got {other:?}"),
        }
    }

    #[test]
    fn options_translate_to_chat_fields() {
        let request = parse(json!({
            "model": "gpt-4o-mini", "input": "hi", "instructions": "be brief",
            "max_output_tokens": 50, "temperature": 0.5, "top_p": 0.9, "user": "u",
            "tools": [{"type": "function", "name": "w", "parameters": {}}],
            "tool_choice": "required", "parallel_tool_calls": false,
            "text": {"format": {"type": "json_object"}}, "reasoning": {"effort": "low"},
            "metadata": {"k": "v"}, "store": false, "include": [], "truncation": "auto",
            "stream": true,
        }));
        let body: Value = serde_json::from_slice(&request.chat_body(&[])).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "gpt-4o-mini", "max_tokens": 50, "temperature": 0.5, "top_p": 0.9,
                "user": "u", "stream": true,
                "tools": [{"type": "function", "function": {"name": "w", "parameters": {}}}],
                "tool_choice": "required", "parallel_tool_calls": false,
                "response_format": {"type": "json_object"}, "reasoning_effort": "low",
                "messages": [{"role": "system", "content": "be brief"},
                    {"role": "user", "content": "hi"}],
            })
        );
        assert!(!request.store && request.stream);
        assert_eq!(request.echo["metadata"], json!({"k": "v"}));
        assert_eq!(request.echo["max_output_tokens"], 50);
    }

    #[test]
    fn history_goes_between_instructions_and_input() {
        let request = parse(json!({"input": "again", "instructions": "sys",
            "previous_response_id": "resp_0a"}));
        let history = [
            json!({"role": "user", "content": "first"}),
            json!({"role": "assistant", "content": "one"}),
        ];
        let body: Value = serde_json::from_slice(&request.chat_body(&history)).unwrap();
        let roles: Vec<&str> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert_eq!(request.conversation(&history).len(), 3);
        assert_eq!(request.previous_response_id.as_deref(), Some("resp_0a"));
        // No model means oachat chooses, as on chat completions.
        assert!(body.get("model").is_none());
    }

    #[test]
    fn unsupported_fields_are_refused_by_name() {
        refused(json!({"input": "x", "background": true}), "background");
        refused(
            json!({"input": "x", "conversation": "conv_1"}),
            "conversation",
        );
        refused(json!({"input": "x", "prompt": {"id": "p"}}), "prompt");
        refused(
            json!({"input": "x", "service_tier": "priority"}),
            "service_tier",
        );
        refused(
            json!({"input": "x", "tools": [{"type": "web_search"}]}),
            "tools[0].type",
        );
        refused(json!({"model": "m"}), "input");
        refused(
            json!({"input": "x", "max_output_tokens": -1}),
            "max_output_tokens",
        );
        refused(json!({"input": "x", "store": "yes"}), "store");
        refused(json!({"input": "x", "metadata": [1]}), "metadata");
        // `background: false` is what some SDKs send: fine.
        parse(json!({"input": "x", "background": false}));
    }
}
