//! The user's own quota (`GET /v1/oachat/me`), in the words the quota menu shows: what is
//! left today and this month, and whether to warn before a limit is reached.
//!
//! Tokens are what users understand ("今日剩余约 12,000 tokens"); a limit kept only in money is
//! shown as the share left, never as an amount, since prices are the administrator's business.

use super::json::Json;

/// A share left at or below this many thousandths is worth a warning before the next question.
/// Shares are integer thousandths: the widget carries no float formatting or arithmetic.
pub const LOW_SHARE_PERMILLE: u64 = 100;

/// One budget: used and, when limited, the limit and what is left (tokens or micro-USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gauge {
    pub used: u64,
    pub limit: Option<u64>,
    /// The worker's figure, which also takes off what requests in flight hold.
    pub left: Option<u64>,
}

impl Gauge {
    fn remaining(self) -> Option<u64> {
        let limit = self.limit?;
        Some(self.left.unwrap_or(limit.saturating_sub(self.used)))
    }

    /// The share left in thousandths, when limited (a zero limit has nothing left).
    fn permille_left(self) -> Option<u64> {
        let limit = self.limit?;
        if limit == 0 {
            return Some(0);
        }
        // Saturating: a limit beyond 10^16 (tokens or micro-USD) is not a real one.
        Some(self.remaining().unwrap_or(0).saturating_mul(1000) / limit)
    }
}

/// One period's budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Period {
    pub tokens: Option<Gauge>,
    pub usd: Option<Gauge>,
    /// The department's money budget of the same period, when the user has one.
    pub dept_usd: Option<Gauge>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Day,
    Month,
}

/// How close the user is to a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Plenty,
    /// At most [`LOW_SHARE_PERMILLE`] left of some budget of this span.
    Low(Span),
    /// A budget of this span is spent.
    Out(Span),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quota {
    pub day: Period,
    pub month: Period,
}

impl Quota {
    /// Reads the worker's answer; `None` when it is not one.
    pub fn parse(me: &Json) -> Option<Quota> {
        if me.get("object").and_then(Json::as_str) != Some("oachat.me") {
            return None;
        }
        let dept = me.get("department");
        Some(Quota {
            day: period(me.get("day"), dept.and_then(|d| d.get("day"))),
            month: period(me.get("month"), dept.and_then(|d| d.get("month"))),
        })
    }

    /// The tightest budget decides: spent anywhere is out; a small share left anywhere is low.
    pub fn level(&self) -> Level {
        let mut low = None;
        for (span, period) in [(Span::Day, &self.day), (Span::Month, &self.month)] {
            for gauge in [period.tokens, period.usd, period.dept_usd]
                .into_iter()
                .flatten()
            {
                match gauge.permille_left() {
                    Some(0) if gauge.remaining() == Some(0) => return Level::Out(span),
                    Some(share) if share <= LOW_SHARE_PERMILLE && low.is_none() => low = Some(span),
                    _ => {}
                }
            }
        }
        low.map_or(Level::Plenty, Level::Low)
    }

    /// The menu's lines: per period, tokens left when limited, else the share of money left,
    /// else what was used; a period without anything to say is left out.
    pub fn lines(&self, words: &QuotaWords) -> Vec<String> {
        let mut lines = Vec::new();
        for (period, left, used, name) in [
            (&self.day, words.day_left, words.day_used, words.today),
            (
                &self.month,
                words.month_left,
                words.month_used,
                words.this_month,
            ),
        ] {
            if let Some(remaining) = period.tokens.and_then(Gauge::remaining) {
                lines.push(left.replace("{n}", &about(remaining)));
            } else if let Some(share) = tightest_share(period) {
                let percent = share / 10;
                let line = words.share_left.replace("{period}", name);
                lines.push(line.replace("{p}", &percent.to_string()));
            } else if let Some(tokens) = period.tokens {
                lines.push(used.replace("{n}", &group(tokens.used)));
            }
        }
        lines
    }
}

/// The words the lines are made of, in the widget's language.
pub struct QuotaWords<'a> {
    pub day_left: &'a str,
    pub month_left: &'a str,
    pub day_used: &'a str,
    pub month_used: &'a str,
    pub share_left: &'a str,
    pub today: &'a str,
    pub this_month: &'a str,
}

fn tightest_share(period: &Period) -> Option<u64> {
    [period.usd, period.dept_usd]
        .into_iter()
        .flatten()
        .filter_map(Gauge::permille_left)
        .min()
}

fn period(user: Option<&Json>, dept: Option<&Json>) -> Period {
    Period {
        tokens: user.and_then(|p| gauge(p.get("tokens"), "used", "limit", "remaining")),
        usd: user.and_then(|p| gauge(p.get("usd"), "used_micro", "limit_micro", "remaining_micro")),
        dept_usd: dept
            .and_then(|p| gauge(p.get("usd"), "used_micro", "limit_micro", "remaining_micro")),
    }
}

fn gauge(value: Option<&Json>, used: &str, limit: &str, left: &str) -> Option<Gauge> {
    let value = value?;
    let number = |key: &str| value.get(key).and_then(Json::as_u64);
    Some(Gauge {
        used: number(used).unwrap_or(0),
        limit: number(limit),
        left: number(left),
    })
}

/// "About" a number, as a person would say it: 12,345 is "12,000", 1,234 is "1,200".
pub fn about(n: u64) -> String {
    let step = match n {
        0..=999 => 1,
        1_000..=9_999 => 100,
        _ => 1_000,
    };
    group(n / step * step)
}

/// Digits in groups of three: 1234567 is "1,234,567".
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORDS: QuotaWords = QuotaWords {
        day_left: "今日剩余约 {n} tokens",
        month_left: "本月剩余约 {n} tokens",
        day_used: "今日已用 {n} tokens",
        month_used: "本月已用 {n} tokens",
        share_left: "{period}额度剩余 {p}%",
        today: "今日",
        this_month: "本月",
    };

    fn me(text: &str) -> Quota {
        Quota::parse(&Json::parse(text).unwrap()).unwrap()
    }

    const LIMITED: &str = r#"{"object":"oachat.me","user":"u:a","tier":"staff","dept":null,
        "day":{"period":"2026-12-05","tokens":{"used":38000,"reserved":0,"limit":50000,"remaining":12000},
               "usd":{"used_micro":1000,"limit_micro":null,"remaining_micro":null}},
        "month":{"period":"2026-12","tokens":{"used":38000,"limit":null,"remaining":null},
                 "usd":{"used_micro":1000,"limit_micro":10000,"remaining_micro":9000}},
        "rate":{"rpm":20,"remaining":19},"department":null}"#;

    #[test]
    fn the_menu_says_what_is_left_in_words() {
        let quota = me(LIMITED);
        assert_eq!(
            quota.lines(&WORDS),
            vec!["今日剩余约 12,000 tokens", "本月额度剩余 90%"]
        );
        assert_eq!(quota.level(), Level::Plenty);
    }

    #[test]
    fn what_requests_in_flight_hold_is_not_left() {
        let quota = me(
            r#"{"object":"oachat.me","day":{"tokens":{"used":1000,"reserved":4000,
            "limit":5000,"remaining":0}}}"#,
        );
        assert_eq!(quota.lines(&WORDS), vec!["今日剩余约 0 tokens"]);
        assert_eq!(quota.level(), Level::Out(Span::Day));
    }

    #[test]
    fn unlimited_users_see_what_they_used() {
        let quota = me(
            r#"{"object":"oachat.me","day":{"tokens":{"used":1234,"limit":null}},
            "month":{"tokens":{"used":98765,"limit":null}}}"#,
        );
        assert_eq!(
            quota.lines(&WORDS),
            vec!["今日已用 1,234 tokens", "本月已用 98,765 tokens"]
        );
        assert_eq!(quota.level(), Level::Plenty);
    }

    #[test]
    fn a_small_share_left_warns_before_the_limit_and_none_left_is_out() {
        let low = me(r#"{"object":"oachat.me","day":{"tokens":{"used":46000,"limit":50000}}}"#);
        assert_eq!(low.level(), Level::Low(Span::Day));
        let month = me(
            r#"{"object":"oachat.me","day":{"tokens":{"used":10,"limit":50000}},
            "month":{"usd":{"used_micro":960,"limit_micro":1000}}}"#,
        );
        assert_eq!(month.level(), Level::Low(Span::Month));
        let out = me(
            r#"{"object":"oachat.me","day":{"tokens":{"used":10,"limit":50000}},
            "month":{"tokens":{"used":70000,"limit":60000}}}"#,
        );
        assert_eq!(out.level(), Level::Out(Span::Month));
        assert_eq!(out.lines(&WORDS)[1], "本月剩余约 0 tokens");
    }

    #[test]
    fn the_department_budget_counts_too() {
        let quota = me(
            r#"{"object":"oachat.me","day":{"tokens":{"used":1,"limit":100}},
            "department":{"name":"fin","day":{"usd":{"used_micro":100,"limit_micro":100}}}}"#,
        );
        assert_eq!(quota.level(), Level::Out(Span::Day));
    }

    #[test]
    fn other_answers_are_not_a_quota() {
        assert_eq!(Quota::parse(&Json::parse(r#"{"error":{}}"#).unwrap()), None);
    }

    #[test]
    fn numbers_read_as_a_person_says_them() {
        assert_eq!(about(12_345), "12,000");
        assert_eq!(about(1_234), "1,200");
        assert_eq!(about(999), "999");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(group(0), "0");
    }
}
