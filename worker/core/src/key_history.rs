//! Upstream key health over time, for the console's Keys page: each change of a key's state
//! (ok, cooling, disabled, probing) as the key health object applies reports, kept as a log
//! of transitions. Keys are named by id (`key_1a2b3c4d`), never by the key.

use serde::{Deserialize, Serialize};

use crate::keypool::{Health, HealthSnapshot, KeyState};

/// How long the log keeps a transition, and at most how many it keeps.
pub const KEEP_MS: u64 = 30 * 86_400_000;
pub const KEEP_ENTRIES: u64 = 20_000;
/// The most a history query answers.
pub const MAX_ANSWER: u32 = 5_000;

/// A key's state as the console names it.
pub fn state_name(state: &KeyState, now_ms: u64) -> &'static str {
    match state.health {
        Health::Disabled { .. } if state.probing_since_ms.is_some() => "probing",
        Health::Disabled { .. } => "disabled",
        Health::CoolingDown { until_ms } if until_ms > now_ms => "cooling",
        _ => "ok",
    }
}

/// One change of one key's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthChange {
    pub at_ms: u64,
    pub upstream: String,
    pub key_id: String,
    pub state: String,
    /// For `cooling`: until when (it is `ok` again after that without another entry).
    pub until_ms: Option<u64>,
}

/// The changes between two snapshots of one upstream's keys, at `now_ms`. A key new to the
/// snapshot counts as having been `ok`; a cooling period that is extended is a change too.
pub fn changes(
    upstream: &str,
    before: &HealthSnapshot,
    after: &HealthSnapshot,
    now_ms: u64,
) -> Vec<HealthChange> {
    let until = |state: &KeyState| match state.health {
        Health::CoolingDown { until_ms } if until_ms > now_ms => Some(until_ms),
        _ => None,
    };
    after
        .keys
        .iter()
        .filter_map(|(key_id, state)| {
            let now_name = state_name(state, now_ms);
            let (was_name, was_until) = before
                .keys
                .get(key_id)
                .map_or(("ok", None), |old| (state_name(old, now_ms), until(old)));
            let changed = now_name != was_name || until(state) != was_until;
            changed.then(|| HealthChange {
                at_ms: now_ms,
                upstream: upstream.to_string(),
                key_id: key_id.as_str().to_string(),
                state: now_name.to_string(),
                until_ms: until(state),
            })
        })
        .collect()
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct HistoryQuery {
    pub since_ms: u64,
    pub limit: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HealthHistory {
    /// Oldest first.
    pub changes: Vec<HealthChange>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keypool::{KeyPool, Outcome, Strategy};

    fn pool() -> KeyPool {
        KeyPool::new(
            vec![("sk-one".into(), 1), ("sk-two".into(), 1)],
            Strategy::RoundRobin,
        )
    }

    #[test]
    fn a_disabled_key_and_a_cooling_key_are_changes_and_a_success_is_not() {
        let mut pool = pool();
        let ids: Vec<_> = pool.ids().cloned().collect();
        let before = pool.snapshot();
        pool.report(&ids[0], Outcome::Success, 1_000);
        assert!(changes("openai", &before, &pool.snapshot(), 1_000).is_empty());
        pool.report(&ids[0], Outcome::Unauthorized, 2_000);
        pool.report(
            &ids[1],
            Outcome::RateLimited {
                retry_after_ms: Some(30_000),
            },
            2_000,
        );
        let found = changes("openai", &before, &pool.snapshot(), 2_000);
        assert_eq!(found.len(), 2);
        let of = |id: &crate::keypool::KeyId| {
            found
                .iter()
                .find(|change| change.key_id == id.as_str())
                .map(|change| (change.state.as_str(), change.until_ms.is_some()))
        };
        assert_eq!(of(&ids[0]), Some(("disabled", false)));
        assert_eq!(of(&ids[1]), Some(("cooling", true)));
        assert!(
            found.iter().all(|c| c.key_id.starts_with("key_")),
            "ids, never keys"
        );
    }

    #[test]
    fn a_cooling_period_that_ran_out_reads_as_ok() {
        let mut pool = pool();
        let id = pool
            .ids()
            .next()
            .cloned()
            .unwrap_or_else(|| panic!("a key"));
        pool.report(
            &id,
            Outcome::RateLimited {
                retry_after_ms: Some(1_000),
            },
            0,
        );
        let state = pool.state(&id).cloned().unwrap_or_else(|| panic!("known"));
        assert_eq!(state_name(&state, 500), "cooling");
        assert_eq!(state_name(&state, 5_000), "ok");
    }
}
