//! Provider error codes that the generic reading of an upstream error
//! (`keypool::classify`) would get wrong: billing states sent as 400 or 429, which must
//! disable the key rather than cool it for seconds or hand the refusal to the client.
//!
//! Sources: DeepSeek's error-code page (402 Insufficient Balance); Alibaba Cloud Model
//! Studio's error-code page (`InvalidApiKey`/`invalid_api_key` for a key of another region,
//! `Arrearage` for an overdue account, `insufficient_quota`); Moonshot's platform forum
//! (`exceeded_current_quota_error` once the prepaid balance is spent); Z.AI/Zhipu's error
//! code table (1000–1004 authentication, 1110–1121 account states, 1113 arrears, 1302
//! concurrency).

use super::Provider;
use crate::error::ProxyError;
use crate::keypool::Outcome;

/// The error a client gets for an answer that ended with a `finish_reason` OpenAI's SDKs
/// cannot read as a failure: Zhipu's `sensitive` (its safety filter replaced or cut the
/// answer) and `network_error` (its inference failed mid-answer). Passed through as they
/// are, an SDK would report an ordinary ending with a truncated answer. OpenAI's own
/// `content_filter` is not here: every SDK already knows what it means.
pub fn finish_error(finish_reason: Option<&str>) -> Option<ProxyError> {
    match finish_reason? {
        "sensitive" => Some(ProxyError::AnswerFiltered),
        "network_error" => Some(ProxyError::UpstreamModelFailed),
        _ => None,
    }
}

/// Whether `provider` may end an answer with a `finish_reason` that [`finish_error`] turns
/// into an error event: only then must a stream be watched chunk by chunk to add that event.
pub fn may_finish_abnormally(provider: Provider) -> bool {
    matches!(provider, Provider::Zhipu | Provider::OpenAiCompatible)
}

/// What `provider`'s own error code says about an attempt with status `status`, when it says
/// more than the status does; `None` leaves the generic classification to decide. `code`,
/// `kind` and `message` are the error object's `code`, `type` and `message`.
pub fn classify_quirk(
    provider: Provider,
    status: u16,
    code: Option<&str>,
    kind: Option<&str>,
    message: &str,
) -> Option<Outcome> {
    if !(400..500).contains(&status) {
        return None;
    }
    let names = |any_of: &[&str]| {
        [code, kind]
            .iter()
            .flatten()
            .any(|value| any_of.contains(value))
    };
    match provider {
        // An empty balance: the key stays useless until someone pays, so it is disabled
        // (probed with a doubling backoff) rather than retried.
        Provider::DeepSeek if status == 402 => Some(Outcome::QuotaExhausted),
        Provider::Qwen => {
            if names(&["Arrearage", "insufficient_quota"]) {
                Some(Outcome::QuotaExhausted)
            } else if names(&["InvalidApiKey", "invalid_api_key"]) {
                // Also a key of the other region (Beijing vs Singapore) sent to this base URL:
                // the key is wrong here, whatever the status.
                Some(Outcome::Unauthorized)
            } else {
                None
            }
        }
        Provider::Moonshot if names(&["exceeded_current_quota_error"]) => {
            Some(Outcome::QuotaExhausted)
        }
        Provider::Moonshot
            if status == 429
                && message
                    .to_ascii_lowercase()
                    .contains("insufficient balance") =>
        {
            Some(Outcome::QuotaExhausted)
        }
        Provider::Zhipu => match code? {
            "1000" | "1001" | "1002" | "1003" | "1004" => Some(Outcome::Unauthorized),
            "1113" => Some(Outcome::QuotaExhausted),
            "1110" | "1111" | "1112" | "1120" | "1121" => Some(Outcome::Forbidden),
            "1302" => Some(Outcome::RateLimited {
                retry_after_ms: None,
            }),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(provider: Provider, status: u16, code: Option<&str>, expected: Option<Outcome>) {
        assert_eq!(
            classify_quirk(provider, status, code, None, ""),
            expected,
            "{provider} {status} {code:?}"
        );
    }

    #[test]
    fn billing_states_are_the_keys() {
        check(Provider::DeepSeek, 402, None, Some(Outcome::QuotaExhausted));
        check(
            Provider::Qwen,
            400,
            Some("Arrearage"),
            Some(Outcome::QuotaExhausted),
        );
        check(
            Provider::Qwen,
            429,
            Some("insufficient_quota"),
            Some(Outcome::QuotaExhausted),
        );
        check(
            Provider::Qwen,
            401,
            Some("invalid_api_key"),
            Some(Outcome::Unauthorized),
        );
        check(
            Provider::Zhipu,
            429,
            Some("1113"),
            Some(Outcome::QuotaExhausted),
        );
        check(
            Provider::Zhipu,
            401,
            Some("1002"),
            Some(Outcome::Unauthorized),
        );
        check(Provider::Zhipu, 403, Some("1112"), Some(Outcome::Forbidden));
        assert_eq!(
            classify_quirk(
                Provider::Moonshot,
                429,
                None,
                Some("exceeded_current_quota_error"),
                ""
            ),
            Some(Outcome::QuotaExhausted)
        );
        assert_eq!(
            classify_quirk(
                Provider::Moonshot,
                429,
                None,
                None,
                "Your account is suspended due to insufficient balance"
            ),
            Some(Outcome::QuotaExhausted)
        );
    }

    #[test]
    fn other_codes_and_providers_are_left_to_the_generic_reading() {
        check(Provider::Qwen, 429, Some("Throttling.RateQuota"), None);
        check(Provider::Zhipu, 400, Some("1301"), None);
        check(Provider::Zhipu, 400, None, None);
        // Codes are provider-specific: another provider's "1113" means nothing.
        check(Provider::OpenAi, 429, Some("1113"), None);
        check(Provider::OpenAi, 400, Some("Arrearage"), None);
        check(Provider::DeepSeek, 400, None, None);
        // A 5xx never disables a key, whatever its body says.
        check(Provider::Qwen, 500, Some("Arrearage"), None);
    }

    #[test]
    fn zhipu_concurrency_is_a_rate_limit() {
        check(
            Provider::Zhipu,
            429,
            Some("1302"),
            Some(Outcome::RateLimited {
                retry_after_ms: None,
            }),
        );
    }

    #[test]
    fn only_endings_sdks_cannot_read_become_errors() {
        assert_eq!(
            finish_error(Some("sensitive")),
            Some(ProxyError::AnswerFiltered)
        );
        assert_eq!(
            finish_error(Some("network_error")),
            Some(ProxyError::UpstreamModelFailed)
        );
        for ordinary in ["stop", "length", "tool_calls", "content_filter"] {
            assert_eq!(finish_error(Some(ordinary)), None, "{ordinary}");
        }
        assert_eq!(finish_error(None), None);
    }
}
