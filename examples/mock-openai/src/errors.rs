//! The one error enum and the one place it becomes an HTTP response.
//!
//! Every failure the mock reports uses OpenAI's envelope,
//! `{"error":{"message","type","param","code"}}`, with the status, `type`
//! and `code` OpenAI uses for the same condition, so SDKs raise the same
//! exception classes (`RateLimitError`, `AuthenticationError`, ...) they
//! would against the real API.
//!
//! Messages copy OpenAI's wording where a test may match on it (the
//! project's model restriction, the tokens-per-minute "Request too large"),
//! with `proj_mock` and `org-mock` standing in for real identifiers.

use hyper::header::{HeaderValue, RETRY_AFTER};
use hyper::{Method, Response, StatusCode};
use serde::Serialize;

use crate::body::{json_response, raw_json_response, ResponseBody};

/// Seconds a rate-limited client is told to wait; short so retry tests are fast.
const RETRY_AFTER_SECONDS: &str = "1";

/// The project named in OpenAI's model-restriction message.
pub const MOCK_PROJECT: &str = "proj_mock";

/// The organisation named in OpenAI's tokens-per-minute message.
pub const MOCK_ORGANIZATION: &str = "org-mock";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    MissingApiKey,
    InvalidApiKey,
    RateLimited,
    QuotaExceeded,
    ServerError,
    /// The key belongs to a deactivated account (`sk-mock-deactivated`).
    AccountDeactivated,
    /// A 400 whose message quotes the caller's own key in the forms an
    /// upstream might (`sk-mock-echo400`), to test a proxy's redaction.
    KeyEchoed {
        key: String,
    },
    /// The project may not use this model (any model named `forbidden-*`).
    ModelNotAllowed {
        model: String,
    },
    /// Prompt plus requested output exceeds the tokens-per-minute limit: a
    /// single request no amount of waiting lets through, so no Retry-After.
    RequestOverTpmLimit {
        model: String,
        limit: u64,
        requested: u64,
    },
    NotFound {
        method: Method,
        path: String,
    },
    MethodNotAllowed {
        method: Method,
        path: String,
    },
    BadJson(String),
    BodyTooLarge {
        limit_bytes: usize,
    },
    InvalidParameter {
        param: &'static str,
        message: String,
    },
    /// A provider dialect's own error (DeepSeek's 402, DashScope's
    /// `Arrearage`, Azure's 401, ...): its status and its exact JSON body,
    /// built in [`crate::dialect::errors`] because each provider shapes
    /// errors differently from OpenAI's envelope.
    Provider {
        status: StatusCode,
        body: String,
    },
}

impl ApiError {
    pub fn invalid(param: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::InvalidParameter {
            param,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingApiKey | ApiError::InvalidApiKey => StatusCode::UNAUTHORIZED,
            ApiError::RateLimited
            | ApiError::QuotaExceeded
            | ApiError::RequestOverTpmLimit { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::AccountDeactivated | ApiError::ModelNotAllowed { .. } => {
                StatusCode::FORBIDDEN
            }
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadJson(_)
            | ApiError::InvalidParameter { .. }
            | ApiError::KeyEchoed { .. } => StatusCode::BAD_REQUEST,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Provider { status, .. } => *status,
        }
    }

    fn error_type(&self) -> &'static str {
        match self {
            ApiError::RateLimited => "requests",
            ApiError::QuotaExceeded => "insufficient_quota",
            ApiError::RequestOverTpmLimit { .. } => "tokens",
            ApiError::ServerError => "server_error",
            _ => "invalid_request_error",
        }
    }

    fn code(&self) -> Option<&'static str> {
        match self {
            ApiError::InvalidApiKey => Some("invalid_api_key"),
            ApiError::RateLimited | ApiError::RequestOverTpmLimit { .. } => {
                Some("rate_limit_exceeded")
            }
            ApiError::QuotaExceeded => Some("insufficient_quota"),
            ApiError::AccountDeactivated => Some("account_deactivated"),
            ApiError::KeyEchoed { .. } => Some("invalid_value"),
            ApiError::ModelNotAllowed { .. } => Some("model_not_found"),
            ApiError::NotFound { .. } => Some("unknown_url"),
            ApiError::MethodNotAllowed { .. } => Some("method_not_allowed"),
            ApiError::BodyTooLarge { .. } => Some("request_too_large"),
            // OpenAI sends `null` for these, and SDKs do not care.
            ApiError::MissingApiKey
            | ApiError::ServerError
            | ApiError::BadJson(_)
            | ApiError::InvalidParameter { .. }
            | ApiError::Provider { .. } => None,
        }
    }

    fn param(&self) -> Option<&'static str> {
        match self {
            ApiError::InvalidParameter { param, .. } => Some(param),
            _ => None,
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::MissingApiKey => {
                "You didn't provide an API key. You need to provide your API key \
                in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                    .to_owned()
            }
            ApiError::InvalidApiKey => {
                "Incorrect API key provided. mock-openai accepts keys starting \
                with sk-mock-."
                    .to_owned()
            }
            ApiError::RateLimited => {
                "Rate limit reached for requests (mock-openai: key sk-mock-429).".to_owned()
            }
            ApiError::QuotaExceeded => {
                "You exceeded your current quota, please check your plan and \
                billing details (mock-openai: key sk-mock-quota)."
                    .to_owned()
            }
            ApiError::ServerError => "The server had an error while processing your request \
                (mock-openai: key sk-mock-500)."
                .to_owned(),
            ApiError::AccountDeactivated => "This key belongs to a deactivated account \
                (mock-openai: key sk-mock-deactivated)."
                .to_owned(),
            ApiError::KeyEchoed { key } => key_echo_message(key),
            ApiError::ModelNotAllowed { model } => {
                format!("Project `{MOCK_PROJECT}` does not have access to model `{model}`")
            }
            ApiError::RequestOverTpmLimit {
                model,
                limit,
                requested,
            } => format!(
                "Request too large for {model} in organization {MOCK_ORGANIZATION} on tokens \
                per min (TPM): Limit {limit}, Requested {requested}. The input or output tokens \
                must be reduced in order to run successfully. Visit \
                https://platform.openai.com/account/rate-limits to learn more."
            ),
            ApiError::NotFound { method, path } => format!("Unknown request URL: {method} {path}."),
            ApiError::MethodNotAllowed { method, path } => {
                format!("Method {method} is not allowed on {path}.")
            }
            ApiError::BadJson(detail) => {
                format!("We could not parse the JSON body of your request: {detail}")
            }
            ApiError::BodyTooLarge { limit_bytes } => {
                format!(
                    "The request body is larger than mock-openai's limit of {limit_bytes} bytes."
                )
            }
            ApiError::InvalidParameter { message, .. } => message.clone(),
            ApiError::Provider { body, .. } => body.clone(),
        }
    }

    pub fn into_response(self) -> Response<ResponseBody> {
        if let ApiError::Provider { status, body } = self {
            return raw_json_response(status, body);
        }
        #[derive(Serialize)]
        struct Envelope<'a> {
            error: Detail<'a>,
        }
        #[derive(Serialize)]
        struct Detail<'a> {
            message: &'a str,
            #[serde(rename = "type")]
            kind: &'static str,
            param: Option<&'static str>,
            code: Option<&'static str>,
        }
        let message = self.message();
        let envelope = Envelope {
            error: Detail {
                message: &message,
                kind: self.error_type(),
                param: self.param(),
                code: self.code(),
            },
        };
        let mut response = json_response(self.status(), &envelope);
        if self == ApiError::RateLimited {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
        }
        response
    }
}

/// The `sk-mock-echo400` message: the key as an upstream might quote it in
/// a header, a query string, a JSON body and fully percent-encoded. Each form
/// is one a proxy has to recognise to keep keys out of what it relays.
fn key_echo_message(key: &str) -> String {
    // A JSON string of a string cannot fail to serialise; the fallback only
    // keeps this total.
    let json_key = serde_json::to_string(key).unwrap_or_else(|_| format!("\"{key}\""));
    let encoded_key = percent_encode(key);
    format!(
        "Invalid header value key={key} (Bearer:{key}; query key%3D{key}; \
        body {{\"api_key\":{json_key}}}; percent-encoded {encoded_key})."
    )
}

/// Every byte outside RFC 3986's unreserved set (`A-Z a-z 0-9 - _ . ~`) as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(error: ApiError, status: u16, kind: &str, code: Option<&str>) {
        assert_eq!(error.status().as_u16(), status, "{error:?}");
        assert_eq!(error.error_type(), kind, "{error:?}");
        assert_eq!(error.code(), code, "{error:?}");
    }

    #[test]
    fn key_failures_match_openai() {
        check(ApiError::MissingApiKey, 401, "invalid_request_error", None);
        check(
            ApiError::InvalidApiKey,
            401,
            "invalid_request_error",
            Some("invalid_api_key"),
        );
        check(
            ApiError::RateLimited,
            429,
            "requests",
            Some("rate_limit_exceeded"),
        );
        check(
            ApiError::QuotaExceeded,
            429,
            "insufficient_quota",
            Some("insufficient_quota"),
        );
        check(ApiError::ServerError, 500, "server_error", None);
        check(
            ApiError::AccountDeactivated,
            403,
            "invalid_request_error",
            Some("account_deactivated"),
        );
        check(
            ApiError::KeyEchoed {
                key: "sk-mock-echo400".into(),
            },
            400,
            "invalid_request_error",
            Some("invalid_value"),
        );
    }

    #[test]
    fn request_faults_match_openai() {
        check(
            ApiError::ModelNotAllowed { model: "m".into() },
            403,
            "invalid_request_error",
            Some("model_not_found"),
        );
        check(
            ApiError::RequestOverTpmLimit {
                model: "m".into(),
                limit: 1,
                requested: 2,
            },
            429,
            "tokens",
            Some("rate_limit_exceeded"),
        );
    }

    /// The whole body, as a client receives it.
    fn body_text(error: ApiError) -> String {
        match error.into_response().into_body() {
            ResponseBody::Full(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
            _ => String::new(),
        }
    }

    #[test]
    fn model_restriction_body_is_byte_for_byte_openai() {
        let error = ApiError::ModelNotAllowed {
            model: "forbidden-gpt-5".into(),
        };
        assert_eq!(
            body_text(error),
            r#"{"error":{"message":"Project `proj_mock` does not have access to model `forbidden-gpt-5`","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#
        );
    }

    #[test]
    fn tpm_message_names_model_limit_and_request() {
        let error = ApiError::RequestOverTpmLimit {
            model: "gpt-4o".into(),
            limit: 50_000,
            requested: 75_012,
        };
        assert_eq!(
            error.message(),
            "Request too large for gpt-4o in organization org-mock on tokens per min (TPM): \
            Limit 50000, Requested 75012. The input or output tokens must be reduced in order \
            to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more."
        );
    }

    #[test]
    fn deactivated_account_message_names_the_key() {
        assert_eq!(
            ApiError::AccountDeactivated.message(),
            "This key belongs to a deactivated account (mock-openai: key sk-mock-deactivated)."
        );
    }

    #[track_caller]
    fn check_echo(key: &str, expected_forms: &[&str]) {
        let message = ApiError::KeyEchoed { key: key.into() }.message();
        for form in expected_forms {
            assert!(message.contains(form), "{form:?} missing from {message:?}");
        }
    }

    #[test]
    fn echoed_key_appears_in_every_form() {
        check_echo(
            "sk-mock-echo400",
            &[
                "Invalid header value key=sk-mock-echo400 (",
                "Bearer:sk-mock-echo400;",
                "query key%3Dsk-mock-echo400;",
                r#""api_key":"sk-mock-echo400""#,
                "percent-encoded sk-mock-echo400)",
            ],
        );
        check_echo(
            r#"sk-mock-echo400-a+b/c="d"~é"#,
            &[
                r#"key=sk-mock-echo400-a+b/c="d"~é ("#,
                r#""api_key":"sk-mock-echo400-a+b/c=\"d\"~é""#,
                "percent-encoded sk-mock-echo400-a%2Bb%2Fc%3D%22d%22~%C3%A9)",
            ],
        );
    }

    #[test]
    fn echoed_key_is_json_escaped_on_the_wire() {
        let body = body_text(ApiError::KeyEchoed {
            key: "sk-mock-echo400".into(),
        });
        assert!(
            body.contains(r#"\"api_key\":\"sk-mock-echo400\""#),
            "{body}"
        );
    }

    #[test]
    fn rate_limit_response_says_when_to_retry() {
        let response = ApiError::RateLimited.into_response();
        assert_eq!(
            response.headers().get(RETRY_AFTER),
            Some(&HeaderValue::from_static("1"))
        );
        let other = ApiError::QuotaExceeded.into_response();
        assert!(other.headers().get(RETRY_AFTER).is_none());
        // Too large is too large: waiting would not help, so no hint to retry.
        let too_large = ApiError::RequestOverTpmLimit {
            model: "m".into(),
            limit: 1,
            requested: 2,
        }
        .into_response();
        assert!(too_large.headers().get(RETRY_AFTER).is_none());
    }

    #[test]
    fn invalid_parameter_names_the_param() {
        let error = ApiError::invalid("n", "n must be at least 1");
        assert_eq!(error.param(), Some("n"));
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    }
}
