//! An alert as people read it: one line in Chinese, then the same in English. Names only
//! what is safe to show: subjects, upstream names and key ids, never a key.

use super::event::{Alert, AlertKind, Period, Subject};

/// The alert's text, Chinese first: `(zh, en)`.
pub fn text(alert: &Alert) -> (String, String) {
    match &alert.kind {
        AlertKind::Budget {
            period,
            threshold_permille,
            used_micro_usd,
            limit_micro_usd,
        } => {
            let percent = percent(*threshold_permille);
            // Cents, unless the budget is under a dollar (a trial, a test): then 4 decimals.
            let decimals = if *limit_micro_usd < 1_000_000 { 4 } else { 2 };
            let used = usd(*used_micro_usd, decimals);
            let limit = usd(*limit_micro_usd, decimals);
            let (zh_period, en_period) = match period.period {
                Period::Day => ("本日", "today's"),
                Period::Month => ("本月", "this month's"),
            };
            let (zh_subject, en_subject) = subject_names(&alert.subject);
            (
                format!(
                    "oachat 预算提醒：{zh_period}{zh_subject}预算已用 {percent}（{used} / {limit} USD）"
                ),
                format!(
                    "oachat budget alert: {percent} of {en_period} {en_subject} budget is used ({used} / {limit} USD)"
                ),
            )
        }
        AlertKind::KeyDisabled { upstream, key_id } => (
            format!("oachat 密钥提醒：上游 {upstream} 的密钥 {key_id} 已停用（鉴权失败、额度用尽或已注销）"),
            format!(
                "oachat key alert: key {key_id} of upstream {upstream} was disabled (refused, out of quota or deactivated)"
            ),
        ),
        AlertKind::UpstreamDown { upstream } => (
            format!("oachat 上游提醒：上游 {upstream} 的全部密钥均不可用"),
            format!("oachat upstream alert: every key of upstream {upstream} is down"),
        ),
        AlertKind::ErrorRate {
            failed,
            total,
            threshold_permille,
        } => {
            let rate = if *total == 0 {
                0
            } else {
                ((*failed as u128 * 1000) / *total as u128) as u32
            };
            let (rate, threshold) = (percent(rate), percent(*threshold_permille));
            (
                format!(
                    "oachat 错误率提醒：最近 5 分钟错误率 {rate}（{failed} / {total} 个请求），超过阈值 {threshold}"
                ),
                format!(
                    "oachat error rate alert: {rate} of requests failed in the last 5 minutes ({failed} / {total}), above {threshold}"
                ),
            )
        }
    }
}

/// Both lines, as one message.
pub fn full_text(alert: &Alert) -> String {
    let (zh, en) = text(alert);
    format!("{zh}\n{en}")
}

fn subject_names(subject: &Subject) -> (String, String) {
    match subject {
        Subject::Deployment => ("部署".into(), "deployment".into()),
        Subject::Department(name) => (format!("部门 {name} "), format!("department {name}'s")),
        Subject::User(id) => (format!("用户 {id} "), format!("user {id}'s")),
    }
}

/// 800 → "80%", 125 → "12.5%".
fn percent(permille: u32) -> String {
    if permille.is_multiple_of(10) {
        format!("{}%", permille / 10)
    } else {
        format!("{}.{}%", permille / 10, permille % 10)
    }
}

/// Micro-USD with `decimals` (1..=6) decimals, rounded half up: 40_000_000 → "40.00".
fn usd(micro_usd: u64, decimals: u32) -> String {
    let unit = 10u64.pow(6 - decimals);
    let units = (micro_usd + unit / 2) / unit;
    let scale = 10u64.pow(decimals);
    format!(
        "{}.{:0width$}",
        units / scale,
        units % scale,
        width = decimals as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::event::{budget_alerts, BudgetPeriod};

    #[track_caller]
    fn check(alert: &Alert, zh: &str, en: &str) {
        assert_eq!(text(alert), (zh.to_string(), en.to_string()));
    }

    fn budget(subject: Subject, period: BudgetPeriod, used: u64, limit: u64) -> Alert {
        budget_alerts(&subject, &period, used, limit, &[0.8], 0).remove(0)
    }

    #[test]
    fn budget_alerts_read_chinese_first() {
        check(
            &budget(
                Subject::Deployment,
                BudgetPeriod::utc_day(0),
                40_000_000,
                50_000_000,
            ),
            "oachat 预算提醒：本日部署预算已用 80%（40.00 / 50.00 USD）",
            "oachat budget alert: 80% of today's deployment budget is used (40.00 / 50.00 USD)",
        );
        check(
            &budget(
                Subject::Department("sales".into()),
                BudgetPeriod::utc_month(0),
                412_345_678,
                500_000_000,
            ),
            "oachat 预算提醒：本月部门 sales 预算已用 80%（412.35 / 500.00 USD）",
            "oachat budget alert: 80% of this month's department sales's budget is used (412.35 / 500.00 USD)",
        );
        assert!(full_text(&budget(
            Subject::Deployment,
            BudgetPeriod::utc_day(0),
            8,
            10
        ))
        .starts_with("oachat 预算提醒"));
    }

    #[test]
    fn other_alerts() {
        let alert = |kind| Alert {
            subject: Subject::Deployment,
            kind,
            at_ms: 0,
        };
        check(
            &alert(AlertKind::UpstreamDown {
                upstream: "openai".into(),
            }),
            "oachat 上游提醒：上游 openai 的全部密钥均不可用",
            "oachat upstream alert: every key of upstream openai is down",
        );
        let (zh, en) = text(&alert(AlertKind::ErrorRate {
            failed: 5,
            total: 20,
            threshold_permille: 200,
        }));
        assert!(
            zh.contains("错误率 25%（5 / 20 个请求），超过阈值 20%"),
            "{zh}"
        );
        assert!(en.contains("25% of requests failed"), "{en}");
        let (zh, _) = text(&alert(AlertKind::KeyDisabled {
            upstream: "openai".into(),
            key_id: "key_1a2b3c4d".into(),
        }));
        assert!(zh.contains("密钥 key_1a2b3c4d 已停用"), "{zh}");
        assert_eq!(percent(125), "12.5%");
        assert_eq!(usd(4_999, 2), "0.00");
        assert_eq!(usd(5_000, 2), "0.01");
        assert_eq!(usd(2_950, 4), "0.0030");
        assert_eq!(usd(412_345_678, 2), "412.35");
    }
}
