//! `GET /v1/oachat/me`: the caller's own quota, today and this month, against their limits,
//! as the widget's quota menu shows it. Pure: the worker passes in the identity, the effective
//! tier and what the user's object answered (`user_call::MeAnswer`).

use serde::Serialize;

use crate::budget::BudgetUsage;
use crate::calendar::{day_label, month_label, Zone};
use crate::config::Tier;
use crate::user_call::MeAnswer;

/// The answer (`"object": "oachat.me"`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Me {
    pub object: &'static str,
    pub user: String,
    pub tier: String,
    pub dept: Option<String>,
    pub timezone: String,
    pub day: Period,
    pub month: Period,
    pub rate: Rate,
    pub department: Option<DepartmentView>,
}

/// One budget period (a local day or a calendar month).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Period {
    /// `2026-12-05` or `2026-12`, in the deployment's time zone.
    pub period: String,
    pub resets_at_ms: u64,
    pub tokens: TokenUse,
    pub usd: UsdUse,
}

/// Tokens spent (settled) and reserved by requests in flight; `limit` and `remaining` are
/// `None` when unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TokenUse {
    pub used: u64,
    pub reserved: u64,
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
}

/// USD in integer micro-USD (exact) and, for display only, in USD as floats.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct UsdUse {
    pub used_micro: u64,
    pub reserved_micro: u64,
    pub limit_micro: Option<u64>,
    pub remaining_micro: Option<u64>,
    pub used: f64,
    pub limit: Option<f64>,
    pub remaining: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rate {
    /// `None`: no per-minute limit.
    pub rpm: Option<u32>,
    pub remaining: Option<u64>,
}

/// The caller's department budget (`[departments.<name>]`), when it has one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DepartmentView {
    pub name: String,
    pub day: UsdPeriod,
    pub month: UsdPeriod,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsdPeriod {
    pub period: String,
    pub resets_at_ms: u64,
    pub usd: UsdUse,
}

/// Who is asking, as the worker identified them.
pub struct Caller<'a> {
    pub user: &'a str,
    /// The effective tier: the admin's override when it names a known tier.
    pub tier_name: &'a str,
    pub tier: &'a Tier,
    pub dept: Option<&'a str>,
}

/// The limits of one period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub tokens: Option<u64>,
    pub micro_usd: Option<u64>,
}

impl TokenUse {
    pub fn new(used: u64, reserved: u64, limit: Option<u64>) -> TokenUse {
        TokenUse {
            used,
            reserved,
            limit,
            remaining: limit.map(|limit| limit.saturating_sub(used.saturating_add(reserved))),
        }
    }
}

impl UsdUse {
    pub fn new(used_micro: u64, reserved_micro: u64, limit_micro: Option<u64>) -> UsdUse {
        let remaining_micro = limit_micro
            .map(|limit| limit.saturating_sub(used_micro.saturating_add(reserved_micro)));
        UsdUse {
            used_micro,
            reserved_micro,
            limit_micro,
            remaining_micro,
            used: to_usd(used_micro),
            limit: limit_micro.map(to_usd),
            remaining: remaining_micro.map(to_usd),
        }
    }
}

/// For display only: every comparison is made on the integers.
fn to_usd(micro_usd: u64) -> f64 {
    micro_usd as f64 / 1_000_000.0
}

/// The answer for `caller` at `now_ms`, from their object's `answer`. A budget not yet made,
/// or one last touched on an earlier day or month, counts as nothing used in this period.
pub fn me(
    caller: &Caller<'_>,
    zone: &Zone,
    day_limits: Limits,
    month_limits: Limits,
    answer: &MeAnswer,
    now_ms: u64,
) -> Me {
    let today = zone.day(now_ms);
    let this_month = zone.month(now_ms);
    let usage = answer.usage.unwrap_or(BudgetUsage {
        day: today,
        month: this_month,
        spent_tokens: 0,
        spent_micro_usd: 0,
        reserved_tokens: 0,
        reserved_micro_usd: 0,
        limit_tokens: None,
        limit_micro_usd: None,
        resets_at_ms: 0,
        month_spent_tokens: 0,
        month_spent_micro_usd: 0,
        month_resets_at_ms: 0,
    });
    let (day_tokens, day_usd) = if usage.day == today {
        (usage.spent_tokens, usage.spent_micro_usd)
    } else {
        (0, 0)
    };
    let (month_tokens, month_usd) = if usage.month == this_month {
        (usage.month_spent_tokens, usage.month_spent_micro_usd)
    } else {
        (0, 0)
    };
    let period = |label: String, resets_at_ms, tokens, micro_usd, limits: Limits| Period {
        period: label,
        resets_at_ms,
        tokens: TokenUse::new(tokens, usage.reserved_tokens, limits.tokens),
        usd: UsdUse::new(micro_usd, usage.reserved_micro_usd, limits.micro_usd),
    };
    let rpm = caller.tier.rpm;
    Me {
        object: "oachat.me",
        user: caller.user.to_string(),
        tier: caller.tier_name.to_string(),
        dept: caller.dept.map(str::to_string),
        timezone: zone.name.clone(),
        day: period(
            day_label(today),
            zone.next_day_start_ms(today),
            day_tokens,
            day_usd,
            day_limits,
        ),
        month: period(
            month_label(this_month),
            zone.next_month_start_ms(this_month),
            month_tokens,
            month_usd,
            month_limits,
        ),
        rate: Rate {
            rpm,
            remaining: rpm.map(|rpm| u64::from(rpm).saturating_sub(answer.rate_used)),
        },
        department: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::days_from_civil;
    use crate::calendar::DAY_MS;

    fn tier() -> Tier {
        Tier {
            rpm: Some(20),
            max_rounds: None,
            daily_tokens: Some(50_000),
            daily_usd: Some(1.0),
            max_tokens: 1_000,
            max_n: 1,
            models: vec!["*".into()],
            allowed_fields: Vec::new(),
        }
    }

    /// 2026-12-05 12:00 in Shanghai (04:00 UTC).
    fn noon() -> u64 {
        days_from_civil(2026, 12, 5) as u64 * DAY_MS + 4 * 3_600_000
    }

    fn usage(day: u32, month: u32) -> BudgetUsage {
        BudgetUsage {
            day,
            month,
            spent_tokens: 1_200,
            spent_micro_usd: 3_000,
            reserved_tokens: 100,
            reserved_micro_usd: 500,
            limit_tokens: Some(50_000),
            limit_micro_usd: Some(1_000_000),
            resets_at_ms: 0,
            month_spent_tokens: 9_000,
            month_spent_micro_usd: 40_000,
            month_resets_at_ms: 0,
        }
    }

    fn render(answer: &MeAnswer) -> serde_json::Value {
        let tier = tier();
        let caller = Caller {
            user: "u:alice",
            tier_name: "staff",
            tier: &tier,
            dept: Some("finance"),
        };
        let zone = Zone::parse("Asia/Shanghai").unwrap();
        let day_limits = Limits {
            tokens: tier.daily_tokens,
            micro_usd: tier.daily_micro_usd(),
        };
        let me = me(
            &caller,
            &zone,
            day_limits,
            Limits::default(),
            answer,
            noon(),
        );
        serde_json::to_value(me).unwrap()
    }

    #[test]
    fn shows_use_against_limits_today_and_this_month() {
        let zone = Zone::parse("Asia/Shanghai").unwrap();
        let answer = MeAnswer {
            usage: Some(usage(zone.day(noon()), zone.month(noon()))),
            rate_used: 1,
            tier_override: None,
        };
        let json = render(&answer);
        assert_eq!(json["object"], "oachat.me");
        assert_eq!(json["timezone"], "Asia/Shanghai");
        assert_eq!(json["day"]["period"], "2026-12-05");
        // Local midnight in Shanghai is 16:00 UTC the day before.
        let midnight = days_from_civil(2026, 12, 5) as u64 * DAY_MS + 16 * 3_600_000;
        assert_eq!(json["day"]["resets_at_ms"], midnight);
        assert_eq!(
            json["day"]["tokens"],
            serde_json::json!({"used": 1_200, "reserved": 100, "limit": 50_000, "remaining": 48_700})
        );
        assert_eq!(json["day"]["usd"]["remaining_micro"], 996_500);
        assert_eq!(json["day"]["usd"]["used"], 0.003);
        assert_eq!(json["month"]["period"], "2026-12");
        assert_eq!(json["month"]["tokens"]["used"], 9_000);
        assert_eq!(json["month"]["tokens"]["limit"], serde_json::Value::Null);
        assert_eq!(
            json["month"]["tokens"]["remaining"],
            serde_json::Value::Null
        );
        assert_eq!(
            json["rate"],
            serde_json::json!({"rpm": 20, "remaining": 19})
        );
        assert_eq!(json["department"], serde_json::Value::Null);
        assert_eq!(json["dept"], "finance");
    }

    #[test]
    fn a_new_user_has_used_nothing() {
        let json = render(&MeAnswer::default());
        assert_eq!(json["day"]["tokens"]["used"], 0);
        assert_eq!(json["day"]["tokens"]["remaining"], 50_000);
        assert_eq!(json["month"]["usd"]["used_micro"], 0);
        assert_eq!(json["rate"]["remaining"], 20);
    }

    #[test]
    fn yesterdays_spend_does_not_count_today_but_this_months_does() {
        let zone = Zone::parse("Asia/Shanghai").unwrap();
        let answer = MeAnswer {
            usage: Some(usage(zone.day(noon()) - 1, zone.month(noon()))),
            rate_used: 25,
            tier_override: None,
        };
        let json = render(&answer);
        assert_eq!(json["day"]["tokens"]["used"], 0);
        assert_eq!(json["month"]["tokens"]["used"], 9_000);
        assert_eq!(
            json["rate"]["remaining"], 0,
            "a lowered rpm shows none left"
        );
    }
}
