//! `DeploymentBudgetDo`: what the whole deployment shares. The daily cap, handed out as
//! leases to user objects (called only when a user's lease runs short or is given back, never
//! per request), and the guest pool: guests' leases come from their own share of the cap, and
//! every guest request takes a slot of the guests' common per-minute limit here.

use std::cell::RefCell;

use oachat_core::budget::DeploymentBudget;
use oachat_core::limiter::{SlidingWindowLimiter, MINUTE_MS};
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::durable::storage;

pub const BINDING: &str = "DEPLOYMENT_BUDGET";
pub const OBJECT_NAME: &str = "deployment";
const DOC: &str = "budget";
const GUEST_RATE_DOC: &str = "guest_rate";

#[derive(Serialize, Deserialize)]
pub struct LeaseCall {
    pub requester: String,
    pub micro_usd: u64,
    pub now_ms: u64,
    pub cap_micro_usd: Option<u64>,
    /// The requester is a guest's object: its grants come from the guests' share.
    #[serde(default)]
    pub guest: bool,
    /// `[guest_pool] daily_usd`, when set.
    #[serde(default)]
    pub guests_cap_micro_usd: Option<u64>,
}

#[derive(Serialize, Deserialize)]
pub struct LeaseAnswer {
    pub micro_usd: u64,
    pub remaining_micro_usd: Option<u64>,
}

/// A guest request asks for a slot of the guests' common rate.
#[derive(Serialize, Deserialize)]
pub struct GuestSlotCall {
    pub now_ms: u64,
    pub rpm: u32,
}

/// `None`: granted; otherwise when to try again.
#[derive(Serialize, Deserialize)]
pub struct GuestSlotAnswer {
    pub retry_after_ms: Option<u64>,
}

#[durable_object]
pub struct DeploymentBudgetDo {
    state: State,
    budget: RefCell<Option<DeploymentBudget>>,
    /// All guests' admissions of the last minute, read once, written with each slot.
    guest_rate: RefCell<Option<SlidingWindowLimiter>>,
}

impl DurableObject for DeploymentBudgetDo {
    fn new(state: State, _env: Env) -> Self {
        DeploymentBudgetDo {
            state,
            budget: RefCell::new(None),
            guest_rate: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let path = req.path();
        if path == "/guest-slot" {
            let call: GuestSlotCall = crate::body::request_json(&mut req).await?;
            return Response::from_json(&self.guest_slot(&call)?);
        }
        let call: LeaseCall = crate::body::request_json(&mut req).await?;
        let mut guard = self.budget.borrow_mut();
        if guard.is_none() {
            *guard = storage::load(&self.state, DOC)?;
        }
        let budget =
            guard.get_or_insert_with(|| DeploymentBudget::new(call.cap_micro_usd, call.now_ms));
        budget.set_cap(call.cap_micro_usd);
        let micro_usd = match path.as_str() {
            "/grant" if call.guest => budget.grant_guest(
                &call.requester,
                call.micro_usd,
                call.guests_cap_micro_usd,
                call.now_ms,
            ),
            "/grant" => budget.grant(&call.requester, call.micro_usd, call.now_ms),
            "/give-back" => budget.give_back(&call.requester, call.micro_usd, call.now_ms),
            _ => 0,
        };
        let remaining_micro_usd = budget.remaining(call.now_ms);
        storage::save(&self.state, DOC, &*budget)?;
        Response::from_json(&LeaseAnswer {
            micro_usd,
            remaining_micro_usd,
        })
    }
}

impl DeploymentBudgetDo {
    /// One slot of the guests' common per-minute limit, exact like a user's own: the log is
    /// persisted with each admission, so a restart does not open the window.
    fn guest_slot(&self, call: &GuestSlotCall) -> worker::Result<GuestSlotAnswer> {
        let mut guard = self.guest_rate.borrow_mut();
        if guard.is_none() {
            let log: Vec<(u64, u64)> =
                storage::load(&self.state, GUEST_RATE_DOC)?.unwrap_or_default();
            *guard = Some(SlidingWindowLimiter::restore(MINUTE_MS, log));
        }
        let limiter = guard.get_or_insert_with(|| SlidingWindowLimiter::per_minute(None));
        limiter.set_limit(Some(call.rpm));
        let answer = match limiter.try_acquire(call.now_ms) {
            Ok(()) => GuestSlotAnswer {
                retry_after_ms: None,
            },
            Err(retry_after) => GuestSlotAnswer {
                retry_after_ms: Some(retry_after.0),
            },
        };
        if let Err(error) = storage::save(&self.state, GUEST_RATE_DOC, &limiter.admissions()) {
            // Memory is ahead of storage: read the stored log again next time.
            *guard = None;
            return Err(error);
        }
        Ok(answer)
    }
}
