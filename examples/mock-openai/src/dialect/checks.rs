//! What a dialect refuses before answering: its authentication (Azure's
//! `api-key` header and `api-version` query) and request fields its
//! provider rejects. Each refusal carries the provider's own body
//! ([`super::errors`]).
//!
//! * qwen: `enable_thinking: true` without `stream: true` is a 400;
//! * zhipu: `tool_choice` other than `"auto"`, or `temperature` outside
//!   [0, 1], is a 400 (Zhipu only supports `auto`); `stream_options` is
//!   accepted and ignored, Zhipu reports usage unasked;
//! * doubao: `max_tokens` and `max_completion_tokens` together is a 400;
//! * azure: no `api-key` header is a 401 (a `Bearer` token alone does not
//!   authenticate), no `api-version` a 404.

use hyper::header::HeaderMap;
use serde_json::Value;

use super::{errors, query_value, Provider};
use crate::errors::ApiError;
use crate::keys::bearer_key;

/// Azure's key header.
pub const AZURE_KEY_HEADER: &str = "api-key";

/// The key a request presents under its dialect: Azure's `api-key` header,
/// everyone else's `Authorization: Bearer`. `Err` is a dialect's own 401.
pub fn request_key(provider: Provider, headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    if provider != Provider::Azure {
        return Ok(bearer_key(headers));
    }
    headers
        .get(AZURE_KEY_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .map(Some)
        .ok_or_else(errors::azure_access_denied)
}

/// Azure refuses a request without `api-version` before anything else.
pub fn check_query(provider: Provider, query: Option<&str>) -> Result<(), ApiError> {
    let has_version = query_value(query, "api-version").is_some_and(|version| !version.is_empty());
    if provider == Provider::Azure && !has_version {
        return Err(errors::azure_resource_not_found());
    }
    Ok(())
}

/// A chat body's fields checked against the dialect's rules.
pub fn check_chat_body(provider: Provider, body: &Value) -> Result<(), ApiError> {
    let present = |field: &str| body.get(field).is_some_and(|value| !value.is_null());
    match provider {
        Provider::Qwen => {
            let thinking = body.get("enable_thinking").and_then(Value::as_bool) == Some(true);
            let streamed = body.get("stream").and_then(Value::as_bool) == Some(true);
            if thinking && !streamed {
                return Err(errors::dashscope_thinking_needs_stream());
            }
        }
        Provider::Zhipu => {
            let tool_choice = body.get("tool_choice").filter(|value| !value.is_null());
            if tool_choice.is_some_and(|choice| choice.as_str() != Some("auto")) {
                return Err(errors::zhipu_illegal_parameter("tool_choice"));
            }
            let temperature = body.get("temperature").and_then(Value::as_f64);
            if temperature.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
                return Err(errors::zhipu_illegal_parameter("temperature"));
            }
        }
        Provider::Doubao if present("max_tokens") && present("max_completion_tokens") => {
            return Err(errors::ark_invalid_parameter(
                "max_completion_tokens",
                "max_tokens and max_completion_tokens cannot be set at the same time",
            ));
        }
        _ => {}
    }
    Ok(())
}

/// Qwen's `enable_thinking`, when the request sets it: it turns reasoning
/// on or off whatever the model's name says.
pub fn requested_thinking(provider: Provider, body: &Value) -> Option<bool> {
    (provider == Provider::Qwen)
        .then(|| body.get("enable_thinking").and_then(Value::as_bool))
        .flatten()
}

#[cfg(test)]
mod tests {
    use hyper::header::{HeaderValue, AUTHORIZATION};
    use serde_json::json;

    use super::*;

    fn status(result: Result<(), ApiError>) -> u16 {
        result.err().map_or(200, |error| error.status().as_u16())
    }

    #[test]
    fn qwen_refuses_thinking_without_a_stream() {
        let check = |body: Value| status(check_chat_body(Provider::Qwen, &body));
        assert_eq!(check(json!({"enable_thinking": true})), 400);
        assert_eq!(
            check(json!({"enable_thinking": true, "stream": false})),
            400
        );
        assert_eq!(check(json!({"enable_thinking": true, "stream": true})), 200);
        assert_eq!(check(json!({"enable_thinking": false})), 200);
        assert_eq!(
            status(check_chat_body(
                Provider::OpenAi,
                &json!({"enable_thinking": true})
            )),
            200
        );
        assert_eq!(
            requested_thinking(Provider::Qwen, &json!({"enable_thinking": false})),
            Some(false)
        );
        assert_eq!(
            requested_thinking(Provider::DeepSeek, &json!({"enable_thinking": true})),
            None
        );
    }

    #[test]
    fn zhipu_refuses_forced_tools_and_hot_temperatures() {
        let check = |body: Value| status(check_chat_body(Provider::Zhipu, &body));
        assert_eq!(
            check(json!({"tool_choice": "auto", "temperature": 1.0})),
            200
        );
        assert_eq!(check(json!({"tool_choice": null, "temperature": 0})), 200);
        assert_eq!(
            check(json!({"stream_options": {"include_usage": true}})),
            200
        );
        assert_eq!(check(json!({"tool_choice": "required"})), 400);
        assert_eq!(
            check(json!({"tool_choice": {"type": "function", "function": {"name": "f"}}})),
            400
        );
        assert_eq!(check(json!({"temperature": 1.2})), 400);
        assert_eq!(check(json!({"temperature": -0.1})), 400);
        assert_eq!(
            status(check_chat_body(
                Provider::OpenAi,
                &json!({"temperature": 1.5})
            )),
            200
        );
    }

    #[test]
    fn doubao_refuses_both_token_limits() {
        let check = |body: Value| status(check_chat_body(Provider::Doubao, &body));
        assert_eq!(
            check(json!({"max_tokens": 5, "max_completion_tokens": 5})),
            400
        );
        assert_eq!(
            check(json!({"max_tokens": 5, "max_completion_tokens": null})),
            200
        );
        assert_eq!(check(json!({"max_completion_tokens": 5})), 200);
    }

    #[test]
    fn azure_needs_its_key_header_and_an_api_version() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer sk-mock-a"));
        assert_eq!(
            request_key(Provider::OpenAi, &headers).ok().flatten(),
            Some("sk-mock-a")
        );
        assert_eq!(
            request_key(Provider::Azure, &headers)
                .err()
                .map(|e| e.status().as_u16()),
            Some(401)
        );
        headers.insert(AZURE_KEY_HEADER, HeaderValue::from_static("sk-mock-b"));
        assert_eq!(
            request_key(Provider::Azure, &headers).ok().flatten(),
            Some("sk-mock-b")
        );
        assert_eq!(
            status(check_query(Provider::Azure, Some("api-version=2024-10-21"))),
            200
        );
        assert_eq!(status(check_query(Provider::Azure, None)), 404);
        assert_eq!(
            status(check_query(Provider::Azure, Some("api-version="))),
            404
        );
        assert_eq!(status(check_query(Provider::OpenAi, None)), 200);
    }
}
