//! `UserDo`: one object per user (or virtual key, or guest device). It holds that user's
//! limits ([`Account`]), tier override and conversations, so the hot path touches only the
//! caller's own object: there is no global object on every request.
//!
//! The account lives in memory, read from SQLite once per object instance, and each request
//! writes only the rows it changed (`durable/account_store.rs`). The object runs one event at
//! a time and SQL calls are synchronous, so memory and storage never disagree between events.
//!
//! Objects named `vkey:<hash>` hold one virtual key's record instead.
//!
//! Each request is one `UserCall` (`oachat_core::user_call`, sent by `user_client.rs`);
//! `fetch` dispatches it to one `handle_*` (or storage function) per call.

use std::cell::{Cell, RefCell};

use futures_channel::oneshot;

use oachat_core::account::{
    Account, AdmitRequest, DepartmentLimits, GuestPoolLimits, Prepared, Refusal, TierLimits,
};
use oachat_core::budget::BudgetKind;
use oachat_core::budget::BudgetUsage;
use oachat_core::deployment_call::{GiveBack, Grant, GuestSlot};
use oachat_core::user_call::{
    AdmitAnswer, BeginTurn, Block, DeleteConversation, FindAnswers, FlushLedger, GetBlock,
    GetConversation, GetResponse, GetTier, GetVirtualKey, GrowCall, ListConversations, MeAnswer,
    MeCall, RenameConversation, RenewCall, SetBlock, SetTier, SettleCall, StoreResponse, TurnBegun,
    UsageCall, UserCall, VirtualKeyRecord,
};
use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::durable::account_store;
use crate::durable::budget_do;
use crate::durable::client::{answer, ask, call};
use crate::durable::conversation_store as conversations;
use crate::durable::ledger_outbox::{self, Outbox};
use crate::durable::response_store as responses;
use crate::durable::storage;
use crate::durable::tables::Tables;
use crate::runtime;

pub const BINDING: &str = "USERS";
const TIER_DOC: &str = "tier";
const BLOCK_DOC: &str = "block";
const VKEY_DOC: &str = "vkey";

#[durable_object]
pub struct UserDo {
    state: State,
    env: Env,
    tables: Tables,
    /// Read on first use; `None` again after a failed write, so storage is read anew.
    account: RefCell<Option<Account>>,
    /// The admin's tier override, read on first use: it changes only through `PUT /tier` on
    /// this same object, which updates it here too.
    tier_override: RefCell<Option<Option<String>>>,
    /// The admin's block, read on first use and kept like the tier override: only this
    /// object's own `SetBlock` changes it.
    block: RefCell<Option<Option<Block>>>,
    /// Whether a lease call to the deployment budget is out. Requests interleave while it
    /// is (the object is not blocked during a fetch), so without this every concurrent
    /// request found the lease short and asked for a slice of its own: one user could hold
    /// the whole deployment cap while using a fraction of it.
    lease_in_flight: Cell<bool>,
    /// Requests waiting for the lease call in flight; woken when it returns.
    lease_waiters: RefCell<Vec<oneshot::Sender<()>>>,
    /// Ledger rows on their way to D1.
    outbox: Outbox,
    /// A guest's requests are admitted one at a time (see `admit`): the lease and slot calls
    /// are awaits, and requests interleaving there would pass their checks together.
    guest_turns: Turns,
}

impl DurableObject for UserDo {
    fn new(state: State, env: Env) -> Self {
        UserDo {
            state,
            env,
            tables: Tables::new(&[
                storage::SCHEMA,
                account_store::SCHEMA,
                conversations::SCHEMA,
                responses::SCHEMA,
                ledger_outbox::SCHEMA,
            ])
            .with_migrations(conversations::MIGRATIONS),
            account: RefCell::new(None),
            tier_override: RefCell::new(None),
            block: RefCell::new(None),
            lease_in_flight: Cell::new(false),
            lease_waiters: RefCell::new(Vec::new()),
            outbox: Outbox::default(),
            guest_turns: Turns::default(),
        }
    }

    /// One [`UserCall`] per request, answered by its `handle_*`; the turbofish on `answer`
    /// holds each handler to its call's answer type.
    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        self.tables.ensure(&self.state)?;
        match call::<UserCall>(&mut req).await? {
            UserCall::Admit(call) => answer::<AdmitRequest>(self.handle_admit(call).await?),
            UserCall::BeginTurn(call) => answer::<BeginTurn>(self.handle_begin_turn(call).await?),
            UserCall::Settle(call) => answer::<SettleCall>(self.handle_settle(call).await?),
            UserCall::Renew(call) => answer::<RenewCall>(self.handle_renew(call)?),
            UserCall::Grow(call) => answer::<GrowCall>(self.handle_grow(call)?),
            UserCall::FlushLedger(FlushLedger) => {
                answer::<FlushLedger>(self.handle_flush_ledger().await?)
            }
            UserCall::Usage(UsageCall) => answer::<UsageCall>(self.handle_usage()?),
            UserCall::Me(call) => answer::<MeCall>(self.handle_me(call)?),
            UserCall::GetTier(GetTier) => answer::<GetTier>(self.tier_override()?),
            UserCall::SetTier(call) => answer::<SetTier>(self.handle_set_tier(call)?),
            UserCall::GetBlock(GetBlock) => answer::<GetBlock>(self.block()?),
            UserCall::SetBlock(call) => answer::<SetBlock>(self.handle_set_block(call)?),
            UserCall::FindAnswers(call) => {
                answer::<FindAnswers>(conversations::find_answers(&self.state, &call.request_ids)?)
            }
            UserCall::GetVirtualKey(GetVirtualKey) => {
                answer::<GetVirtualKey>(storage::load(&self.state, VKEY_DOC)?)
            }
            UserCall::SetVirtualKey(record) => {
                answer::<VirtualKeyRecord>(self.handle_set_virtual_key(record)?)
            }
            UserCall::ListConversations(ListConversations) => {
                answer::<ListConversations>(conversations::list(&self.state)?)
            }
            UserCall::GetConversation(call) => {
                answer::<GetConversation>(conversations::get(&self.state, &call.id)?)
            }
            UserCall::RenameConversation(call) => answer::<RenameConversation>(
                conversations::rename(&self.state, &call.id, &call.title)?,
            ),
            UserCall::DeleteConversation(call) => {
                answer::<DeleteConversation>(self.handle_delete_conversation(&call.id)?)
            }
            UserCall::StoreResponse(call) => {
                answer::<StoreResponse>(responses::store(&self.state, &call)?)
            }
            UserCall::GetResponse(call) => {
                answer::<GetResponse>(responses::get(&self.state, &call.id)?)
            }
        }
    }

    /// Moves stored ledger rows to D1.
    async fn alarm(&self) -> worker::Result<Response> {
        self.tables.ensure(&self.state)?;
        self.outbox.flush(&self.state, &self.env).await?;
        Response::ok("")
    }
}

impl UserDo {
    async fn handle_admit(&self, admit: AdmitRequest) -> worker::Result<AdmitAnswer> {
        self.admit_then(admit, || Ok(())).await
    }

    /// Opens the turn's conversation and admits the turn with its history's reservation. A new
    /// conversation is created with the admission, in its storage transaction: a refused turn
    /// (or one to plan again) leaves nothing behind.
    async fn handle_begin_turn(&self, mut call: BeginTurn) -> worker::Result<TurnBegun> {
        let opened = match conversations::open(&self.state, &call.open)? {
            Ok(opened) => opened,
            Err(refused) => return Ok(refused),
        };
        call.reserve_history(&opened.history);
        let open = &call.open;
        let answer = self
            .admit_then(call.admit, || conversations::create(&self.state, open))
            .await?;
        Ok(answer.into_turn(|| opened))
    }

    /// Admits a request, or answers "plan again" under the admin's override tier. `admitted`
    /// writes what goes with a granted admission, in the admission's storage transaction.
    async fn admit_then(
        &self,
        mut admit: AdmitRequest,
        admitted: impl FnOnce() -> worker::Result<()>,
    ) -> worker::Result<AdmitAnswer> {
        // A blocked user is refused before anything is checked or taken: no rate slot, no
        // round, no reservation, no lease call.
        if self.block()?.is_some() {
            return Ok(AdmitAnswer {
                refusal: Some(Refusal::Blocked),
                replan_tier: None,
            });
        }
        if let Some(override_tier) = self.tier_override()? {
            // Same script, same isolate: the worker's parsed config is at hand.
            let runtime = runtime::runtime(&self.env)
                .map_err(|error| worker::Error::RustError(error.to_string()))?;
            let tiers = &runtime.config.tiers;
            let known = |tier: &str| tiers.contains_key(tier);
            if let Some(tier) = admit.replan_tier(Some(&override_tier), known) {
                return Ok(AdmitAnswer {
                    refusal: None,
                    replan_tier: Some(tier.to_string()),
                });
            }
            admit.override_limits(tiers.get(&override_tier).map(TierLimits::of));
        }
        let refusal = self.admit(&admit, admitted).await?.err();
        Ok(AdmitAnswer {
            refusal,
            replan_tier: None,
        })
    }

    async fn handle_settle(&self, call: SettleCall) -> worker::Result<()> {
        let SettleCall {
            settle,
            ledger,
            turn,
        } = call;
        // The turn first: should storing it fail, nothing is settled, and the settle sent
        // again stores both (the turn only once). `false` (deleted meanwhile) stores nothing.
        if let Some(turn) = &turn {
            conversations::append(&self.state, turn)?;
        }
        let surplus = self.with_account(|account| account.settle(&settle))?;
        // Written before any await: the rows (and the turn) commit with the settle, or none does.
        for row in &ledger {
            self.outbox.record(&self.state, row)?;
        }
        if !ledger.is_empty() {
            self.outbox.schedule(&self.state).await?;
        }
        // Idle now: hand the lease above a few requests' worth back.
        self.give_back(surplus, settle.now_ms, settle.deployment_cap_micro_usd)
            .await;
        Ok(())
    }

    fn handle_renew(&self, call: RenewCall) -> worker::Result<bool> {
        self.with_account(|account| account.renew(&call.request_id, call.now_ms))
    }

    fn handle_grow(&self, call: GrowCall) -> worker::Result<bool> {
        let grown = self.with_account(|account| {
            account.grow(&call.request_id, call.tokens, call.micro_usd, call.now_ms)
        })?;
        Ok(grown.is_ok())
    }

    /// Feedback on a row still in the outbox: move the rows now, not at the alarm.
    async fn handle_flush_ledger(&self) -> worker::Result<()> {
        self.outbox.flush(&self.state, &self.env).await
    }

    fn handle_usage(&self) -> worker::Result<Option<BudgetUsage>> {
        let now = crate::time::now_ms();
        self.with_account(|account| account.usage(now))
    }

    /// Reads only: no admission, no rate slot (the budget's day may roll, as on any call).
    fn handle_me(&self, call: MeCall) -> worker::Result<MeAnswer> {
        let (usage, rate_used) = self
            .with_account(|account| (account.usage(call.now_ms), account.rate_used(call.now_ms)))?;
        Ok(MeAnswer {
            usage,
            rate_used,
            tier_override: self.tier_override()?,
        })
    }

    fn handle_set_tier(&self, call: SetTier) -> worker::Result<Option<String>> {
        match &call.tier {
            Some(tier) => storage::save(&self.state, TIER_DOC, tier)?,
            None => storage::delete(&self.state, TIER_DOC)?,
        }
        *self.tier_override.borrow_mut() = Some(call.tier.clone());
        Ok(call.tier)
    }

    fn handle_set_block(&self, call: SetBlock) -> worker::Result<Option<Block>> {
        match &call.block {
            Some(block) => storage::save(&self.state, BLOCK_DOC, block)?,
            None => storage::delete(&self.state, BLOCK_DOC)?,
        }
        *self.block.borrow_mut() = Some(call.block.clone());
        Ok(call.block)
    }

    fn block(&self) -> worker::Result<Option<Block>> {
        if let Some(cached) = self.block.borrow().as_ref() {
            return Ok(cached.clone());
        }
        let stored: Option<Block> = storage::load(&self.state, BLOCK_DOC)?;
        *self.block.borrow_mut() = Some(stored.clone());
        Ok(stored)
    }

    fn handle_set_virtual_key(&self, record: VirtualKeyRecord) -> worker::Result<VirtualKeyRecord> {
        storage::save(&self.state, VKEY_DOC, &record)?;
        Ok(record)
    }

    fn handle_delete_conversation(&self, id: &str) -> worker::Result<bool> {
        let deleted = conversations::delete(&self.state, id)?;
        if deleted {
            // A new conversation must not inherit the deleted one's round count.
            self.with_account(|account| account.forget_conversation(id))?;
        }
        Ok(deleted)
    }

    /// Runs `change` on the account and writes the rows it changed.
    fn with_account<T>(&self, change: impl FnOnce(&mut Account) -> T) -> worker::Result<T> {
        let mut guard = self.account.borrow_mut();
        if guard.is_none() {
            *guard = Some(account_store::open(&self.state)?);
        }
        let account = guard.get_or_insert_with(Account::default);
        let result = change(account);
        let changes = account.take_changes();
        if let Err(error) = account_store::apply(&self.state, &changes) {
            // Memory is ahead of storage now: drop it, so the next event reads what is stored.
            *guard = None;
            return Err(error);
        }
        Ok(result)
    }

    fn tier_override(&self) -> worker::Result<Option<String>> {
        if let Some(cached) = self.tier_override.borrow().as_ref() {
            return Ok(cached.clone());
        }
        let stored: Option<String> = storage::load(&self.state, TIER_DOC)?;
        *self.tier_override.borrow_mut() = Some(stored.clone());
        Ok(stored)
    }

    async fn admit(
        &self,
        request: &AdmitRequest,
        admitted: impl FnOnce() -> worker::Result<()>,
    ) -> worker::Result<Result<(), Refusal>> {
        // One lease call at a time per user: a request that finds one out waits for its grant
        // and checks again, so concurrent requests share a slice instead of each taking one.
        // Every wait ends with a completed call, so this loop ends.
        // A guest's requests are admitted one at a time, from their lease to their slot of the
        // guests' common rate: each one's checks see the one before, so a burst from one
        // address neither spends the whole pool's rate nor takes the lease another just got.
        // A member of a department with an `rpm` takes turns the same way, for the same
        // reason: the department's common slot is an await too.
        let common_rpm = request
            .guest_pool
            .and_then(|pool| pool.rpm)
            .or_else(|| request.department.as_ref().and_then(|d| d.rpm));
        let takes_turns = request.guest_pool.is_some() || common_rpm.is_some();
        let _guest_turn = match takes_turns {
            true => Some(self.guest_turns.take().await),
            false => None,
        };
        // Where this user's lease comes from: its department's object, or the deployment's.
        let lease_department = request
            .department
            .as_ref()
            .filter(|department| department.leases())
            .map(|department| department.name.as_str());
        loop {
            let prepared = match self.with_account(|account| account.prepare(request))? {
                Ok(prepared) => prepared,
                Err(refusal) => return Ok(Err(refusal)),
            };
            let Prepared::NeedsLease { ask_micro_usd } = prepared else {
                break;
            };
            if self.lease_in_flight.get() {
                let (wake, woken) = oneshot::channel();
                self.lease_waiters.borrow_mut().push(wake);
                let _ = woken.await;
                continue;
            }
            let call = LeaseInFlight::start(self);
            // Other requests may run while this call is out; `admit` below re-checks everything.
            let granted = self
                .lease(
                    ask_micro_usd,
                    request.now_ms,
                    request.deployment_cap_micro_usd,
                    request.guest_pool.as_ref(),
                    lease_department,
                )
                .await
                .unwrap_or((0, Some(BudgetKind::Deployment)));
            let (granted, limited_by) = granted;
            self.with_account(|account| account.add_lease(granted, limited_by, request.now_ms))?;
            drop(call);
            break;
        }
        // A guest also needs a slot of all guests' common rate (a department's member, of its
        // department's), taken after this user's own checks passed (so a request refused
        // anyway costs the others nothing) and in turn with this user's other requests.
        if let Some(rpm) = common_rpm {
            if let Err(refusal) = self.with_account(|account| account.check(request))? {
                if let Refusal::Budget { which, .. } = refusal {
                    if !which.lease_short() {
                        return Ok(Err(refusal));
                    }
                    let surplus =
                        self.with_account(|account| account.surrender_lease(request.now_ms))?;
                    self.give_back(surplus, request.now_ms, request.deployment_cap_micro_usd)
                        .await;
                }
                return Ok(Err(refusal));
            }
            let slot = self
                .common_slot(rpm, request.now_ms, request.department.as_ref())
                .await;
            match slot {
                Ok(None) => {}
                Ok(Some(retry_after_ms)) => {
                    return Ok(Err(Refusal::Rate { retry_after_ms }));
                }
                Err(error) => {
                    worker::console_error!("oachat: common rate unreachable: {error}");
                    return Ok(Err(Refusal::Rate {
                        retry_after_ms: 1_000,
                    }));
                }
            }
        }
        let (result, surplus) = self.with_account(|account| account.admit(request))?;
        if result.is_ok() {
            // No await since the admission's rows: this commits with them.
            admitted()?;
        }
        self.give_back(surplus, request.now_ms, request.deployment_cap_micro_usd)
            .await;
        Ok(result)
    }

    /// Returns unused lease to where it came from (the department's object, or the
    /// deployment's) so others can spend it. A lost call only leaves money unused, never
    /// overspent.
    async fn give_back(&self, surplus: u64, now_ms: u64, cap_micro_usd: Option<u64>) {
        if surplus > 0 {
            let department = self
                .account
                .borrow()
                .as_ref()
                .and_then(Account::lease_department);
            let give = GiveBack {
                requester: self.state.id().to_string(),
                micro_usd: surplus,
                now_ms,
                cap_micro_usd,
                department: department.clone(),
            };
            if let Ok(stub) = self.budget_stub(department.as_deref()) {
                let _ = ask(&stub, give).await;
            }
        }
    }

    /// The deployment's object, or a department's (the same class).
    fn budget_stub(&self, department: Option<&str>) -> worker::Result<worker::Stub> {
        let name = match department {
            Some(name) => budget_do::department_object(name),
            None => budget_do::OBJECT_NAME.to_string(),
        };
        self.env
            .durable_object(budget_do::BINDING)?
            .get_by_name(&name)
    }

    /// Leases up to `micro_usd` of the deployment's cap (a guest's from the guests' share, a
    /// department member's through the department's object); answers the grant and the cap
    /// that cut it short, if one did.
    async fn lease(
        &self,
        micro_usd: u64,
        now_ms: u64,
        cap_micro_usd: Option<u64>,
        guest_pool: Option<&GuestPoolLimits>,
        department: Option<&str>,
    ) -> worker::Result<(u64, Option<BudgetKind>)> {
        let grant = Grant {
            requester: self.state.id().to_string(),
            micro_usd,
            now_ms,
            cap_micro_usd,
            guest: guest_pool.is_some(),
            guests_cap_micro_usd: guest_pool.and_then(|pool| pool.cap_micro_usd),
            department: department.map(str::to_string),
        };
        let lease = ask(&self.budget_stub(department)?, grant).await?;
        Ok((lease.micro_usd, lease.limited_by))
    }

    /// A slot of the guests' (or the department's) common per-minute limit: `None` when
    /// granted, else the wait.
    async fn common_slot(
        &self,
        rpm: u32,
        now_ms: u64,
        department: Option<&DepartmentLimits>,
    ) -> worker::Result<Option<u64>> {
        let slot = GuestSlot { now_ms, rpm };
        let stub = self.budget_stub(department.map(|department| department.name.as_str()))?;
        Ok(ask(&stub, slot).await?.retry_after_ms)
    }
}

/// Requests of one object that must not interleave across an await take turns.
#[derive(Default)]
struct Turns {
    busy: Cell<bool>,
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
}

impl Turns {
    async fn take(&self) -> Turn<'_> {
        while self.busy.get() {
            let (wake, woken) = oneshot::channel();
            self.waiters.borrow_mut().push(wake);
            let _ = woken.await;
        }
        self.busy.set(true);
        Turn { turns: self }
    }
}

/// A turn; the next request goes when it drops (also if the request is cancelled).
struct Turn<'a> {
    turns: &'a Turns,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.turns.busy.set(false);
        for waiter in self.turns.waiters.borrow_mut().drain(..) {
            let _ = waiter.send(());
        }
    }
}

/// Marks a lease call as out; on drop (also if the request is cancelled mid-call) clears the
/// mark and wakes the requests waiting for it.
struct LeaseInFlight<'a> {
    object: &'a UserDo,
}

impl<'a> LeaseInFlight<'a> {
    fn start(object: &'a UserDo) -> LeaseInFlight<'a> {
        object.lease_in_flight.set(true);
        LeaseInFlight { object }
    }
}

impl Drop for LeaseInFlight<'_> {
    fn drop(&mut self) {
        self.object.lease_in_flight.set(false);
        for waiter in self.object.lease_waiters.borrow_mut().drain(..) {
            let _ = waiter.send(());
        }
    }
}
