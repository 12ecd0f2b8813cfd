//! The protocol of the deployment's object (`DeploymentBudgetDo`): leases of the daily and
//! monthly caps for user objects (the object reads `budget.timezone` and `budget.monthly_usd`
//! from the config it shares with the worker). A department's object (`dept:<name>`, the same
//! class) speaks it too: its members lease from it, and it leases what it grants from the
//! deployment's object in turn; its `GuestSlot` is the department's common `rpm`.
//! Leases, and and slots of the guests' common rate. Called by user objects only, and only
//! when a lease runs short, is given back, or a guest is admitted; never per request.

use serde::{Deserialize, Serialize};

use crate::budget::BudgetKind;
use crate::calls::calls;

calls! {
    /// One request to the deployment's object; its JSON is the request body.
    DeploymentCall {
        /// Lease up to `micro_usd` of the daily cap; answers what was granted.
        Grant(Grant) -> Lease;
        /// Return an unused lease so other users can spend it.
        GiveBack(GiveBack) -> Lease;
        /// A slot of the guests' common per-minute rate (in a department's object: the
        /// department's).
        GuestSlot(GuestSlot) -> GuestSlotAnswer;
        /// What is granted today and this month, against the caps (for `/v1/oachat/me`).
        CapUsage(CapUsageCall) -> CapUsage;
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    /// The user object asking (its id): leases are accounted per holder.
    pub requester: String,
    pub micro_usd: u64,
    pub now_ms: u64,
    /// The deployment's daily cap as the asking isolate's config has it.
    pub cap_micro_usd: Option<u64>,
    /// The requester is a guest's object: its grants come from the guests' share.
    pub guest: bool,
    /// `[guest_pool] daily_usd`, when set.
    pub guests_cap_micro_usd: Option<u64>,
    /// Sent to a department's object (`dept:<name>`): its name, for its caps in the config.
    #[serde(default)]
    pub department: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GiveBack {
    pub requester: String,
    pub micro_usd: u64,
    pub now_ms: u64,
    pub cap_micro_usd: Option<u64>,
    #[serde(default)]
    pub department: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapUsageCall {
    pub now_ms: u64,
    #[serde(default)]
    pub department: Option<String>,
}

/// Net granted (leased to members: spent, or held for requests) today and this month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapUsage {
    pub day_granted_micro_usd: u64,
    pub month_granted_micro_usd: u64,
}

/// What a grant gave (or a give-back took back), and what is left of the cap today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub micro_usd: u64,
    pub remaining_micro_usd: Option<u64>,
    /// The cap that cut the grant short, if one did (the deployment's or the department's,
    /// the day's or the month's).
    #[serde(default)]
    pub limited_by: Option<BudgetKind>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct GuestSlot {
    pub now_ms: u64,
    pub rpm: u32,
}

/// `None`: granted; otherwise when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestSlotAnswer {
    pub retry_after_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_its_variant_on_the_wire() {
        let call: DeploymentCall = GuestSlot { now_ms: 5, rpm: 60 }.into();
        let json = serde_json::to_value(&call).unwrap();
        assert_eq!(json["guest_slot"]["rpm"], 60);
        let back: DeploymentCall = serde_json::from_value(json).unwrap();
        assert!(matches!(
            back,
            DeploymentCall::GuestSlot(GuestSlot { rpm: 60, .. })
        ));
    }
}
