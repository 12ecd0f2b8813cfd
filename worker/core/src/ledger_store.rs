//! The ledger's storage as the handlers see it: rows written, rated, reported and listed, and
//! the virtual keys' listing. D1 implements it on Cloudflare (`worker/src/ledger_d1.rs`); a
//! self-hosted workerd, without D1, gets a second implementation. [`MemoryLedger`] is the
//! in-memory one that tests use, and it can fail on purpose.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::ProxyError;
use crate::ledger::LedgerRow;
use crate::usage::{Group, Totals, UsageQuery, UsageRow};

/// A page of the newest ledger rows: `GET /admin/ledger?limit=&offset=&user=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentQuery {
    pub limit: u32,
    pub offset: u32,
    pub user: Option<String>,
}

impl RecentQuery {
    /// Rows per page unless asked, and at most.
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 1000;
    /// Paging through a large ledger (the soak reconciles every row) is bounded too.
    pub const MAX_OFFSET: u32 = 10_000_000;

    /// From `key=value` pairs; numbers that do not parse take their default, and every number
    /// is clamped.
    pub fn parse(pairs: impl Iterator<Item = (String, String)>) -> RecentQuery {
        let mut query = RecentQuery {
            limit: Self::DEFAULT_LIMIT,
            offset: 0,
            user: None,
        };
        for (key, value) in pairs {
            match key.as_str() {
                "limit" => {
                    query.limit = value
                        .parse::<u32>()
                        .unwrap_or(Self::DEFAULT_LIMIT)
                        .min(Self::MAX_LIMIT)
                }
                "offset" => query.offset = value.parse::<u32>().unwrap_or(0).min(Self::MAX_OFFSET),
                "user" if !value.is_empty() && value.len() <= 256 => query.user = Some(value),
                _ => {}
            }
        }
        query
    }
}

/// A virtual key as the admin listing shows it (the key itself is never stored; `hash` finds
/// the key's own object, which authentication reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyListing {
    pub id: String,
    pub hash: String,
    pub name: String,
    pub tier: Option<String>,
    pub created_ms: u64,
    pub revoked: bool,
}

/// What the handlers need from the ledger's storage. Every method is one round trip.
#[allow(async_fn_in_trait)] // Single-threaded (a Worker isolate): no `Send` bound wanted.
pub trait LedgerStore {
    /// Writes `rows` in one transaction; a row already there is left as it is, so a retried
    /// batch is harmless.
    async fn insert(&self, rows: &[LedgerRow]) -> Result<(), ProxyError>;
    /// Sets (or, with 0, clears) the rating of `user`'s row `request_id`. `false`: no such row
    /// of theirs (yet).
    async fn rate(&self, request_id: &str, user: &str, rating: i8) -> Result<bool, ProxyError>;
    /// The totals `query` asks for, one row per group, ordered by the group's key.
    async fn usage(&self, query: &UsageQuery) -> Result<Vec<UsageRow>, ProxyError>;
    /// The newest rows first, as JSON objects with the ledger's column names.
    async fn recent(&self, query: &RecentQuery) -> Result<Vec<Value>, ProxyError>;
    async fn add_key(&self, key: &KeyListing) -> Result<(), ProxyError>;
    /// Every virtual key, oldest first.
    async fn keys(&self) -> Result<Vec<KeyListing>, ProxyError>;
    async fn key(&self, id: &str) -> Result<Option<KeyListing>, ProxyError>;
    async fn revoke_key(&self, id: &str) -> Result<(), ProxyError>;
}

/// The ledger in memory, for tests. `fail(true)` makes every call fail as a storage outage
/// would, with nothing written.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    rows: RefCell<BTreeMap<String, (LedgerRow, Option<i8>)>>,
    keys: RefCell<Vec<KeyListing>>,
    failing: Cell<bool>,
}

impl MemoryLedger {
    pub fn fail(&self, failing: bool) {
        self.failing.set(failing);
    }

    pub fn rating(&self, request_id: &str) -> Option<i8> {
        self.rows.borrow().get(request_id).and_then(|(_, r)| *r)
    }

    pub fn len(&self) -> usize {
        self.rows.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn up(&self) -> Result<(), ProxyError> {
        if self.failing.get() {
            Err(ProxyError::Internal)
        } else {
            Ok(())
        }
    }
}

impl LedgerStore for MemoryLedger {
    async fn insert(&self, rows: &[LedgerRow]) -> Result<(), ProxyError> {
        self.up()?;
        let mut stored = self.rows.borrow_mut();
        for row in rows {
            stored
                .entry(row.id.clone())
                .or_insert_with(|| (row.clone(), None));
        }
        Ok(())
    }

    async fn rate(&self, request_id: &str, user: &str, rating: i8) -> Result<bool, ProxyError> {
        self.up()?;
        let mut stored = self.rows.borrow_mut();
        match stored.get_mut(request_id) {
            Some((row, feedback)) if row.user == user => {
                *feedback = (rating != 0).then_some(rating);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn usage(&self, query: &UsageQuery) -> Result<Vec<UsageRow>, ProxyError> {
        self.up()?;
        let mut groups: BTreeMap<String, Totals> = BTreeMap::new();
        let at_least =
            |value: &str, bound: &Option<String>| bound.as_deref().is_none_or(|b| value >= b);
        let at_most =
            |value: &str, bound: &Option<String>| bound.as_deref().is_none_or(|b| value <= b);
        for (row, _) in self.rows.borrow().values() {
            let wanted = query.user.as_deref().is_none_or(|user| row.user == user)
                && query
                    .model
                    .as_deref()
                    .is_none_or(|model| row.model_used == model)
                && at_least(&row.day, &query.from)
                && at_most(&row.day, &query.to);
            if !wanted {
                continue;
            }
            let key = match query.group {
                Group::Day => row.day.clone(),
                Group::Model => row.model_used.clone(),
                Group::User => row.user.clone(),
                Group::Route => row.route.clone(),
                Group::Dept => row.dept.clone().unwrap_or_default(),
                Group::Tier => row.tier.clone(),
            };
            groups.entry(key).or_default().add(row);
        }
        Ok(groups
            .into_iter()
            .map(|(key, totals)| totals.into_row(key))
            .collect())
    }

    async fn recent(&self, query: &RecentQuery) -> Result<Vec<Value>, ProxyError> {
        self.up()?;
        let stored = self.rows.borrow();
        let mut rows: Vec<&LedgerRow> = stored
            .values()
            .map(|(row, _)| row)
            .filter(|row| query.user.as_deref().is_none_or(|user| row.user == user))
            .collect();
        rows.sort_by(|a, b| b.ts_ms.cmp(&a.ts_ms).then_with(|| a.id.cmp(&b.id)));
        Ok(rows
            .into_iter()
            .skip(query.offset as usize)
            .take(query.limit as usize)
            .map(|row| serde_json::to_value(row).unwrap_or(Value::Null))
            .collect())
    }

    async fn add_key(&self, key: &KeyListing) -> Result<(), ProxyError> {
        self.up()?;
        self.keys.borrow_mut().push(key.clone());
        Ok(())
    }

    async fn keys(&self) -> Result<Vec<KeyListing>, ProxyError> {
        self.up()?;
        let mut keys = self.keys.borrow().clone();
        keys.sort_by_key(|key| key.created_ms);
        Ok(keys)
    }

    async fn key(&self, id: &str) -> Result<Option<KeyListing>, ProxyError> {
        self.up()?;
        Ok(self.keys.borrow().iter().find(|key| key.id == id).cloned())
    }

    async fn revoke_key(&self, id: &str) -> Result<(), ProxyError> {
        self.up()?;
        for key in self.keys.borrow_mut().iter_mut().filter(|key| key.id == id) {
            key.revoked = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store's futures never wait on anything: polling once finishes them.
    fn now<T>(future: impl std::future::Future<Output = T>) -> T {
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut context) {
            std::task::Poll::Ready(value) => value,
            std::task::Poll::Pending => panic!("the in-memory ledger never waits"),
        }
    }

    fn row(id: &str, user: &str, day: &str, model: &str, tokens: u64) -> LedgerRow {
        LedgerRow {
            ts_ms: tokens,
            day: day.into(),
            model_asked: model.into(),
            model_used: model.into(),
            route_reason: "default".into(),
            prompt_tokens: tokens,
            completion_tokens: tokens * 2,
            cached_tokens: tokens / 2,
            reasoning_tokens: tokens,
            cost_micro_usd: tokens * 10,
            ttfb_ms: 1,
            total_ms: 2,
            ..crate::ledger::sample_row(id, user)
        }
    }

    #[test]
    fn a_user_rates_only_their_own_rows_and_zero_clears() {
        let ledger = MemoryLedger::default();
        now(ledger.insert(&[row("req_a", "alice", "2026-12-01", "m", 1)])).unwrap();
        assert!(!now(ledger.rate("req_a", "bob", 1)).unwrap());
        assert_eq!(ledger.rating("req_a"), None);
        assert!(now(ledger.rate("req_a", "alice", -1)).unwrap());
        assert_eq!(ledger.rating("req_a"), Some(-1));
        assert!(now(ledger.rate("req_a", "alice", 0)).unwrap());
        assert_eq!(ledger.rating("req_a"), None);
        assert!(!now(ledger.rate("req_missing", "alice", 1)).unwrap());
    }

    #[test]
    fn a_retried_batch_changes_nothing() {
        let ledger = MemoryLedger::default();
        let first = row("req_a", "alice", "2026-12-01", "m", 1);
        now(ledger.insert(std::slice::from_ref(&first))).unwrap();
        let mut again = first.clone();
        again.prompt_tokens = 999;
        now(ledger.insert(&[again, row("req_b", "alice", "2026-12-01", "m", 2)])).unwrap();
        assert_eq!(ledger.len(), 2);
        let query = RecentQuery::parse(std::iter::empty());
        let rows = now(ledger.recent(&query)).unwrap();
        assert_eq!(
            rows[1]["prompt_tokens"], 1,
            "the first write of a row stands"
        );
    }

    #[test]
    fn usage_groups_and_filters_like_the_sql() {
        let ledger = MemoryLedger::default();
        now(ledger.insert(&[
            row("r1", "alice", "2026-12-01", "gpt-4o-mini", 1),
            row("r2", "alice", "2026-12-02", "gpt-4o", 2),
            row("r3", "bob", "2026-12-02", "gpt-4o", 3),
        ]))
        .unwrap();
        let pairs = [("group", "user"), ("from", "2026-12-02")]
            .map(|(k, v)| (k.to_string(), v.to_string()));
        let query = UsageQuery::parse(pairs.into_iter()).unwrap();
        let usage = now(ledger.usage(&query)).unwrap();
        let keys: Vec<_> = usage.iter().map(|u| (u.key.as_str(), u.requests)).collect();
        assert_eq!(keys, [("alice", 1), ("bob", 1)]);
        assert_eq!(usage[1].prompt_tokens, 3);
        assert_eq!(usage[1].completion_tokens, 6);
        assert_eq!((usage[1].cached_tokens, usage[1].reasoning_tokens), (1, 3));
    }

    #[test]
    fn recent_pages_newest_first_and_clamps_what_it_is_sent() {
        let query = RecentQuery::parse(
            [("limit", "999999"), ("offset", "-3"), ("user", "")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into_iter(),
        );
        assert_eq!(
            query,
            RecentQuery {
                limit: RecentQuery::MAX_LIMIT,
                offset: 0,
                user: None
            }
        );
        let ledger = MemoryLedger::default();
        now(ledger.insert(&[
            row("r1", "alice", "2026-12-01", "m", 1),
            row("r2", "bob", "2026-12-01", "m", 2),
            row("r3", "alice", "2026-12-01", "m", 3),
        ]))
        .unwrap();
        let alice = RecentQuery {
            limit: 1,
            offset: 1,
            user: Some("alice".into()),
        };
        let rows = now(ledger.recent(&alice)).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["id"], "r1");
    }

    #[test]
    fn a_failing_store_writes_nothing() {
        let ledger = MemoryLedger::default();
        ledger.fail(true);
        let error = now(ledger.insert(&[row("r1", "alice", "2026-12-01", "m", 1)]));
        assert_eq!(error, Err(ProxyError::Internal));
        ledger.fail(false);
        assert!(ledger.is_empty());
        let key = KeyListing {
            id: "vk_1".into(),
            hash: "h".into(),
            name: "ci".into(),
            tier: None,
            created_ms: 5,
            revoked: false,
        };
        now(ledger.add_key(&key)).unwrap();
        now(ledger.revoke_key("vk_1")).unwrap();
        assert!(now(ledger.key("vk_1")).unwrap().unwrap().revoked);
    }
}
