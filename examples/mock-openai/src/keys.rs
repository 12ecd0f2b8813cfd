//! What each API key makes the mock do.
//!
//! Failure modes are chosen by key rather than by flag so one running mock
//! can serve a whole test suite: a test picks its failure by picking a key.
//!
//! | key | behaviour |
//! | --- | --- |
//! | `sk-mock-<anything else>` | a normal answer |
//! | `sk-mock-slow` | waits [`crate::router::SLOW_KEY_DELAY`] before the response head |
//! | `sk-mock-slowgen` | non-streamed chat: generates for `chunks × delay` before the head |
//! | `sk-mock-cut` | drops the connection mid-stream, or at once without a stream |
//! | `sk-mock-429` | 429 `rate_limit_exceeded`, `Retry-After: 1` |
//! | `sk-mock-quota` | 429 `insufficient_quota` |
//! | `sk-mock-401` | 401 `invalid_api_key` |
//! | `sk-mock-500` | 500 `server_error` |
//! | `sk-mock-deactivated` | 403 `account_deactivated` |
//! | `sk-mock-echo400`, `sk-mock-echo400-*` | 400 `invalid_value` quoting the key |
//! | `sk-mock-nobalance` | 402, DeepSeek's "Insufficient Balance" body |
//! | `sk-mock-wrongregion` | 401, DashScope's `invalid_api_key` body |
//! | `sk-mock-arrears` | 429 with DashScope's `Arrearage` body (`-arrears400`: its real 400) |
//! | anything not starting with `sk-mock-` | 401 `invalid_api_key` |
//!
//! The provider-shaped failures answer in every dialect, so a test can pick
//! the body it needs whatever preset it runs.
//!
//! Faults that follow from the request rather than the key (a `forbidden-*`
//! model, a request over the TPM limit) are in [`crate::request_faults`].

use hyper::header::{HeaderMap, AUTHORIZATION};
use hyper::StatusCode;

use crate::dialect::errors;
use crate::errors::ApiError;

/// Every key the mock accepts starts with this.
pub const KEY_PREFIX: &str = "sk-mock-";

/// Label under which requests without a usable key are counted in stats.
pub const MISSING_KEY_LABEL: &str = "(missing)";

/// The key-echoing 400. Keys extending it with `-<suffix>` echo too, so a
/// redaction test can use a key whose percent-encoding differs from it.
const ECHO_KEY: &str = "sk-mock-echo400";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyBehaviour {
    Normal,
    /// Wait before sending the response head (`sk-mock-slow`).
    Slow,
    /// Generate a non-streamed answer at stream pace before sending any of
    /// it, billing it even if the client leaves (`sk-mock-slowgen`).
    /// Streamed requests are answered as by a normal key.
    SlowGeneration,
    /// Stream a few chunks and then drop the connection, or drop it at once
    /// when there is nothing to stream (`sk-mock-cut`).
    Cut,
    /// Drop the connection before sending any byte, streamed or not
    /// (`sk-mock-reset`): a connection lost before the upstream accepted.
    Reset,
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
        "sk-mock-deactivated" => KeyBehaviour::Fail(ApiError::AccountDeactivated),
        "sk-mock-slow" => KeyBehaviour::Slow,
        "sk-mock-slowgen" => KeyBehaviour::SlowGeneration,
        "sk-mock-cut" => KeyBehaviour::Cut,
        "sk-mock-reset" => KeyBehaviour::Reset,
        "sk-mock-nobalance" => KeyBehaviour::Fail(errors::deepseek_insufficient_balance()),
        "sk-mock-wrongregion" => KeyBehaviour::Fail(errors::dashscope_invalid_key()),
        "sk-mock-arrears" => {
            KeyBehaviour::Fail(errors::dashscope_arrearage(StatusCode::TOO_MANY_REQUESTS))
        }
        "sk-mock-arrears400" => {
            KeyBehaviour::Fail(errors::dashscope_arrearage(StatusCode::BAD_REQUEST))
        }
        _ if is_echo_key(key) => KeyBehaviour::Fail(ApiError::KeyEchoed {
            key: key.to_owned(),
        }),
        _ if key.starts_with(KEY_PREFIX) => KeyBehaviour::Normal,
        _ => KeyBehaviour::Fail(ApiError::InvalidApiKey),
    }
}

fn is_echo_key(key: &str) -> bool {
    key.strip_prefix(ECHO_KEY)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
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
        check("sk-mock-reset", KeyBehaviour::Reset);
        check("sk-mock-429", KeyBehaviour::Fail(ApiError::RateLimited));
        check("sk-mock-quota", KeyBehaviour::Fail(ApiError::QuotaExceeded));
        check("sk-mock-401", KeyBehaviour::Fail(ApiError::InvalidApiKey));
        check("sk-mock-500", KeyBehaviour::Fail(ApiError::ServerError));
        check("sk-mock-slowgen", KeyBehaviour::SlowGeneration);
        check(
            "sk-mock-deactivated",
            KeyBehaviour::Fail(ApiError::AccountDeactivated),
        );
        check("sk-live-real", KeyBehaviour::Fail(ApiError::InvalidApiKey));
        check(
            "sk-mock-nobalance",
            KeyBehaviour::Fail(errors::deepseek_insufficient_balance()),
        );
        check(
            "sk-mock-wrongregion",
            KeyBehaviour::Fail(errors::dashscope_invalid_key()),
        );
        check(
            "sk-mock-arrears",
            KeyBehaviour::Fail(errors::dashscope_arrearage(StatusCode::TOO_MANY_REQUESTS)),
        );
        check(
            "sk-mock-arrears400",
            KeyBehaviour::Fail(errors::dashscope_arrearage(StatusCode::BAD_REQUEST)),
        );
        check("", KeyBehaviour::Fail(ApiError::InvalidApiKey));
    }

    #[track_caller]
    fn check_echo(key: &str, echoes: bool) {
        let expected = if echoes {
            KeyBehaviour::Fail(ApiError::KeyEchoed { key: key.into() })
        } else {
            KeyBehaviour::Normal
        };
        check(key, expected);
    }

    #[test]
    fn echo_key_and_its_family_quote_themselves() {
        check_echo("sk-mock-echo400", true);
        check_echo("sk-mock-echo400-a+b/c=", true);
        check_echo("sk-mock-echo4000", false);
        check_echo("sk-mock-echo", false);
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
