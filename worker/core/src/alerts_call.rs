//! The protocol of the alerts' object (`AlertsDo`): sources raise alerts (fire and forget,
//! never on a chat request's path), the admin endpoint reads the delivery log.

use serde::{Deserialize, Serialize};

use crate::alerts::delivery::LogEntry;
use crate::alerts::Alert;
use crate::calls::calls;

calls! {
    /// One request to the alerts' object; its JSON is the request body.
    AlertsCall {
        /// Keep these alerts (each once, by its dedup key) and send the new ones.
        Raise(Raise) -> Raised;
        /// The latest deliveries, newest first.
        Log(LogQuery) -> DeliveryLog;
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Raise {
    pub alerts: Vec<Alert>,
}

/// How many of the raised alerts were new (the others had been raised before).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Raised {
    pub new: u32,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct LogQuery {
    pub limit: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeliveryLog {
    pub entries: Vec<LogEntry>,
    /// Deliveries waiting for their next try.
    pub pending: u32,
    /// Raises of alerts that had been raised before, and were not sent again.
    #[serde(default)]
    pub repeated: u64,
}
