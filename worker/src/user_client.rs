//! The one client of a user's object (`UserDo`): each call is one [`UserCall`] as the body of
//! one request to the object named by the user, and its answer comes back as the call's
//! [`Ask::Answer`]. The protocol is `oachat_core::user_call`; this is only its transport.

use oachat_core::account::AdmitRequest;
use oachat_core::budget::BudgetUsage;
use oachat_core::user_call::{
    AdmitAnswer, Ask, BeginTurn, Block, DeleteConversation, FindAnswers, FlushLedger, FoundAnswer,
    GetBlock, GetConversation, GetResponse, GetTier, GetVirtualKey, GrowCall, ListConversations,
    MeAnswer, MeCall, RenameConversation, RenewCall, SetBlock, SetTier, SettleCall, StoreResponse,
    Summary, Transcript, TurnBegun, UsageCall, UserCall, VirtualKeyRecord,
};
use worker::Env;

use crate::durable::user_do::BINDING;

/// Calls to the object named `user` (`u:<sub>`, `k:<id>`, `g:<id>` or `vkey:<hash>`).
pub struct UserClient<'a> {
    env: &'a Env,
    user: &'a str,
}

impl<'a> UserClient<'a> {
    pub fn new(env: &'a Env, user: &'a str) -> UserClient<'a> {
        UserClient { env, user }
    }

    /// Sends one call and reads its answer.
    pub async fn ask<C: Ask<Call = UserCall>>(&self, call: C) -> worker::Result<C::Answer> {
        let stub = self.env.durable_object(BINDING)?.get_by_name(self.user)?;
        crate::durable::client::ask(&stub, call).await
    }

    pub async fn admit(&self, request: AdmitRequest) -> worker::Result<AdmitAnswer> {
        self.ask(request).await
    }

    pub async fn begin_turn(&self, turn: BeginTurn) -> worker::Result<TurnBegun> {
        self.ask(turn).await
    }

    pub async fn settle(&self, settle: SettleCall) -> worker::Result<()> {
        self.ask(settle).await
    }

    pub async fn renew(&self, renewal: RenewCall) -> worker::Result<bool> {
        self.ask(renewal).await
    }

    pub async fn grow(&self, grow: GrowCall) -> worker::Result<bool> {
        self.ask(grow).await
    }

    pub async fn flush_ledger(&self) -> worker::Result<()> {
        self.ask(FlushLedger).await
    }

    pub async fn usage(&self) -> worker::Result<Option<BudgetUsage>> {
        self.ask(UsageCall).await
    }

    pub async fn me(&self, now_ms: u64) -> worker::Result<MeAnswer> {
        self.ask(MeCall { now_ms }).await
    }

    pub async fn tier(&self) -> worker::Result<Option<String>> {
        self.ask(GetTier).await
    }

    pub async fn set_tier(&self, tier: Option<String>) -> worker::Result<Option<String>> {
        self.ask(SetTier { tier }).await
    }

    pub async fn block(&self) -> worker::Result<Option<Block>> {
        self.ask(GetBlock).await
    }

    pub async fn set_block(&self, block: Option<Block>) -> worker::Result<Option<Block>> {
        self.ask(SetBlock { block }).await
    }

    pub async fn find_answers(&self, request_ids: Vec<String>) -> worker::Result<Vec<FoundAnswer>> {
        self.ask(FindAnswers { request_ids }).await
    }

    pub async fn virtual_key(&self) -> worker::Result<Option<VirtualKeyRecord>> {
        self.ask(GetVirtualKey).await
    }

    pub async fn set_virtual_key(
        &self,
        record: VirtualKeyRecord,
    ) -> worker::Result<VirtualKeyRecord> {
        self.ask(record).await
    }

    pub async fn conversations(&self) -> worker::Result<Vec<Summary>> {
        self.ask(ListConversations).await
    }

    pub async fn conversation(&self, id: &str) -> worker::Result<Option<Transcript>> {
        self.ask(GetConversation { id: id.to_string() }).await
    }

    pub async fn rename_conversation(
        &self,
        id: &str,
        title: String,
    ) -> worker::Result<Option<Summary>> {
        let id = id.to_string();
        self.ask(RenameConversation { id, title }).await
    }

    pub async fn delete_conversation(&self, id: &str) -> worker::Result<bool> {
        self.ask(DeleteConversation { id: id.to_string() }).await
    }

    pub async fn store_response(&self, response: StoreResponse) -> worker::Result<()> {
        self.ask(response).await
    }

    pub async fn response(&self, id: &str) -> worker::Result<Option<String>> {
        self.ask(GetResponse { id: id.to_string() }).await
    }
}
