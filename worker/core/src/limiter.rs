//! Per-user request limits: an exact sliding-window rate limiter and a per-conversation round
//! counter. Both live inside the user's Durable Object, which serialises requests for that user,
//! so plain `&mut self` methods are exact under any concurrency across isolates. Time is passed
//! in (`now_ms`), so tests are deterministic.
//!
//! The window is a log of admission timestamps rather than a fixed-window counter or a token
//! bucket: "at most `limit` in any `window_ms`" then holds for every window, not just aligned
//! ones, and the retry-after time is exact. The log holds up to `limit` admissions, which for a
//! generous tier (rpm in the millions) is a lot, so it is run-length encoded: admissions in the
//! same millisecond share one entry. Exactness does not depend on the encoding. The object
//! persists the log as one row per millisecond (`core/account_rows.rs`), written as it changes.

use std::collections::{BTreeMap, VecDeque};

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

/// Admissions in one millisecond. Several runs may share a millisecond only when one run's
/// count would overflow; they then always expire together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    at_ms: u64,
    count: u32,
}

/// Admits at most `limit` requests in any window of `window_ms`; `limit: None` is unlimited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlidingWindowLimiter {
    window_ms: u64,
    limit: Option<u32>,
    /// Admission times, oldest first, all within the last window.
    log: VecDeque<Run>,
    /// Admissions in `log` (the sum of its counts), so the check needs no walk.
    logged: u64,
}

impl SlidingWindowLimiter {
    pub fn new(window_ms: u64, limit: Option<u32>) -> SlidingWindowLimiter {
        SlidingWindowLimiter {
            window_ms,
            limit,
            log: VecDeque::new(),
            logged: 0,
        }
    }

    /// Requests per minute.
    pub fn per_minute(limit: Option<u32>) -> SlidingWindowLimiter {
        SlidingWindowLimiter::new(MINUTE_MS, limit)
    }

    /// A limiter with a persisted log: `(millisecond, admissions)` in any order. The limit is
    /// not persisted: every admission sets it from the request first.
    pub fn restore(
        window_ms: u64,
        admissions: impl IntoIterator<Item = (u64, u64)>,
    ) -> SlidingWindowLimiter {
        let mut sorted: Vec<(u64, u64)> = admissions.into_iter().collect();
        sorted.sort_unstable();
        let mut limiter = SlidingWindowLimiter::new(window_ms, None);
        for (at_ms, count) in sorted {
            limiter.push(at_ms, count);
        }
        limiter
    }

    /// Change the limit (a tier override); admissions already logged still count.
    pub fn set_limit(&mut self, limit: Option<u32>) {
        self.limit = limit;
        if limit.is_none() {
            self.log.clear();
            self.logged = 0;
        }
    }

    pub fn limit(&self) -> Option<u32> {
        self.limit
    }

    /// The oldest logged admission time, if any. Everything older has left the window: the
    /// persisted rows before it can go.
    pub fn oldest_ms(&self) -> Option<u64> {
        self.log.front().map(|run| run.at_ms)
    }

    /// The newest logged admission time, if any (where the last admission was logged).
    pub fn newest_ms(&self) -> Option<u64> {
        self.log.back().map(|run| run.at_ms)
    }

    /// The log as `(millisecond, admissions)`, one pair per millisecond, oldest first.
    pub fn admissions(&self) -> Vec<(u64, u64)> {
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for run in &self.log {
            match merged.last_mut() {
                Some((at_ms, count)) if *at_ms == run.at_ms => *count += u64::from(run.count),
                _ => merged.push((run.at_ms, u64::from(run.count))),
            }
        }
        merged
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
        let now = self.newest_ms().map_or(now_ms, |last| now_ms.max(last));
        self.expire(now);
        if self.logged < u64::from(limit) {
            self.push(now, 1);
            return Ok(());
        }
        // Full: the slot frees when the oldest entry that must go leaves the window. With a
        // lowered limit, more than one entry may have to leave first.
        let must_leave = self.logged + 1 - u64::from(limit);
        let frees_at = self
            .nth_oldest_ms(must_leave)
            .map_or(now, |admitted| admitted.saturating_add(self.window_ms));
        Err(RetryAfterMs(frees_at.saturating_sub(now).max(1)))
    }

    /// Whether [`SlidingWindowLimiter::try_acquire`] would admit at `now_ms`, changing
    /// nothing: a request checks its own rate before it spends anything shared.
    pub fn check(&self, now_ms: u64) -> Result<(), RetryAfterMs> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let now = self.newest_ms().map_or(now_ms, |last| now_ms.max(last));
        let live = |run: &&Run| run.at_ms.saturating_add(self.window_ms) > now;
        let in_window: u64 = self
            .log
            .iter()
            .filter(live)
            .map(|run| u64::from(run.count))
            .sum();
        if in_window < u64::from(limit) {
            return Ok(());
        }
        let must_leave = in_window + 1 - u64::from(limit);
        let mut seen = 0;
        let frees_at = self
            .log
            .iter()
            .filter(live)
            .find_map(|run| {
                seen += u64::from(run.count);
                (seen >= must_leave).then_some(run.at_ms)
            })
            .map_or(now, |admitted| admitted.saturating_add(self.window_ms));
        Err(RetryAfterMs(frees_at.saturating_sub(now).max(1)))
    }

    /// Admissions counted in the window ending at `now_ms`, changing nothing (the stored log
    /// must stay exactly the one in memory, so a read does not expire anything).
    pub fn count(&self, now_ms: u64) -> u64 {
        let now = self.newest_ms().map_or(now_ms, |last| now_ms.max(last));
        self.log
            .iter()
            .filter(|run| run.at_ms.saturating_add(self.window_ms) > now)
            .map(|run| u64::from(run.count))
            .sum()
    }

    /// Admissions counted in the window ending at `now_ms`.
    pub fn in_window(&mut self, now_ms: u64) -> u64 {
        self.expire(now_ms);
        self.logged
    }

    /// Appends `count` admissions at `at_ms` (not older than the newest).
    fn push(&mut self, at_ms: u64, mut count: u64) {
        self.logged += count;
        if let Some(last) = self.log.back_mut().filter(|last| last.at_ms == at_ms) {
            let room = u64::from(u32::MAX - last.count).min(count);
            last.count += room as u32;
            count -= room;
        }
        while count > 0 {
            let part = count.min(u64::from(u32::MAX));
            self.log.push_back(Run {
                at_ms,
                count: part as u32,
            });
            count -= part;
        }
    }

    /// The time of the `nth` oldest admission (1-based). Walks runs only when the limit was
    /// lowered below what is logged; otherwise the first run answers.
    fn nth_oldest_ms(&self, nth: u64) -> Option<u64> {
        let mut seen = 0;
        self.log.iter().find_map(|run| {
            seen += u64::from(run.count);
            (seen >= nth).then_some(run.at_ms)
        })
    }

    fn expire(&mut self, now: u64) {
        while let Some(run) = self
            .log
            .front()
            .filter(|run| run.at_ms.saturating_add(self.window_ms) <= now)
        {
            self.logged -= u64::from(run.count);
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
///
/// Each conversation remembers when it was first counted (`seq`), so the oldest can be
/// forgotten to bound the state ([`RoundCounter::forget_oldest_beyond`]) without a scan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoundCounter {
    rounds: BTreeMap<String, Tracked>,
    /// `seq` → conversation, oldest first.
    order: BTreeMap<u64, String>,
    next_seq: u64,
}

/// One conversation's count and its place in first-seen order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracked {
    pub rounds: u32,
    pub seq: u64,
}

impl RoundCounter {
    pub fn new() -> RoundCounter {
        RoundCounter::default()
    }

    /// A counter with persisted counts.
    pub fn restore(rows: impl IntoIterator<Item = (String, Tracked)>) -> RoundCounter {
        let mut counter = RoundCounter::new();
        for (conversation, tracked) in rows {
            counter.insert(conversation, tracked);
        }
        counter
    }

    /// Count one more turn in `conversation_id`; returns its number (1 for the first).
    /// `max: None` is unlimited.
    pub fn try_round(
        &mut self,
        conversation_id: &str,
        max: Option<u32>,
    ) -> Result<u32, RoundsExceeded> {
        let used = self.rounds(conversation_id);
        if let Some(max) = max {
            if used >= max {
                return Err(RoundsExceeded { max });
            }
        }
        let round = used.saturating_add(1);
        match self.rounds.get_mut(conversation_id) {
            Some(tracked) => tracked.rounds = round,
            None => {
                let seq = self.next_seq;
                self.insert(conversation_id.to_string(), Tracked { rounds: round, seq });
            }
        }
        Ok(round)
    }

    /// Give back the last counted turn (the request failed before any output).
    pub fn refund(&mut self, conversation_id: &str) {
        if let Some(tracked) = self.rounds.get_mut(conversation_id) {
            tracked.rounds = tracked.rounds.saturating_sub(1);
        }
    }

    pub fn rounds(&self, conversation_id: &str) -> u32 {
        self.rounds
            .get(conversation_id)
            .map_or(0, |tracked| tracked.rounds)
    }

    /// The stored state of one conversation, `None` when it is not tracked.
    pub fn tracked(&self, conversation_id: &str) -> Option<Tracked> {
        self.rounds.get(conversation_id).copied()
    }

    /// Every tracked conversation (to persist them all, once, on migration).
    pub fn all(&self) -> impl Iterator<Item = (&str, Tracked)> {
        self.rounds
            .iter()
            .map(|(conversation, tracked)| (conversation.as_str(), *tracked))
    }

    pub fn forget(&mut self, conversation_id: &str) {
        if let Some(tracked) = self.rounds.remove(conversation_id) {
            self.order.remove(&tracked.seq);
        }
    }

    /// Forgets the oldest conversations until at most `keep` are tracked; returns them.
    pub fn forget_oldest_beyond(&mut self, keep: usize) -> Vec<String> {
        let mut forgotten = Vec::new();
        while self.rounds.len() > keep {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.rounds.remove(&oldest);
            forgotten.push(oldest);
        }
        forgotten
    }

    fn insert(&mut self, conversation: String, tracked: Tracked) {
        self.next_seq = self.next_seq.max(tracked.seq.saturating_add(1));
        self.order.insert(tracked.seq, conversation.clone());
        self.rounds.insert(conversation, tracked);
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
    fn a_restored_log_decides_the_same() {
        let mut limiter = SlidingWindowLimiter::per_minute(Some(5));
        for now in [42, 42, 42, 1_000, 2_000] {
            assert_eq!(limiter.try_acquire(now), Ok(()));
        }
        assert_eq!(limiter.admissions(), vec![(42, 3), (1_000, 1), (2_000, 1)]);
        let mut back = SlidingWindowLimiter::restore(MINUTE_MS, limiter.admissions());
        back.set_limit(Some(5));
        assert_eq!(back, limiter);
        assert_eq!(back.try_acquire(3_000), Err(RetryAfterMs(57_042)));
        // The three admissions of millisecond 42 leave together.
        assert_eq!(back.try_acquire(60_042), Ok(()));
        assert_eq!(back.in_window(60_042), 3);
    }

    #[test]
    fn a_lowered_limit_waits_inside_a_run() {
        let mut limiter = SlidingWindowLimiter::per_minute(Some(10));
        for _ in 0..4 {
            assert_eq!(limiter.try_acquire(0), Ok(()));
        }
        for _ in 0..4 {
            assert_eq!(limiter.try_acquire(500), Ok(()));
        }
        limiter.set_limit(Some(3));
        // 8 logged, limit 3: six must leave; the sixth oldest was admitted at 500.
        assert_eq!(limiter.try_acquire(1_000), Err(RetryAfterMs(59_500)));
        assert!(
            limiter.try_acquire(60_000).is_err(),
            "four of 500 still count"
        );
        assert_eq!(limiter.try_acquire(60_500), Ok(()));
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

    #[test]
    fn the_oldest_conversations_are_forgotten_first() {
        let mut counter = RoundCounter::new();
        for conversation in ["a", "b", "c"] {
            assert_eq!(counter.try_round(conversation, None), Ok(1));
        }
        assert_eq!(counter.try_round("a", None), Ok(2), "a stays oldest");
        assert_eq!(counter.forget_oldest_beyond(2), vec!["a".to_string()]);
        let rows: Vec<(String, Tracked)> = counter
            .all()
            .map(|(conversation, tracked)| (conversation.to_string(), tracked))
            .collect();
        let mut back = RoundCounter::restore(rows);
        assert_eq!(back, counter);
        assert_eq!(back.try_round("d", None), Ok(1));
        assert_eq!(back.forget_oldest_beyond(2), vec!["b".to_string()]);
    }

    #[test]
    fn check_agrees_with_try_acquire_and_changes_nothing() {
        let mut limiter = SlidingWindowLimiter::per_minute(Some(2));
        assert!(limiter.check(0).is_ok());
        assert!(limiter.try_acquire(0).is_ok());
        assert!(limiter.try_acquire(10).is_ok());
        let before = limiter.admissions();
        assert_eq!(limiter.check(20), Err(RetryAfterMs(MINUTE_MS - 20)));
        assert_eq!(limiter.admissions(), before, "a check takes nothing");
        assert!(limiter.check(MINUTE_MS).is_ok());
        assert!(limiter.try_acquire(MINUTE_MS).is_ok());
    }
}
