//! The wire types of calls to a user's object (`UserDo`): what the proxy sends and what the
//! object answers. Serde only; the object and its client in the worker are the two ends.

use serde::{Deserialize, Serialize};

use crate::account::{Refusal, SettleRequest};
use crate::conversation::StoredMessage;
use crate::ledger::LedgerRow;

/// A virtual key's stored record; the key itself is never stored, only its hash (the object name).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VirtualKeyRecord {
    pub id: String,
    pub name: String,
    pub tier: Option<String>,
    pub created_ms: u64,
    pub revoked: bool,
}

/// `/renew`: the request is still running.
#[derive(Serialize, Deserialize)]
pub struct RenewCall {
    pub request_id: String,
    pub now_ms: u64,
}

/// `/grow`: the request tries another upstream key after one that may have billed it.
#[derive(Serialize, Deserialize)]
pub struct GrowCall {
    pub request_id: String,
    pub tokens: u64,
    pub micro_usd: u64,
    pub now_ms: u64,
}

#[derive(Serialize, Deserialize)]
pub struct AdmitAnswer {
    pub refusal: Option<Refusal>,
    /// Nothing was taken: plan the request again under this tier (the admin's override).
    #[serde(default)]
    pub replan_tier: Option<String>,
}

/// What `/settle` carries: the settle and the ledger rows it accounts for (the request's
/// own, and one per upstream attempt it abandoned).
#[derive(Serialize, Deserialize)]
pub struct SettleCall {
    #[serde(flatten)]
    pub settle: SettleRequest,
    #[serde(default)]
    pub ledger: Vec<LedgerRow>,
}

/// A conversation as listed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub id: String,
    pub title: String,
    pub created_ms: u64,
    pub updated_ms: u64,
}

/// A conversation with its messages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transcript {
    #[serde(flatten)]
    pub summary: Summary,
    pub messages: Vec<MessageRow>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageRow {
    pub seq: u64,
    pub role: String,
    pub content: String,
    pub ts: u64,
}

/// What the proxy asks before a new turn: open (or create) the conversation and get its
/// history trimmed to the window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenCall {
    /// An existing conversation, or `None` to create `new_id`.
    pub conversation_id: Option<String>,
    pub new_id: String,
    pub title: String,
    pub new_message: String,
    pub window_tokens: u64,
    pub now_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Opened {
    pub id: String,
    pub history: Vec<StoredMessage>,
}

/// After the stream: the user's message and the delivered answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppendCall {
    pub user_message: String,
    pub answer: String,
    pub now_ms: u64,
}
