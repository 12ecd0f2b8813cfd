//! The alert model: who it is about ([`Subject`]), what happened ([`AlertKind`]), and the
//! dedup key that makes an alert once-only: once per threshold, period and subject for
//! budgets; once per key, upstream or hour-long window for the others.

use serde::{Deserialize, Serialize};

/// Who an alert is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Subject {
    Deployment,
    Department(String),
    User(String),
}

impl Subject {
    /// `deployment`, `department:D`, `user:U`: the subject's part of a dedup key.
    pub fn key(&self) -> String {
        match self {
            Subject::Deployment => "deployment".into(),
            Subject::Department(name) => format!("department:{name}"),
            Subject::User(id) => format!("user:{id}"),
        }
    }
}

/// The period a budget counts over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Month,
}

/// One period of a budget: which kind, and which one (`2026-12-05`, `2026-12`). The label is
/// the caller's: a budget in another time zone names its own day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetPeriod {
    pub period: Period,
    pub label: String,
}

impl BudgetPeriod {
    /// The UTC day of `now_ms`, as `YYYY-MM-DD`.
    pub fn utc_day(now_ms: u64) -> BudgetPeriod {
        let (year, month, day) = civil_date(now_ms);
        BudgetPeriod {
            period: Period::Day,
            label: format!("{year:04}-{month:02}-{day:02}"),
        }
    }

    /// The UTC month of `now_ms`, as `YYYY-MM`.
    pub fn utc_month(now_ms: u64) -> BudgetPeriod {
        let (year, month, _) = civil_date(now_ms);
        BudgetPeriod {
            period: Period::Month,
            label: format!("{year:04}-{month:02}"),
        }
    }
}

/// (year, month, day) of a Unix time in ms, proleptic Gregorian (days-to-civil).
fn civil_date(now_ms: u64) -> (i64, u32, u32) {
    let days = (now_ms / 86_400_000) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertKind {
    /// Spend reached `threshold_permille` of the period's budget.
    Budget {
        period: BudgetPeriod,
        threshold_permille: u32,
        used_micro_usd: u64,
        limit_micro_usd: u64,
    },
    /// A key was taken out of its pool (refused credentials, billing, deactivated).
    KeyDisabled { upstream: String, key_id: String },
    /// No key of an upstream can be used (all disabled or cooling down).
    UpstreamDown { upstream: String },
    /// The share of failed requests over the last 5 minutes passed `alerts.error_rate`.
    ErrorRate {
        failed: u64,
        total: u64,
        threshold_permille: u32,
    },
}

impl AlertKind {
    pub fn name(&self) -> &'static str {
        match self {
            AlertKind::Budget { .. } => "budget",
            AlertKind::KeyDisabled { .. } => "key_disabled",
            AlertKind::UpstreamDown { .. } => "upstream_down",
            AlertKind::ErrorRate { .. } => "error_rate",
        }
    }
}

/// One alert, as raised by its source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub subject: Subject,
    #[serde(flatten)]
    pub kind: AlertKind,
    pub at_ms: u64,
}

/// Key and upstream events are once per this window: a key that comes back and fails again
/// an hour later is news, the same failure reported by ten isolates is not.
pub const EVENT_WINDOW_MS: u64 = 3_600_000;

impl Alert {
    /// The alert's identity: two alerts with the same key are one alert, sent once.
    pub fn dedup_key(&self) -> String {
        let subject = self.subject.key();
        let window = self.at_ms / EVENT_WINDOW_MS;
        match &self.kind {
            AlertKind::Budget {
                period,
                threshold_permille,
                ..
            } => format!(
                "budget|{subject}|{}|{}|{threshold_permille}",
                match period.period {
                    Period::Day => "day",
                    Period::Month => "month",
                },
                period.label
            ),
            AlertKind::KeyDisabled { upstream, key_id } => {
                format!("key_disabled|{subject}|{upstream}|{key_id}|{window}")
            }
            AlertKind::UpstreamDown { upstream } => {
                format!("upstream_down|{subject}|{upstream}|{window}")
            }
            AlertKind::ErrorRate { .. } => format!("error_rate|{subject}|{window}"),
        }
    }
}

/// A share (0.8) as permille (800), the integer form thresholds are compared and keyed in.
pub fn permille(share: f64) -> u32 {
    (share * 1000.0).round().clamp(0.0, u32::MAX as f64) as u32
}

/// The budget alerts that spend `used` of `limit` has reached: one per threshold at or below
/// `used / limit`. The object that receives them keeps each once, so callers may raise the
/// same ones again (after a restart, from another isolate) without a second message.
pub fn budget_alerts(
    subject: &Subject,
    period: &BudgetPeriod,
    used_micro_usd: u64,
    limit_micro_usd: u64,
    thresholds: &[f64],
    at_ms: u64,
) -> Vec<Alert> {
    if limit_micro_usd == 0 {
        return Vec::new();
    }
    thresholds
        .iter()
        .map(|share| permille(*share))
        // Integer comparison: used / limit >= t / 1000, without rounding at the edge.
        .filter(|threshold| {
            u128::from(used_micro_usd) * 1000
                >= u128::from(limit_micro_usd) * u128::from(*threshold)
        })
        .map(|threshold_permille| Alert {
            subject: subject.clone(),
            kind: AlertKind::Budget {
                period: period.clone(),
                threshold_permille,
                used_micro_usd,
                limit_micro_usd,
            },
            at_ms,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEC_5_2026_NOON: u64 = 1_796_472_000_000;

    #[track_caller]
    fn check_crossed(used: u64, limit: u64, expected: &[u32]) {
        let alerts = budget_alerts(
            &Subject::Deployment,
            &BudgetPeriod::utc_day(DEC_5_2026_NOON),
            used,
            limit,
            &[0.5, 0.8, 1.0],
            DEC_5_2026_NOON,
        );
        let crossed: Vec<u32> = alerts
            .iter()
            .map(|alert| match alert.kind {
                AlertKind::Budget {
                    threshold_permille, ..
                } => threshold_permille,
                _ => unreachable!("budget_alerts makes budget alerts"),
            })
            .collect();
        assert_eq!(crossed, expected, "{used} of {limit}");
    }

    #[test]
    fn thresholds_are_reached_at_exactly_their_share() {
        check_crossed(0, 50_000_000, &[]);
        check_crossed(24_999_999, 50_000_000, &[]);
        check_crossed(25_000_000, 50_000_000, &[500]);
        check_crossed(39_999_999, 50_000_000, &[500]);
        check_crossed(40_000_000, 50_000_000, &[500, 800]);
        check_crossed(50_000_000, 50_000_000, &[500, 800, 1000]);
        check_crossed(70_000_000, 50_000_000, &[500, 800, 1000]);
        // No limit, no share.
        check_crossed(10, 0, &[]);
    }

    #[test]
    fn periods_are_named_by_their_utc_date() {
        assert_eq!(BudgetPeriod::utc_day(DEC_5_2026_NOON).label, "2026-12-05");
        assert_eq!(BudgetPeriod::utc_month(DEC_5_2026_NOON).label, "2026-12");
        assert_eq!(BudgetPeriod::utc_day(0).label, "1970-01-01");
        // 2024-02-29T23:59:59.999Z, a leap day.
        assert_eq!(BudgetPeriod::utc_day(1_709_251_199_999).label, "2024-02-29");
        assert_eq!(BudgetPeriod::utc_day(1_709_251_200_000).label, "2024-03-01");
    }

    #[test]
    fn one_alert_per_threshold_period_and_subject() {
        let at = |used, at_ms, subject: Subject| {
            budget_alerts(
                &subject,
                &BudgetPeriod::utc_day(at_ms),
                used,
                100,
                &[0.8],
                at_ms,
            )[0]
            .dedup_key()
        };
        let first = at(80, DEC_5_2026_NOON, Subject::Deployment);
        // More spend the same day, later: the same alert.
        assert_eq!(
            first,
            at(95, DEC_5_2026_NOON + 3_600_000, Subject::Deployment)
        );
        assert_eq!(first, "budget|deployment|day|2026-12-05|800");
        // The next day, or another subject: a new one.
        assert_ne!(
            first,
            at(80, DEC_5_2026_NOON + 86_400_000, Subject::Deployment)
        );
        assert_ne!(
            first,
            at(80, DEC_5_2026_NOON, Subject::Department("sales".into()))
        );
    }

    #[test]
    fn key_events_are_once_per_hour_window() {
        let alert = |at_ms| Alert {
            subject: Subject::Deployment,
            kind: AlertKind::KeyDisabled {
                upstream: "openai".into(),
                key_id: "key_1a2b3c4d".into(),
            },
            at_ms,
        };
        let start = DEC_5_2026_NOON;
        assert_eq!(alert(start).dedup_key(), alert(start + 1_000).dedup_key());
        assert_ne!(
            alert(start).dedup_key(),
            alert(start + EVENT_WINDOW_MS).dedup_key()
        );
    }

    #[test]
    fn an_alert_round_trips_as_json() {
        let alert = budget_alerts(
            &Subject::User("alice".into()),
            &BudgetPeriod::utc_month(DEC_5_2026_NOON),
            5,
            10,
            &[0.5],
            DEC_5_2026_NOON,
        )
        .remove(0);
        let json = serde_json::to_value(&alert).unwrap();
        assert_eq!(json["kind"], "budget");
        assert_eq!(
            json["subject"],
            serde_json::json!({"type": "user", "id": "alice"})
        );
        assert_eq!(json["period"]["period"], "month");
        let back: Alert = serde_json::from_value(json).unwrap();
        assert_eq!(back, alert);
    }
}
