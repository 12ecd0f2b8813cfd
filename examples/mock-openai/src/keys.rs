//! What each API key makes the mock do.
//!
//! Failure modes are chosen by key rather than by flag so one running mock
//! can serve a whole test suite: a test picks its failure by picking a key.

use hyper::header::{HeaderMap, AUTHORIZATION};

use crate::errors::ApiError;

/// Every key the mock accepts starts with this.
pub const KEY_PREFIX: &str = "sk-mock-";

/// Label under which requests without a usable key are counted in stats.
pub const MISSING_KEY_LABEL: &str = "(missing)";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyBehaviour {
    Normal,
    /// Wait before sending the response head (`sk-mock-slow`).
    Slow,
    /// Stream a few chunks and then drop the connection, or drop it at once
    /// when there is nothing to stream (`sk-mock-cut`).
    Cut,
    /// Answer with this error and nothing else.
    Fail(ApiError),
}

/// The bearer token from `Authorization`, if there is a non-empty one.
pub fn bearer_key(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The behaviour for a present key; a missing key is the caller's 401.
pub fn behaviour_for(key: &str) -> KeyBehaviour {
    match key {
        "sk-mock-429" => KeyBehaviour::Fail(ApiError::RateLimited),
        "sk-mock-quota" => KeyBehaviour::Fail(ApiError::QuotaExceeded),
        "sk-mock-401" => KeyBehaviour::Fail(ApiError::InvalidApiKey),
        "sk-mock-500" => KeyBehaviour::Fail(ApiError::ServerError),
        "sk-mock-slow" => KeyBehaviour::Slow,
        "sk-mock-cut" => KeyBehaviour::Cut,
        _ if key.starts_with(KEY_PREFIX) => KeyBehaviour::Normal,
        _ => KeyBehaviour::Fail(ApiError::InvalidApiKey),
    }
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    #[track_caller]
    fn check(key: &str, expected: KeyBehaviour) {
        assert_eq!(behaviour_for(key), expected, "key {key:?}");
    }

    #[test]
    fn keys_select_behaviour() {
        check("sk-mock-ok", KeyBehaviour::Normal);
        check("sk-mock-anything-else", KeyBehaviour::Normal);
        check("sk-mock-slow", KeyBehaviour::Slow);
        check("sk-mock-cut", KeyBehaviour::Cut);
        check("sk-mock-429", KeyBehaviour::Fail(ApiError::RateLimited));
        check("sk-mock-quota", KeyBehaviour::Fail(ApiError::QuotaExceeded));
        check("sk-mock-401", KeyBehaviour::Fail(ApiError::InvalidApiKey));
        check("sk-mock-500", KeyBehaviour::Fail(ApiError::ServerError));
        check("sk-live-real", KeyBehaviour::Fail(ApiError::InvalidApiKey));
        check("", KeyBehaviour::Fail(ApiError::InvalidApiKey));
    }

    #[track_caller]
    fn check_bearer(header: &str, expected: Option<&str>) {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(header) {
            headers.insert(AUTHORIZATION, value);
        }
        assert_eq!(bearer_key(&headers), expected, "header {header:?}");
    }

    #[test]
    fn bearer_token_is_extracted() {
        check_bearer("Bearer sk-mock-ok", Some("sk-mock-ok"));
        check_bearer("bearer   sk-mock-ok ", Some("sk-mock-ok"));
        check_bearer("Basic abc", None);
        check_bearer("Bearer ", None);
        check_bearer("Bearer", None);
        check_bearer("", None);
    }
}
