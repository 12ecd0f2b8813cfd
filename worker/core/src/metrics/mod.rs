//! Prometheus metrics: the counts an isolate makes (requests, upstream attempts, tokens,
//! spend, latencies, cache hits, refusals), merged into the deployment's `MetricsDo`, and the
//! text exposition `GET /metrics` answers (`render.rs`).
//!
//! Every label value comes from the config or from a closed set (status codes, error codes,
//! attempt outcomes): nothing a client sends becomes a label, so the number of series is
//! bounded by the config. Per-user series are off by default (`[metrics] per_user`) and,
//! when on, bounded by [`MAX_USERS`].

mod counter;
mod histogram;
pub mod render;

use serde::{Deserialize, Serialize};

pub use counter::Counter;
pub use histogram::Histogram;

use crate::keypool::Outcome;
use crate::ledger::{Ending, LedgerRow};

/// Per-user series kept at most (when `per_user` is on); later users count as `other`.
pub const MAX_USERS: usize = 1_000;
/// The label of users past [`MAX_USERS`].
pub const OTHER_USER: &str = "other";

/// Time to first token buckets, in seconds.
pub const TTFT_BUCKETS_S: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Whole-request duration buckets, in seconds.
pub const DURATION_BUCKETS_S: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Counts since some start: an isolate's since its last flush, or the deployment's totals.
/// Adding one to another ([`Counts::merge`]) is how both grow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// `(route, model, status)`: one per chat request answered (refusals too, with the route
    /// and model empty when the request was refused before it was planned).
    pub requests: Counter<(String, String, u16)>,
    /// `(upstream, outcome)`: one per upstream attempt.
    pub attempts: Counter<(String, String)>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    pub cached_tokens: u64,
    /// Model (as sent upstream) to µUSD charged.
    pub spend_micro_usd: Counter<String>,
    pub time_to_first_token: Histogram,
    pub duration: Histogram,
    pub cache_hits: u64,
    /// Refusals with status 429, by error code (`rate_limit_exceeded`, `budget_exceeded`...).
    pub rate_limited: Counter<String>,
    /// User to tokens, and to µUSD, only with `[metrics] per_user`.
    #[serde(default)]
    pub user_tokens: Counter<String>,
    #[serde(default)]
    pub user_micro_usd: Counter<String>,
}

impl Default for Counts {
    fn default() -> Counts {
        Counts {
            requests: Counter::default(),
            attempts: Counter::default(),
            input_tokens: 0,
            output_tokens: 0,
            reasoning_tokens: 0,
            cached_tokens: 0,
            spend_micro_usd: Counter::default(),
            time_to_first_token: Histogram::new(TTFT_BUCKETS_S),
            duration: Histogram::new(DURATION_BUCKETS_S),
            cache_hits: 0,
            rate_limited: Counter::default(),
            user_tokens: Counter::default(),
            user_micro_usd: Counter::default(),
        }
    }
}

impl Counts {
    pub fn is_empty(&self) -> bool {
        *self == Counts::default()
    }

    /// One chat request answered with `status`; `route` and `model` from its answer's
    /// headers (empty when it was refused before being planned), `refusal` its error code.
    pub fn request(&mut self, route: &str, model: &str, status: u16, refusal: Option<&str>) {
        self.requests
            .add((route.to_string(), model.to_string(), status), 1);
        if let (429, Some(code)) = (status, refusal) {
            self.rate_limited.add(code.to_string(), 1);
        }
    }

    /// One upstream attempt and how it went.
    pub fn attempt(&mut self, upstream: &str, outcome: &Outcome) {
        self.attempts
            .add((upstream.to_string(), outcome.label().to_string()), 1);
    }

    /// A finished request's ledger rows: its own and its abandoned attempts'. Every row's
    /// tokens and cost count (the upstream may bill an abandoned attempt); the latencies are
    /// the request's own.
    pub fn rows(&mut self, rows: &[LedgerRow], per_user: bool) {
        for row in rows {
            self.input_tokens += row.prompt_tokens;
            self.output_tokens += row.completion_tokens;
            self.reasoning_tokens += row.reasoning_tokens;
            self.cached_tokens += row.cached_tokens;
            if row.cost_micro_usd > 0 {
                self.spend_micro_usd
                    .add(row.model_used.clone(), row.cost_micro_usd);
            }
            if per_user {
                let user = self.user_label(&row.user);
                let tokens = row.prompt_tokens + row.completion_tokens;
                self.user_tokens.add(user.clone(), tokens);
                self.user_micro_usd.add(user, row.cost_micro_usd);
            }
            match row.ending {
                Ending::Abandoned => {}
                Ending::Cached => {
                    self.cache_hits += 1;
                    self.duration.observe_ms(row.total_ms);
                }
                Ending::Failed => self.duration.observe_ms(row.total_ms),
                _ => {
                    if row.ttfb_ms > 0 {
                        self.time_to_first_token.observe_ms(row.ttfb_ms);
                    }
                    self.duration.observe_ms(row.total_ms);
                }
            }
        }
    }

    /// Adds `other` to these counts. Per-user series stay bounded: a user new to these
    /// counts beyond [`MAX_USERS`] is added as `other`.
    pub fn merge(&mut self, other: Counts) {
        self.requests.merge(other.requests);
        self.attempts.merge(other.attempts);
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
        self.cached_tokens += other.cached_tokens;
        self.spend_micro_usd.merge(other.spend_micro_usd);
        self.time_to_first_token.merge(&other.time_to_first_token);
        self.duration.merge(&other.duration);
        self.cache_hits += other.cache_hits;
        self.rate_limited.merge(other.rate_limited);
        for (user, tokens) in other.user_tokens {
            let label = self.user_label(&user);
            self.user_tokens.add(label, tokens);
        }
        for (user, micro_usd) in other.user_micro_usd {
            let label = if self.user_micro_usd.contains(&user) || self.user_tokens.contains(&user) {
                user
            } else {
                OTHER_USER.to_string()
            };
            self.user_micro_usd.add(label, micro_usd);
        }
    }

    /// `user`, or [`OTHER_USER`] for a user new to these counts once [`MAX_USERS`] are
    /// counted.
    fn user_label(&self, user: &str) -> String {
        if self.user_tokens.contains(user) || self.user_tokens.len() < MAX_USERS {
            user.to_string()
        } else {
            OTHER_USER.to_string()
        }
    }
}

/// What `GET /metrics` shows beside the counts: states read when it is scraped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gauges {
    /// `(period, USD)` left of the deployment's caps (`day`, `month`); unlimited ones absent.
    pub deployment_remaining_usd: Vec<(&'static str, f64)>,
    /// `(upstream, key id, state)`: 0 ok, 1 cooling, 2 disabled.
    pub key_states: Vec<(String, String, u8)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Ending;

    pub(super) fn row(id: &str, user: &str, ending: Ending) -> LedgerRow {
        LedgerRow {
            ending,
            ..crate::ledger::sample_row(id, user)
        }
    }

    #[test]
    fn every_row_bills_and_only_the_request_itself_is_timed() {
        let mut counts = Counts::default();
        counts.rows(
            &[
                row("req_1", "u:a", Ending::Completed),
                row("req_1:a1", "u:a", Ending::Abandoned),
            ],
            false,
        );
        assert_eq!(
            (counts.input_tokens, counts.output_tokens),
            (20, 40),
            "the abandoned attempt's tokens may be billed: they count"
        );
        assert_eq!((counts.reasoning_tokens, counts.cached_tokens), (10, 8));
        assert_eq!(counts.spend_micro_usd.get("gpt-4o-mini"), 60);
        assert_eq!(counts.time_to_first_token.count(), 1);
        assert_eq!(counts.duration.count(), 1);
        assert!(counts.user_tokens.is_empty(), "per-user series are off");
    }

    #[test]
    fn a_cached_answer_is_a_hit_without_a_first_token_time() {
        let mut counts = Counts::default();
        counts.rows(&[row("req_1", "u:a", Ending::Cached)], false);
        assert_eq!(counts.cache_hits, 1);
        assert_eq!(counts.time_to_first_token.count(), 0);
        assert_eq!(counts.duration.count(), 1);
    }

    #[test]
    fn only_429s_count_as_rate_limited() {
        let mut counts = Counts::default();
        counts.request("", "", 429, Some("rate_limit_exceeded"));
        counts.request("", "", 400, Some("invalid_request_error"));
        counts.request("general", "gpt-4o-mini", 200, None);
        assert_eq!(counts.rate_limited.get("rate_limit_exceeded"), 1);
        assert_eq!(counts.rate_limited.len(), 1);
        assert_eq!(counts.requests.len(), 3);
    }

    #[test]
    fn merging_adds_everything_and_is_what_a_flush_does() {
        let mut isolate_a = Counts::default();
        isolate_a.request("general", "gpt-4o-mini", 200, None);
        isolate_a.rows(&[row("req_1", "u:a", Ending::Completed)], true);
        isolate_a.attempt("openai", &Outcome::Success);
        let mut isolate_b = isolate_a.clone();
        isolate_b.attempt("openai", &Outcome::Unauthorized);
        let mut totals = Counts::default();
        totals.merge(isolate_a);
        totals.merge(isolate_b);
        let key = ("general".to_string(), "gpt-4o-mini".to_string(), 200);
        assert_eq!(totals.requests.get(&key), 2);
        assert_eq!(totals.input_tokens, 20);
        assert_eq!(totals.duration.count(), 2);
        assert_eq!(
            totals
                .attempts
                .get(&("openai".to_string(), "unauthorized".to_string())),
            1
        );
        assert_eq!(totals.user_tokens.get("u:a"), 60);
        assert_eq!(totals.user_micro_usd.get("u:a"), 60);
    }

    #[test]
    fn per_user_series_stay_bounded_however_many_users_come() {
        let mut totals = Counts::default();
        for n in 0..MAX_USERS + 50 {
            let mut isolate = Counts::default();
            isolate.rows(&[row("req", &format!("u:{n}"), Ending::Completed)], true);
            totals.merge(isolate);
        }
        assert_eq!(totals.user_tokens.len(), MAX_USERS + 1);
        assert_eq!(totals.user_micro_usd.len(), MAX_USERS + 1);
        assert_eq!(totals.user_tokens.get(OTHER_USER), 50 * 30);
        // A user already counted keeps their own series.
        let mut again = Counts::default();
        again.rows(&[row("req", "u:0", Ending::Completed)], true);
        totals.merge(again);
        assert_eq!(totals.user_tokens.get("u:0"), 60);
    }

    #[test]
    fn counts_survive_their_wire_form() {
        let mut counts = Counts::default();
        counts.request("general", "gpt-4o-mini", 200, None);
        counts.rows(&[row("req_1", "u:a", Ending::Completed)], true);
        let json = serde_json::to_string(&counts).unwrap_or_default();
        let back: Counts = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, counts);
    }
}
