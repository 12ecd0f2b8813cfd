//! What went wrong with a request, in terms a user can act on.
//!
//! The worker answers errors in OpenAI's JSON shape with a stable `error.code`;
//! this module turns status + code into a [`Failure`] the view can explain
//! (with a countdown where waiting helps) in the user's language.

use super::json::Json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Too many requests: retry after this many seconds.
    RateLimited { retry_after_s: u64 },
    /// The conversation reached its round limit: start a new one.
    MaxRounds,
    /// The model kept calling the page's tools past the worker's bound for one question.
    MaxToolRounds,
    /// A budget is spent; it resets at the given wait.
    Budget { retry_after_s: Option<u64> },
    /// A monthly budget (the user's, the department's or the deployment's) is spent.
    MonthlyBudget,
    /// The user token expired: fetch a new one and retry once, silently.
    TokenExpired,
    /// Not signed in, or the credential was refused.
    Unauthorized,
    /// The page is not allowed to use this assistant.
    Forbidden,
    /// An administrator turned the assistant off for this user (`user_blocked`): waiting or
    /// retrying does not help, asking the administrator does.
    Blocked,
    /// The network dropped: offer a retry.
    Network,
    /// The model provider is down or out of keys.
    UpstreamDown { retry_after_s: Option<u64> },
    /// Anything else, with the worker's message.
    Other { message: String },
}

impl Failure {
    /// Classifies an HTTP error answer from the worker.
    pub fn from_response(status: u16, body: &str, retry_after_header: Option<&str>) -> Failure {
        let parsed = Json::parse(body);
        let error = parsed.as_ref().and_then(|v| v.get("error"));
        let code = error
            .and_then(|e| e.get("code"))
            .and_then(Json::as_str)
            .unwrap_or("");
        let message = error
            .and_then(|e| e.get("message"))
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        let retry_after_s = retry_after_header
            .and_then(|h| h.trim().parse::<u64>().ok())
            .or_else(|| {
                error
                    .and_then(|e| e.get("retry_after"))
                    .and_then(Json::as_u64)
            });
        match (status, code) {
            (_, "token_expired") => Failure::TokenExpired,
            (_, "max_rounds_exceeded") => Failure::MaxRounds,
            (_, "max_tool_rounds_exceeded") => Failure::MaxToolRounds,
            (_, "budget_exceeded") => Failure::Budget { retry_after_s },
            // `error.budget` names the config key that refused: a department's may be monthly.
            (_, "monthly_budget_exceeded") => Failure::MonthlyBudget,
            (_, "department_budget_exceeded")
                if error
                    .and_then(|e| e.get("budget"))
                    .and_then(Json::as_str)
                    .is_some_and(|key| key.contains("monthly")) =>
            {
                Failure::MonthlyBudget
            }
            (_, "department_budget_exceeded") => Failure::Budget { retry_after_s },
            (_, "user_blocked") => Failure::Blocked,
            (429, _) => Failure::RateLimited {
                retry_after_s: retry_after_s.unwrap_or(5),
            },
            (401, _) => Failure::Unauthorized,
            (403, _) => Failure::Forbidden,
            (502..=504, _) => Failure::UpstreamDown { retry_after_s },
            _ if message.is_empty() => Failure::Other {
                message: format!("HTTP {status}"),
            },
            _ => Failure::Other { message },
        }
    }

    /// An OpenAI error event inside a stream (`data: {"error": {...}}`): the worker's word
    /// that the answer so far is not the whole answer (the provider broke it off, or ended it
    /// with a filter or a failure of its own). `None` for every other event.
    pub fn from_stream_event(data: &str) -> Option<Failure> {
        let parsed = Json::parse(data)?;
        parsed.get("error")?.get("message")?;
        // No status: the code and the worker's message say what happened.
        Some(Failure::from_response(0, data, None))
    }

    /// Seconds to count down before the user may try again, when waiting helps.
    pub fn countdown_s(&self) -> Option<u64> {
        match self {
            Failure::RateLimited { retry_after_s } => Some(*retry_after_s),
            Failure::Budget { retry_after_s } | Failure::UpstreamDown { retry_after_s } => {
                retry_after_s.filter(|s| *s <= 3600)
            }
            _ => None,
        }
    }

    /// Whether a "retry" button makes sense.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Failure::RateLimited { .. } | Failure::Network | Failure::UpstreamDown { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(status: u16, body: &str, retry_after: Option<&str>, expected: Failure) {
        assert_eq!(Failure::from_response(status, body, retry_after), expected);
    }

    #[test]
    fn worker_codes_map_to_actions() {
        let error =
            |code: &str| format!(r#"{{"error":{{"message":"m","type":"t","code":"{code}"}}}}"#);
        check(
            429,
            &error("rate_limit_exceeded"),
            Some("7"),
            Failure::RateLimited { retry_after_s: 7 },
        );
        check(429, &error("max_rounds_exceeded"), None, Failure::MaxRounds);
        check(
            429,
            &error("max_tool_rounds_exceeded"),
            Some("5"),
            Failure::MaxToolRounds,
        );
        check(
            429,
            &error("budget_exceeded"),
            Some("600"),
            Failure::Budget {
                retry_after_s: Some(600),
            },
        );
        check(
            429,
            &error("monthly_budget_exceeded"),
            Some("86400"),
            Failure::MonthlyBudget,
        );
        let department = |key: &str| {
            format!(
                r#"{{"error":{{"message":"m","code":"department_budget_exceeded","budget":"{key}"}}}}"#
            )
        };
        check(
            429,
            &department("departments.fin.monthly_usd"),
            None,
            Failure::MonthlyBudget,
        );
        check(
            429,
            &department("departments.fin.daily_usd"),
            Some("60"),
            Failure::Budget {
                retry_after_s: Some(60),
            },
        );
        check(401, &error("token_expired"), None, Failure::TokenExpired);
        check(401, &error("invalid_api_key"), None, Failure::Unauthorized);
        check(403, &error("origin_not_allowed"), None, Failure::Forbidden);
        check(403, &error("user_blocked"), None, Failure::Blocked);
        check(
            503,
            &error("upstream_unavailable"),
            None,
            Failure::UpstreamDown {
                retry_after_s: None,
            },
        );
    }

    #[test]
    fn retry_after_falls_back_to_the_body() {
        let body = r#"{"error":{"message":"m","code":"rate_limit_exceeded","retry_after":12}}"#;
        check(429, body, None, Failure::RateLimited { retry_after_s: 12 });
    }

    #[test]
    fn non_json_errors_still_say_something() {
        check(
            500,
            "<html>",
            None,
            Failure::Other {
                message: "HTTP 500".into(),
            },
        );
    }

    #[test]
    fn countdowns_only_where_waiting_helps() {
        assert_eq!(
            Failure::RateLimited { retry_after_s: 3 }.countdown_s(),
            Some(3)
        );
        assert_eq!(Failure::MaxRounds.countdown_s(), None);
        assert_eq!(
            Failure::Budget {
                retry_after_s: Some(90_000)
            }
            .countdown_s(),
            None
        );
    }

    #[test]
    fn an_error_event_in_a_stream_is_a_failure_with_the_workers_message() {
        let event = r#"{"error":{"message":"The model provider's content filter stopped this answer.","type":"invalid_request_error","param":null,"code":"content_filter"}}"#;
        assert_eq!(
            Failure::from_stream_event(event),
            Some(Failure::Other {
                message: "The model provider's content filter stopped this answer.".into()
            })
        );
        for ordinary in [
            r#"{"choices":[{"delta":{"content":"error"}}]}"#,
            r#"{"error":"a string, not an error object"}"#,
            "[DONE]",
            "not json",
        ] {
            assert_eq!(Failure::from_stream_event(ordinary), None, "{ordinary}");
        }
    }
}
