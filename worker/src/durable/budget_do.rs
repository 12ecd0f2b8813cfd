//! `DeploymentBudgetDo`: what the whole deployment shares. The daily cap, handed out as
//! leases to user objects (called only when a user's lease runs short or is given back, never
//! per request), and the guest pool: guests' leases come from their own share of the cap, and
//! every guest request takes a slot of the guests' common per-minute limit here. Its protocol
//! is `oachat_core::deployment_call`.

use std::cell::RefCell;

use oachat_core::alerts::{BudgetPeriod, Subject};
use oachat_core::budget::DeploymentBudget;
use oachat_core::deployment_call::{
    DeploymentCall, GiveBack, Grant, GuestSlot, GuestSlotAnswer, Lease,
};
use oachat_core::limiter::{SlidingWindowLimiter, MINUTE_MS};
use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::alerts;
use crate::durable::client::{answer, call};
use crate::durable::storage;
use crate::durable::tables::Tables;

pub const BINDING: &str = "DEPLOYMENT_BUDGET";
pub const OBJECT_NAME: &str = "deployment";
const DOC: &str = "budget";
const GUEST_RATE_DOC: &str = "guest_rate";

#[durable_object]
pub struct DeploymentBudgetDo {
    state: State,
    env: Env,
    tables: Tables,
    budget: RefCell<Option<DeploymentBudget>>,
    /// All guests' admissions of the last minute, read once, written with each slot.
    guest_rate: RefCell<Option<SlidingWindowLimiter>>,
}

impl DurableObject for DeploymentBudgetDo {
    fn new(state: State, env: Env) -> Self {
        DeploymentBudgetDo {
            state,
            env,
            tables: Tables::new(&[storage::SCHEMA]),
            budget: RefCell::new(None),
            guest_rate: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        self.tables.ensure(&self.state)?;
        match call(&mut req).await? {
            DeploymentCall::Grant(grant) => answer::<Grant>(self.handle_grant(grant)?),
            DeploymentCall::GiveBack(give) => answer::<GiveBack>(self.handle_give_back(give)?),
            DeploymentCall::GuestSlot(slot) => answer::<GuestSlot>(self.handle_guest_slot(&slot)?),
        }
    }
}

impl DeploymentBudgetDo {
    fn handle_grant(&self, grant: Grant) -> worker::Result<Lease> {
        let lease = self.with_budget(grant.cap_micro_usd, grant.now_ms, |budget| {
            if grant.guest {
                budget.grant_guest(
                    &grant.requester,
                    grant.micro_usd,
                    grant.guests_cap_micro_usd,
                    grant.now_ms,
                )
            } else {
                budget.grant(&grant.requester, grant.micro_usd, grant.now_ms)
            }
        })?;
        // Alerts count the day's leases as used (spent, or held for requests in flight): only
        // grants make them grow, and this object sees every one (docs/alerts.md).
        if let (Some(cap), Some(left)) = (grant.cap_micro_usd, lease.remaining_micro_usd) {
            let used = cap.saturating_sub(left);
            let day = BudgetPeriod::utc_day(grant.now_ms);
            alerts::budget_used(
                &self.state,
                &self.env,
                Subject::Deployment,
                day,
                used,
                Some(cap),
            );
        }
        Ok(lease)
    }

    fn handle_give_back(&self, give: GiveBack) -> worker::Result<Lease> {
        self.with_budget(give.cap_micro_usd, give.now_ms, |budget| {
            budget.give_back(&give.requester, give.micro_usd, give.now_ms)
        })
    }

    /// Runs `change` on the budget (read once per instance, under the cap the caller's config
    /// has) and stores it.
    fn with_budget(
        &self,
        cap_micro_usd: Option<u64>,
        now_ms: u64,
        change: impl FnOnce(&mut DeploymentBudget) -> u64,
    ) -> worker::Result<Lease> {
        let mut guard = self.budget.borrow_mut();
        if guard.is_none() {
            *guard = storage::load(&self.state, DOC)?;
        }
        let budget = guard.get_or_insert_with(|| DeploymentBudget::new(cap_micro_usd, now_ms));
        budget.set_cap(cap_micro_usd);
        let micro_usd = change(budget);
        let remaining_micro_usd = budget.remaining(now_ms);
        if let Err(error) = storage::save(&self.state, DOC, &*budget) {
            // Memory is ahead of storage: read the stored budget again next time.
            *guard = None;
            return Err(error);
        }
        Ok(Lease {
            micro_usd,
            remaining_micro_usd,
        })
    }

    /// One slot of the guests' common per-minute limit, exact like a user's own: the log is
    /// persisted with each admission, so a restart does not open the window.
    fn handle_guest_slot(&self, slot: &GuestSlot) -> worker::Result<GuestSlotAnswer> {
        let mut guard = self.guest_rate.borrow_mut();
        if guard.is_none() {
            let log: Vec<(u64, u64)> =
                storage::load(&self.state, GUEST_RATE_DOC)?.unwrap_or_default();
            *guard = Some(SlidingWindowLimiter::restore(MINUTE_MS, log));
        }
        let limiter = guard.get_or_insert_with(|| SlidingWindowLimiter::per_minute(None));
        limiter.set_limit(Some(slot.rpm));
        let answer = GuestSlotAnswer {
            retry_after_ms: limiter.try_acquire(slot.now_ms).err().map(|wait| wait.0),
        };
        if let Err(error) = storage::save(&self.state, GUEST_RATE_DOC, &limiter.admissions()) {
            // Memory is ahead of storage: read the stored log again next time.
            *guard = None;
            return Err(error);
        }
        Ok(answer)
    }
}
