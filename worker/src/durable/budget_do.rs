//! `DeploymentBudgetDo`: the deployment-wide daily cap, handed out as leases to user objects.
//! Called only when a user's lease runs short or is given back, never per request.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::core::budget::DeploymentBudget;
use crate::durable::storage;

pub const BINDING: &str = "DEPLOYMENT_BUDGET";
pub const OBJECT_NAME: &str = "deployment";
const DOC: &str = "budget";

#[derive(Serialize, Deserialize)]
pub struct LeaseCall {
    pub requester: String,
    pub micro_usd: u64,
    pub now_ms: u64,
    pub cap_micro_usd: Option<u64>,
}

#[derive(Serialize, Deserialize)]
pub struct LeaseAnswer {
    pub micro_usd: u64,
    pub remaining_micro_usd: Option<u64>,
}

#[durable_object]
pub struct DeploymentBudgetDo {
    state: State,
    budget: RefCell<Option<DeploymentBudget>>,
}

impl DurableObject for DeploymentBudgetDo {
    fn new(state: State, _env: Env) -> Self {
        DeploymentBudgetDo {
            state,
            budget: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let path = req.path();
        let call: LeaseCall = crate::body::request_json(&mut req).await?;
        let mut guard = self.budget.borrow_mut();
        if guard.is_none() {
            *guard = storage::load(&self.state, DOC)?;
        }
        let budget =
            guard.get_or_insert_with(|| DeploymentBudget::new(call.cap_micro_usd, call.now_ms));
        budget.set_cap(call.cap_micro_usd);
        let micro_usd = match path.as_str() {
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
