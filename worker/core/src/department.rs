//! A department's budget (`[departments.<name>] daily_usd, monthly_usd`): its members' user
//! objects lease from the department's object, which leases each grant from the deployment's
//! object in turn. Both are [`DeploymentBudget`]s; this module is the two steps of a member's
//! grant around the (awaited) call to the deployment, so the department's caps hold however
//! grants interleave during that call:
//!
//! 1. [`begin_grant`]: grant within the department's day and month caps, and record it at once
//!    (an interleaving grant sees it);
//! 2. ask the deployment for exactly that much (`requester`: the department's object);
//! 3. [`finish_grant`]: what the deployment did not back is taken back from the member, so the
//!    department never hands out more than the deployment gave it.
//!
//! Give-backs go the same way: the member's to the department, and what the department
//! accepted on to the deployment. A department's rpm is a slot of its object's common rate,
//! like the guests'.

use crate::budget::{BudgetKind, DeploymentBudget};

/// Step 1: grant up to `want_micro_usd` to `member` within the department's caps. Answers
/// the grant and, if a cap cut it, which.
pub fn begin_grant(
    department: &mut DeploymentBudget,
    member: &str,
    want_micro_usd: u64,
    now_ms: u64,
) -> (u64, Option<BudgetKind>) {
    let granted = department.grant(member, want_micro_usd, now_ms);
    let limit = department.last_grant_limit(
        want_micro_usd,
        granted,
        BudgetKind::Department,
        BudgetKind::DepartmentMonthly,
    );
    (granted, limit)
}

/// Step 3: the deployment backed `backed_micro_usd` of the `granted_micro_usd` (`None`: the
/// call failed, so nothing). Takes the rest back from `member`; answers what the member gets
/// and the cap that cut it.
pub fn finish_grant(
    department: &mut DeploymentBudget,
    member: &str,
    granted: (u64, Option<BudgetKind>),
    backed: Option<(u64, Option<BudgetKind>)>,
    now_ms: u64,
) -> (u64, Option<BudgetKind>) {
    let (granted_micro_usd, department_limit) = granted;
    let (backed_micro_usd, deployment_limit) = backed.unwrap_or((0, Some(BudgetKind::Deployment)));
    if backed_micro_usd >= granted_micro_usd {
        return (granted_micro_usd, department_limit);
    }
    department.give_back(member, granted_micro_usd - backed_micro_usd, now_ms);
    (
        backed_micro_usd,
        deployment_limit.or(Some(BudgetKind::Deployment)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::{Budget, DAY_MS};

    const NOW: u64 = 1_763_596_800_000; // 2025-11-20T00:00:00Z

    /// A department object and the deployment's, wired as the objects are.
    struct Objects {
        deployment: DeploymentBudget,
        departments: std::collections::BTreeMap<String, DeploymentBudget>,
    }

    impl Objects {
        fn new(deployment_cap: Option<u64>, departments: &[(&str, u64)]) -> Objects {
            Objects {
                deployment: DeploymentBudget::new(deployment_cap, NOW),
                departments: departments
                    .iter()
                    .map(|(name, cap)| (name.to_string(), DeploymentBudget::new(Some(*cap), NOW)))
                    .collect(),
            }
        }

        /// A member's lease call, in its three steps.
        fn lease(&mut self, dept: &str, member: &str, want: u64) -> (u64, Option<BudgetKind>) {
            let department = self.departments.get_mut(dept).unwrap();
            let granted = begin_grant(department, member, want, NOW);
            let backed = self
                .deployment
                .grant(&format!("dept:{dept}"), granted.0, NOW);
            let limit = self.deployment.last_grant_limit(
                granted.0,
                backed,
                BudgetKind::Deployment,
                BudgetKind::DeploymentMonthly,
            );
            let department = self.departments.get_mut(dept).unwrap();
            finish_grant(department, member, granted, Some((backed, limit)), NOW)
        }

        /// A member's admission: own check, lease if short, reserve.
        fn admit(
            &mut self,
            dept: &str,
            member: &str,
            budget: &mut Budget,
            id: &str,
            cost: u64,
        ) -> Result<(), BudgetKind> {
            if let Some(ask) = budget.lease_request(cost, NOW) {
                let (granted, limit) = self.lease(dept, member, ask);
                budget.add_lease_limited(granted, limit, NOW);
            }
            budget
                .reserve(id, 1, cost, NOW)
                .map_err(|refusal| refusal.which)
        }
    }

    fn member() -> Budget {
        Budget::new(None, None, NOW).with_lease(10_000)
    }

    #[test]
    fn two_members_share_their_department_and_another_department_is_unaffected() {
        let mut objects = Objects::new(None, &[("finance", 50_000), ("sales", 50_000)]);
        let (mut alice, mut bob, mut carol) = (member(), member(), member());
        let mut admitted = 0;
        for index in 0..20 {
            let (who, budget) = match index % 2 {
                0 => ("alice", &mut alice),
                _ => ("bob", &mut bob),
            };
            if objects
                .admit("finance", who, budget, &format!("r{index}"), 5_000)
                .is_ok()
            {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 10, "50,000 of department budget, 5,000 a request");
        let refused = objects.admit("finance", "alice", &mut alice, "late", 5_000);
        assert_eq!(refused, Err(BudgetKind::Department));
        // Sales has its own budget.
        assert_eq!(
            objects.admit("sales", "carol", &mut carol, "c1", 5_000),
            Ok(())
        );
    }

    #[test]
    fn interleaved_grants_never_pass_the_department_cap() {
        // Every member's grant is begun before any deployment call returns (the worst
        // interleaving): the department still hands out no more than its cap.
        let mut department = DeploymentBudget::new(Some(30_000), NOW);
        let begun: Vec<_> = (0..10)
            .map(|member| begin_grant(&mut department, &format!("m{member}"), 10_000, NOW))
            .collect();
        let total: u64 = begun.iter().map(|(granted, _)| granted).sum();
        assert_eq!(total, 30_000);
        assert_eq!(begun.iter().filter(|(granted, _)| *granted > 0).count(), 3);
        assert_eq!(begun[9].1, Some(BudgetKind::Department));
    }

    #[test]
    fn the_deployment_backs_no_more_than_it_has_and_the_rest_returns_to_the_department() {
        let mut objects = Objects::new(Some(12_000), &[("finance", 100_000)]);
        assert_eq!(objects.lease("finance", "alice", 10_000), (10_000, None));
        assert_eq!(
            objects.lease("finance", "bob", 10_000),
            (2_000, Some(BudgetKind::Deployment))
        );
        let department = objects.departments.get_mut("finance").unwrap();
        assert_eq!(department.granted(NOW), 12_000, "only what was backed");
        // A failed deployment call grants nothing and takes the grant back.
        let granted = begin_grant(department, "carol", 1_000, NOW);
        assert_eq!(
            finish_grant(department, "carol", granted, None, NOW),
            (0, Some(BudgetKind::Deployment))
        );
        assert_eq!(department.granted(NOW), 12_000);
    }

    #[test]
    fn a_department_month_outlasts_its_days() {
        let mut department = DeploymentBudget::new(Some(10_000), NOW);
        department.set_calendar(crate::calendar::Zone::utc(), Some(15_000), NOW);
        assert_eq!(
            begin_grant(&mut department, "a", 10_000, NOW),
            (10_000, None)
        );
        assert_eq!(
            begin_grant(&mut department, "a", 10_000, NOW + DAY_MS),
            (5_000, Some(BudgetKind::DepartmentMonthly))
        );
    }
}
