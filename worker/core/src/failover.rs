//! When a request moves to another upstream key, and when it stops: the failover policy,
//! pure so every path is tested without a network.
//!
//! Failures are judged by whose they are ([`crate::keypool::classify`]):
//! - **Key-level** (401, quota, deactivated, 429 rate limits): the key is cooled or disabled by
//!   the pool and the request moves on at once. These never count against `max_attempts`, so a
//!   pool with a few bad keys still reaches its healthy one (the review's pool of 429, 401,
//!   quota, 500 and ok keys spent its three attempts before the healthy key).
//! - **Transient** (5xx, timeouts): the upstream may be struggling, so the request backs off
//!   and these *do* count against `max_attempts`.
//! - **Request-level** (400, 403 model not allowed, 404, 413, 429 "request too large"...): the
//!   key is fine. Errors that another project's key may not share (403, 404, 429) are tried on
//!   one more key; the same refusal twice is the request's own and goes back to its client.
//!   Plain 400/413/422 go back at once. No key's health is touched either way.
//!
//! A request stops when a key answers, when every key has been tried, when the transient
//! attempts are spent, or when a request-level refusal repeats.

use crate::keypool::{doubling_backoff, Outcome};

/// The longest wait between attempts; the client is waiting for a first byte meanwhile.
pub const MAX_RETRY_DELAY_MS: u64 = 2_000;

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Try another key after this many milliseconds.
    Retry { delay_ms: u64 },
    /// Give the client this attempt's refusal: it is the request's own.
    Answer,
    /// Stop: the transient attempts are spent.
    GiveUp,
}

/// One request's way through the pool.
#[derive(Debug, Clone)]
pub struct Failover {
    max_attempts: u32,
    backoff_base_ms: u64,
    transient_failures: u32,
    /// Fingerprints of request-level refusals seen on earlier keys.
    refusals: Vec<String>,
}

impl Failover {
    /// `max_attempts` bounds the transient failures (5xx, timeouts) one request may meet.
    pub fn new(max_attempts: u32, backoff_base_ms: u64) -> Failover {
        Failover {
            max_attempts: max_attempts.max(1),
            backoff_base_ms,
            transient_failures: 0,
            refusals: Vec::new(),
        }
    }

    /// After an attempt failed with `outcome`; `fingerprint` names a request-level refusal
    /// (status and error code, see `keypool::error_fingerprint`).
    pub fn after(&mut self, outcome: &Outcome, fingerprint: &str) -> Next {
        match outcome {
            Outcome::Success => Next::Answer,
            Outcome::RateLimited { .. }
            | Outcome::Unauthorized
            | Outcome::Forbidden
            | Outcome::QuotaExhausted => Next::Retry { delay_ms: 0 },
            Outcome::ServerError { .. } | Outcome::Timeout => {
                self.transient_failures += 1;
                if self.transient_failures >= self.max_attempts {
                    return Next::GiveUp;
                }
                Next::Retry {
                    delay_ms: doubling_backoff(
                        self.backoff_base_ms,
                        MAX_RETRY_DELAY_MS.max(self.backoff_base_ms),
                        self.transient_failures,
                    ),
                }
            }
            Outcome::ClientError { status } => {
                let maybe_the_keys = matches!(status, 403 | 404 | 429);
                if !maybe_the_keys || self.refusals.iter().any(|seen| seen == fingerprint) {
                    return Next::Answer;
                }
                self.refusals.push(fingerprint.to_string());
                Next::Retry { delay_ms: 0 }
            }
        }
    }

    /// Transient failures met so far.
    pub fn transient_failures(&self) -> u32 {
        self.transient_failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE_LIMITED: Outcome = Outcome::RateLimited {
        retry_after_ms: None,
    };

    #[track_caller]
    fn check(failover: &mut Failover, outcome: Outcome, fingerprint: &str, expected: Next) {
        assert_eq!(
            failover.after(&outcome, fingerprint),
            expected,
            "{outcome:?}"
        );
    }

    #[test]
    fn key_failures_never_spend_the_attempts() {
        // The review's pool: 429, 401, quota, 500, ok with max_attempts = 3.
        let mut failover = Failover::new(3, 100);
        check(&mut failover, RATE_LIMITED, "", Next::Retry { delay_ms: 0 });
        check(
            &mut failover,
            Outcome::Unauthorized,
            "",
            Next::Retry { delay_ms: 0 },
        );
        check(
            &mut failover,
            Outcome::QuotaExhausted,
            "",
            Next::Retry { delay_ms: 0 },
        );
        check(
            &mut failover,
            Outcome::Forbidden,
            "",
            Next::Retry { delay_ms: 0 },
        );
        let server_error = Outcome::ServerError { status: 500 };
        check(
            &mut failover,
            server_error,
            "",
            Next::Retry { delay_ms: 100 },
        );
        assert_eq!(failover.transient_failures(), 1);
    }

    #[test]
    fn transient_failures_back_off_and_are_bounded() {
        let mut failover = Failover::new(3, 100);
        check(
            &mut failover,
            Outcome::Timeout,
            "",
            Next::Retry { delay_ms: 100 },
        );
        check(
            &mut failover,
            Outcome::ServerError { status: 502 },
            "",
            Next::Retry { delay_ms: 200 },
        );
        check(&mut failover, Outcome::Timeout, "", Next::GiveUp);
        let mut patient = Failover::new(10, 100);
        for _ in 0..9 {
            assert!(matches!(
                patient.after(&Outcome::Timeout, ""),
                Next::Retry { .. }
            ));
        }
        check(&mut patient, Outcome::Timeout, "", Next::GiveUp);
        let mut slow = Failover::new(10, 100);
        for _ in 0..6 {
            slow.after(&Outcome::Timeout, "");
        }
        check(
            &mut slow,
            Outcome::Timeout,
            "",
            Next::Retry {
                delay_ms: MAX_RETRY_DELAY_MS,
            },
        );
    }

    #[test]
    fn a_request_level_refusal_repeated_on_two_keys_goes_back_to_the_client() {
        let mut failover = Failover::new(3, 100);
        let forbidden = Outcome::ClientError { status: 403 };
        check(
            &mut failover,
            forbidden,
            "403 model_not_found",
            Next::Retry { delay_ms: 0 },
        );
        check(
            &mut failover,
            forbidden,
            "403 model_not_found",
            Next::Answer,
        );
        let mut too_large = Failover::new(3, 100);
        let refused = Outcome::ClientError { status: 429 };
        check(
            &mut too_large,
            refused,
            "429 rate_limit_exceeded",
            Next::Retry { delay_ms: 0 },
        );
        check(
            &mut too_large,
            refused,
            "429 rate_limit_exceeded",
            Next::Answer,
        );
    }

    #[test]
    fn plain_bad_requests_go_back_at_once() {
        for status in [400, 413, 422] {
            let mut failover = Failover::new(3, 100);
            check(
                &mut failover,
                Outcome::ClientError { status },
                "400 invalid_value",
                Next::Answer,
            );
        }
    }
}
