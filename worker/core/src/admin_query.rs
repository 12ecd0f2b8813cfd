//! The console's ledger queries, pure: the parameters of `GET /admin/ledger` (filters and
//! paging), `GET /admin/users?q=` (user search) and `GET /admin/quality` (ratings), parsed and
//! clamped, and turned into SQLite text with bound values; and what is left of a user's
//! budgets ([`Remaining`]). Column names and operators are
//! fixed strings here; caller text only ever travels as a bound value, so no parameter can
//! change the SQL. The shell runs the statements on D1 (`worker/src/console_d1.rs`).

use serde::Serialize;

use crate::budget::BudgetUsage;
use crate::error::ProxyError;
use crate::ledger::Ending;

/// A value bound to a `?n` placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    Text(String),
    Integer(i64),
}

impl From<&str> for SqlValue {
    fn from(text: &str) -> SqlValue {
        SqlValue::Text(text.to_string())
    }
}

/// Statement text and its values, in placeholder order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    pub values: Vec<SqlValue>,
}

/// A `WHERE` clause built one condition at a time, numbering placeholders as it goes.
#[derive(Default)]
struct Conditions {
    parts: Vec<String>,
    values: Vec<SqlValue>,
}

impl Conditions {
    /// `column op ?n`, for a fixed column and operator.
    fn push(&mut self, column: &'static str, op: &'static str, value: SqlValue) {
        self.values.push(value);
        self.parts
            .push(format!("{column} {op} ?{}", self.values.len()));
    }

    /// A fixed condition without values.
    fn push_fixed(&mut self, condition: &'static str) {
        self.parts.push(condition.to_string());
    }

    fn push_optional(&mut self, column: &'static str, op: &'static str, value: &Option<String>) {
        if let Some(value) = value {
            self.push(column, op, SqlValue::Text(value.clone()));
        }
    }

    /// The next placeholder's number, for a value added after the conditions (a limit).
    fn bind(&mut self, value: SqlValue) -> String {
        self.values.push(value);
        format!("?{}", self.values.len())
    }

    fn clause(&self) -> String {
        if self.parts.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.parts.join(" AND "))
        }
    }
}

/// The longest filter text taken (ids, model and route names are far shorter).
pub const MAX_FILTER_CHARS: usize = 256;

/// A filter's text: empty means no filter; longer than [`MAX_FILTER_CHARS`] is a 400.
fn filter_text(value: String, field: &str) -> Result<Option<String>, ProxyError> {
    let value = value.trim().to_string();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > MAX_FILTER_CHARS {
        return Err(ProxyError::invalid(
            field,
            format!("`{field}` must be at most {MAX_FILTER_CHARS} characters."),
        ));
    }
    Ok(Some(value))
}

/// A `YYYY-MM-DD` day, checked to be a calendar date in shape and range, so that comparing it
/// with the ledger's `day` column means what it says.
pub fn day_param(value: &str, field: &str) -> Result<String, ProxyError> {
    let refuse =
        || ProxyError::invalid(field, format!("`{field}` must be a date like 2026-11-25."));
    let bytes = value.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shaped {
        return Err(refuse());
    }
    let number = |range: std::ops::Range<usize>| value[range].parse::<u32>().unwrap_or(0);
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(refuse());
    }
    Ok(value.to_string())
}

/// `from` and `to` (inclusive days), refused when they are the wrong way round.
fn date_range(from: &Option<String>, to: &Option<String>) -> Result<(), ProxyError> {
    match (from, to) {
        (Some(from), Some(to)) if from > to => {
            Err(ProxyError::invalid("from", "`from` is after `to`."))
        }
        _ => Ok(()),
    }
}

/// A number parameter: what does not parse takes `default`, and everything is clamped.
fn clamped(value: &str, default: u32, range: std::ops::RangeInclusive<u32>) -> u32 {
    let number = match value.trim().parse::<u64>() {
        Ok(n) => n.min(u64::from(u32::MAX)) as u32,
        // Too many digits is a very large number, not no number.
        Err(error) if *error.kind() == std::num::IntErrorKind::PosOverflow => u32::MAX,
        Err(_) => default,
    };
    number.clamp(*range.start(), *range.end())
}

/// `GET /admin/ledger`: a page of the newest rows with the filters given. It answers what the
/// earlier `?limit=&offset=&user=` answered for the same parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerPage {
    pub limit: u32,
    pub offset: u32,
    pub user: Option<String>,
    pub model: Option<String>,
    pub route: Option<String>,
    pub ending: Option<Ending>,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl LedgerPage {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 1000;
    /// Paging through a large ledger (the soak reconciles every row) is bounded too.
    pub const MAX_OFFSET: u32 = 10_000_000;

    /// From `key=value` pairs. Numbers that do not parse take their default and every number
    /// is clamped (as before); a bad date or an unknown ending is a 400 naming it. Other
    /// parameters are ignored, as they always were here.
    pub fn parse(pairs: impl Iterator<Item = (String, String)>) -> Result<LedgerPage, ProxyError> {
        let mut page = LedgerPage {
            limit: Self::DEFAULT_LIMIT,
            offset: 0,
            user: None,
            model: None,
            route: None,
            ending: None,
            from: None,
            to: None,
        };
        for (key, value) in pairs {
            match key.as_str() {
                "limit" => page.limit = clamped(&value, Self::DEFAULT_LIMIT, 1..=Self::MAX_LIMIT),
                "offset" => page.offset = clamped(&value, 0, 0..=Self::MAX_OFFSET),
                "user" => page.user = filter_text(value, "user")?,
                "model" => page.model = filter_text(value, "model")?,
                "route" => page.route = filter_text(value, "route")?,
                "ending" => {
                    page.ending = match value.trim() {
                        "" => None,
                        name => Some(ending_named(name).ok_or_else(|| {
                            ProxyError::invalid("ending", format!("Unknown ending `{name}`."))
                        })?),
                    }
                }
                "from" if !value.trim().is_empty() => {
                    page.from = Some(day_param(value.trim(), "from")?)
                }
                "to" if !value.trim().is_empty() => page.to = Some(day_param(value.trim(), "to")?),
                _ => {}
            }
        }
        date_range(&page.from, &page.to)?;
        Ok(page)
    }

    /// `SELECT *` of the page, newest first (ties by id, so pages never overlap).
    pub fn statement(&self) -> Statement {
        let mut conditions = Conditions::default();
        conditions.push_optional("user", "=", &self.user);
        conditions.push_optional("model_used", "=", &self.model);
        conditions.push_optional("route", "=", &self.route);
        if let Some(ending) = self.ending {
            conditions.push("ending", "=", SqlValue::from(ending.as_str()));
        }
        conditions.push_optional("day", ">=", &self.from);
        conditions.push_optional("day", "<=", &self.to);
        let clause = conditions.clause();
        let limit = conditions.bind(SqlValue::Integer(i64::from(self.limit)));
        let offset = conditions.bind(SqlValue::Integer(i64::from(self.offset)));
        Statement {
            sql: format!(
                "SELECT * FROM ledger{clause} ORDER BY ts_ms DESC, id LIMIT {limit} OFFSET {offset}"
            ),
            values: conditions.values,
        }
    }

    /// Where the next page starts, given how many rows this one had (`None`: this was the last).
    pub fn next_offset(&self, rows: usize) -> Option<u32> {
        (rows as u32 >= self.limit)
            .then(|| self.offset.saturating_add(self.limit))
            .filter(|next| *next <= Self::MAX_OFFSET)
    }
}

/// The ending called `name` (`completed`, `failed`...).
pub fn ending_named(name: &str) -> Option<Ending> {
    ENDINGS
        .iter()
        .copied()
        .find(|ending| ending.as_str() == name)
}

/// Every ending a row can have, for the filter's choices.
pub const ENDINGS: &[Ending] = &[
    Ending::Completed,
    Ending::ClientAborted,
    Ending::UpstreamCut,
    Ending::Failed,
    Ending::Cached,
    Ending::Abandoned,
    Ending::Filtered,
    Ending::UpstreamError,
];

/// `text` as a LIKE pattern matching it anywhere, its own `%`, `_` and `\` escaped (with
/// `ESCAPE '\'`), so a search for `a_b` finds `a_b` and not `axb`.
pub fn like_substring(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// `GET /admin/users?q=`: users of the ledger whose id contains `q` (all users without one),
/// the most recently active first, with what they spent today and this month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSearch {
    pub text: Option<String>,
    pub limit: u32,
}

impl UserSearch {
    pub const MAX_LIMIT: u32 = 50;

    pub fn parse(pairs: impl Iterator<Item = (String, String)>) -> Result<UserSearch, ProxyError> {
        let mut search = UserSearch {
            text: None,
            limit: Self::MAX_LIMIT,
        };
        for (key, value) in pairs {
            match key.as_str() {
                "q" => search.text = filter_text(value, "q")?,
                "limit" => search.limit = clamped(&value, Self::MAX_LIMIT, 1..=Self::MAX_LIMIT),
                _ => {}
            }
        }
        Ok(search)
    }

    /// `today` is the budget day (`YYYY-MM-DD`) and `month_start` the first day of its month,
    /// both in `budget.timezone`, as the ledger's `day` column has them.
    pub fn statement(&self, today: &str, month_start: &str) -> Statement {
        let mut conditions = Conditions::default();
        if let Some(text) = &self.text {
            conditions.values.push(SqlValue::Text(like_substring(text)));
            conditions.parts.push(format!(
                "user LIKE ?{} ESCAPE '\\'",
                conditions.values.len()
            ));
        }
        let clause = conditions.clause();
        let today = conditions.bind(SqlValue::from(today));
        let month_start = conditions.bind(SqlValue::from(month_start));
        let limit = conditions.bind(SqlValue::Integer(i64::from(self.limit)));
        Statement {
            sql: format!(
                "SELECT user, COUNT(*) AS requests, MAX(ts_ms) AS last_ms, \
                 SUM(CASE WHEN day = {today} THEN cost_micro_usd ELSE 0 END) AS today_micro_usd, \
                 SUM(CASE WHEN day = {today} THEN prompt_tokens + completion_tokens ELSE 0 END) AS today_tokens, \
                 SUM(CASE WHEN day >= {month_start} THEN cost_micro_usd ELSE 0 END) AS month_micro_usd, \
                 SUM(CASE WHEN day >= {month_start} THEN prompt_tokens + completion_tokens ELSE 0 END) AS month_tokens \
                 FROM ledger{clause} GROUP BY user ORDER BY last_ms DESC, user LIMIT {limit}"
            ),
            values: conditions.values,
        }
    }
}

/// `GET /admin/quality?from=&to=&limit=`: ratings by route and model, and the answers rated
/// down, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualityQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: u32,
}

impl QualityQuery {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 200;
    /// Route and model pairs listed at most (a deployment has a handful of each).
    pub const MAX_GROUPS: u32 = 500;

    pub fn parse(
        pairs: impl Iterator<Item = (String, String)>,
    ) -> Result<QualityQuery, ProxyError> {
        let mut query = QualityQuery {
            from: None,
            to: None,
            limit: Self::DEFAULT_LIMIT,
        };
        for (key, value) in pairs {
            let value = value.trim();
            match key.as_str() {
                "from" if !value.is_empty() => query.from = Some(day_param(value, "from")?),
                "to" if !value.is_empty() => query.to = Some(day_param(value, "to")?),
                "limit" => query.limit = clamped(value, Self::DEFAULT_LIMIT, 1..=Self::MAX_LIMIT),
                _ => {}
            }
        }
        date_range(&query.from, &query.to)?;
        Ok(query)
    }

    fn conditions(&self, rated: &'static str) -> Conditions {
        let mut conditions = Conditions::default();
        conditions.push_fixed(rated);
        conditions.push_optional("day", ">=", &self.from);
        conditions.push_optional("day", "<=", &self.to);
        conditions
    }

    /// Up and down counts per route and model (`feedback` is 1, -1 or NULL), the most rated
    /// down first.
    pub fn counts(&self) -> Statement {
        let mut conditions = self.conditions("feedback IS NOT NULL");
        let clause = conditions.clause();
        let limit = conditions.bind(SqlValue::Integer(i64::from(Self::MAX_GROUPS)));
        Statement {
            sql: format!(
                "SELECT route, model_used AS model, \
                 SUM(CASE WHEN feedback > 0 THEN 1 ELSE 0 END) AS up, \
                 SUM(CASE WHEN feedback < 0 THEN 1 ELSE 0 END) AS down \
                 FROM ledger{clause} GROUP BY route, model_used \
                 ORDER BY down DESC, route, model_used LIMIT {limit}"
            ),
            values: conditions.values,
        }
    }

    /// The answers rated down, newest first, at most `limit`.
    pub fn rated_down(&self) -> Statement {
        let mut conditions = self.conditions("feedback < 0");
        let clause = conditions.clause();
        let limit = conditions.bind(SqlValue::Integer(i64::from(self.limit)));
        Statement {
            sql: format!(
                "SELECT id, ts_ms, day, user, model_used, route, route_reason, ending, \
                 prompt_tokens, completion_tokens, cost_micro_usd \
                 FROM ledger{clause} ORDER BY ts_ms DESC, id LIMIT {limit}"
            ),
            values: conditions.values,
        }
    }
}

/// What a user may still spend today and this month (`None`: unlimited), after what was
/// spent and what requests in flight hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Remaining {
    pub day_tokens: Option<u64>,
    pub day_micro_usd: Option<u64>,
    pub month_tokens: Option<u64>,
    pub month_micro_usd: Option<u64>,
}

impl Remaining {
    pub fn of(usage: &BudgetUsage) -> Remaining {
        let left = |limit: Option<u64>, spent: u64, reserved: u64| {
            limit.map(|limit| limit.saturating_sub(spent).saturating_sub(reserved))
        };
        Remaining {
            day_tokens: left(
                usage.limit_tokens,
                usage.spent_tokens,
                usage.reserved_tokens,
            ),
            day_micro_usd: left(
                usage.limit_micro_usd,
                usage.spent_micro_usd,
                usage.reserved_micro_usd,
            ),
            // Reservations count against the month too (budget.rs).
            month_tokens: left(
                usage.monthly_limit_tokens,
                usage.month_spent_tokens,
                usage.reserved_tokens,
            ),
            month_micro_usd: left(
                usage.monthly_limit_micro_usd,
                usage.month_spent_micro_usd,
                usage.reserved_micro_usd,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[track_caller]
    fn check_refused<T: std::fmt::Debug>(result: Result<T, ProxyError>, param: &str) {
        match result {
            Err(ProxyError::InvalidRequest { param: Some(p), .. }) => assert_eq!(p, param),
            other => panic!("expected a 400 naming `{param}`, got {other:?}"),
        }
    }

    #[test]
    fn the_old_ledger_parameters_answer_as_before() {
        let page = LedgerPage::parse(pairs(&[("limit", "20"), ("offset", "40"), ("user", "u:a")]))
            .unwrap();
        let statement = page.statement();
        assert_eq!(
            statement.sql,
            "SELECT * FROM ledger WHERE user = ?1 ORDER BY ts_ms DESC, id LIMIT ?2 OFFSET ?3"
        );
        assert_eq!(
            statement.values,
            [
                SqlValue::from("u:a"),
                SqlValue::Integer(20),
                SqlValue::Integer(40)
            ]
        );
        let unfiltered = LedgerPage::parse(std::iter::empty()).unwrap().statement();
        assert_eq!(
            unfiltered.sql,
            "SELECT * FROM ledger ORDER BY ts_ms DESC, id LIMIT ?1 OFFSET ?2"
        );
    }

    #[test]
    fn hostile_numbers_are_clamped() {
        let page = LedgerPage::parse(pairs(&[
            ("limit", "99999999999999999999"),
            ("offset", "-5"),
        ]))
        .unwrap();
        assert_eq!((page.limit, page.offset), (LedgerPage::MAX_LIMIT, 0));
        let page = LedgerPage::parse(pairs(&[("limit", "0"), ("offset", "4294967295")])).unwrap();
        assert_eq!((page.limit, page.offset), (1, LedgerPage::MAX_OFFSET));
        let page = LedgerPage::parse(pairs(&[("limit", "NaN")])).unwrap();
        assert_eq!(page.limit, LedgerPage::DEFAULT_LIMIT);
        let search = UserSearch::parse(pairs(&[("limit", "1000")])).unwrap();
        assert_eq!(search.limit, UserSearch::MAX_LIMIT);
        let quality = QualityQuery::parse(pairs(&[("limit", "100000")])).unwrap();
        assert_eq!(quality.limit, QualityQuery::MAX_LIMIT);
    }

    #[test]
    fn every_filter_is_a_bound_value() {
        let page = LedgerPage::parse(pairs(&[
            ("model", "gpt-4o'; DROP TABLE ledger; --"),
            ("route", "code"),
            ("ending", "failed"),
            ("from", "2026-11-01"),
            ("to", "2026-11-30"),
        ]))
        .unwrap();
        let statement = page.statement();
        assert_eq!(
            statement.sql,
            "SELECT * FROM ledger WHERE model_used = ?1 AND route = ?2 AND ending = ?3 \
             AND day >= ?4 AND day <= ?5 ORDER BY ts_ms DESC, id LIMIT ?6 OFFSET ?7"
        );
        assert_eq!(
            statement.values[0],
            SqlValue::from("gpt-4o'; DROP TABLE ledger; --")
        );
        assert_eq!(statement.values[2], SqlValue::from("failed"));
    }

    #[test]
    fn bad_dates_and_endings_are_refused_by_name() {
        check_refused(LedgerPage::parse(pairs(&[("from", "2026-13-01")])), "from");
        check_refused(LedgerPage::parse(pairs(&[("to", "tomorrow")])), "to");
        check_refused(
            LedgerPage::parse(pairs(&[("ending", "exploded")])),
            "ending",
        );
        check_refused(
            LedgerPage::parse(pairs(&[("from", "2026-12-02"), ("to", "2026-12-01")])),
            "from",
        );
        check_refused(
            QualityQuery::parse(pairs(&[("from", "0000-01-01")])),
            "from",
        );
        check_refused(
            LedgerPage::parse(pairs(&[("user", &"x".repeat(MAX_FILTER_CHARS + 1))])),
            "user",
        );
        // Empty values are no filter at all.
        let page =
            LedgerPage::parse(pairs(&[("from", ""), ("ending", ""), ("user", " ")])).unwrap();
        assert_eq!((page.from, page.ending, page.user), (None, None, None));
    }

    #[test]
    fn pages_know_where_the_next_starts() {
        let page = LedgerPage::parse(pairs(&[("limit", "10"), ("offset", "20")])).unwrap();
        assert_eq!(page.next_offset(10), Some(30));
        assert_eq!(page.next_offset(9), None);
    }

    #[test]
    fn search_wildcards_are_escaped() {
        assert_eq!(like_substring("alice"), "%alice%");
        assert_eq!(like_substring("a_b%c\\d"), "%a\\_b\\%c\\\\d%");
        let search = UserSearch::parse(pairs(&[("q", "50%_off")])).unwrap();
        let statement = search.statement("2026-12-05", "2026-12-01");
        assert!(
            statement
                .sql
                .contains("WHERE user LIKE ?1 ESCAPE '\\' GROUP BY user"),
            "{}",
            statement.sql
        );
        assert_eq!(
            statement.values,
            [
                SqlValue::from("%50\\%\\_off%"),
                SqlValue::from("2026-12-05"),
                SqlValue::from("2026-12-01"),
                SqlValue::Integer(50)
            ]
        );
        let everyone = UserSearch::parse(std::iter::empty()).unwrap();
        let statement = everyone.statement("2026-12-05", "2026-12-01");
        assert!(!statement.sql.contains("WHERE"), "{}", statement.sql);
        assert!(statement.sql.contains("day = ?1"), "{}", statement.sql);
    }

    #[test]
    fn quality_counts_and_rows_share_their_range() {
        let query =
            QualityQuery::parse(pairs(&[("from", "2026-12-01"), ("to", "2026-12-31")])).unwrap();
        let counts = query.counts();
        assert!(counts
            .sql
            .contains("WHERE feedback IS NOT NULL AND day >= ?1 AND day <= ?2"));
        assert_eq!(counts.values.len(), 3);
        let rows = query.rated_down();
        assert!(rows.sql.contains(
            "WHERE feedback < 0 AND day >= ?1 AND day <= ?2 ORDER BY ts_ms DESC, id LIMIT ?3"
        ));
        assert_eq!(rows.values[2], SqlValue::Integer(50));
    }

    #[test]
    fn remaining_budget_counts_what_is_in_flight_and_never_goes_below_zero() {
        let usage = BudgetUsage {
            day: 1,
            month: 1,
            month_spent_tokens: 900,
            month_spent_micro_usd: 0,
            month_resets_at_ms: 0,
            spent_tokens: 100,
            spent_micro_usd: 5_000,
            reserved_tokens: 50,
            reserved_micro_usd: 1_000,
            limit_tokens: Some(1_000),
            limit_micro_usd: Some(4_000),
            resets_at_ms: 0,
            monthly_limit_tokens: Some(10_000),
            monthly_limit_micro_usd: None,
        };
        assert_eq!(
            Remaining::of(&usage),
            Remaining {
                day_tokens: Some(850),
                day_micro_usd: Some(0),
                month_tokens: Some(9_050),
                month_micro_usd: None,
            }
        );
    }

    #[test]
    fn every_ending_has_its_name() {
        for ending in ENDINGS {
            assert_eq!(ending_named(ending.as_str()), Some(*ending));
        }
    }
}
