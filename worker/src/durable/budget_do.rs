//! `DeploymentBudgetDo`: what the whole deployment shares. The daily and monthly caps, handed
//! out as leases to user objects (called only when a user's lease runs short or is given back,
//! never per request), and the guest pool: guests' leases come from their own share of the
//! cap, and every guest request takes a slot of the guests' common per-minute limit here. Its
//! protocol is `oachat_core::deployment_call`.
//!
//! The same class also runs one object per department (`dept:<name>`): its members lease from
//! it within the department's `daily_usd` / `monthly_usd`, and it leases each grant from the
//! deployment's object in turn, so a department never holds more than the deployment gave it.
//! Its common slot is the department's `rpm`.

use std::cell::RefCell;

use oachat_core::alerts::{BudgetPeriod, Period, Subject};
use oachat_core::budget::{BudgetKind, DeploymentBudget};
use oachat_core::calendar;
use oachat_core::config::Config;
use oachat_core::department;
use oachat_core::deployment_call::{
    CapUsage, CapUsageCall, DeploymentCall, GiveBack, Grant, GuestSlot, GuestSlotAnswer, Lease,
};
use oachat_core::limiter::{SlidingWindowLimiter, MINUTE_MS};
use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::alerts;
use crate::durable::client::{answer, ask, call};
use crate::durable::storage;
use crate::durable::tables::Tables;
use crate::runtime;

pub const BINDING: &str = "DEPLOYMENT_BUDGET";
pub const OBJECT_NAME: &str = "deployment";
const DOC: &str = "budget";
const GUEST_RATE_DOC: &str = "guest_rate";

/// The name of a department's object.
pub fn department_object(name: &str) -> String {
    format!("dept:{name}")
}

#[durable_object]
pub struct DeploymentBudgetDo {
    state: State,
    env: Env,
    tables: Tables,
    budget: RefCell<Option<DeploymentBudget>>,
    /// All guests' (or the department's) admissions of the last minute, read once, written
    /// with each slot.
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
            DeploymentCall::Grant(grant) => answer::<Grant>(self.handle_grant(grant).await?),
            DeploymentCall::GiveBack(give) => {
                answer::<GiveBack>(self.handle_give_back(give).await?)
            }
            DeploymentCall::GuestSlot(slot) => answer::<GuestSlot>(self.handle_guest_slot(&slot)?),
            DeploymentCall::CapUsage(usage) => {
                answer::<CapUsageCall>(self.handle_cap_usage(&usage)?)
            }
        }
    }
}

/// The caps an object applies: the deployment's, or a department's.
struct Caps {
    day: Option<u64>,
    month: Option<u64>,
    /// How a shortfall is named: the day's and the month's kind.
    kinds: (BudgetKind, BudgetKind),
}

impl DeploymentBudgetDo {
    fn config(&self) -> worker::Result<std::rc::Rc<runtime::Runtime>> {
        // Same script, same isolate: the worker's parsed config is at hand.
        runtime::runtime(&self.env).map_err(|error| worker::Error::RustError(error.to_string()))
    }

    /// The caps for a call: a department's when it names one (unknown: none of its own).
    fn caps(config: &Config, day_cap: Option<u64>, department: Option<&str>) -> Caps {
        match department {
            Some(name) => {
                let department = config.departments.get(name);
                Caps {
                    day: department.and_then(|d| d.daily_micro_usd()),
                    month: department.and_then(|d| d.monthly_micro_usd()),
                    kinds: (BudgetKind::Department, BudgetKind::DepartmentMonthly),
                }
            }
            None => Caps {
                day: day_cap,
                month: config.deployment_monthly_micro_usd(),
                kinds: (BudgetKind::Deployment, BudgetKind::DeploymentMonthly),
            },
        }
    }

    async fn handle_grant(&self, grant: Grant) -> worker::Result<Lease> {
        let runtime = self.config()?;
        let config = &runtime.config;
        let caps = Self::caps(config, grant.cap_micro_usd, grant.department.as_deref());
        let lease = match grant.department.as_deref() {
            Some(name) => self.grant_for_department(name, &grant, &caps).await?,
            None => self.grant_here(&grant, &caps)?,
        };
        let subject = match &grant.department {
            Some(name) => Subject::Department(name.clone()),
            None => Subject::Deployment,
        };
        // Alerts count the day's leases as used (spent, or held for requests in flight): only
        // grants make them grow, and this object sees every one (docs/alerts.md).
        if let (Some(cap), Some(left)) = (caps.day, lease.remaining_micro_usd) {
            let day = BudgetPeriod {
                period: Period::Day,
                label: calendar::day_label(config.zone().day(grant.now_ms)),
            };
            let used = cap.saturating_sub(left);
            let subject = subject.clone();
            alerts::budget_used(&self.state, &self.env, subject, day, used, Some(cap));
        }
        // The month's cap too, read back only when alerts have somewhere to go: the read
        // stores the budget again, which a deployment without webhooks should not pay for.
        if let (Some(cap), false) = (caps.month, config.alerts.webhooks.is_empty()) {
            let usage = self.handle_cap_usage(&CapUsageCall {
                now_ms: grant.now_ms,
                department: grant.department.clone(),
            })?;
            let month = BudgetPeriod {
                period: Period::Month,
                label: calendar::month_label(config.zone().month(grant.now_ms)),
            };
            let used = usage.month_granted_micro_usd;
            alerts::budget_used(&self.state, &self.env, subject, month, used, Some(cap));
        }
        Ok(lease)
    }

    /// A grant from this object's own cap (the deployment's).
    fn grant_here(&self, grant: &Grant, caps: &Caps) -> worker::Result<Lease> {
        let want = grant.micro_usd;
        self.with_budget(caps, grant.now_ms, |budget| {
            let granted = if grant.guest {
                budget.grant_guest(
                    &grant.requester,
                    want,
                    grant.guests_cap_micro_usd,
                    grant.now_ms,
                )
            } else {
                budget.grant(&grant.requester, want, grant.now_ms)
            };
            let limited_by = budget.last_grant_limit(want, granted, caps.kinds.0, caps.kinds.1);
            (granted, limited_by)
        })
    }

    /// A member's grant in a department's object (`oachat_core::department`): granted and
    /// stored before the await, so a grant interleaving with the deployment call already sees
    /// it; then backed by the deployment, what it did not back taken back.
    async fn grant_for_department(
        &self,
        name: &str,
        grant: &Grant,
        caps: &Caps,
    ) -> worker::Result<Lease> {
        let runtime = self.config()?;
        let begun = self.with_budget(caps, grant.now_ms, |budget| {
            department::begin_grant(budget, &grant.requester, grant.micro_usd, grant.now_ms)
        })?;
        let deployment_capped = grant.cap_micro_usd.is_some()
            || runtime.config.deployment_monthly_micro_usd().is_some();
        if begun.micro_usd == 0 || !deployment_capped {
            return Ok(begun);
        }
        let upstream = Grant {
            requester: department_object(name),
            micro_usd: begun.micro_usd,
            now_ms: grant.now_ms,
            cap_micro_usd: grant.cap_micro_usd,
            guest: false,
            guests_cap_micro_usd: None,
            department: None,
        };
        // Unreachable: nothing is backed (errs towards refusing).
        let backed = match self.deployment_stub() {
            Ok(stub) => ask(&stub, upstream).await.ok(),
            Err(_) => None,
        };
        self.with_budget(caps, grant.now_ms, |budget| {
            department::finish_grant(
                budget,
                &grant.requester,
                (begun.micro_usd, begun.limited_by),
                backed.map(|lease| (lease.micro_usd, lease.limited_by)),
                grant.now_ms,
            )
        })
    }

    async fn handle_give_back(&self, give: GiveBack) -> worker::Result<Lease> {
        let runtime = self.config()?;
        let config = &runtime.config;
        let caps = Self::caps(config, give.cap_micro_usd, give.department.as_deref());
        let lease = self.with_budget(&caps, give.now_ms, |budget| {
            (
                budget.give_back(&give.requester, give.micro_usd, give.now_ms),
                None,
            )
        })?;
        let deployment_capped =
            give.cap_micro_usd.is_some() || config.deployment_monthly_micro_usd().is_some();
        if let (Some(name), true) = (give.department.as_deref(), deployment_capped) {
            if lease.micro_usd > 0 {
                let upstream = GiveBack {
                    requester: department_object(name),
                    micro_usd: lease.micro_usd,
                    now_ms: give.now_ms,
                    cap_micro_usd: give.cap_micro_usd,
                    department: None,
                };
                // A lost give-back leaves money unused at the deployment, never overspent.
                if let Ok(stub) = self.deployment_stub() {
                    let _ = ask(&stub, upstream).await;
                }
            }
        }
        Ok(lease)
    }

    fn handle_cap_usage(&self, usage: &CapUsageCall) -> worker::Result<CapUsage> {
        let runtime = self.config()?;
        let config = &runtime.config;
        let day_cap = config.deployment_daily_micro_usd();
        let caps = Self::caps(config, day_cap, usage.department.as_deref());
        let mut answer = CapUsage::default();
        self.with_budget(&caps, usage.now_ms, |budget| {
            answer.day_granted_micro_usd = budget.granted(usage.now_ms);
            answer.month_granted_micro_usd = budget.month_granted(usage.now_ms);
            (0, None)
        })?;
        Ok(answer)
    }

    fn deployment_stub(&self) -> worker::Result<worker::Stub> {
        self.env.durable_object(BINDING)?.get_by_name(OBJECT_NAME)
    }

    /// Runs `change` on the budget (read once per instance, under the caps and the calendar
    /// of the config) and stores it; `change` answers the amount and the cap that cut it.
    fn with_budget(
        &self,
        caps: &Caps,
        now_ms: u64,
        change: impl FnOnce(&mut DeploymentBudget) -> (u64, Option<BudgetKind>),
    ) -> worker::Result<Lease> {
        let zone = self.config()?.config.zone();
        let mut guard = self.budget.borrow_mut();
        if guard.is_none() {
            *guard = storage::load(&self.state, DOC)?;
        }
        let budget = guard.get_or_insert_with(|| DeploymentBudget::new(caps.day, now_ms));
        budget.set_cap(caps.day);
        budget.set_calendar(zone, caps.month, now_ms);
        let (micro_usd, limited_by) = change(budget);
        let remaining_micro_usd = budget.remaining(now_ms);
        if let Err(error) = storage::save(&self.state, DOC, &*budget) {
            // Memory is ahead of storage: read the stored budget again next time.
            *guard = None;
            return Err(error);
        }
        Ok(Lease {
            micro_usd,
            remaining_micro_usd,
            limited_by,
        })
    }

    /// One slot of the guests' (or the department's) common per-minute limit, exact like a
    /// user's own: the log is persisted with each admission, so a restart does not open the
    /// window.
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
