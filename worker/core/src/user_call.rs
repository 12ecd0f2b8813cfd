//! The protocol of a user's object (`UserDo`): one [`UserCall`] per request, and for each call
//! the type of its answer ([`Ask::Answer`]). Serde only; the object (`durable/user_do.rs`) and
//! its one client in the worker (`user_client.rs`) are the two ends, held to the table below
//! by `calls!` (`calls.rs`).

use serde::{Deserialize, Serialize};

use crate::account::{AdmitRequest, Refusal, SettleRequest};
use crate::budget::BudgetUsage;
use crate::config::Price;
use crate::conversation::{history_tokens, results_tokens, StoredMessage};
use crate::ledger::LedgerRow;
use crate::tools::{ToolCall, ToolRefusal, ToolResult, ToolStatus};

use crate::calls::calls;
pub use crate::calls::Ask;

calls! {
    /// One request to a user's object; its JSON is the request body.
    ///
    /// Variants differ in size (a turn's beginning carries an admission and a conversation),
    /// but a call is read once per request and moved straight into its handler: boxing the
    /// large ones would add an allocation per call and save nothing.
    #[allow(clippy::large_enum_variant)]
    UserCall {
        /// Admit a request with its reservation: `refusal: None` when granted.
        Admit(AdmitRequest) -> AdmitAnswer;
        /// Open (or create) a conversation and admit its next turn, in one storage transaction.
        BeginTurn(BeginTurn) -> TurnBegun;
        /// Settle a reservation to the metered usage and store its ledger rows (and the turn of
        /// a conversation) with it, in one storage transaction.
        Settle(SettleCall) -> ();
        /// The request still runs: keep its reservation. `false` when there was none to renew.
        Renew(RenewCall) -> bool;
        /// Grow a reservation before another upstream attempt. `false` when the budget cannot.
        Grow(GrowCall) -> bool;
        /// Move the stored ledger rows to D1 now, not at the alarm.
        FlushLedger(FlushLedger) -> ();
        /// Today's budget use (`None`: no budget yet).
        Usage(UsageCall) -> Option<BudgetUsage>;
        /// What `GET /v1/oachat/me` shows: budget use, the rate window, the override. Reads only.
        Me(MeCall) -> MeAnswer;
        /// The admin's tier override.
        GetTier(GetTier) -> Option<String>;
        /// Set (or with `None` clear) the admin's tier override; answers the override now held.
        SetTier(SetTier) -> Option<String>;
        /// Whether an administrator blocked this user, since when and why.
        GetBlock(GetBlock) -> Option<Block>;
        /// Block (or unblock) the user; answers the block now held. Admission refuses a blocked
        /// user before anything else is checked or taken.
        SetBlock(SetBlock) -> Option<Block>;
        /// The kept conversation turns whose answers these requests made (the Quality page):
        /// only those the user keeps server-side, each at most [`FOUND_TEXT_CHARS`] per text.
        FindAnswers(FindAnswers) -> Vec<FoundAnswer>;
        /// A virtual key's record (in the object named `vkey:<hash>`).
        GetVirtualKey(GetVirtualKey) -> Option<VirtualKeyRecord>;
        /// Store a virtual key's record; answers it.
        SetVirtualKey(VirtualKeyRecord) -> VirtualKeyRecord;
        /// The conversations with messages, newest first.
        ListConversations(ListConversations) -> Vec<Summary>;
        /// One conversation with its messages. `None`: no such conversation.
        GetConversation(GetConversation) -> Option<Transcript>;
        /// Rename a conversation; answers its new summary. `None`: no such conversation.
        RenameConversation(RenameConversation) -> Option<Summary>;
        /// Delete a conversation and forget its round count. `false`: there was none.
        DeleteConversation(DeleteConversation) -> bool;
        /// Keep a `/v1/responses` answer's conversation for `previous_response_id`; the
        /// oldest beyond `MAX_STORED_RESPONSES` are forgotten.
        StoreResponse(StoreResponse) -> ();
        /// A stored response's conversation (JSON chat messages). `None`: not among this user's.
        GetResponse(GetResponse) -> Option<String>;
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct FlushLedger;

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct UsageCall;

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct GetTier;

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct MeCall {
    pub now_ms: u64,
}

/// The user's own state for `GET /v1/oachat/me` (`crate::me` renders it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeAnswer {
    /// `None`: the user never reserved anything, so nothing is used.
    pub usage: Option<BudgetUsage>,
    /// Admissions in the current rate window.
    pub rate_used: u64,
    /// The admin's tier override, if any.
    pub tier_override: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetTier {
    pub tier: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct GetBlock;

/// An administrator's block of one user, kept in the user's object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// The administrator's note (shown in the console only, never to the user).
    pub reason: String,
    pub since_ms: u64,
}

/// `block: None` lifts the block.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetBlock {
    pub block: Option<Block>,
}

/// The longest block reason kept: a note, not a document.
pub const BLOCK_REASON_CHARS: usize = 500;

/// Request ids whose kept turns the Quality page shows (one user's, at most a page of them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FindAnswers {
    pub request_ids: Vec<String>,
}

/// Each text of a found turn is cut to this many characters: enough to judge an answer, and
/// a page of 200 turns stays a few megabytes at most.
pub const FOUND_TEXT_CHARS: usize = 4000;

/// A rated answer's turn as kept in the user's conversation: the question before it and the
/// answer itself (each cut to [`FOUND_TEXT_CHARS`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundAnswer {
    pub request_id: String,
    pub conversation_id: String,
    pub title: String,
    /// The user's message the answer followed (`None`: a continuation after tool results).
    pub question: Option<String>,
    pub answer: String,
}

/// `text` cut to at most `chars` characters, marked with an ellipsis where it was cut.
pub fn clip_text(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct GetVirtualKey;

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ListConversations;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetConversation {
    pub id: String,
}

/// The worker validated the title.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenameConversation {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteConversation {
    pub id: String,
}

/// A `/v1/responses` answer's conversation (`oachat_core::responses::stored_conversation`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreResponse {
    pub id: String,
    pub conversation: String,
    pub now_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetResponse {
    pub id: String,
}

/// A virtual key's stored record; the key itself is never stored, only its hash (the object name).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VirtualKeyRecord {
    pub id: String,
    pub name: String,
    pub tier: Option<String>,
    pub created_ms: u64,
    pub revoked: bool,
}

/// The request is still running.
#[derive(Debug, Serialize, Deserialize)]
pub struct RenewCall {
    pub request_id: String,
    pub now_ms: u64,
}

/// The request tries another upstream key after one that may have billed it.
#[derive(Debug, Serialize, Deserialize)]
pub struct GrowCall {
    pub request_id: String,
    pub tokens: u64,
    pub micro_usd: u64,
    pub now_ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AdmitAnswer {
    pub refusal: Option<Refusal>,
    /// Nothing was taken: plan the request again under this tier (the admin's override).
    #[serde(default)]
    pub replan_tier: Option<String>,
}

impl AdmitAnswer {
    /// The answer as a turn's beginning: admitted into `opened`, refused, or plan again.
    pub fn into_turn(self, opened: impl FnOnce() -> Opened) -> TurnBegun {
        match self {
            AdmitAnswer {
                replan_tier: Some(tier),
                ..
            } => TurnBegun::Replan { tier },
            AdmitAnswer {
                refusal: Some(refusal),
                ..
            } => TurnBegun::Refused(refusal),
            AdmitAnswer { .. } => TurnBegun::Admitted(opened()),
        }
    }
}

/// A settle and the ledger rows it accounts for (the request's own, and one per upstream
/// attempt it abandoned); for a turn of a conversation, the turn to store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SettleCall {
    #[serde(flatten)]
    pub settle: SettleRequest,
    #[serde(default)]
    pub ledger: Vec<LedgerRow>,
    /// A turn that delivered text; a turn that delivered none leaves its conversation as is.
    #[serde(default)]
    pub turn: Option<AppendCall>,
}

/// The turn of a server-side conversation that comes before its first byte: open (or create)
/// the conversation and admit the request. Nothing is written unless the request is admitted,
/// so a refused first turn leaves no conversation behind.
///
/// The history is in the object, so `admit` reserves the turn without it; the object adds
/// what the history it sends back adds to the prompt ([`BeginTurn::reserve_history`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BeginTurn {
    pub open: OpenCall,
    pub admit: AdmitRequest,
    /// The output tokens in `admit`'s reservation (`n` times the clamped cap); the rest is
    /// the prompt estimate.
    pub output_tokens: u64,
    /// The model's price (`None`: the model is not priced, the reservation costs nothing).
    pub price: Option<Price>,
}

impl BeginTurn {
    /// Adds `history` to the reservation, priced as the worker prices a whole prompt (one
    /// rounding of prompt and output together), so it equals the reservation of the full body.
    /// A continuation's body already counted the page's results, which the history ends with:
    /// only the rest is added.
    pub fn reserve_history(&mut self, history: &[StoredMessage]) {
        let counted = self
            .open
            .continuation
            .as_ref()
            .map_or(0, |continuation| results_tokens(&continuation.results));
        let added = history_tokens(history).saturating_sub(counted);
        let prompt_tokens = self
            .admit
            .reserve_tokens
            .saturating_sub(self.output_tokens)
            .saturating_add(added);
        self.admit.reserve_tokens = prompt_tokens.saturating_add(self.output_tokens);
        self.admit.reserve_micro_usd = self.price.map_or(0, |price| {
            price.cost_micro_usd(prompt_tokens, self.output_tokens, 0)
        });
    }
}

/// The answer to [`BeginTurn`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnBegun {
    /// Admitted: the conversation (created now, if new) with its history for the prompt.
    Admitted(Opened),
    Refused(Refusal),
    /// Nothing was taken: plan the turn again under this tier (the admin's override).
    Replan {
        tier: String,
    },
    /// No such conversation: nothing was taken.
    NotFound,
    /// The continuation's results do not fit the conversation, or its user message had all
    /// its tool rounds: nothing was taken.
    ToolsRefused(ToolRefusal),
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
    /// An answer's reasoning, for the widget's thinking block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// An answer's tool calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// A `tool` message's call and how the page answered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ToolStatus>,
    pub ts: u64,
}

/// The conversation a new turn opens (or creates), and the window its history is trimmed to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenCall {
    /// An existing conversation, or `None` to create `new_id`.
    pub conversation_id: Option<String>,
    pub new_id: String,
    pub title: String,
    pub new_message: String,
    pub window_tokens: u64,
    pub now_ms: u64,
    /// A continuation: the page's results of the last answer's calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation: Option<ContinueCall>,
}

/// What the object checks a continuation against (`tools::continuation`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContinueCall {
    pub results: Vec<ToolResult>,
    pub max_tool_rounds: u32,
    /// The configured server tools: only the worker answers their calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_tools: Vec<String>,
}

/// An opened conversation: its id and the history that goes upstream with the new turn.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Opened {
    pub id: String,
    /// For a continuation, ending with its results (completed) as `tool` messages.
    pub history: Vec<StoredMessage>,
    /// A continuation's results, completed: one per call of the last answer, to be stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<ToolResult>,
    /// `false` on the tool round that reaches `tools.max_rounds`: no tools go upstream.
    #[serde(default = "offer_tools_by_default")]
    pub offer_tools: bool,
}

fn offer_tools_by_default() -> bool {
    true
}

impl Default for Opened {
    fn default() -> Opened {
        Opened {
            id: String::new(),
            history: Vec::new(),
            results: Vec::new(),
            offer_tools: true,
        }
    }
}

/// After the stream, with the settle: the user's message (or a continuation's results) and
/// the delivered answer with its tool calls, in this conversation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppendCall {
    pub conversation_id: String,
    /// The request that made the answer, kept on the answer's message so that a rating of the
    /// request (the ledger's `feedback`) finds its turn. Older callers send none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `None` for a continuation.
    #[serde(default)]
    pub user_message: Option<String>,
    /// A continuation's results, stored before the answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_results: Vec<ToolResult>,
    pub answer: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The answer's reasoning (thinking models), stored for display only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    pub now_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every call goes over the wire and comes back as the same call.
    #[track_caller]
    fn check(call: impl Into<UserCall>, expected_json: &str) {
        let call: UserCall = call.into();
        let json = serde_json::to_string(&call).unwrap();
        assert_eq!(json, expected_json);
        let back: UserCall = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }

    #[test]
    fn calls_round_trip() {
        check(FlushLedger, r#"{"flush_ledger":null}"#);
        check(GetTier, r#"{"get_tier":null}"#);
        check(GetBlock, r#"{"get_block":null}"#);
        check(
            SetBlock {
                block: Some(Block {
                    reason: "left".into(),
                    since_ms: 7,
                }),
            },
            r#"{"set_block":{"block":{"reason":"left","since_ms":7}}}"#,
        );
        check(
            FindAnswers {
                request_ids: vec!["req_1".into()],
            },
            r#"{"find_answers":{"request_ids":["req_1"]}}"#,
        );
        check(SetTier { tier: None }, r#"{"set_tier":{"tier":null}}"#);
        check(
            RenewCall {
                request_id: "req_1".into(),
                now_ms: 5,
            },
            r#"{"renew":{"request_id":"req_1","now_ms":5}}"#,
        );
        check(
            DeleteConversation { id: "c_1".into() },
            r#"{"delete_conversation":{"id":"c_1"}}"#,
        );
    }

    #[test]
    fn texts_are_clipped_on_character_boundaries() {
        assert_eq!(clip_text("你好世界", 2), "你好…");
        assert_eq!(clip_text("short", 10), "short");
        assert_eq!(clip_text("exact", 5), "exact");
    }

    #[test]
    fn settle_keeps_its_flat_shape() {
        let settle = SettleCall {
            settle: SettleRequest {
                request_id: "req_1".into(),
                now_ms: 1,
                tokens: 2,
                micro_usd: 3,
                conversation_id: None,
                refund_round: false,
                keep_lease_micro_usd: 0,
                deployment_cap_micro_usd: None,
            },
            ledger: Vec::new(),
            turn: None,
        };
        check(
            settle,
            r#"{"settle":{"request_id":"req_1","now_ms":1,"tokens":2,"micro_usd":3,"conversation_id":null,"refund_round":false,"keep_lease_micro_usd":0,"deployment_cap_micro_usd":null,"ledger":[],"turn":null}}"#,
        );
    }
}
