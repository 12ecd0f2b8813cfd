//! Usage reports over the ledger: `GET /admin/usage?user=&model=&from=&to=&group=&format=`.
//! Parsing the query and shaping the answer is pure; the glue runs the SQL on D1. The SQL
//! reads the daily rollup (`rollup.rs`), never the ledger's rows, so a report costs the same
//! with a million rows as with a thousand.

use serde::{Deserialize, Serialize};

use crate::admin_query::day_param;
use crate::error::ProxyError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Day,
    Model,
    User,
    Route,
    Dept,
    Tier,
}

impl Group {
    /// The rollup column grouped by (fixed names, never caller text: no SQL injection).
    pub fn column(self) -> &'static str {
        match self {
            Group::Day => "day",
            Group::Model => "model",
            Group::User => "user",
            Group::Route => "route",
            Group::Dept => "dept",
            Group::Tier => "tier",
        }
    }

    /// The CSV header's name for the key column (the ledger's names, as before rollups).
    pub fn label(self) -> &'static str {
        match self {
            Group::Model => "model_used",
            other => other.column(),
        }
    }

    fn parse(value: &str) -> Option<Group> {
        Some(match value {
            "day" => Group::Day,
            "model" => Group::Model,
            "user" => Group::User,
            "route" => Group::Route,
            "dept" => Group::Dept,
            "tier" => Group::Tier,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageQuery {
    pub user: Option<String>,
    pub model: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub group: Group,
    pub csv: bool,
}

/// One group's totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageRow {
    pub key: String,
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Of `prompt_tokens`, those the provider served from its prompt cache.
    pub cached_tokens: u64,
    /// Of `completion_tokens`, the chain of thought of reasoning models.
    pub reasoning_tokens: u64,
    pub total_tokens: u64,
    pub cost_usd: f64,
}

/// A group's sums as the ledger has them (cost in micro-USD), before they become a [`UsageRow`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
    pub cost_micro_usd: u64,
}

impl Totals {
    /// Adds one ledger row (what the rollup's sums do, for stores without SQL). An abandoned
    /// attempt is billed but is not a request of its own.
    pub fn add(&mut self, row: &crate::ledger::LedgerRow) {
        self.requests += u64::from(row.ending != crate::ledger::Ending::Abandoned);
        self.prompt_tokens += row.prompt_tokens;
        self.completion_tokens += row.completion_tokens;
        self.cached_tokens += row.cached_tokens;
        self.reasoning_tokens += row.reasoning_tokens;
        self.cost_micro_usd += row.cost_micro_usd;
    }

    pub fn into_row(self, key: String) -> UsageRow {
        UsageRow {
            key,
            requests: self.requests,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cached_tokens: self.cached_tokens,
            reasoning_tokens: self.reasoning_tokens,
            total_tokens: self.prompt_tokens + self.completion_tokens,
            cost_usd: self.cost_micro_usd as f64 / 1_000_000.0,
        }
    }
}

impl UsageQuery {
    /// Parses `key=value` pairs (already percent-decoded by the URL parser).
    pub fn parse<'a>(
        pairs: impl Iterator<Item = (String, String)> + 'a,
    ) -> Result<UsageQuery, ProxyError> {
        let mut query = UsageQuery {
            user: None,
            model: None,
            from: None,
            to: None,
            group: Group::Day,
            csv: false,
        };
        for (key, value) in pairs {
            let value = value.trim().to_string();
            if value.is_empty() {
                continue;
            }
            match key.as_str() {
                "user" => query.user = Some(value),
                "model" => query.model = Some(value),
                "from" => query.from = Some(day_param(&value, "from")?),
                "to" => query.to = Some(day_param(&value, "to")?),
                "group" => {
                    query.group = Group::parse(&value).ok_or_else(|| {
                        ProxyError::invalid(
                            "group",
                            "`group` must be day, model, user, route, dept or tier.",
                        )
                    })?
                }
                "format" => {
                    query.csv = match value.as_str() {
                        "csv" => true,
                        "json" => false,
                        _ => {
                            return Err(ProxyError::invalid(
                                "format",
                                "`format` must be json or csv.",
                            ))
                        }
                    }
                }
                other => {
                    return Err(ProxyError::invalid(
                        other,
                        format!("Unknown parameter `{other}`."),
                    ))
                }
            }
        }
        Ok(query)
    }

    /// The aggregate SQL and its bound values, in order.
    pub fn sql(&self) -> (String, Vec<String>) {
        let mut conditions = Vec::new();
        let mut values = Vec::new();
        for (column, op, value) in [
            ("user", "=", &self.user),
            ("model", "=", &self.model),
            ("day", ">=", &self.from),
            ("day", "<=", &self.to),
        ] {
            if let Some(value) = value {
                values.push(value.clone());
                conditions.push(format!("{column} {op} ?{}", values.len()));
            }
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let column = self.group.column();
        let sql = format!(
            "SELECT {column} AS key, SUM(requests) AS requests, SUM(prompt_tokens) AS prompt_tokens, \
             SUM(completion_tokens) AS completion_tokens, SUM(cached_tokens) AS cached_tokens, \
             SUM(reasoning_tokens) AS reasoning_tokens, SUM(cost_micro_usd) AS cost_micro_usd \
             FROM ledger_daily{filter} GROUP BY {column} ORDER BY {column}"
        );
        (sql, values)
    }
}

/// RFC 4180 CSV with a header row; keys are quoted when they need it.
pub fn to_csv(group: Group, rows: &[UsageRow]) -> String {
    let mut out = format!(
        "{},requests,prompt_tokens,completion_tokens,cached_tokens,reasoning_tokens,total_tokens,\
         cost_usd\r\n",
        group.label()
    );
    for row in rows {
        let key = if row.key.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", row.key.replace('"', "\"\""))
        } else {
            row.key.clone()
        };
        out.push_str(&format!(
            "{key},{},{},{},{},{},{},{:.6}\r\n",
            row.requests,
            row.prompt_tokens,
            row.completion_tokens,
            row.cached_tokens,
            row.reasoning_tokens,
            row.total_tokens,
            row.cost_usd
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<UsageQuery, ProxyError> {
        UsageQuery::parse(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn filters_become_bound_parameters() {
        let query = parse(&[
            ("user", "u:alice"),
            ("from", "2026-11-01"),
            ("group", "model"),
        ])
        .unwrap();
        let (sql, values) = query.sql();
        assert!(sql.contains("WHERE user = ?1 AND day >= ?2"), "{sql}");
        assert!(sql.contains("GROUP BY model"));
        assert!(sql.contains("FROM ledger_daily"), "reports read the rollup");
        assert_eq!(values, ["u:alice", "2026-11-01"]);
    }

    #[test]
    fn bad_parameters_are_named() {
        for (pairs, param) in [
            (vec![("group", "week")], "group"),
            (vec![("group", "model_used; DROP TABLE ledger")], "group"),
            (vec![("from", "11/01/2026")], "from"),
            (vec![("format", "xml")], "format"),
            (vec![("drop", "table")], "drop"),
        ] {
            match parse(&pairs) {
                Err(ProxyError::InvalidRequest {
                    param: Some(got), ..
                }) => assert_eq!(got, param),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn csv_quotes_keys_that_need_it() {
        let totals = Totals {
            requests: 2,
            prompt_tokens: 10,
            completion_tokens: 5,
            cached_tokens: 4,
            reasoning_tokens: 3,
            cost_micro_usd: 1_500,
        };
        let rows = vec![totals.into_row("a,b".into())];
        let csv = to_csv(Group::User, &rows);
        assert_eq!(
            csv,
            "user,requests,prompt_tokens,completion_tokens,cached_tokens,reasoning_tokens,total_tokens,\
             cost_usd\r\n\"a,b\",2,10,5,4,3,15,0.001500\r\n"
        );
    }
}
