//! Per-key request counters, served at `GET /_mock/stats` so tests and
//! benchmarks can check what actually reached "OpenAI": how many requests,
//! how many streams ran to `[DONE]` or were abandoned, the tokens billed, and
//! the error responses by status.
//!
//! Each key's document (and `total`, their sum):
//!
//! ```json
//! {"requests": 3, "streams_finished": 1, "streams_aborted": 0,
//!  "prompt_tokens": 22, "completion_tokens": 180, "errors": {"403": 1}}
//! ```
//!
//! Tokens are counted only for completed work — a non-streaming response
//! that was sent, a stream that reached `[DONE]`, or an `sk-mock-slowgen`
//! answer whose generation ended, sent or not (a real upstream bills what it
//! generated) — and equal the `usage` reported (or, without `include_usage`,
//! that would have been reported).
//!
//! `errors` counts the error responses API requests got (key failures, bad
//! requests, request faults) by HTTP status; statuses never sent are absent.
//! Deliberate connection cuts are not responses and are not in it.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;

use crate::wire::Usage;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub requests: u64,
    pub streams_finished: u64,
    pub streams_aborted: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Error responses by HTTP status (JSON object keys are the statuses as
    /// strings, e.g. `"429"`).
    pub errors: BTreeMap<u16, u64>,
}

impl Counters {
    fn add(&mut self, other: &Counters) {
        self.requests += other.requests;
        self.streams_finished += other.streams_finished;
        self.streams_aborted += other.streams_aborted;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        for (status, count) in &other.errors {
            *self.errors.entry(*status).or_default() += count;
        }
    }

    fn add_usage(&mut self, usage: Usage) {
        self.prompt_tokens += usage.prompt_tokens;
        self.completion_tokens += usage.completion_tokens;
    }
}

/// The `/_mock/stats` document. Keys are sorted so output is stable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub keys: BTreeMap<String, Counters>,
    pub total: Counters,
}

/// Shared by every connection. A plain mutex: each update is a few additions,
/// far cheaper than anything else a request does.
#[derive(Debug, Default)]
pub struct Stats {
    by_key: Mutex<BTreeMap<String, Counters>>,
}

impl Stats {
    pub fn record_request(&self, key: &str) {
        self.update(key, |counters| counters.requests += 1);
    }

    /// An API request was answered with this error status.
    pub fn record_error(&self, key: &str, status: u16) {
        self.update(key, |counters| {
            *counters.errors.entry(status).or_default() += 1
        });
    }

    /// A non-streaming answer with this usage was generated (and, except for
    /// `sk-mock-slowgen` with a departed client, sent).
    pub fn record_usage(&self, key: &str, usage: Usage) {
        self.update(key, |counters| counters.add_usage(usage));
    }

    pub fn record_stream_finished(&self, key: &str, usage: Usage) {
        self.update(key, |counters| {
            counters.streams_finished += 1;
            counters.add_usage(usage);
        });
    }

    pub fn record_stream_aborted(&self, key: &str) {
        self.update(key, |counters| counters.streams_aborted += 1);
    }

    pub fn reset(&self) {
        self.lock().clear();
    }

    pub fn snapshot(&self) -> Snapshot {
        let keys = self.lock().clone();
        let mut total = Counters::default();
        for counters in keys.values() {
            total.add(counters);
        }
        Snapshot { keys, total }
    }

    fn update(&self, key: &str, change: impl FnOnce(&mut Counters)) {
        let mut by_key = self.lock();
        // Look up before inserting so the common case allocates no key.
        match by_key.get_mut(key) {
            Some(counters) => change(counters),
            None => change(by_key.entry(key.to_owned()).or_default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Counters>> {
        // Counters stay consistent even if a holder panicked mid-update
        // (each update is whole additions), so poisoning is ignored.
        self.by_key
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USAGE: Usage = Usage {
        prompt_tokens: 10,
        completion_tokens: 20,
        reasoning_tokens: 0,
        cached_tokens: 0,
        cache_hit_fields: false,
    };

    #[test]
    fn counts_per_key_and_in_total() {
        let stats = Stats::default();
        stats.record_request("sk-mock-a");
        stats.record_request("sk-mock-a");
        stats.record_request("sk-mock-b");
        stats.record_stream_finished("sk-mock-a", USAGE);
        stats.record_stream_aborted("sk-mock-a");
        stats.record_usage("sk-mock-b", USAGE);

        let snapshot = stats.snapshot();
        assert_eq!(
            snapshot.keys["sk-mock-a"],
            Counters {
                requests: 2,
                streams_finished: 1,
                streams_aborted: 1,
                prompt_tokens: 10,
                completion_tokens: 20,
                errors: BTreeMap::new(),
            }
        );
        assert_eq!(snapshot.keys["sk-mock-b"].requests, 1);
        assert_eq!(snapshot.keys["sk-mock-b"].streams_finished, 0);
        assert_eq!(
            snapshot.total,
            Counters {
                requests: 3,
                streams_finished: 1,
                streams_aborted: 1,
                prompt_tokens: 20,
                completion_tokens: 40,
                errors: BTreeMap::new(),
            }
        );
    }

    #[test]
    fn errors_are_counted_by_status_per_key_and_in_total() {
        let stats = Stats::default();
        stats.record_error("sk-mock-a", 403);
        stats.record_error("sk-mock-a", 403);
        stats.record_error("sk-mock-a", 429);
        stats.record_error("sk-mock-b", 403);
        let snapshot = stats.snapshot();
        assert_eq!(
            snapshot.keys["sk-mock-a"].errors,
            BTreeMap::from([(403, 2), (429, 1)])
        );
        assert_eq!(snapshot.total.errors, BTreeMap::from([(403, 3), (429, 1)]));
        let json = serde_json::to_value(&snapshot).unwrap_or_default();
        assert_eq!(json["keys"]["sk-mock-a"]["errors"]["403"], 2);
        assert_eq!(
            json["total"]["errors"],
            serde_json::json!({"403": 3, "429": 1})
        );
    }

    #[test]
    fn reset_zeroes_everything() {
        let stats = Stats::default();
        stats.record_request("sk-mock-a");
        stats.reset();
        assert_eq!(stats.snapshot(), Snapshot::default());
    }

    #[test]
    fn snapshot_serialises_as_documented() {
        let stats = Stats::default();
        stats.record_request("sk-mock-a");
        let json = serde_json::to_value(stats.snapshot()).unwrap_or_default();
        assert_eq!(json["keys"]["sk-mock-a"]["requests"], 1);
        assert_eq!(json["keys"]["sk-mock-a"]["streams_aborted"], 0);
        assert_eq!(json["total"]["completion_tokens"], 0);
        assert_eq!(json["keys"]["sk-mock-a"]["errors"], serde_json::json!({}));
    }
}
