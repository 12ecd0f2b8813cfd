//! The protocol of the keys' shared health (`KeyHealthDo`): isolates report the failures they
//! saw (possibly none) and get every upstream's snapshot back, to merge into their own pools.
//! The exchange also carries how many requests the isolate finished and how many failed, for
//! the error-rate alert.

use serde::{Deserialize, Serialize};

use crate::calls::calls;
use crate::keypool::{HealthSnapshot, KeyId, Outcome};

calls! {
    /// One request to the key health object; its JSON is the request body.
    KeyHealthCall {
        /// Apply these reports (none: a pull) and answer with the snapshots.
        Exchange(Exchange) -> Snapshots;
        /// The keys' state changes since a time, oldest first.
        History(crate::key_history::HistoryQuery) -> crate::key_history::HealthHistory;
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Exchange {
    pub reports: Vec<KeyReport>,
    /// Requests this isolate finished since its last exchange, for `alerts.error_rate`.
    #[serde(default)]
    pub requests: RequestCounts,
}

/// Requests finished, and how many of them failed upstream (every key and attempt failed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCounts {
    pub total: u64,
    pub failed: u64,
}

/// What one request saw of one key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyReport {
    pub upstream: String,
    pub key_id: KeyId,
    pub outcome: Outcome,
    pub at_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshots {
    /// Upstream name to its snapshot.
    pub upstreams: Vec<(String, HealthSnapshot)>,
}
