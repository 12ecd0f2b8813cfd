//! Per-user request limits: an exact sliding-window rate limiter and a per-conversation round
//! counter. Both live inside the user's Durable Object, which serialises requests for that user,
//! so plain `&mut self` methods are exact under any concurrency across isolates. Time is passed
//! in (`now_ms`), so tests are deterministic.
//!
//! The window is a log of admission timestamps rather than a fixed-window counter or a token
//! bucket: "at most `limit` in any `window_ms`" then holds for every window, not just aligned
//! ones, and the retry-after time is exact. The log holds at most `limit` entries (20 for a
//! default staff user), so it is small to persist.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

/// The window for `rpm`.
pub const MINUTE_MS: u64 = 60_000;

/// How long to wait before a request can be admitted, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfterMs(pub u64);

impl RetryAfterMs {
    /// Whole seconds for the `Retry-After` header, rounded up so a client that waits exactly
    /// that long is admitted.
    pub fn seconds(self) -> u64 {
        self.0.div_ceil(1000).max(1)
    }
}

/// Admits at most `limit` requests in any window of `window_ms`; `limit: None` is unlimited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlidingWindowLimiter {
    window_ms: u64,
    limit: Option<u32>,
    /// Admission times, oldest first, all within the last window.
    log: VecDeque<u64>,
}

impl SlidingWindowLimiter {
    pub fn new(window_ms: u64, limit: Option<u32>) -> SlidingWindowLimiter {
        SlidingWindowLimiter {
            window_ms,
            limit,
            log: VecDeque::new(),
        }
    }

    /// Requests per minute.
    pub fn per_minute(limit: Option<u32>) -> SlidingWindowLimiter {
        SlidingWindowLimiter::new(MINUTE_MS, limit)
    }

    /// Change the limit (a tier override); admissions already logged still count.
    pub fn set_limit(&mut self, limit: Option<u32>) {
        self.limit = limit;
        if limit.is_none() {
            self.log.clear();
        }
    }

    pub fn limit(&self) -> Option<u32> {
        self.limit
    }

    /// Admit one request at `now_ms`, or say when one will fit.
    ///
    /// An admission at `t` stops counting at `t + window_ms` exactly. A clock that steps back
    /// (time comes from the caller) is treated as not having moved, so the log stays ordered and
    /// the guarantee holds.
    pub fn try_acquire(&mut self, now_ms: u64) -> Result<(), RetryAfterMs> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let now = self.log.back().map_or(now_ms, |&last| now_ms.max(last));
        self.expire(now);
        if self.log.len() < limit as usize {
            self.log.push_back(now);
            return Ok(());
        }
        // Full: the slot frees when the oldest entry that must go leaves the window. With a
        // lowered limit, more than one entry may have to leave first.
        let must_leave = self.log.len() + 1 - limit as usize;
        let frees_at = self
            .log
            .get(must_leave - 1)
            .map_or(now, |&admitted| admitted.saturating_add(self.window_ms));
        Err(RetryAfterMs(frees_at.saturating_sub(now).max(1)))
    }

    /// Admissions counted in the window ending at `now_ms`.
    pub fn in_window(&mut self, now_ms: u64) -> usize {
        self.expire(now_ms);
        self.log.len()
    }

    fn expire(&mut self, now: u64) {
        while self
            .log
            .front()
            .is_some_and(|&admitted| admitted.saturating_add(self.window_ms) <= now)
        {
            self.log.pop_front();
        }
    }
}

/// The conversation already has `max` user turns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundsExceeded {
    pub max: u32,
}

/// User turns per conversation, counted server-side.
///
/// Counting happens when a turn is admitted; [`RoundCounter::refund`] gives the turn back when
/// the request failed before any answer reached the user (so an upstream outage does not eat
/// the user's rounds). [`RoundCounter::forget`] drops a deleted conversation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundCounter {
    rounds: BTreeMap<String, u32>,
}

impl RoundCounter {
    pub fn new() -> RoundCounter {
        RoundCounter::default()
    }

    /// Count one more turn in `conversation_id`; returns its number (1 for the first).
    /// `max: None` is unlimited.
    pub fn try_round(
        &mut self,
        conversation_id: &str,
        max: Option<u32>,
    ) -> Result<u32, RoundsExceeded> {
        let used = self.rounds.get(conversation_id).copied().unwrap_or(0);
        if let Some(max) = max {
            if used >= max {
                return Err(RoundsExceeded { max });
            }
        }
        let round = used.saturating_add(1);
        self.rounds.insert(conversation_id.to_string(), round);
        Ok(round)
    }

    /// Give back the last counted turn (the request failed before any output).
    pub fn refund(&mut self, conversation_id: &str) {
        if let Some(used) = self.rounds.get_mut(conversation_id) {
            *used = used.saturating_sub(1);
        }
    }

    pub fn rounds(&self, conversation_id: &str) -> u32 {
        self.rounds.get(conversation_id).copied().unwrap_or(0)
    }

    pub fn forget(&mut self, conversation_id: &str) {
        self.rounds.remove(conversation_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifty_at_the_same_instant_admit_exactly_the_limit() {
        let mut limiter = SlidingWindowLimiter::per_minute(Some(10));
        let admitted = (0..50)
            .filter(|_| limiter.try_acquire(1_000).is_ok())
            .count();
        assert_eq!(admitted, 10);
    }

    #[test]
    fn retry_after_is_when_the_oldest_leaves() {
        let mut limiter = SlidingWindowLimiter::new(60_000, Some(2));
        assert_eq!(limiter.try_acquire(1_000), Ok(()));
        assert_eq!(limiter.try_acquire(21_000), Ok(()));
        assert_eq!(limiter.try_acquire(30_000), Err(RetryAfterMs(31_000)));
        assert_eq!(RetryAfterMs(31_000).seconds(), 31);
        assert_eq!(RetryAfterMs(1).seconds(), 1);
        // Waiting exactly the advertised time succeeds.
        assert_eq!(limiter.try_acquire(61_000), Ok(()));
    }

    #[test]
    fn boundary_is_exact() {
        let mut limiter = SlidingWindowLimiter::new(60_000, Some(1));
        assert_eq!(limiter.try_acquire(0), Ok(()));
        assert_eq!(limiter.try_acquire(59_999), Err(RetryAfterMs(1)));
        assert_eq!(limiter.try_acquire(60_000), Ok(()));
    }

    #[test]
    fn no_window_ever_holds_more_than_the_limit() {
        // Requests every 7 ms for 5 minutes against 10 per minute: check every window.
        let mut limiter = SlidingWindowLimiter::per_minute(Some(10));
        let admitted: Vec<u64> = (0..300_000 / 7)
            .map(|step| step * 7)
            .filter(|&now| limiter.try_acquire(now).is_ok())
            .collect();
        for (index, &start) in admitted.iter().enumerate() {
            let in_window = admitted[index..]
                .iter()
                .take_while(|&&t| t < start + MINUTE_MS)
                .count();
            assert!(in_window <= 10, "window at {start} holds {in_window}");
        }
        assert_eq!(admitted.len(), 50, "5 minutes of 10 per minute");
    }

    #[test]
    fn clock_stepping_back_does_not_reopen_the_window() {
        let mut limiter = SlidingWindowLimiter::new(1_000, Some(1));
        assert_eq!(limiter.try_acquire(5_000), Ok(()));
        assert_eq!(limiter.try_acquire(100), Err(RetryAfterMs(1_000)));
    }

    #[test]
    fn unlimited_and_lowered_limits() {
        let mut limiter = SlidingWindowLimiter::new(1_000, None);
        assert!((0..1_000).all(|_| limiter.try_acquire(0).is_ok()));
        let mut limiter = SlidingWindowLimiter::new(1_000, Some(3));
        for now in [0, 100, 200] {
            assert_eq!(limiter.try_acquire(now), Ok(()));
        }
        limiter.set_limit(Some(1));
        // All three admissions must leave before one fits: the last, at 200, leaves at 1200.
        assert_eq!(limiter.try_acquire(300), Err(RetryAfterMs(900)));
        assert_eq!(limiter.try_acquire(1_200), Ok(()));
    }

    #[test]
    fn state_round_trips_through_serde() {
        let mut limiter = SlidingWindowLimiter::per_minute(Some(5));
        let _ = limiter.try_acquire(42);
        let json = serde_json::to_string(&limiter).unwrap_or_default();
        let back: Result<SlidingWindowLimiter, _> = serde_json::from_str(&json);
        assert_eq!(back.ok(), Some(limiter));
    }

    #[test]
    fn rounds_are_exact_per_conversation() {
        let mut counter = RoundCounter::new();
        assert_eq!(counter.try_round("a", Some(2)), Ok(1));
        assert_eq!(counter.try_round("a", Some(2)), Ok(2));
        assert_eq!(
            counter.try_round("a", Some(2)),
            Err(RoundsExceeded { max: 2 })
        );
        assert_eq!(counter.try_round("b", Some(2)), Ok(1));
        counter.refund("a");
        assert_eq!(counter.try_round("a", Some(2)), Ok(2));
        counter.forget("a");
        assert_eq!(counter.rounds("a"), 0);
        assert_eq!(counter.try_round("c", None), Ok(1));
    }
}
