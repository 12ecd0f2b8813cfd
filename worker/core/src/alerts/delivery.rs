//! A delivery is one alert to one webhook. It is tried at once, and after a failure again
//! with exponential backoff (`retry_base_s`, doubling: with the default 40 s the five tries
//! span 40 + 80 + 160 + 320 s = 10 minutes), then given up. Every try leaves a log entry.

use serde::{Deserialize, Serialize};

use super::event::{Alert, Subject};

/// Tries per delivery, the first included.
pub const MAX_ATTEMPTS: u32 = 5;
/// Log entries kept: the admin endpoint shows the latest.
pub const LOG_KEEP: usize = 200;

/// What to do after try number `attempt` (1-based) of a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Done,
    RetryAt(u64),
    GiveUp,
}

/// After try `attempt` ended (`delivered` or not) at `now_ms`.
pub fn after_attempt(attempt: u32, delivered: bool, now_ms: u64, retry_base_ms: u64) -> Next {
    if delivered {
        Next::Done
    } else if attempt >= MAX_ATTEMPTS {
        Next::GiveUp
    } else {
        let delay = retry_base_ms.saturating_mul(1 << (attempt.clamp(1, 16) - 1));
        Next::RetryAt(now_ms.saturating_add(delay))
    }
}

/// One try, as the log keeps it: no URL (only its host), no body, no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub at_ms: u64,
    pub subject: Subject,
    pub kind: String,
    pub dedup_key: String,
    pub format: String,
    pub host: String,
    pub attempt: u32,
    /// `sent`, `retrying` or `gave_up`.
    pub outcome: String,
    /// Why a try failed (`HTTP 500`, `HTTP 200, errcode 310000`, `timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl LogEntry {
    pub fn new(
        alert: &Alert,
        format: &str,
        host: &str,
        attempt: u32,
        result: &Result<(), String>,
        next: Next,
        at_ms: u64,
    ) -> LogEntry {
        LogEntry {
            at_ms,
            subject: alert.subject.clone(),
            kind: alert.kind.name().to_string(),
            dedup_key: alert.dedup_key(),
            format: format.to_string(),
            host: host.to_string(),
            attempt,
            outcome: match next {
                Next::Done => "sent",
                Next::RetryAt(_) => "retrying",
                Next::GiveUp => "gave_up",
            }
            .to_string(),
            error: result.clone().err(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_over_about_ten_minutes_then_gives_up() {
        let base = 40_000;
        let mut now = 0;
        let mut waits = Vec::new();
        for attempt in 1..=MAX_ATTEMPTS {
            match after_attempt(attempt, false, now, base) {
                Next::RetryAt(at) => {
                    waits.push((at - now) / 1000);
                    now = at;
                }
                Next::GiveUp => assert_eq!(attempt, MAX_ATTEMPTS),
                Next::Done => unreachable!("a failed try is never done"),
            }
        }
        assert_eq!(waits, [40, 80, 160, 320]);
        assert_eq!(now, 600_000);
        assert_eq!(after_attempt(3, true, 5, base), Next::Done);
    }
}
