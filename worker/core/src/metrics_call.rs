//! The protocol of the metrics' object (`MetricsDo`, one per deployment): isolates add what
//! they counted since their last flush; `GET /metrics` reads the totals.

use serde::{Deserialize, Serialize};

use crate::calls::calls;
use crate::metrics::Counts;

calls! {
    /// One request to the metrics' object; its JSON is the request body.
    MetricsCall {
        /// Add an isolate's counts to the totals.
        Add(Add) -> Added;
        /// The totals.
        Totals(TotalsQuery) -> Counts;
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Add {
    /// Boxed: far larger than the other call.
    pub counts: Box<Counts>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Added {}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct TotalsQuery {}
