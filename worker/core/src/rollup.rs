//! Daily and hourly rollups of the ledger, kept by SQLite triggers as rows are inserted, so
//! that reports and the console's overview read a few thousand rollup rows instead of a
//! million ledger rows.
//!
//! Why triggers: a ledger row is inserted with `INSERT OR IGNORE` (a retried batch writes
//! nothing twice), and a trigger fires only for a row actually inserted, so a rollup counts
//! each row exactly once, in the same transaction as the row. A rating (`feedback`) moves its
//! row's counts by the same means. An existing ledger is rolled up once, in the batch that
//! creates the triggers ([`schema`]), so nothing is counted twice or missed. Both tables are
//! `WITHOUT ROWID`: clustered on their key, which starts with the day (the hour), so a
//! month's rows are one contiguous range (a 30-day month's totals: 197 → 65 ms at a
//! million ledger rows, bench/RESULTS.md "Ledger at scale").

use serde::{Deserialize, Serialize};

/// Upper bounds (ms) of the time-to-first-token buckets of `ledger_hourly` (`ttfb_b0`..`b6`;
/// `ttfb_b7` is past the last).
pub const TTFB_BOUNDS_MS: [u64; 7] = [250, 500, 1_000, 2_000, 5_000, 10_000, 30_000];

/// Endings that count as failed requests.
const FAILED: &str = "('failed', 'upstream_cut', 'upstream_error')";

/// Endings whose first-token time is an answer's (not a cache hit's, not a failure's).
const TIMED: &str = "NEW.ttfb_ms > 0 AND NEW.ending NOT IN ('abandoned', 'cached', 'failed')";

/// The rollup tables, their triggers and the one-time rollup of an existing ledger; run as
/// one batch (one transaction), after the ledger's own schema and migrations.
pub fn schema() -> Vec<String> {
    let buckets = bucket_columns();
    let bucket_defs: String = buckets
        .iter()
        .map(|column| format!(", {column} INTEGER NOT NULL DEFAULT 0"))
        .collect();
    let bucket_values: String = bucket_tests("NEW.ttfb_ms")
        .iter()
        .map(|test| format!(", ({TIMED}) AND {test}"))
        .collect();
    let bucket_updates: String = buckets
        .iter()
        .map(|column| format!(", {column} = {column} + excluded.{column}"))
        .collect();
    let bucket_list = buckets.join(", ");
    let bucket_sums: String = bucket_tests("ttfb_ms")
        .iter()
        .map(|test| format!(", SUM({timed} AND {test})", timed = timed_backfill()))
        .collect();
    vec![
        "CREATE TABLE IF NOT EXISTS ledger_daily (
            day TEXT NOT NULL, user TEXT NOT NULL, model TEXT NOT NULL, route TEXT NOT NULL,
            dept TEXT NOT NULL, tier TEXT NOT NULL,
            rows INTEGER NOT NULL DEFAULT 0, requests INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0, cache_hits INTEGER NOT NULL DEFAULT 0,
            prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0,
            cached_tokens INTEGER NOT NULL DEFAULT 0, reasoning_tokens INTEGER NOT NULL DEFAULT 0,
            cost_micro_usd INTEGER NOT NULL DEFAULT 0,
            rated_up INTEGER NOT NULL DEFAULT 0, rated_down INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (day, user, model, route, dept, tier)) WITHOUT ROWID"
            .to_string(),
        "CREATE INDEX IF NOT EXISTS ledger_daily_user ON ledger_daily (user, day)".to_string(),
        format!(
            "CREATE TABLE IF NOT EXISTS ledger_hourly (
            hour INTEGER NOT NULL, model TEXT NOT NULL, route TEXT NOT NULL, ending TEXT NOT NULL,
            rows INTEGER NOT NULL DEFAULT 0, requests INTEGER NOT NULL DEFAULT 0,
            prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0,
            cost_micro_usd INTEGER NOT NULL DEFAULT 0, ttfb_count INTEGER NOT NULL DEFAULT 0
            {bucket_defs},
            PRIMARY KEY (hour, model, route, ending)) WITHOUT ROWID"
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS ledger_rollup AFTER INSERT ON ledger BEGIN
            INSERT INTO ledger_daily (day, user, model, route, dept, tier, rows, requests, failed,
                cache_hits, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens,
                cost_micro_usd, rated_up, rated_down)
            VALUES (NEW.day, NEW.user, NEW.model_used, NEW.route, COALESCE(NEW.dept, ''),
                COALESCE(NEW.tier, ''), 1, NEW.ending != 'abandoned', NEW.ending IN {FAILED},
                NEW.ending = 'cached', NEW.prompt_tokens, NEW.completion_tokens,
                NEW.cached_tokens, NEW.reasoning_tokens, NEW.cost_micro_usd,
                COALESCE(NEW.feedback, 0) > 0, COALESCE(NEW.feedback, 0) < 0)
            ON CONFLICT (day, user, model, route, dept, tier) DO UPDATE SET
                rows = rows + 1, requests = requests + excluded.requests,
                failed = failed + excluded.failed, cache_hits = cache_hits + excluded.cache_hits,
                prompt_tokens = prompt_tokens + excluded.prompt_tokens,
                completion_tokens = completion_tokens + excluded.completion_tokens,
                cached_tokens = cached_tokens + excluded.cached_tokens,
                reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
                cost_micro_usd = cost_micro_usd + excluded.cost_micro_usd,
                rated_up = rated_up + excluded.rated_up,
                rated_down = rated_down + excluded.rated_down;
            INSERT INTO ledger_hourly (hour, model, route, ending, rows, requests, prompt_tokens,
                completion_tokens, cost_micro_usd, ttfb_count, {bucket_list})
            VALUES (NEW.ts_ms / 3600000, NEW.model_used, NEW.route, NEW.ending, 1,
                NEW.ending != 'abandoned', NEW.prompt_tokens, NEW.completion_tokens,
                NEW.cost_micro_usd, {TIMED}{bucket_values})
            ON CONFLICT (hour, model, route, ending) DO UPDATE SET
                rows = rows + 1, requests = requests + excluded.requests,
                prompt_tokens = prompt_tokens + excluded.prompt_tokens,
                completion_tokens = completion_tokens + excluded.completion_tokens,
                cost_micro_usd = cost_micro_usd + excluded.cost_micro_usd,
                ttfb_count = ttfb_count + excluded.ttfb_count{bucket_updates};
            END"
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS ledger_rollup_feedback AFTER UPDATE OF feedback ON ledger
            BEGIN
            UPDATE ledger_daily SET
                rated_up = rated_up + (COALESCE(NEW.feedback, 0) > 0) - (COALESCE(OLD.feedback, 0) > 0),
                rated_down = rated_down + (COALESCE(NEW.feedback, 0) < 0) - (COALESCE(OLD.feedback, 0) < 0)
            WHERE day = NEW.day AND user = NEW.user AND model = NEW.model_used
                AND route = NEW.route AND dept = COALESCE(NEW.dept, '') AND tier = COALESCE(NEW.tier, '');
            END"
        ),
        // The one-time rollup of rows inserted before the triggers existed: only while the
        // rollup is empty, which it stays only until its first row. The test is a one-row table
        // joined first (CROSS JOIN keeps that order): as `WHERE NOT EXISTS`, SQLite walked a
        // whole ledger index to find nothing on every isolate's first write or report (~0.1 s
        // at 1,000,000 rows, bench/RESULTS.md "Ledger at scale").
        format!(
            "INSERT INTO ledger_daily (day, user, model, route, dept, tier, rows, requests, failed,
                cache_hits, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens,
                cost_micro_usd, rated_up, rated_down)
            SELECT day, user, model_used, route, COALESCE(dept, ''), COALESCE(tier, ''), COUNT(*),
                SUM(ending != 'abandoned'), SUM(ending IN {FAILED}), SUM(ending = 'cached'),
                SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens),
                SUM(reasoning_tokens), SUM(cost_micro_usd), SUM(COALESCE(feedback, 0) > 0),
                SUM(COALESCE(feedback, 0) < 0)
            FROM (SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM ledger_daily)) AS empty CROSS JOIN ledger
            GROUP BY day, user, model_used, route, COALESCE(dept, ''), COALESCE(tier, '')"
        ),
        format!(
            "INSERT INTO ledger_hourly (hour, model, route, ending, rows, requests, prompt_tokens,
                completion_tokens, cost_micro_usd, ttfb_count, {bucket_list})
            SELECT ts_ms / 3600000, model_used, route, ending, COUNT(*), SUM(ending != 'abandoned'),
                SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_micro_usd),
                SUM({timed}){bucket_sums}
            FROM (SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM ledger_hourly)) AS empty CROSS JOIN ledger
            GROUP BY ts_ms / 3600000, model_used, route, ending",
            timed = timed_backfill()
        ),
    ]
}

/// `ttfb_b0` .. `ttfb_b7`.
fn bucket_columns() -> Vec<String> {
    (0..=TTFB_BOUNDS_MS.len())
        .map(|index| format!("ttfb_b{index}"))
        .collect()
}

/// The test that puts a time in each bucket.
fn bucket_tests(column: &str) -> Vec<String> {
    let mut tests = Vec::new();
    let mut lower = 0;
    for bound in TTFB_BOUNDS_MS {
        tests.push(format!("{column} > {lower} AND {column} <= {bound}"));
        lower = bound;
    }
    tests.push(format!("{column} > {lower}"));
    tests
}

fn timed_backfill() -> String {
    TIMED.replace("NEW.", "")
}

/// `SUM(ttfb_b0), ..., SUM(ttfb_b7)` for a query over `ledger_hourly`.
pub fn bucket_sums() -> String {
    bucket_columns()
        .iter()
        .map(|column| format!("SUM({column}) AS {column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A time-to-first-token histogram read back from the hourly rollup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtfbBuckets {
    pub counts: Vec<u64>,
}

impl TtfbBuckets {
    /// The `q` quantile (0..=1) in ms, interpolated linearly inside its bucket (as
    /// Prometheus' `histogram_quantile` does); `None` with no observation. A quantile in the
    /// open last bucket is reported as its lower bound.
    pub fn quantile_ms(&self, q: f64) -> Option<u64> {
        let total: u64 = self.counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut seen = 0u64;
        let mut lower = 0u64;
        for (index, count) in self.counts.iter().enumerate() {
            let Some(upper) = TTFB_BOUNDS_MS.get(index).copied() else {
                return Some(lower);
            };
            if *count > 0 && (seen + count) as f64 >= rank {
                let within = (rank - seen as f64) / *count as f64;
                return Some(lower + ((upper - lower) as f64 * within).round() as u64);
            }
            seen += count;
            lower = upper;
        }
        Some(lower)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_inside_their_bucket() {
        // 10 answers: 4 under 250 ms, 4 in 250-500 ms, 2 in 1-2 s.
        let buckets = TtfbBuckets {
            counts: vec![4, 4, 0, 2, 0, 0, 0, 0],
        };
        assert_eq!(buckets.quantile_ms(0.5), Some(313));
        assert_eq!(buckets.quantile_ms(0.95), Some(1_750));
        assert_eq!(buckets.quantile_ms(0.0), Some(0));
        assert_eq!(TtfbBuckets::default().quantile_ms(0.5), None);
        let slow = TtfbBuckets {
            counts: vec![0, 0, 0, 0, 0, 0, 0, 3],
        };
        assert_eq!(slow.quantile_ms(0.5), Some(30_000), "past the last bound");
    }

    #[test]
    fn the_schema_names_every_bucket_once() {
        let schema = schema().join("\n");
        for index in 0..=TTFB_BOUNDS_MS.len() {
            assert!(schema.contains(&format!("ttfb_b{index} INTEGER")));
        }
        assert!(!schema.contains("ttfb_b8"));
        assert!(bucket_sums().ends_with("SUM(ttfb_b7) AS ttfb_b7"));
    }
}
