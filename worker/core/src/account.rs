//! One user's limits in one place: the rate limiter, conversation rounds and the daily
//! budget with its deployment lease. This is the state of a user's Durable Object; the DO
//! handles one request at a time, so each method here is atomic.
//!
//! Admission checks in an order that never needs an undo it cannot do:
//! rounds (a read-only check), then the budget reservation, then the rate slot (on refusal
//! the reservation is released), then the round is counted. A refused request therefore
//! leaves no trace: it takes no rate slot, no round and no budget.
//!
//! The account is kept in the object's memory and persisted as rows (`core/account_rows.rs`):
//! every change is recorded as a [`Change`], which [`Account::take_changes`] hands to the
//! object to write. A request changes a bounded number of rows however long the rate log or
//! the conversation list is, so admission costs the same at rpm 10 or rpm 100,000,000.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::account_rows::{Change, Snapshot};
use crate::budget::{Budget, BudgetKind, BudgetRefusal};
use crate::calendar::Zone;
use crate::config::Tier;
use crate::limiter::{RoundCounter, SlidingWindowLimiter, MINUTE_MS};

/// What the proxy asks the user's object before going upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdmitRequest {
    pub request_id: String,
    /// The tier the request was planned under (models, `max_tokens`, routing). When the
    /// user's object holds a different override, it answers "plan again under it" instead.
    /// The object reads the override's limits from the config it shares with the worker, so
    /// requests do not carry every tier's limits.
    #[serde(default)]
    pub tier: String,
    pub now_ms: u64,
    pub rpm: Option<u32>,
    pub max_rounds: Option<u32>,
    /// Server-side round counting needs a conversation; `None` counts nothing.
    pub conversation_id: Option<String>,
    pub daily_tokens: Option<u64>,
    pub daily_micro_usd: Option<u64>,
    /// The tier's calendar-month limits.
    #[serde(default)]
    pub monthly_tokens: Option<u64>,
    #[serde(default)]
    pub monthly_micro_usd: Option<u64>,
    /// `budget.timezone`: where days and months begin.
    #[serde(default)]
    pub zone: Zone,
    /// The user's department, when the token names a configured one: its budget is leased
    /// through the department's object, and its `rpm` taken there per request.
    #[serde(default)]
    pub department: Option<DepartmentLimits>,
    /// Worst case of this request: prompt estimate plus the clamped `max_tokens`.
    pub reserve_tokens: u64,
    pub reserve_micro_usd: u64,
    /// Slice size when the deployment budget is capped; `None` when it is unlimited.
    pub lease_slice_micro_usd: Option<u64>,
    /// The deployment's daily cap, passed on to the deployment object with lease calls.
    pub deployment_cap_micro_usd: Option<u64>,
    pub reservation_ttl_ms: u64,
    /// Set for a guest when `[guest_pool]` is configured: the guests' common per-minute limit
    /// (`rpm`, taken from the deployment object before admitting) and their USD share
    /// (`cap`, which the guest's leases come from).
    #[serde(default)]
    pub guest_pool: Option<GuestPoolLimits>,
}

/// A department's shared limits; see [`AdmitRequest::department`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepartmentLimits {
    pub name: String,
    pub rpm: Option<u32>,
    pub daily_micro_usd: Option<u64>,
    pub monthly_micro_usd: Option<u64>,
}

impl DepartmentLimits {
    /// Whether the department has a USD budget, so its members lease through it.
    pub fn leases(&self) -> bool {
        self.daily_micro_usd.is_some() || self.monthly_micro_usd.is_some()
    }
}

/// What all guests together may use; see [`AdmitRequest::guest_pool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestPoolLimits {
    pub rpm: Option<u32>,
    pub cap_micro_usd: Option<u64>,
}

/// The limits of one tier that the user's object enforces.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TierLimits {
    pub rpm: Option<u32>,
    pub max_rounds: Option<u32>,
    pub daily_tokens: Option<u64>,
    pub daily_micro_usd: Option<u64>,
    pub monthly_tokens: Option<u64>,
    pub monthly_micro_usd: Option<u64>,
}

impl TierLimits {
    pub fn of(tier: &Tier) -> TierLimits {
        TierLimits {
            rpm: tier.rpm,
            max_rounds: tier.max_rounds,
            daily_tokens: tier.daily_tokens,
            daily_micro_usd: tier.daily_micro_usd(),
            monthly_tokens: tier.monthly_tokens,
            monthly_micro_usd: tier.monthly_micro_usd(),
        }
    }
}

impl AdmitRequest {
    /// The tier to plan again under, when an admin's override differs from the tier this
    /// request was planned for (and names a tier this deployment knows).
    pub fn replan_tier<'a>(
        &self,
        override_tier: Option<&'a str>,
        known: impl Fn(&str) -> bool,
    ) -> Option<&'a str> {
        override_tier.filter(|tier| *tier != self.tier && known(tier))
    }

    /// Applies an override tier's limits (`None`, an unknown tier, changes nothing).
    pub fn override_limits(&mut self, limits: Option<TierLimits>) {
        if let Some(limits) = limits {
            self.rpm = limits.rpm;
            self.max_rounds = limits.max_rounds;
            self.daily_tokens = limits.daily_tokens;
            self.daily_micro_usd = limits.daily_micro_usd;
            self.monthly_tokens = limits.monthly_tokens;
            self.monthly_micro_usd = limits.monthly_micro_usd;
        }
    }
}

/// Why a request was refused, with the wait that helps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "refused", rename_all = "snake_case")]
pub enum Refusal {
    Rate {
        retry_after_ms: u64,
    },
    Rounds {
        max: u32,
    },
    Budget {
        which: BudgetKind,
        resets_at_ms: u64,
    },
    /// An administrator blocked the user: nothing is checked or taken, and no wait helps.
    Blocked,
}

/// What the proxy tells the user's object after the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettleRequest {
    pub request_id: String,
    pub now_ms: u64,
    pub tokens: u64,
    pub micro_usd: u64,
    pub conversation_id: Option<String>,
    /// The request failed before any answer reached the user: give the round back.
    pub refund_round: bool,
    /// Deployment lease to keep when nothing is in flight; the rest is given back (see
    /// [`Budget::idle_lease_surplus`]). [`lease_to_keep`] computes it.
    #[serde(default)]
    pub keep_lease_micro_usd: u64,
    /// The deployment's cap, passed on with the give-back call.
    #[serde(default)]
    pub deployment_cap_micro_usd: Option<u64>,
}

/// How many worst-case reservations of lease an idle user keeps, so their next requests
/// need no call to the deployment budget while leases do not strand the cap.
pub const LEASE_KEEP_RESERVATIONS: u64 = 4;

/// The lease an idle user keeps after a request that reserved `reserve_micro_usd`: a few
/// such requests' worth, never more than a slice.
pub fn lease_to_keep(reserve_micro_usd: u64, slice_micro_usd: u64) -> u64 {
    reserve_micro_usd
        .saturating_mul(LEASE_KEEP_RESERVATIONS)
        .min(slice_micro_usd)
}

/// How many conversations' round counts a user object keeps; older ones are forgotten
/// (a user returning to a very old conversation starts its count again).
pub const MAX_TRACKED_CONVERSATIONS: usize = 500;

#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    limiter: SlidingWindowLimiter,
    /// Bounded to [`MAX_TRACKED_CONVERSATIONS`], oldest forgotten first.
    rounds: RoundCounter,
    budget: Option<Budget>,
    /// Changes of the limiter and rounds not yet taken; the budget keeps its own.
    changes: Vec<Change>,
}

impl Default for Account {
    fn default() -> Account {
        Account::restore(Snapshot::default())
    }
}

/// The outcome of [`Account::prepare`]: proceed, or first top up the deployment lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prepared {
    Ready,
    /// Ask the deployment budget for this many micro-USD, pass the grant to
    /// [`Account::add_lease`], then call [`Account::admit`].
    NeedsLease {
        ask_micro_usd: u64,
    },
}

impl Account {
    /// The account as persisted.
    pub fn restore(snapshot: Snapshot) -> Account {
        let budget = snapshot.budget.map(|mut budget| {
            budget.restore_reservations(snapshot.reservations);
            budget
        });
        Account {
            limiter: SlidingWindowLimiter::restore(MINUTE_MS, snapshot.admissions),
            rounds: RoundCounter::restore(snapshot.rounds),
            budget,
            changes: Vec::new(),
        }
    }

    /// What changed since the last call, to persist. Each change names one row, and a
    /// request makes a bounded number of them.
    pub fn take_changes(&mut self) -> Vec<Change> {
        let mut changes = std::mem::take(&mut self.changes);
        if let Some(budget) = &mut self.budget {
            let budget_changes = budget.take_changes();
            // A request reserved and then released in one call is one delete.
            let touched: BTreeSet<String> = budget_changes.reservations.into_iter().collect();
            for id in touched {
                changes.push(match budget.reservation(&id) {
                    Some(reservation) => Change::Reserved { id, reservation },
                    None => Change::Unreserved { id },
                });
            }
            if budget_changes.document {
                changes.push(Change::budget(budget));
            }
        }
        changes
    }

    /// Every row of the account: what a fresh store needs (migration from the old document).
    pub fn rows(&self) -> Vec<Change> {
        let mut rows: Vec<Change> = self
            .limiter
            .admissions()
            .into_iter()
            .map(|(at_ms, count)| Change::Admissions {
                at_ms,
                added: count,
            })
            .collect();
        rows.extend(
            self.rounds
                .all()
                .map(|(conversation, tracked)| Change::Rounds {
                    conversation: conversation.to_string(),
                    tracked,
                }),
        );
        if let Some(budget) = &self.budget {
            rows.extend(
                budget
                    .reservations()
                    .map(|(id, reservation)| Change::Reserved {
                        id: id.to_string(),
                        reservation,
                    }),
            );
            rows.push(Change::budget(budget));
        }
        rows
    }

    fn budget(&mut self, request: &AdmitRequest) -> &mut Budget {
        let budget = self.budget.get_or_insert_with(|| {
            let budget = Budget::new(
                request.daily_tokens,
                request.daily_micro_usd,
                request.now_ms,
            )
            .with_ttl(request.reservation_ttl_ms);
            match request.lease_slice_micro_usd {
                Some(slice) => budget.with_lease(slice),
                None => budget,
            }
        });
        // Tiers can change (admin override, config edit): the latest limits apply.
        budget.set_limits(request.daily_tokens, request.daily_micro_usd);
        budget.set_monthly_limits(request.monthly_tokens, request.monthly_micro_usd);
        budget.set_zone(request.zone.clone(), request.now_ms);
        let department = request
            .department
            .as_ref()
            .filter(|department| department.leases())
            .map(|department| department.name.as_str());
        budget.set_lease_department(department);
        budget
    }

    /// Read-only checks, and whether the deployment lease needs topping up first.
    pub fn prepare(&mut self, request: &AdmitRequest) -> Result<Prepared, Refusal> {
        let budget = self.check_own_limits(request)?;
        Ok(
            match budget.lease_request(request.reserve_micro_usd, request.now_ms) {
                Some(ask_micro_usd) => Prepared::NeedsLease { ask_micro_usd },
                None => Prepared::Ready,
            },
        )
    }

    /// Everything [`Account::admit`] checks, taking nothing: a guest's request checks this
    /// before it spends a slot of all guests' common rate, so a request refused anyway costs
    /// the other guests nothing.
    pub fn check(&mut self, request: &AdmitRequest) -> Result<(), Refusal> {
        let budget = self.check_own_limits(request)?;
        if !budget.lease_covers(request.reserve_micro_usd, request.now_ms) {
            return Err(refusal(budget.deployment_refusal()));
        }
        Ok(())
    }

    /// Hands back all unused lease (after a deployment refusal, so others can spend it).
    pub fn surrender_lease(&mut self, now_ms: u64) -> u64 {
        self.budget
            .as_mut()
            .map_or(0, |budget| budget.take_lease_surplus(0, now_ms))
    }

    /// Records a grant; `limited_by`: the cap that cut it short, if one did.
    pub fn add_lease(
        &mut self,
        granted_micro_usd: u64,
        limited_by: Option<BudgetKind>,
        now_ms: u64,
    ) {
        if let Some(budget) = &mut self.budget {
            budget.add_lease_limited(granted_micro_usd, limited_by, now_ms);
        }
    }

    /// The department this user's lease is drawn from (`None`: the deployment).
    pub fn lease_department(&self) -> Option<String> {
        self.budget
            .as_ref()
            .and_then(|budget| budget.lease_department().map(str::to_string))
    }

    /// Admits the request or refuses it without a trace. On a deployment refusal, the
    /// returned surplus is lease to give back so other users can spend it.
    pub fn admit(&mut self, request: &AdmitRequest) -> (Result<(), Refusal>, u64) {
        if let Err(refused) = self.check_rounds(request) {
            return (Err(refused), 0);
        }
        let now = request.now_ms;
        let oldest_before = self.limiter.oldest_ms();
        self.limiter.set_limit(request.rpm);
        let budget = self.budget(request);
        if let Err(refused) = budget.reserve(
            &request.request_id,
            request.reserve_tokens,
            request.reserve_micro_usd,
            now,
        ) {
            let surplus = if refused.which.lease_short() {
                budget.take_lease_surplus(0, now)
            } else {
                0
            };
            return (Err(refusal(refused)), surplus);
        }
        let acquired = self.limiter.try_acquire(now);
        self.note_limiter(oldest_before, acquired.is_ok());
        if let Err(retry_after) = acquired {
            if let Some(budget) = &mut self.budget {
                budget.release(&request.request_id, now);
            }
            return (
                Err(Refusal::Rate {
                    retry_after_ms: retry_after.0,
                }),
                0,
            );
        }
        if let Some(conversation) = &request.conversation_id {
            // Cannot fail: check_rounds passed and nothing ran in between.
            let _ = self.rounds.try_round(conversation, request.max_rounds);
            self.note_rounds(conversation);
            for oldest in self.rounds.forget_oldest_beyond(MAX_TRACKED_CONVERSATIONS) {
                self.changes.push(Change::Forgot {
                    conversation: oldest,
                });
            }
        }
        (Ok(()), 0)
    }

    /// Replaces the reservation by the metered usage (or releases it when nothing was used).
    /// Returns lease to give back to the deployment budget (nonzero only when this user has
    /// nothing else in flight and holds more than `keep_lease_micro_usd`).
    pub fn settle(&mut self, request: &SettleRequest) -> u64 {
        let mut surplus = 0;
        if let Some(budget) = &mut self.budget {
            if request.tokens == 0 && request.micro_usd == 0 {
                budget.release(&request.request_id, request.now_ms);
            } else {
                budget.settle(
                    &request.request_id,
                    request.tokens,
                    request.micro_usd,
                    request.now_ms,
                );
            }
            surplus = budget.idle_lease_surplus(request.keep_lease_micro_usd, request.now_ms);
        }
        if request.refund_round {
            if let Some(conversation) = &request.conversation_id {
                self.rounds.refund(conversation);
                self.note_rounds(conversation);
            }
        }
        surplus
    }

    pub fn rounds_used(&self, conversation_id: &str) -> u32 {
        self.rounds.rounds(conversation_id)
    }

    /// The request is about to try another upstream key after one that may have billed it:
    /// its reservation grows by that attempt's charge, or the request stops here.
    pub fn grow(
        &mut self,
        request_id: &str,
        tokens: u64,
        micro_usd: u64,
        now_ms: u64,
    ) -> Result<(), Refusal> {
        match &mut self.budget {
            Some(budget) => budget
                .grow(request_id, tokens, micro_usd, now_ms)
                .map_err(refusal),
            None => Ok(()),
        }
    }

    /// The request is still running: keep its reservation alive another TTL.
    pub fn renew(&mut self, request_id: &str, now_ms: u64) -> bool {
        self.budget
            .as_mut()
            .is_some_and(|budget| budget.renew(request_id, now_ms))
    }

    pub fn forget_conversation(&mut self, conversation_id: &str) {
        if self.rounds.tracked(conversation_id).is_some() {
            self.rounds.forget(conversation_id);
            self.changes.push(Change::Forgot {
                conversation: conversation_id.to_string(),
            });
        }
    }

    /// Admissions in the rate window ending at `now_ms`, taking nothing.
    pub fn rate_used(&self, now_ms: u64) -> u64 {
        self.limiter.count(now_ms)
    }

    pub fn usage(&mut self, now_ms: u64) -> Option<crate::budget::BudgetUsage> {
        self.budget.as_mut().map(|budget| budget.usage(now_ms))
    }

    /// Rounds, rate and this user's own budget, taking nothing; the budget for what follows.
    fn check_own_limits(&mut self, request: &AdmitRequest) -> Result<&mut Budget, Refusal> {
        self.check_rounds(request)?;
        self.check_rate(request)?;
        let budget = self.budget(request);
        budget
            .check(
                request.reserve_tokens,
                request.reserve_micro_usd,
                request.now_ms,
            )
            .map_err(refusal)?;
        Ok(budget)
    }

    fn check_rate(&mut self, request: &AdmitRequest) -> Result<(), Refusal> {
        self.limiter.set_limit(request.rpm);
        self.limiter
            .check(request.now_ms)
            .map_err(|retry_after| Refusal::Rate {
                retry_after_ms: retry_after.0,
            })
    }

    fn check_rounds(&self, request: &AdmitRequest) -> Result<(), Refusal> {
        if let (Some(conversation), Some(max)) = (&request.conversation_id, request.max_rounds) {
            if self.rounds.rounds(conversation) >= max {
                return Err(Refusal::Rounds { max });
            }
        }
        Ok(())
    }

    /// Records what one admission attempt did to the rate log: the admissions that left the
    /// window are exactly those older than the log's new oldest (all of one millisecond leave
    /// together), so one "before" bound names them whatever their number.
    fn note_limiter(&mut self, oldest_before: Option<u64>, admitted: bool) {
        let oldest_now = self.limiter.oldest_ms();
        if oldest_now != oldest_before {
            self.changes.push(Change::ExpiredBefore {
                oldest_ms: oldest_now,
            });
        }
        if admitted && self.limiter.limit().is_some() {
            if let Some(at_ms) = self.limiter.newest_ms() {
                self.changes.push(Change::Admissions { at_ms, added: 1 });
            }
        }
    }

    fn note_rounds(&mut self, conversation: &str) {
        if let Some(tracked) = self.rounds.tracked(conversation) {
            self.changes.push(Change::Rounds {
                conversation: conversation.to_string(),
                tracked,
            });
        }
    }
}

fn refusal(refused: BudgetRefusal) -> Refusal {
    Refusal::Budget {
        which: refused.which,
        resets_at_ms: refused.resets_at_ms,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn request(id: &str, now_ms: u64) -> AdmitRequest {
        AdmitRequest {
            request_id: id.into(),
            tier: "staff".into(),
            now_ms,
            rpm: Some(10),
            max_rounds: Some(3),
            conversation_id: Some("c1".into()),
            daily_tokens: Some(1_000),
            daily_micro_usd: None,
            monthly_tokens: None,
            monthly_micro_usd: None,
            zone: Zone::utc(),
            department: None,
            reserve_tokens: 100,
            reserve_micro_usd: 10,
            lease_slice_micro_usd: None,
            deployment_cap_micro_usd: None,
            reservation_ttl_ms: 600_000,
            guest_pool: None,
        }
    }

    fn admit(account: &mut Account, request: &AdmitRequest) -> Result<(), Refusal> {
        assert_eq!(account.prepare(request), Ok(Prepared::Ready));
        account.admit(request).0
    }

    #[test]
    fn fifty_at_once_against_rpm_ten_admit_exactly_ten() {
        let mut account = Account::default();
        let mut admitted = 0;
        for index in 0..50 {
            let mut asked = request(&format!("r{index}"), 1_000);
            asked.conversation_id = None;
            asked.reserve_tokens = 1;
            if account.prepare(&asked).is_ok() && account.admit(&asked).0.is_ok() {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 10);
    }

    #[test]
    fn rounds_are_exact_and_refused_requests_leave_no_trace() {
        let mut account = Account::default();
        for index in 0..3 {
            admit(&mut account, &request(&format!("r{index}"), 1_000)).unwrap();
        }
        assert_eq!(
            account.prepare(&request("r3", 1_000)),
            Err(Refusal::Rounds { max: 3 })
        );
        assert_eq!(account.rounds_used("c1"), 3);
    }

    #[test]
    fn a_rate_refusal_releases_the_reservation() {
        let mut account = Account::default();
        let mut first = request("a", 1_000);
        first.rpm = Some(1);
        first.conversation_id = None;
        admit(&mut account, &first).unwrap();
        let mut second = first.clone();
        second.request_id = "b".into();
        assert!(matches!(
            account.admit(&second).0,
            Err(Refusal::Rate { .. })
        ));
        // Only the first request's 100 tokens are held.
        assert_eq!(account.usage(1_000).unwrap().reserved_tokens, 100);
    }

    #[test]
    fn settle_refunds_a_failed_round_and_frees_the_budget() {
        let mut account = Account::default();
        admit(&mut account, &request("a", 1_000)).unwrap();
        account.settle(&SettleRequest {
            request_id: "a".into(),
            now_ms: 2_000,
            tokens: 0,
            micro_usd: 0,
            conversation_id: Some("c1".into()),
            refund_round: true,
            keep_lease_micro_usd: 0,
            deployment_cap_micro_usd: None,
        });
        assert_eq!(account.rounds_used("c1"), 0);
        let usage = account.usage(2_000).unwrap();
        assert_eq!((usage.reserved_tokens, usage.spent_tokens), (0, 0));
    }

    #[test]
    fn budget_refusals_name_the_budget() {
        let mut account = Account::default();
        let mut big = request("a", 1_000);
        big.reserve_tokens = 5_000;
        assert!(matches!(
            account.prepare(&big),
            Err(Refusal::Budget {
                which: BudgetKind::Tokens,
                ..
            })
        ));
    }

    #[test]
    fn an_override_tier_replaces_the_limits() {
        let mut asked = request("a", 1_000);
        let known = |tier: &str| tier == "vip" || tier == "staff";
        asked.override_limits(None);
        assert_eq!(asked.rpm, Some(10));
        // A known override other than the planned tier asks for a new plan.
        assert_eq!(asked.replan_tier(Some("vip"), known), Some("vip"));
        assert_eq!(asked.replan_tier(Some("staff"), known), None);
        assert_eq!(asked.replan_tier(Some("nope"), known), None);
        assert_eq!(asked.replan_tier(None, known), None);
        asked.override_limits(Some(TierLimits {
            rpm: Some(100),
            max_rounds: None,
            daily_tokens: None,
            daily_micro_usd: None,
            monthly_tokens: None,
            monthly_micro_usd: None,
        }));
        assert_eq!(
            (asked.rpm, asked.max_rounds, asked.daily_tokens),
            (Some(100), None, None)
        );
    }

    fn settle_request(id: &str, now_ms: u64, keep: u64) -> SettleRequest {
        SettleRequest {
            request_id: id.into(),
            now_ms,
            tokens: 50,
            micro_usd: 5,
            conversation_id: None,
            refund_round: false,
            keep_lease_micro_usd: keep,
            deployment_cap_micro_usd: Some(1_000_000),
        }
    }

    #[test]
    fn an_idle_user_gives_back_the_lease_above_a_few_requests_worth() {
        // Regression: a settled user kept a whole slice, stranding the deployment cap.
        let mut account = Account::default();
        let mut first = request("a", 1_000);
        first.lease_slice_micro_usd = Some(500_000);
        let mut second = first.clone();
        second.request_id = "b".into();
        assert!(matches!(
            account.prepare(&first),
            Ok(Prepared::NeedsLease { .. })
        ));
        account.add_lease(500_000, None, 1_000);
        assert_eq!(account.admit(&first).0, Ok(()));
        assert_eq!(account.admit(&second).0, Ok(()));
        let keep = lease_to_keep(first.reserve_micro_usd, 500_000);
        assert_eq!(keep, 40);
        // One request still in flight: nothing goes back yet.
        assert_eq!(account.settle(&settle_request("a", 2_000, keep)), 0);
        // Idle: everything above `keep` goes back (500000 granted, 10 spent).
        assert_eq!(
            account.settle(&settle_request("b", 3_000, keep)),
            500_000 - 10 - keep
        );
        // The kept part serves the next request without a lease call.
        let mut third = first.clone();
        third.request_id = "c".into();
        assert_eq!(account.prepare(&third), Ok(Prepared::Ready));
    }

    #[test]
    fn a_capped_deployment_asks_for_a_lease_first() {
        let mut account = Account::default();
        let mut asked = request("a", 1_000);
        asked.lease_slice_micro_usd = Some(500_000);
        match account.prepare(&asked) {
            Ok(Prepared::NeedsLease { ask_micro_usd }) => assert!(ask_micro_usd >= 10),
            other => panic!("{other:?}"),
        }
        // Without a grant the reservation is refused as a deployment refusal.
        assert!(matches!(
            account.admit(&asked).0,
            Err(Refusal::Budget {
                which: BudgetKind::Deployment,
                ..
            })
        ));
        account.add_lease(500_000, None, 1_000);
        assert_eq!(account.admit(&asked).0, Ok(()));
    }
}
