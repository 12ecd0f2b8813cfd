//! How an [`Account`](crate::account::Account) is persisted: as rows that change one at
//! a time instead of one document rewritten whole. A [`Change`] names one row to write; a
//! [`Snapshot`] is every row, read once when the object starts. The object's SQL tables
//! (`durable/account_store.rs`) and the in-memory fake of the tests apply the same changes.
//!
//! The rows:
//! - the rate log, one row per millisecond with its number of admissions (an admission adds
//!   one; admissions that left the window go by one range delete, each row once);
//! - round counts, one row per tracked conversation with its first-seen order;
//! - budget reservations, one row per request in flight;
//! - the budget's own small document (day, totals, limits, lease, recently expired ids).
//!
//! Objects written before this split hold the whole account as one JSON document; it is read
//! here ([`Snapshot::from_legacy_document`]) and written once as rows.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::budget::{Budget, Reservation};
use crate::limiter::Tracked;

/// One row to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `added` more admissions in millisecond `at_ms`.
    Admissions {
        at_ms: u64,
        added: u64,
    },
    /// Admissions before `oldest_ms` left the window; `None`: the log is empty.
    ExpiredBefore {
        oldest_ms: Option<u64>,
    },
    Rounds {
        conversation: String,
        tracked: Tracked,
    },
    Forgot {
        conversation: String,
    },
    Reserved {
        id: String,
        reservation: Reservation,
    },
    Unreserved {
        id: String,
    },
    /// The budget's document, to replace the stored one.
    Budget {
        document: String,
    },
}

impl Change {
    pub fn budget(budget: &Budget) -> Change {
        Change::Budget {
            // Plain structs with string-keyed maps: serialising them to a string cannot fail.
            document: serde_json::to_string(budget).unwrap_or_default(),
        }
    }
}

/// Every persisted row of an account.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// `(millisecond, admissions)`.
    pub admissions: Vec<(u64, u64)>,
    pub rounds: Vec<(String, Tracked)>,
    pub budget: Option<Budget>,
    pub reservations: Vec<(String, Reservation)>,
}

/// The budget's stored document; an unreadable one counts as none (as the old store did).
pub fn parse_budget(document: &str) -> Option<Budget> {
    serde_json::from_str(document).ok()
}

/// The account document written before the split into rows.
#[derive(Deserialize)]
struct LegacyAccount {
    limiter: LegacyLimiter,
    rounds: LegacyRounds,
    /// Conversation ids in first-seen order.
    #[serde(default)]
    conversations: Vec<String>,
    budget: Option<Budget>,
}

#[derive(Deserialize)]
struct LegacyLimiter {
    log: Vec<u64>,
}

#[derive(Deserialize)]
struct LegacyRounds {
    rounds: BTreeMap<String, u32>,
}

impl Snapshot {
    /// The rows of an account stored as one document (before the split). An unreadable
    /// document counts as a fresh account, as it did before.
    pub fn from_legacy_document(document: &str) -> Snapshot {
        let Ok(legacy) = serde_json::from_str::<LegacyAccount>(document) else {
            return Snapshot::default();
        };
        let mut admissions: Vec<(u64, u64)> = Vec::new();
        for at_ms in legacy.limiter.log {
            match admissions.last_mut() {
                Some((last, count)) if *last == at_ms => *count += 1,
                _ => admissions.push((at_ms, 1)),
            }
        }
        let mut counts = legacy.rounds.rounds;
        let mut rounds = Vec::with_capacity(counts.len());
        // First-seen order is the list's; a count missing from the list (never written so)
        // goes after it.
        for conversation in legacy.conversations {
            if let Some(count) = counts.remove(&conversation) {
                let seq = rounds.len() as u64;
                rounds.push((conversation, Tracked { rounds: count, seq }));
            }
        }
        for (conversation, count) in counts {
            let seq = rounds.len() as u64;
            rounds.push((conversation, Tracked { rounds: count, seq }));
        }
        // The old budget document still holds its reservations; they come back with it.
        Snapshot {
            admissions,
            rounds,
            budget: legacy.budget,
            reservations: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{
        Account, AdmitRequest, Prepared, Refusal, SettleRequest, MAX_TRACKED_CONVERSATIONS,
    };

    /// The fake store: the same tables as the object's SQLite, as maps.
    #[derive(Default)]
    struct Rows {
        admissions: BTreeMap<u64, u64>,
        rounds: BTreeMap<String, Tracked>,
        reservations: BTreeMap<String, Reservation>,
        budget: Option<String>,
        /// Rows written or deleted, and bytes bound to statements, over all `apply` calls.
        rows_touched: usize,
        bytes_written: usize,
    }

    impl Rows {
        fn apply(&mut self, changes: Vec<Change>) {
            for change in changes {
                self.bytes_written += bytes_bound(&change);
                match change {
                    Change::Admissions { at_ms, added } => {
                        self.rows_touched += 1;
                        *self.admissions.entry(at_ms).or_insert(0) += added;
                    }
                    Change::ExpiredBefore { oldest_ms } => {
                        let kept = match oldest_ms {
                            Some(oldest) => self.admissions.split_off(&oldest),
                            None => BTreeMap::new(),
                        };
                        self.rows_touched += self.admissions.len();
                        self.admissions = kept;
                    }
                    Change::Rounds {
                        conversation,
                        tracked,
                    } => {
                        self.rows_touched += 1;
                        self.rounds.insert(conversation, tracked);
                    }
                    Change::Forgot { conversation } => {
                        self.rows_touched += 1;
                        self.rounds.remove(&conversation);
                    }
                    Change::Reserved { id, reservation } => {
                        self.rows_touched += 1;
                        self.reservations.insert(id, reservation);
                    }
                    Change::Unreserved { id } => {
                        self.rows_touched += 1;
                        self.reservations.remove(&id);
                    }
                    Change::Budget { document } => {
                        self.rows_touched += 1;
                        self.budget = Some(document);
                    }
                }
            }
        }

        fn snapshot(&self) -> Snapshot {
            Snapshot {
                admissions: self.admissions.clone().into_iter().collect(),
                rounds: self.rounds.clone().into_iter().collect(),
                budget: self.budget.as_deref().and_then(parse_budget),
                reservations: self.reservations.clone().into_iter().collect(),
            }
        }

        /// What the object does on start: one read of every row.
        fn load(&self) -> Account {
            Account::restore(self.snapshot())
        }
    }

    /// Bytes a change binds to its SQL statement (integers as 8 bytes).
    fn bytes_bound(change: &Change) -> usize {
        match change {
            Change::Admissions { .. } => 16,
            Change::ExpiredBefore { .. } => 8,
            Change::Rounds { conversation, .. } => conversation.len() + 16,
            Change::Forgot { conversation } => conversation.len(),
            Change::Reserved { id, .. } => id.len() + 24,
            Change::Unreserved { id } => id.len(),
            Change::Budget { document } => document.len(),
        }
    }

    /// The account tests' request, without a conversation and with a budget that never binds.
    fn request(id: &str, now_ms: u64, rpm: u32) -> AdmitRequest {
        AdmitRequest {
            rpm: Some(rpm),
            conversation_id: None,
            daily_tokens: Some(1_000_000_000),
            ..crate::account::tests::request(id, now_ms)
        }
    }

    fn settle(id: &str, now_ms: u64) -> SettleRequest {
        SettleRequest {
            request_id: id.into(),
            now_ms,
            tokens: 80,
            micro_usd: 8,
            conversation_id: None,
            refund_round: false,
            keep_lease_micro_usd: 0,
            deployment_cap_micro_usd: None,
        }
    }

    /// Admits like the object does (prepare, then admit) and persists the changes.
    fn admit(account: &mut Account, rows: &mut Rows, asked: &AdmitRequest) -> Result<(), Refusal> {
        let prepared = account.prepare(asked);
        rows.apply(account.take_changes());
        assert_eq!(prepared?, Prepared::Ready);
        let (admitted, _) = account.admit(asked);
        rows.apply(account.take_changes());
        admitted
    }

    /// The stored rows are exactly the account's rows.
    #[track_caller]
    fn check_reload(account: &Account, rows: &Rows) {
        let mut expected = Rows::default();
        expected.apply(account.rows());
        assert_eq!(rows.admissions, expected.admissions);
        assert_eq!(rows.rounds, expected.rounds);
        assert_eq!(rows.reservations, expected.reservations);
        assert_eq!(rows.snapshot().budget, expected.snapshot().budget);
    }

    #[test]
    fn a_reloaded_window_decides_exactly_as_the_live_one() {
        let mut live = Account::default();
        let mut rows = Rows::default();
        let mut decisions = Vec::new();
        // Bursts of 4 per millisecond every 7 ms for 3 minutes against 50 per minute,
        // reloading from the rows every 100 steps: no window may hold more than 50.
        for step in 0..(180_000 / 7) {
            let now = step * 7;
            for burst in 0..4 {
                let asked = request(&format!("r{step}.{burst}"), now, 50);
                let admitted = admit(&mut live, &mut rows, &asked).is_ok();
                if admitted {
                    decisions.push(now);
                    live.settle(&settle(&asked.request_id, now));
                    rows.apply(live.take_changes());
                }
            }
            if step % 100 == 0 {
                check_reload(&live, &rows);
                live = rows.load();
            }
        }
        for (index, &start) in decisions.iter().enumerate() {
            let in_window = decisions[index..]
                .iter()
                .take_while(|&&at| at < start + 60_000)
                .count();
            assert!(in_window <= 50, "window at {start} holds {in_window}");
        }
        assert_eq!(decisions.len(), 150, "three full minutes");
        check_reload(&live, &rows);
    }

    #[test]
    fn a_refused_request_leaves_no_stored_trace() {
        let mut account = Account::default();
        let mut rows = Rows::default();
        admit(&mut account, &mut rows, &request("a", 1_000, 1)).unwrap();
        let before = rows.snapshot();
        assert!(matches!(
            admit(&mut account, &mut rows, &request("b", 1_001, 1)),
            Err(Refusal::Rate { .. })
        ));
        assert_eq!(rows.snapshot(), before);
        check_reload(&account, &rows);
    }

    #[test]
    fn rounds_and_forgetting_survive_a_reload() {
        let mut account = Account::default();
        let mut rows = Rows::default();
        let in_conversation = |id: &str, conversation: &str| {
            let mut asked = request(id, 1_000, 1_000);
            asked.conversation_id = Some(conversation.into());
            asked
        };
        for index in 0..3 {
            admit(
                &mut account,
                &mut rows,
                &in_conversation(&format!("r{index}"), "c1"),
            )
            .unwrap();
        }
        let mut reloaded = rows.load();
        assert_eq!(
            admit(&mut reloaded, &mut rows, &in_conversation("r3", "c1")),
            Err(Refusal::Rounds { max: 3 })
        );
        // A failed request gives its round back, also after a reload.
        let mut refund = settle("r2", 2_000);
        refund.conversation_id = Some("c1".into());
        refund.refund_round = true;
        reloaded.settle(&refund);
        rows.apply(reloaded.take_changes());
        assert_eq!(rows.load().rounds_used("c1"), 2);
        reloaded.forget_conversation("c1");
        rows.apply(reloaded.take_changes());
        assert_eq!(rows.load().rounds_used("c1"), 0);
        check_reload(&reloaded, &rows);
    }

    #[test]
    fn only_the_newest_conversations_are_tracked_in_the_rows() {
        let mut account = Account::default();
        let mut rows = Rows::default();
        for index in 0..(MAX_TRACKED_CONVERSATIONS + 5) {
            let mut asked = request(&format!("r{index}"), 1_000, 1_000_000);
            asked.conversation_id = Some(format!("c{index}"));
            admit(&mut account, &mut rows, &asked).unwrap();
        }
        assert_eq!(rows.rounds.len(), MAX_TRACKED_CONVERSATIONS);
        assert!(!rows.rounds.contains_key("c4") && rows.rounds.contains_key("c5"));
        check_reload(&account, &rows);
    }

    #[test]
    fn budget_settle_and_release_survive_a_reload() {
        let mut account = Account::default();
        let mut rows = Rows::default();
        let mut asked = request("a", 1_000, 100);
        asked.daily_tokens = Some(250);
        admit(&mut account, &mut rows, &asked).unwrap();
        asked.request_id = "b".into();
        admit(&mut account, &mut rows, &asked).unwrap();
        assert_eq!(rows.reservations.len(), 2);
        let mut reloaded = rows.load();
        asked.request_id = "c".into();
        assert!(
            matches!(
                admit(&mut reloaded, &mut rows, &asked),
                Err(Refusal::Budget { .. })
            ),
            "two reservations of 100 hold 200 of 250"
        );
        reloaded.settle(&settle("a", 2_000));
        let mut released = settle("b", 2_000);
        released.tokens = 0;
        released.micro_usd = 0;
        reloaded.settle(&released);
        rows.apply(reloaded.take_changes());
        assert!(rows.reservations.is_empty());
        let usage = rows.load().usage(2_000).unwrap();
        assert_eq!((usage.spent_tokens, usage.reserved_tokens), (80, 0));
        check_reload(&reloaded, &rows);
    }

    /// Regression for the 2.7 ms per request: every admission rewrote the whole account,
    /// whose rate log at rpm 100,000,000 and ~300 requests a second holds ~18,000 entries.
    #[test]
    fn rows_written_per_request_do_not_grow_with_the_log() {
        let mut account = Account::default();
        let mut rows = Rows::default();
        let mut written = Vec::new();
        for index in 0..18_000u64 {
            // ~300 requests a second: one every 3 ms, all within the minute.
            let now = 1_763_596_800_000 + index * 3;
            let (rows_before, bytes_before) = (rows.rows_touched, rows.bytes_written);
            let asked = request(&format!("req-{index:08}"), now, 100_000_000);
            admit(&mut account, &mut rows, &asked).unwrap();
            account.settle(&settle(&asked.request_id, now));
            rows.apply(account.take_changes());
            written.push((
                rows.rows_touched - rows_before,
                rows.bytes_written - bytes_before,
            ));
        }
        assert_eq!(rows.admissions.len(), 18_000, "the log is full of a minute");
        let (late_rows, late_bytes) = written[17_999];
        assert!(
            written[100..].iter().all(|&(rows, _)| rows <= 7),
            "admit + settle touch a few rows"
        );
        assert!(late_bytes < 1_000, "{late_bytes} bytes for admit + settle");
        // The same account as one document (what every write cost before).
        let legacy = serde_json::json!({
            "limiter": {"window_ms": 60_000, "limit": 100_000_000u64,
                        "log": account.rows().iter().filter_map(|row| match row {
                            Change::Admissions { at_ms, .. } => Some(*at_ms), _ => None,
                        }).collect::<Vec<u64>>()},
            "rounds": {"rounds": {}},
            "conversations": [],
            "budget": null,
        });
        let legacy_bytes = legacy.to_string().len();
        assert!(legacy_bytes > 100 * late_bytes);
        println!(
            "per admit+settle at a log of 18,000: {late_rows} rows, {late_bytes} bytes \
             (before: the {legacy_bytes}-byte account document, written 3 times per admit \
             and once per settle)"
        );
    }

    #[test]
    fn an_old_account_document_migrates_to_rows() {
        // Written by the previous version: one JSON document with the whole account, the
        // reservations inside the budget.
        let legacy = serde_json::json!({
            "limiter": {"window_ms": 60_000, "limit": 3, "log": [1_000, 1_000, 2_000]},
            "rounds": {"rounds": {"old": 2, "new": 1}},
            "conversations": ["old", "new"],
            "budget": {
                "day": 0, "limit_tokens": 1_000, "limit_micro_usd": null,
                "spent_tokens": 0, "spent_micro_usd": 0,
                "reserved_tokens": 300, "reserved_micro_usd": 0,
                "reservations": {"in-flight": {"tokens": 300, "micro_usd": 0, "created_ms": 1_000}},
                "expired": [], "ttl_ms": 600_000, "lease": null, "lease_slice_micro_usd": 0,
            },
        });
        let migrated = Account::restore(Snapshot::from_legacy_document(&legacy.to_string()));
        let mut rows = Rows::default();
        rows.apply(migrated.rows());
        assert_eq!(rows.admissions, BTreeMap::from([(1_000, 2), (2_000, 1)]));
        assert_eq!(rows.reservations.len(), 1);
        let mut account = rows.load();
        assert_eq!(account, migrated);
        assert_eq!(account.rounds_used("old"), 2);
        // The log still counts: 3 of 3 used until the first leaves at 61,000.
        assert_eq!(
            admit(&mut account, &mut rows, &request("x", 30_000, 3)),
            Err(Refusal::Rate {
                retry_after_ms: 31_000
            })
        );
        // The reservation still holds 300 of 1,000 tokens.
        let mut big = request("y", 61_000, 3);
        big.daily_tokens = Some(1_000);
        big.reserve_tokens = 701;
        assert!(matches!(
            admit(&mut account, &mut rows, &big),
            Err(Refusal::Budget { .. })
        ));
        // "old" was seen first, so it is forgotten first.
        let first_seen: Vec<String> = {
            let mut tracked: Vec<(String, Tracked)> = rows.rounds.clone().into_iter().collect();
            tracked.sort_by_key(|(_, tracked)| tracked.seq);
            tracked
                .into_iter()
                .map(|(conversation, _)| conversation)
                .collect()
        };
        assert_eq!(first_seen, ["old", "new"]);
        // An unreadable document is a fresh account, as before.
        assert_eq!(
            Account::restore(Snapshot::from_legacy_document("not json")),
            Account::default()
        );
    }
}
