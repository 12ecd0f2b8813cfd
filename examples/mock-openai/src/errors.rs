//! The one error enum and the one place it becomes an HTTP response.
//!
//! Every failure the mock reports uses OpenAI's envelope,
//! `{"error":{"message","type","param","code"}}`, with the status, `type`
//! and `code` OpenAI uses for the same condition, so SDKs raise the same
//! exception classes (`RateLimitError`, `AuthenticationError`, ...) they
//! would against the real API.

use hyper::header::{HeaderValue, RETRY_AFTER};
use hyper::{Method, Response, StatusCode};
use serde::Serialize;

use crate::body::{json_response, ResponseBody};

/// Seconds a rate-limited client is told to wait; short so retry tests are fast.
const RETRY_AFTER_SECONDS: &str = "1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    MissingApiKey,
    InvalidApiKey,
    RateLimited,
    QuotaExceeded,
    ServerError,
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
            ApiError::RateLimited | ApiError::QuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadJson(_) | ApiError::InvalidParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    fn error_type(&self) -> &'static str {
        match self {
            ApiError::RateLimited => "requests",
            ApiError::QuotaExceeded => "insufficient_quota",
            ApiError::ServerError => "server_error",
            _ => "invalid_request_error",
        }
    }

    fn code(&self) -> Option<&'static str> {
        match self {
            ApiError::InvalidApiKey => Some("invalid_api_key"),
            ApiError::RateLimited => Some("rate_limit_exceeded"),
            ApiError::QuotaExceeded => Some("insufficient_quota"),
            ApiError::NotFound { .. } => Some("unknown_url"),
            ApiError::MethodNotAllowed { .. } => Some("method_not_allowed"),
            ApiError::BodyTooLarge { .. } => Some("request_too_large"),
            // OpenAI sends `null` for these, and SDKs do not care.
            ApiError::MissingApiKey
            | ApiError::ServerError
            | ApiError::BadJson(_)
            | ApiError::InvalidParameter { .. } => None,
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
        }
    }

    pub fn into_response(self) -> Response<ResponseBody> {
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
    }

    #[test]
    fn invalid_parameter_names_the_param() {
        let error = ApiError::invalid("n", "n must be at least 1");
        assert_eq!(error.param(), Some("n"));
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    }
}
