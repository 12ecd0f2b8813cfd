//! `GET /admin/overview`: the console's morning page, today and this month in the deployment's
//! time zone, read from the rollups only (`rollup.rs`): totals, failures by kind, cache hits,
//! ratings, p50/p95 time to first token, spend by day, and the ten heaviest users and
//! departments. The queries are built here and their rows shaped here; the shell runs them in
//! one D1 batch.

use serde_json::{json, Map, Value};

use crate::admin_query::{SqlValue, Statement};
use crate::calendar::{day_label, days_from_civil, month_label, Zone};
use crate::rollup::{bucket_sums, TtfbBuckets, TTFB_BOUNDS_MS};

const HOUR_MS: u64 = 3_600_000;
/// How many users and departments the heaviest lists show.
pub const TOP: u32 = 10;

/// The periods the overview covers, at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub zone: String,
    /// Today, `YYYY-MM-DD` in the zone (the ledger's and rollup's `day`).
    pub today: String,
    /// This month's first day.
    pub month_start: String,
    pub month: String,
    /// `[from, to)` hour numbers (Unix hours) of today and of this month, for the hourly rollup.
    pub today_hours: (u64, u64),
    pub month_hours: (u64, u64),
}

impl Window {
    pub fn at(zone: &Zone, now_ms: u64) -> Window {
        let day = zone.day(now_ms);
        let month = zone.month(now_ms);
        let first = days_from_civil(i64::from(month / 12), month % 12 + 1, 1);
        let first = u32::try_from(first.max(0)).unwrap_or(0);
        let hour = |ms: u64| ms / HOUR_MS;
        let end = zone.next_day_start_ms(day).div_ceil(HOUR_MS);
        Window {
            zone: zone.name.clone(),
            today: day_label(day),
            month_start: day_label(first),
            month: month_label(month),
            today_hours: (hour(zone.day_start_ms(day)), end),
            month_hours: (hour(zone.day_start_ms(first)), end),
        }
    }
}

/// The overview's statements, in the order [`assemble`] reads their rows.
pub fn queries(window: &Window) -> Vec<Statement> {
    let days = |from: &str| vec![SqlValue::from(from), SqlValue::from(window.today.as_str())];
    let hours = |(from, to): (u64, u64)| {
        let hour = |n: u64| SqlValue::Integer(i64::try_from(n).unwrap_or(i64::MAX));
        vec![hour(from), hour(to)]
    };
    let totals = "SELECT SUM(requests) AS requests, SUM(failed) AS failed, \
        SUM(cache_hits) AS cache_hits, SUM(prompt_tokens) AS prompt_tokens, \
        SUM(completion_tokens) AS completion_tokens, SUM(cached_tokens) AS cached_tokens, \
        SUM(reasoning_tokens) AS reasoning_tokens, SUM(cost_micro_usd) AS cost_micro_usd, \
        SUM(rated_up) AS rated_up, SUM(rated_down) AS rated_down \
        FROM ledger_daily WHERE day >= ?1 AND day <= ?2"
        .to_string();
    let top = |column: &str| {
        format!(
            "SELECT {column} AS key, SUM(requests) AS requests, \
             SUM(prompt_tokens + completion_tokens) AS tokens, SUM(cost_micro_usd) AS cost_micro_usd \
             FROM ledger_daily WHERE day >= ?1 AND day <= ?2 AND {column} != '' \
             GROUP BY {column} ORDER BY cost_micro_usd DESC, tokens DESC, key LIMIT {TOP}"
        )
    };
    let endings = format!(
        "SELECT ending, SUM(requests) AS requests, {} FROM ledger_hourly \
         WHERE hour >= ?1 AND hour < ?2 GROUP BY ending ORDER BY ending",
        bucket_sums()
    );
    let by_day =
        "SELECT day AS key, SUM(requests) AS requests, SUM(cost_micro_usd) AS cost_micro_usd \
        FROM ledger_daily WHERE day >= ?1 AND day <= ?2 GROUP BY day ORDER BY day"
            .to_string();
    [
        (totals.clone(), days(&window.today)),
        (totals, days(&window.month_start)),
        (endings.clone(), hours(window.today_hours)),
        (endings, hours(window.month_hours)),
        (by_day, days(&window.month_start)),
        (top("user"), days(&window.today)),
        (top("user"), days(&window.month_start)),
        (top("dept"), days(&window.today)),
        (top("dept"), days(&window.month_start)),
    ]
    .into_iter()
    .map(|(sql, values)| Statement { sql, values })
    .collect()
}

/// The answer, from each query's rows in [`queries`]' order (missing ones read as empty).
pub fn assemble(window: &Window, results: &[Vec<Value>]) -> Value {
    let rows = |index: usize| results.get(index).map(Vec::as_slice).unwrap_or_default();
    json!({
        "timezone": window.zone,
        "today": window.today,
        "month": window.month,
        "periods": {
            "today": period(rows(0), rows(2)),
            "month": period(rows(1), rows(3)),
        },
        "spend_by_day": rows(4).iter().map(|row| json!({
            "day": text(row, "key"),
            "requests": number(row, "requests"),
            "cost_usd": usd(number(row, "cost_micro_usd")),
        })).collect::<Vec<_>>(),
        "top_users": { "today": top(rows(5)), "month": top(rows(6)) },
        "top_departments": { "today": top(rows(7)), "month": top(rows(8)) },
    })
}

fn period(totals: &[Value], endings: &[Value]) -> Value {
    let empty = Value::Null;
    let total = totals.first().unwrap_or(&empty);
    let mut buckets = vec![0u64; TTFB_BOUNDS_MS.len() + 1];
    let mut errors = Map::new();
    for row in endings {
        for (index, bucket) in buckets.iter_mut().enumerate() {
            *bucket += number(row, &format!("ttfb_b{index}"));
        }
        let ending = text(row, "ending");
        let requests = number(row, "requests");
        if requests > 0 && !matches!(ending.as_str(), "completed" | "cached" | "abandoned") {
            errors.insert(ending, json!(requests));
        }
    }
    let ttfb = TtfbBuckets { counts: buckets };
    json!({
        "requests": number(total, "requests"),
        "failed": number(total, "failed"),
        "cache_hits": number(total, "cache_hits"),
        "prompt_tokens": number(total, "prompt_tokens"),
        "completion_tokens": number(total, "completion_tokens"),
        "cached_tokens": number(total, "cached_tokens"),
        "reasoning_tokens": number(total, "reasoning_tokens"),
        "cost_usd": usd(number(total, "cost_micro_usd")),
        "feedback": { "up": number(total, "rated_up"), "down": number(total, "rated_down") },
        "endings": errors,
        "ttft_p50_ms": ttfb.quantile_ms(0.5),
        "ttft_p95_ms": ttfb.quantile_ms(0.95),
    })
}

fn top(rows: &[Value]) -> Vec<Value> {
    rows.iter()
        .map(|row| {
            json!({
                "key": text(row, "key"),
                "requests": number(row, "requests"),
                "tokens": number(row, "tokens"),
                "cost_usd": usd(number(row, "cost_micro_usd")),
            })
        })
        .collect()
}

/// A column as a whole number: D1 answers numbers as doubles, and `SUM` of nothing as null.
fn number(row: &Value, column: &str) -> u64 {
    row.get(column)
        .and_then(Value::as_f64)
        .map_or(0, |n| n.max(0.0) as u64)
}

fn text(row: &Value, column: &str) -> String {
    row.get(column)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn usd(micro_usd: u64) -> f64 {
    micro_usd as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-12-05T20:00Z: already the 6th in Shanghai.
    const NOW: u64 = 1_796_500_800_000;

    #[test]
    fn the_window_is_the_zones_day_and_month() {
        let shanghai = Window::at(&Zone::parse("Asia/Shanghai").unwrap_or_default(), NOW);
        assert_eq!(shanghai.today, "2026-12-06");
        assert_eq!(shanghai.month_start, "2026-12-01");
        assert_eq!(shanghai.month, "2026-12");
        // The 6th in Shanghai starts at 2026-12-05T16:00Z.
        assert_eq!(shanghai.today_hours.0 * HOUR_MS, 1_796_486_400_000);
        assert_eq!(shanghai.today_hours.1 - shanghai.today_hours.0, 24);
        let utc = Window::at(&Zone::utc(), NOW);
        assert_eq!(utc.today, "2026-12-05");
    }

    #[test]
    fn every_query_reads_a_rollup_and_binds_its_values() {
        let window = Window::at(&Zone::utc(), NOW);
        let queries = queries(&window);
        assert_eq!(queries.len(), 9);
        for Statement { sql, values } in &queries {
            assert!(
                sql.contains("FROM ledger_daily") || sql.contains("FROM ledger_hourly"),
                "{sql}"
            );
            assert!(!sql.contains("FROM ledger "), "{sql}");
            assert_eq!(values.len(), 2);
        }
    }

    #[test]
    fn rows_become_the_answer() {
        let window = Window::at(&Zone::utc(), NOW);
        let totals = json!({"requests": 10.0, "failed": 1.0, "cost_micro_usd": 2_500_000.0,
            "rated_up": 3.0, "rated_down": 1.0, "cache_hits": null});
        let endings = vec![
            json!({"ending": "completed", "requests": 8.0, "ttfb_b0": 4.0, "ttfb_b1": 4.0}),
            json!({"ending": "failed", "requests": 1.0}),
            json!({"ending": "cached", "requests": 1.0}),
        ];
        let users = vec![
            json!({"key": "u:a", "requests": 6.0, "tokens": 600.0, "cost_micro_usd": 2_000_000.0}),
        ];
        let results = vec![
            vec![totals.clone()],
            vec![totals],
            endings.clone(),
            endings,
            vec![json!({"key": "2026-12-05", "requests": 10.0, "cost_micro_usd": 2_500_000.0})],
            users.clone(),
            users,
        ];
        let answer = assemble(&window, &results);
        let today = &answer["periods"]["today"];
        assert_eq!(today["requests"], 10);
        assert_eq!(today["cache_hits"], 0, "a null sum reads as 0");
        assert_eq!(today["cost_usd"], 2.5);
        assert_eq!(today["feedback"], json!({"up": 3, "down": 1}));
        assert_eq!(today["endings"], json!({"failed": 1}));
        assert_eq!(today["ttft_p50_ms"], 250);
        assert_eq!(answer["spend_by_day"][0]["day"], "2026-12-05");
        assert_eq!(answer["top_users"]["month"][0]["key"], "u:a");
        assert_eq!(
            answer["top_departments"]["today"],
            json!([]),
            "a missing result is empty"
        );
    }
}
