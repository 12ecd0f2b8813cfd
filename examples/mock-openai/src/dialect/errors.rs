//! Error bodies as each provider sends them, byte for byte where a test may
//! match on them. Verified against public reports of the real responses:
//!
//! * DeepSeek 402: `{"error":{"message":"Insufficient Balance","type":
//!   "unknown_error","param":null,"code":"invalid_request_error"}}`
//!   (DeepSeek's error-code page lists 402 "Insufficient Balance"; bodies
//!   quoted in user reports, also with `type` `insufficient_balance`).
//! * DashScope compatible mode: OpenAI's envelope plus `id`/`request_id`;
//!   a wrong-region or bad key is 401 `invalid_api_key`; an account in
//!   arrears is code and type `Arrearage`, "Access denied, please make sure
//!   your account is in good standing." (DashScope itself sends it as a
//!   400; the mock's `sk-mock-arrears` sends it as a 429 so a proxy is
//!   tested on reading the body, not the status: a billing state, not a
//!   rate limit); thinking without streaming is 400
//!   `invalid_parameter_error` "parameter.enable_thinking must be set to
//!   false for non-streaming calls".
//! * Zhipu: `{"error":{"code":"1214","message":"<param>参数非法。请检查文档。"}}`
//!   (its code for an illegal parameter value, as for `temperature`).
//! * Volcengine Ark: `{"error":{"code":"InvalidParameter","message":...,
//!   "param":...,"type":"BadRequest"}}`.
//! * Azure: `{"error":{"code":"401","message":"Access denied due to invalid
//!   subscription key or wrong API endpoint. ..."}}` without `api-key`, and
//!   `{"error":{"code":"404","message":"Resource not found"}}` without
//!   `api-version`.

use hyper::StatusCode;
use serde_json::json;

use crate::errors::ApiError;

/// The request id DashScope bodies carry; fixed, the mock has no real ones.
const DASHSCOPE_REQUEST_ID: &str = "00000000-0000-4000-8000-000000000000";

fn provider(status: StatusCode, body: serde_json::Value) -> ApiError {
    ApiError::Provider {
        status,
        body: body.to_string(),
    }
}

/// DeepSeek's 402 for an account without balance (`sk-mock-nobalance`).
pub fn deepseek_insufficient_balance() -> ApiError {
    provider(
        StatusCode::PAYMENT_REQUIRED,
        json!({"error": {
            "message": "Insufficient Balance",
            "type": "unknown_error",
            "param": null,
            "code": "invalid_request_error",
        }}),
    )
}

fn dashscope(status: StatusCode, code: &str, kind: &str, message: &str) -> ApiError {
    provider(
        status,
        json!({
            "error": {"code": code, "param": null, "message": message, "type": kind},
            "id": format!("chatcmpl-{DASHSCOPE_REQUEST_ID}"),
            "request_id": DASHSCOPE_REQUEST_ID,
        }),
    )
}

/// DashScope's 401 for a key of another region (`sk-mock-wrongregion`).
pub fn dashscope_invalid_key() -> ApiError {
    dashscope(
        StatusCode::UNAUTHORIZED,
        "invalid_api_key",
        "invalid_request_error",
        "Incorrect API key provided. ",
    )
}

/// DashScope's account-in-arrears body (`sk-mock-arrears`, and with the
/// real 400 status `sk-mock-arrears400`).
pub fn dashscope_arrearage(status: StatusCode) -> ApiError {
    dashscope(
        status,
        "Arrearage",
        "Arrearage",
        "Access denied, please make sure your account is in good standing.",
    )
}

/// DashScope refuses thinking on a non-streamed call.
pub fn dashscope_thinking_needs_stream() -> ApiError {
    dashscope(
        StatusCode::BAD_REQUEST,
        "invalid_parameter_error",
        "invalid_request_error",
        "parameter.enable_thinking must be set to false for non-streaming calls",
    )
}

/// Zhipu's 400 for an illegal parameter value.
pub fn zhipu_illegal_parameter(param: &str) -> ApiError {
    provider(
        StatusCode::BAD_REQUEST,
        json!({"error": {"code": "1214", "message": format!("{param}参数非法。请检查文档。")}}),
    )
}

/// Volcengine Ark's 400 for a bad parameter.
pub fn ark_invalid_parameter(param: &str, message: &str) -> ApiError {
    provider(
        StatusCode::BAD_REQUEST,
        json!({"error": {
            "code": "InvalidParameter",
            "message": message,
            "param": param,
            "type": "BadRequest",
        }}),
    )
}

/// Azure's 401 when the `api-key` header is missing or wrong.
pub fn azure_access_denied() -> ApiError {
    provider(
        StatusCode::UNAUTHORIZED,
        json!({"error": {
            "code": "401",
            "message": "Access denied due to invalid subscription key or wrong API endpoint. \
                Make sure to provide a valid key for an active subscription and use a correct \
                regional API endpoint for your resource.",
        }}),
    )
}

/// Azure's 404 for a request without `api-version`.
pub fn azure_resource_not_found() -> ApiError {
    provider(
        StatusCode::NOT_FOUND,
        json!({"error": {"code": "404", "message": "Resource not found"}}),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn body_of(error: &ApiError) -> Value {
        match error {
            ApiError::Provider { body, .. } => serde_json::from_str(body).unwrap_or_default(),
            _ => Value::Null,
        }
    }

    #[test]
    fn bodies_have_each_providers_shape() {
        let balance = deepseek_insufficient_balance();
        assert_eq!(balance.status(), StatusCode::PAYMENT_REQUIRED);
        assert_eq!(
            body_of(&balance)["error"]["message"],
            "Insufficient Balance"
        );

        let arrears = dashscope_arrearage(StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(arrears.status().as_u16(), 429);
        assert_eq!(body_of(&arrears)["error"]["code"], "Arrearage");
        assert!(body_of(&arrears)["request_id"].is_string());

        let region = dashscope_invalid_key();
        assert_eq!(region.status().as_u16(), 401);
        assert_eq!(body_of(&region)["error"]["code"], "invalid_api_key");

        let zhipu = zhipu_illegal_parameter("temperature");
        assert_eq!(
            body_of(&zhipu),
            json!({"error": {"code": "1214", "message": "temperature参数非法。请检查文档。"}})
        );

        let azure = azure_access_denied();
        assert_eq!(azure.status().as_u16(), 401);
        assert_eq!(body_of(&azure)["error"]["code"], "401");
        assert_eq!(
            body_of(&azure_resource_not_found()),
            json!({"error": {"code": "404", "message": "Resource not found"}})
        );
        assert_eq!(
            body_of(&ark_invalid_parameter("max_tokens", "m"))["error"]["type"],
            "BadRequest"
        );
    }
}
