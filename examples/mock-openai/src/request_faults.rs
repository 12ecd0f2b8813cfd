//! Failures a request earns by its own content, on every key — unlike the
//! key-chosen failures in [`crate::keys`]:
//!
//! * a model named `forbidden-*` is one the mock's project may not use:
//!   403 `model_not_found`, as OpenAI answers for a project's model
//!   restriction (chat completions and embeddings);
//! * a chat request whose estimated prompt tokens plus `max_completion_tokens`
//!   (else `max_tokens`, else 0) exceed the `--tpm-limit` is too large to
//!   ever fit in a minute's budget: 429 type `tokens`, without Retry-After,
//!   because waiting does not help.

use crate::errors::ApiError;

/// Models named with this prefix are refused on every key.
pub const FORBIDDEN_MODEL_PREFIX: &str = "forbidden-";

pub fn check_model_access(model: &str) -> Result<(), ApiError> {
    if model.starts_with(FORBIDDEN_MODEL_PREFIX) {
        return Err(ApiError::ModelNotAllowed {
            model: model.to_owned(),
        });
    }
    Ok(())
}

/// `requested` is prompt plus output tokens; a `limit` of 0 means no limit.
pub fn check_request_size(model: &str, requested: u64, limit: u64) -> Result<(), ApiError> {
    if limit != 0 && requested > limit {
        return Err(ApiError::RequestOverTpmLimit {
            model: model.to_owned(),
            limit,
            requested,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_model(model: &str, allowed: bool) {
        let expected = if allowed {
            Ok(())
        } else {
            Err(ApiError::ModelNotAllowed {
                model: model.into(),
            })
        };
        assert_eq!(check_model_access(model), expected, "{model:?}");
    }

    #[test]
    fn forbidden_prefix_refuses_the_model() {
        check_model("forbidden-gpt-5", false);
        check_model("forbidden-", false);
        check_model("gpt-4o-mini", true);
        check_model("not-forbidden-x", true);
        check_model("Forbidden-x", true);
        check_model("", true);
    }

    #[track_caller]
    fn check_size(requested: u64, limit: u64, allowed: bool) {
        let expected = if allowed {
            Ok(())
        } else {
            Err(ApiError::RequestOverTpmLimit {
                model: "m".into(),
                limit,
                requested,
            })
        };
        assert_eq!(
            check_request_size("m", requested, limit),
            expected,
            "{requested} of {limit}"
        );
    }

    #[test]
    fn requests_over_the_limit_are_too_large() {
        check_size(50_000, 50_000, true);
        check_size(50_001, 50_000, false);
        check_size(0, 1, true);
        check_size(u64::MAX, 0, true);
    }
}
