//! The one error type of the proxy and its OpenAI-shaped rendering.
//!
//! Every refusal the worker gives goes through [`ProxyError`], and
//! [`ProxyError::status`] + [`ProxyError::to_json`] are the only place that
//! decides its HTTP status and body. Messages are written for the caller: they
//! never carry an upstream key, an upstream's raw error text, a stack trace or
//! an internal binding name.

use serde_json::json;

/// Why a request was refused or failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ProxyError {
    /// No credential was sent at all.
    MissingCredential,
    /// A credential was sent but is forged, malformed or revoked.
    InvalidCredential,
    /// A user token that was valid once but has expired: the widget fetches a new one silently.
    ExpiredCredential,
    /// A correctly signed user token that breaks the deployment's token policy (lives too
    /// long, wrong issuer or audience); the reason is for the OA developer who mints them.
    TokenRefused { reason: &'static str },
    /// The browser origin is not on `allowed_origins`.
    OriginNotAllowed,
    /// A state-changing admin console call without its session's CSRF token.
    CsrfRefused,
    /// The admin console's session has ended: sign in again.
    SessionExpired,
    /// The body is not what the endpoint takes; `param` names the offending field.
    InvalidRequest {
        message: String,
        param: Option<String>,
    },
    /// The requested model is neither served nor aliased.
    ModelNotFound { model: String },
    /// The caller's tier may not use this model.
    ModelNotAllowed { model: String },
    /// An administrator blocked this user (`PUT /admin/users/<user>/blocked`); the admin's
    /// reason stays in the console, the user gets a fixed sentence.
    UserBlocked,
    /// The body is larger than `max_body_bytes`.
    BodyTooLarge { limit: u64 },
    /// The path exists but not with this method.
    MethodNotAllowed { allowed: &'static str },
    /// No route matches the path.
    NotFound,
    /// No conversation with this id among the caller's own conversations.
    ConversationNotFound,
    /// No ledger row with this request id among the caller's own requests.
    RequestNotFound,
    /// `previous_response_id` names no stored response among the caller's own.
    ResponseNotFound,
    /// Per-user requests-per-minute cap hit.
    RateLimited { retry_after_s: u64 },
    /// Per-conversation round cap hit.
    MaxRounds { max: u32 },
    /// A user message already had `tools.max_rounds` tool rounds (continuations).
    MaxToolRounds { max: u32 },
    /// A per-user or deployment budget cannot fit the request.
    BudgetExceeded {
        scope: BudgetScope,
        retry_after_s: u64,
    },
    /// Every upstream key is cooling down, disabled or failed for this request.
    UpstreamExhausted { retry_after_s: Option<u64> },
    /// The upstream did not answer in time on every attempt.
    UpstreamTimeout,
    /// The upstream's (non-streamed) answer broke off after its head: nothing usable arrived.
    UpstreamBroken,
    /// The provider's content filter stopped the answer with a `finish_reason` that OpenAI's
    /// clients do not know (Zhipu's `sensitive`). OpenAI's own `content_filter` is a
    /// finish reason SDKs understand, and passes as it is.
    AnswerFiltered,
    /// The provider ended the answer reporting its own failure in `finish_reason` (Zhipu's
    /// `network_error`) instead of breaking the connection.
    UpstreamModelFailed,
    /// The deployment's configuration is invalid; the message names the field.
    BadConfig { message: String },
    /// Something that should not happen; the detail is logged, never shown.
    Internal,
}

/// Which budget refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetScope {
    UserTokens,
    UserUsd,
    Deployment,
    /// The guests' share of the deployment budget (`[guest_pool] daily_usd`).
    Guests,
    /// The tier's `monthly_tokens`.
    UserMonthlyTokens,
    /// The tier's `monthly_usd`.
    UserMonthlyUsd,
    /// The deployment's `budget.monthly_usd`.
    DeploymentMonthly,
    /// The caller's department's `daily_usd` (`[departments.<name>]`).
    Department,
    /// The caller's department's `monthly_usd`.
    DepartmentMonthly,
}

impl BudgetScope {
    /// The config key of the budget, sent as the error's `budget` field.
    pub fn config_key(self) -> &'static str {
        match self {
            BudgetScope::UserTokens => "daily_tokens",
            BudgetScope::UserUsd => "daily_usd",
            BudgetScope::Deployment => "budget.daily_usd",
            BudgetScope::Guests => "guest_pool.daily_usd",
            BudgetScope::UserMonthlyTokens => "monthly_tokens",
            BudgetScope::UserMonthlyUsd => "monthly_usd",
            BudgetScope::DeploymentMonthly => "budget.monthly_usd",
            BudgetScope::Department => "departments.daily_usd",
            BudgetScope::DepartmentMonthly => "departments.monthly_usd",
        }
    }

    /// Whether this is a calendar month's budget (it resets on the 1st).
    pub fn monthly(self) -> bool {
        matches!(
            self,
            BudgetScope::UserMonthlyTokens
                | BudgetScope::UserMonthlyUsd
                | BudgetScope::DeploymentMonthly
                | BudgetScope::DepartmentMonthly
        )
    }

    /// Whether this is a department's budget.
    pub fn department(self) -> bool {
        matches!(
            self,
            BudgetScope::Department | BudgetScope::DepartmentMonthly
        )
    }
}

impl ProxyError {
    /// Shorthand for a 400 that names the field at fault.
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        ProxyError::InvalidRequest {
            message: message.into(),
            param: Some(param.to_string()),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            ProxyError::MissingCredential
            | ProxyError::InvalidCredential
            | ProxyError::ExpiredCredential
            | ProxyError::TokenRefused { .. }
            | ProxyError::SessionExpired => 401,
            ProxyError::CsrfRefused => 403,
            ProxyError::OriginNotAllowed
            | ProxyError::ModelNotAllowed { .. }
            | ProxyError::UserBlocked => 403,
            ProxyError::InvalidRequest { .. } => 400,
            ProxyError::ModelNotFound { .. }
            | ProxyError::NotFound
            | ProxyError::ConversationNotFound
            | ProxyError::RequestNotFound
            | ProxyError::ResponseNotFound => 404,
            ProxyError::BodyTooLarge { .. } => 413,
            ProxyError::MethodNotAllowed { .. } => 405,
            ProxyError::RateLimited { .. }
            | ProxyError::MaxRounds { .. }
            | ProxyError::MaxToolRounds { .. }
            | ProxyError::BudgetExceeded { .. } => 429,
            ProxyError::UpstreamExhausted { .. } => 503,
            ProxyError::UpstreamBroken | ProxyError::UpstreamModelFailed => 502,
            ProxyError::AnswerFiltered => 400,
            ProxyError::UpstreamTimeout => 504,
            ProxyError::BadConfig { .. } | ProxyError::Internal => 500,
        }
    }

    /// OpenAI's `error.type`.
    pub fn kind(&self) -> &'static str {
        match self {
            ProxyError::MissingCredential
            | ProxyError::InvalidCredential
            | ProxyError::ExpiredCredential
            | ProxyError::TokenRefused { .. }
            | ProxyError::SessionExpired => "authentication_error",
            ProxyError::OriginNotAllowed
            | ProxyError::CsrfRefused
            | ProxyError::ModelNotAllowed { .. }
            | ProxyError::UserBlocked => "permission_error",
            ProxyError::InvalidRequest { .. }
            | ProxyError::ModelNotFound { .. }
            | ProxyError::BodyTooLarge { .. }
            | ProxyError::MethodNotAllowed { .. }
            | ProxyError::NotFound
            | ProxyError::ConversationNotFound
            | ProxyError::RequestNotFound
            | ProxyError::ResponseNotFound
            | ProxyError::AnswerFiltered => "invalid_request_error",
            ProxyError::RateLimited { .. }
            | ProxyError::MaxRounds { .. }
            | ProxyError::MaxToolRounds { .. } => "requests",
            ProxyError::BudgetExceeded { .. } => "insufficient_quota",
            ProxyError::UpstreamExhausted { .. }
            | ProxyError::UpstreamTimeout
            | ProxyError::UpstreamBroken
            | ProxyError::UpstreamModelFailed => "upstream_error",
            ProxyError::BadConfig { .. } | ProxyError::Internal => "server_error",
        }
    }

    /// OpenAI's `error.code`: stable, machine-readable, what the widget switches on.
    pub fn code(&self) -> &'static str {
        match self {
            ProxyError::MissingCredential => "missing_credential",
            ProxyError::InvalidCredential | ProxyError::TokenRefused { .. } => "invalid_api_key",
            ProxyError::ExpiredCredential => "token_expired",
            ProxyError::OriginNotAllowed => "origin_not_allowed",
            ProxyError::CsrfRefused => "csrf_refused",
            ProxyError::SessionExpired => "session_expired",
            ProxyError::InvalidRequest { .. } => "invalid_request",
            ProxyError::ModelNotFound { .. } => "model_not_found",
            ProxyError::ModelNotAllowed { .. } => "model_not_allowed",
            ProxyError::UserBlocked => "user_blocked",
            ProxyError::BodyTooLarge { .. } => "body_too_large",
            ProxyError::MethodNotAllowed { .. } => "method_not_allowed",
            ProxyError::NotFound => "not_found",
            ProxyError::ConversationNotFound => "conversation_not_found",
            ProxyError::RequestNotFound => "request_not_found",
            ProxyError::ResponseNotFound => "previous_response_not_found",
            ProxyError::RateLimited { .. } => "rate_limit_exceeded",
            ProxyError::MaxRounds { .. } => "max_rounds_exceeded",
            ProxyError::MaxToolRounds { .. } => "max_tool_rounds_exceeded",
            // Daily budgets keep the code they always had; the others name their period or
            // holder, so a client can tell "until tomorrow" from "until next month".
            ProxyError::BudgetExceeded { scope, .. } if scope.department() => {
                "department_budget_exceeded"
            }
            ProxyError::BudgetExceeded { scope, .. } if scope.monthly() => {
                "monthly_budget_exceeded"
            }
            ProxyError::BudgetExceeded { .. } => "budget_exceeded",
            ProxyError::UpstreamExhausted { .. } => "upstream_unavailable",
            ProxyError::UpstreamTimeout => "upstream_timeout",
            ProxyError::UpstreamBroken => "upstream_broken",
            ProxyError::AnswerFiltered => "content_filter",
            ProxyError::UpstreamModelFailed => "upstream_model_error",
            ProxyError::BadConfig { .. } => "bad_config",
            ProxyError::Internal => "internal_error",
        }
    }

    /// A sentence for a person. Never includes secrets or upstream text.
    pub fn message(&self) -> String {
        match self {
            ProxyError::MissingCredential => {
                "No credential: send `Authorization: Bearer <user token or API key>`.".into()
            }
            ProxyError::InvalidCredential => "The credential is invalid or has been revoked.".into(),
            ProxyError::ExpiredCredential => "The user token has expired; fetch a new one.".into(),
            ProxyError::TokenRefused { reason } => format!("The user token was refused: {reason}."),
            ProxyError::OriginNotAllowed => {
                "This page's origin is not on the deployment's allowed_origins list.".into()
            }
            ProxyError::CsrfRefused => {
                "This console call needs the session's CSRF token in the `x-oachat-csrf` header."
                    .into()
            }
            ProxyError::SessionExpired => {
                "The admin console session has ended; sign in again.".into()
            }
            ProxyError::InvalidRequest { message, .. } => message.clone(),
            ProxyError::ModelNotFound { model } => {
                format!("The model `{}` does not exist or is not served here.", clip(model))
            }
            ProxyError::ModelNotAllowed { model } => {
                format!("Your tier may not use the model `{}`.", clip(model))
            }
            ProxyError::UserBlocked => {
                "An administrator has turned off the assistant for your account. Ask your \
                 administrator if you think this is a mistake."
                    .into()
            }
            ProxyError::BodyTooLarge { limit } => {
                format!("The request body is larger than the limit of {limit} bytes.")
            }
            ProxyError::MethodNotAllowed { allowed } => {
                format!("Method not allowed here; use {allowed}.")
            }
            ProxyError::NotFound => "No such endpoint.".into(),
            ProxyError::ConversationNotFound => {
                "No such conversation: it was deleted or never existed.".into()
            }
            ProxyError::ResponseNotFound => {
                "No stored response with this `previous_response_id` among yours: it was sent \
                 with `store: false`, has been forgotten, or never existed."
                    .into()
            }
            ProxyError::RequestNotFound => {
                "No such request among yours (its record is written just after the answer ends)."
                    .into()
            }
            ProxyError::RateLimited { retry_after_s } => format!(
                "Too many requests: the per-minute limit is reached. Try again in {retry_after_s} s."
            ),
            ProxyError::MaxRounds { max } => format!(
                "This conversation has reached its limit of {max} rounds. Start a new conversation."
            ),
            ProxyError::MaxToolRounds { max } => format!(
                "This message has had its {max} rounds of actions. Send a new message to go on."
            ),
            ProxyError::BudgetExceeded { scope, .. } => match scope {
                BudgetScope::UserTokens => "Your daily token budget is spent.".into(),
                BudgetScope::UserUsd => "Your daily spending budget is spent.".into(),
                BudgetScope::Guests => {
                    "The assistant's daily budget for guests is spent. Sign in to continue, or \
                     try again tomorrow."
                        .into()
                }
                BudgetScope::Deployment => {
                    "The assistant's daily budget for everyone is spent. It resets at midnight."
                        .into()
                }
                BudgetScope::UserMonthlyTokens => "Your monthly token budget is spent.".into(),
                BudgetScope::UserMonthlyUsd => "Your monthly spending budget is spent.".into(),
                BudgetScope::DeploymentMonthly => {
                    "The assistant's monthly budget for everyone is spent. It resets on the 1st."
                        .into()
                }
                BudgetScope::Department => "Your department's daily budget is spent.".into(),
                BudgetScope::DepartmentMonthly => {
                    "Your department's monthly budget is spent.".into()
                }
            },
            ProxyError::UpstreamExhausted { .. } => {
                "All upstream API keys are rate-limited or unavailable right now. Try again shortly."
                    .into()
            }
            ProxyError::UpstreamTimeout => "The model provider did not answer in time.".into(),
            ProxyError::UpstreamBroken => {
                "The model provider's answer broke off before it was complete. Try again.".into()
            }
            ProxyError::AnswerFiltered => {
                "The model provider's content filter stopped this answer. Rephrase the request \
                 and try again."
                    .into()
            }
            ProxyError::UpstreamModelFailed => {
                "The model provider reported a failure while answering. Try again.".into()
            }
            ProxyError::BadConfig { message } => format!("Invalid OACHAT_CONFIG: {message}"),
            ProxyError::Internal => "Internal error.".into(),
        }
    }

    /// Seconds after which retrying can succeed, sent as `Retry-After`.
    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            ProxyError::RateLimited { retry_after_s }
            | ProxyError::BudgetExceeded { retry_after_s, .. } => Some(*retry_after_s),
            ProxyError::UpstreamExhausted { retry_after_s } => *retry_after_s,
            _ => None,
        }
    }

    /// The OpenAI error body: `{"error":{"message","type","param","code"}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let param = match self {
            ProxyError::InvalidRequest { param, .. } => param.clone(),
            ProxyError::ModelNotFound { .. } | ProxyError::ModelNotAllowed { .. } => {
                Some("model".to_string())
            }
            ProxyError::ResponseNotFound => Some("previous_response_id".to_string()),
            _ => None,
        };
        let mut error = json!({
            "message": self.message(),
            "type": self.kind(),
            "param": param,
            "code": self.code(),
        });
        if let Some(seconds) = self.retry_after_s() {
            error["retry_after"] = json!(seconds);
        }
        if let ProxyError::BudgetExceeded { scope, .. } = self {
            error["budget"] = json!(scope.config_key());
        }
        json!({ "error": error })
    }
}

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for ProxyError {}

/// Caller-supplied names are echoed back, so cap them: a 1 MiB "model" must not become a 1 MiB error.
fn clip(text: &str) -> String {
    const MAX_ECHO_CHARS: usize = 64;
    if text.chars().count() <= MAX_ECHO_CHARS {
        text.to_string()
    } else {
        let head: String = text.chars().take(MAX_ECHO_CHARS).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(error: ProxyError, status: u16, code: &str) {
        assert_eq!(error.status(), status);
        let body = error.to_json();
        assert_eq!(body["error"]["code"], code);
        assert!(body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert!(body["error"]["type"].is_string());
    }

    #[test]
    fn budget_refusals_name_their_period_and_budget() {
        let refused = |scope| ProxyError::BudgetExceeded {
            scope,
            retry_after_s: 60,
        };
        check(refused(BudgetScope::UserUsd), 429, "budget_exceeded");
        check(refused(BudgetScope::Deployment), 429, "budget_exceeded");
        check(
            refused(BudgetScope::UserMonthlyTokens),
            429,
            "monthly_budget_exceeded",
        );
        check(
            refused(BudgetScope::DeploymentMonthly),
            429,
            "monthly_budget_exceeded",
        );
        check(
            refused(BudgetScope::Department),
            429,
            "department_budget_exceeded",
        );
        check(
            refused(BudgetScope::DepartmentMonthly),
            429,
            "department_budget_exceeded",
        );
        let body = refused(BudgetScope::DeploymentMonthly).to_json();
        assert_eq!(body["error"]["budget"], "budget.monthly_usd");
        assert_eq!(body["error"]["type"], "insufficient_quota");
        assert_eq!(body["error"]["param"], serde_json::Value::Null);
    }

    #[test]
    fn a_blocked_user_is_refused_as_a_permission_error() {
        check(ProxyError::UserBlocked, 403, "user_blocked");
        assert_eq!(
            ProxyError::UserBlocked.to_json()["error"]["type"],
            "permission_error"
        );
    }

    #[test]
    fn statuses_follow_openai_conventions() {
        check(ProxyError::MissingCredential, 401, "missing_credential");
        check(ProxyError::ExpiredCredential, 401, "token_expired");
        check(
            ProxyError::invalid("messages", "`messages` is required."),
            400,
            "invalid_request",
        );
        check(
            ProxyError::ModelNotFound { model: "x".into() },
            404,
            "model_not_found",
        );
        check(
            ProxyError::BodyTooLarge { limit: 10 },
            413,
            "body_too_large",
        );
        check(
            ProxyError::MethodNotAllowed { allowed: "POST" },
            405,
            "method_not_allowed",
        );
        check(
            ProxyError::RateLimited { retry_after_s: 3 },
            429,
            "rate_limit_exceeded",
        );
        check(ProxyError::MaxRounds { max: 3 }, 429, "max_rounds_exceeded");
        check(
            ProxyError::ConversationNotFound,
            404,
            "conversation_not_found",
        );
        check(ProxyError::RequestNotFound, 404, "request_not_found");
        check(
            ProxyError::ResponseNotFound,
            404,
            "previous_response_not_found",
        );
        check(
            ProxyError::UpstreamExhausted {
                retry_after_s: None,
            },
            503,
            "upstream_unavailable",
        );
        check(ProxyError::UpstreamTimeout, 504, "upstream_timeout");
        check(ProxyError::UpstreamBroken, 502, "upstream_broken");
        check(ProxyError::AnswerFiltered, 400, "content_filter");
        check(ProxyError::UpstreamModelFailed, 502, "upstream_model_error");
    }

    #[test]
    fn invalid_request_names_the_field() {
        let body = ProxyError::invalid("messages", "`messages` must be an array.").to_json();
        assert_eq!(body["error"]["param"], "messages");
    }

    #[test]
    fn retry_after_is_carried_in_the_body() {
        let body = ProxyError::RateLimited { retry_after_s: 7 }.to_json();
        assert_eq!(body["error"]["retry_after"], 7);
    }

    #[test]
    fn echoed_model_names_are_clipped() {
        let huge = "m".repeat(10_000);
        let message = ProxyError::ModelNotFound { model: huge }.message();
        assert!(message.len() < 200, "{}", message.len());
    }
}
