//! The upstream key pool: picks a key for each attempt, fails over to another, cools rate-limited
//! keys down and brings disabled keys back through half-open probes. Pure: the caller passes the
//! time and the randomness, so every schedule below is tested deterministically.
//!
//! Keys are secrets. Nothing this module prints, serialises or returns as an error contains one:
//! keys are known by their [`KeyId`], and `last_error` holds a class we format ourselves, never
//! upstream text (an upstream error message can echo the key it rejected).
//!
//! Health is per key, never per upstream: one key's 429 says nothing about its neighbours.

use std::collections::BTreeMap;
use std::fmt::{self, Write};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::provider::{classify_quirk, Provider};

/// First cooldown after a 429 without Retry-After; doubles with each consecutive 429.
pub const RATE_LIMIT_BACKOFF_START_MS: u64 = 1_000;
/// Cap of the doubling 429 cooldown.
pub const RATE_LIMIT_BACKOFF_CAP_MS: u64 = 60_000;
/// A Retry-After beyond an hour is more likely a bug than a plan; the key is retried after an hour.
pub const MAX_RETRY_AFTER_MS: u64 = 3_600_000;
/// First wait before probing a disabled key; doubles after each failed probe.
pub const PROBE_BACKOFF_START_MS: u64 = 30_000;
/// Cap of the probe backoff, so a key whose quota was topped up returns within ten minutes.
pub const PROBE_BACKOFF_CAP_MS: u64 = 600_000;
/// A probe whose outcome never arrives (its isolate was evicted mid-request) is presumed lost after
/// this long, so the key can be probed again instead of staying disabled forever (new-api #3536).
/// Outcomes are reported when the response status arrives, well within a minute.
pub const PROBE_LEASE_MS: u64 = 60_000;
/// Consecutive 5xx or timeouts after which a key sits out [`TRANSIENT_COOLDOWN_MS`]
/// (LiteLLM's "cooldown after 3 fails").
pub const TRANSIENT_FAILURES_BEFORE_COOLDOWN: u32 = 3;
pub const TRANSIENT_COOLDOWN_MS: u64 = 5_000;
/// Error bodies are only inspected up to this size; OpenAI's are a few hundred bytes.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// The public name of a key: `key_` and the first 8 hex digits of the key's SHA-256. Stable across
/// isolates and deploys, so health can be shared and logged. 32 bits of a hash of a key with well
/// over 128 bits of entropy do not help anyone guess it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    pub fn for_secret(secret: &str) -> KeyId {
        KeyId::with_hex_digits(secret, 8)
    }

    fn with_hex_digits(secret: &str, hex_digits: usize) -> KeyId {
        let digest = Sha256::digest(secret.as_bytes());
        let mut id = String::with_capacity(4 + hex_digits);
        id.push_str("key_");
        for byte in digest.iter().take(hex_digits.div_ceil(2)) {
            // Writing to a String cannot fail.
            let _ = write!(id, "{byte:02x}");
        }
        id.truncate(4 + hex_digits);
        KeyId(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// A key's secret; its `Debug` never shows it, so a derived `Debug` on anything holding one is safe.
#[derive(Clone, PartialEq, Eq)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("<redacted>")
    }
}

/// How [`KeyPool::pick`] spreads requests over the usable keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Proportional to weight.
    #[default]
    WeightedRandom,
    /// Each usable key in turn, ignoring weights.
    RoundRobin,
}

/// Whether a key may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Health {
    Healthy,
    /// Rate-limited or flaky; usable again from `until_ms`.
    CoolingDown {
        until_ms: u64,
    },
    /// Rejected (401, 403, no quota); only half-open probes use it, from `next_probe_ms` on.
    /// `failures` counts failed attempts and sets the probe backoff.
    Disabled {
        since_ms: u64,
        next_probe_ms: u64,
        failures: u32,
    },
}

/// Counters since this isolate started. Local observations: [`KeyPool::merge`] never adds them up,
/// which would count the same request twice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStats {
    pub requests: u64,
    pub successes: u64,
    pub rate_limited: u64,
    pub auth_failures: u64,
    pub quota_exhausted: u64,
    pub server_errors: u64,
    pub timeouts: u64,
    pub client_errors: u64,
}

/// Everything known about one key except its secret; what [`HealthSnapshot`] carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyState {
    pub health: Health,
    /// When `health` last changed. [`KeyPool::merge`] keeps whichever state changed last.
    pub changed_ms: u64,
    /// When the half-open probe in flight started, if one is.
    pub probing_since_ms: Option<u64>,
    pub rate_limit_streak: u32,
    /// Consecutive 5xx responses and timeouts.
    pub transient_streak: u32,
    /// A short class such as `429 rate_limited`, never upstream text.
    pub last_error: Option<String>,
    pub stats: KeyStats,
}

impl KeyState {
    fn new() -> KeyState {
        KeyState {
            health: Health::Healthy,
            changed_ms: 0,
            probing_since_ms: None,
            rate_limit_streak: 0,
            transient_streak: 0,
            last_error: None,
            stats: KeyStats::default(),
        }
    }

    fn usable(&self, now_ms: u64) -> bool {
        match self.health {
            Health::Healthy => true,
            Health::CoolingDown { until_ms } => until_ms <= now_ms,
            Health::Disabled { .. } => false,
        }
    }

    fn probe_in_flight(&self, now_ms: u64) -> bool {
        self.probing_since_ms
            .is_some_and(|since_ms| now_ms < since_ms.saturating_add(PROBE_LEASE_MS))
    }

    fn probe_due(&self, now_ms: u64) -> bool {
        match self.health {
            Health::Disabled { next_probe_ms, .. } => {
                next_probe_ms <= now_ms && !self.probe_in_flight(now_ms)
            }
            _ => false,
        }
    }

    /// When this key can next be tried, by a normal pick or a probe.
    fn available_at(&self, now_ms: u64) -> u64 {
        match self.health {
            Health::Healthy => now_ms,
            Health::CoolingDown { until_ms } => until_ms.max(now_ms),
            Health::Disabled { next_probe_ms, .. } => {
                let lease_end = match self.probing_since_ms {
                    Some(since_ms) if self.probe_in_flight(now_ms) => {
                        since_ms.saturating_add(PROBE_LEASE_MS)
                    }
                    _ => now_ms,
                };
                next_probe_ms.max(lease_end)
            }
        }
    }

    /// After an inconclusive probe: try again after the current backoff, without doubling it.
    fn reschedule_probe(&mut self, now_ms: u64) {
        if let Health::Disabled {
            since_ms, failures, ..
        } = self.health
        {
            let next_probe_ms = now_ms.saturating_add(probe_backoff(failures));
            let health = Health::Disabled {
                since_ms,
                next_probe_ms,
                failures,
            };
            self.set_health(health, now_ms);
        }
    }

    fn set_health(&mut self, health: Health, now_ms: u64) {
        if self.health != health {
            self.health = health;
            self.changed_ms = now_ms;
        }
    }
}

/// The result of an attempt with one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    Success,
    RateLimited {
        retry_after_ms: Option<u64>,
    },
    Unauthorized,
    Forbidden,
    QuotaExhausted,
    ServerError {
        status: u16,
    },
    /// No response in time, or the connection failed.
    Timeout,
    /// The request's own fault (400, 404, 422...): says nothing about the key.
    ClientError {
        status: u16,
    },
}

impl Outcome {
    /// A short name for metrics (`oachat_upstream_attempts_total{outcome}`): a closed set.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::RateLimited { .. } => "rate_limited",
            Outcome::Unauthorized => "unauthorized",
            Outcome::Forbidden => "forbidden",
            Outcome::QuotaExhausted => "quota_exhausted",
            Outcome::ServerError { .. } => "server_error",
            Outcome::Timeout => "timeout",
            Outcome::ClientError { .. } => "client_error",
        }
    }

    /// The class recorded as a key's `last_error`.
    fn error_class(&self) -> Option<String> {
        match self {
            Outcome::Success | Outcome::ClientError { .. } => None,
            Outcome::RateLimited { .. } => Some("429 rate_limited".to_owned()),
            Outcome::Unauthorized => Some("401 unauthorized".to_owned()),
            Outcome::Forbidden => Some("403 forbidden".to_owned()),
            Outcome::QuotaExhausted => Some("insufficient_quota".to_owned()),
            Outcome::ServerError { status } => Some(format!("{status} server_error")),
            Outcome::Timeout => Some("timeout".to_owned()),
        }
    }
}

/// The key chosen for one attempt. Its `Debug` shows the id only.
#[derive(Clone, PartialEq, Eq)]
pub struct Pick {
    pub id: KeyId,
    /// This attempt is a half-open probe of a disabled key; report its outcome promptly.
    pub probe: bool,
    secret: Secret,
}

impl Pick {
    /// The key itself, for the upstream `Authorization` header and nothing else.
    pub fn secret(&self) -> &str {
        &self.secret.0
    }
}

impl fmt::Debug for Pick {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Pick")
            .field("id", &self.id)
            .field("probe", &self.probe)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
struct KeyEntry {
    id: KeyId,
    secret: Secret,
    weight: u32,
    state: KeyState,
}

/// The health of every key, keyed by [`KeyId`], for a Durable Object to hold authoritatively and
/// isolates to apply with [`KeyPool::merge`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthSnapshot {
    pub keys: BTreeMap<KeyId, KeyState>,
}

/// The upstream keys of one provider and their health.
#[derive(Debug, Clone)]
pub struct KeyPool {
    keys: Vec<KeyEntry>,
    strategy: Strategy,
    round_robin_cursor: usize,
}

impl KeyPool {
    /// Builds a pool from `(secret, weight)` pairs. Secrets are trimmed (environment values often end
    /// in a newline), empty ones skipped and repeats merged into the first. Weight 0 marks a backup
    /// key, used only while no weighted key is usable.
    pub fn new(keys: Vec<(String, u32)>, strategy: Strategy) -> KeyPool {
        let mut entries: Vec<KeyEntry> = Vec::with_capacity(keys.len());
        for (secret, weight) in keys {
            let secret = secret.trim();
            if secret.is_empty() || entries.iter().any(|entry| entry.secret.0 == secret) {
                continue;
            }
            // Distinct keys sharing 32 hash bits are astronomically rare, but two keys must never
            // share an id, or one's 401 would disable the other.
            let mut hex_digits = 8;
            let mut id = KeyId::for_secret(secret);
            while hex_digits < 64 && entries.iter().any(|entry| entry.id == id) {
                hex_digits *= 2;
                id = KeyId::with_hex_digits(secret, hex_digits);
            }
            entries.push(KeyEntry {
                id,
                secret: Secret(secret.to_owned()),
                weight,
                state: KeyState::new(),
            });
        }
        KeyPool {
            keys: entries,
            strategy,
            round_robin_cursor: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.iter().map(|entry| &entry.id)
    }

    pub fn state(&self, id: &KeyId) -> Option<&KeyState> {
        self.entry(id).map(|entry| &entry.state)
    }

    /// Chooses the key for the next attempt of a request, skipping the keys in `exclude` (those the
    /// request already tried). `rand01` is a uniform random number in `[0, 1)`.
    ///
    /// A disabled key whose probe is due is chosen first, even while healthy keys exist: otherwise
    /// a disabled key would never be tried again. That costs at most one failover per key per probe
    /// interval (30 s, doubling to 10 min). Otherwise a usable key is chosen by the strategy.
    pub fn pick(&mut self, now_ms: u64, rand01: f64, exclude: &[KeyId]) -> Option<Pick> {
        let index = self
            .due_probe(now_ms, exclude)
            .or_else(|| self.choose_usable(now_ms, rand01, exclude))?;
        let entry = &mut self.keys[index];
        let probe = entry.state.probe_due(now_ms);
        if probe {
            entry.state.probing_since_ms = Some(now_ms);
        }
        entry.state.stats.requests += 1;
        Some(Pick {
            id: entry.id.clone(),
            probe,
            secret: entry.secret.clone(),
        })
    }

    fn due_probe(&self, now_ms: u64, exclude: &[KeyId]) -> Option<usize> {
        let due = self
            .keys
            .iter()
            .enumerate()
            .filter(|(_, entry)| entry.state.probe_due(now_ms) && !exclude.contains(&entry.id));
        due.min_by_key(|(_, entry)| entry.state.available_at(now_ms))
            .map(|(index, _)| index)
    }

    fn choose_usable(&mut self, now_ms: u64, rand01: f64, exclude: &[KeyId]) -> Option<usize> {
        let usable = |entry: &KeyEntry| entry.state.usable(now_ms) && !exclude.contains(&entry.id);
        let only_backups = !self
            .keys
            .iter()
            .any(|entry| entry.weight > 0 && usable(entry));
        let candidate = |entry: &KeyEntry| usable(entry) && (only_backups || entry.weight > 0);
        // Backups all weigh the same among themselves.
        let weight = |entry: &KeyEntry| {
            if only_backups {
                1
            } else {
                u64::from(entry.weight)
            }
        };

        match self.strategy {
            Strategy::WeightedRandom => {
                let total: u64 = self
                    .keys
                    .iter()
                    .filter(|entry| candidate(entry))
                    .map(weight)
                    .sum();
                if total == 0 {
                    return None;
                }
                let rand01 = if rand01.is_finite() {
                    rand01.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let target = ((rand01 * total as f64) as u64).min(total - 1);
                let mut cumulative = 0;
                self.keys.iter().position(|entry| {
                    if !candidate(entry) {
                        return false;
                    }
                    cumulative += weight(entry);
                    target < cumulative
                })
            }
            Strategy::RoundRobin => {
                let count = self.keys.len();
                let start = self.round_robin_cursor;
                let index = (0..count)
                    .map(|offset| (start + offset) % count)
                    .find(|&index| candidate(&self.keys[index]))?;
                self.round_robin_cursor = (index + 1) % count;
                Some(index)
            }
        }
    }

    /// Records the outcome of an attempt made with `key`. Reports for unknown keys (the pool was
    /// rebuilt meanwhile) are ignored.
    pub fn report(&mut self, key: &KeyId, outcome: Outcome, now_ms: u64) {
        let Some(entry) = self.keys.iter_mut().find(|entry| &entry.id == key) else {
            return;
        };
        let state = &mut entry.state;
        let was_probe = state.probing_since_ms.take().is_some();
        if let Some(class) = outcome.error_class() {
            state.last_error = Some(class);
        }
        let stats = &mut state.stats;
        match outcome {
            Outcome::Success => stats.successes += 1,
            Outcome::RateLimited { .. } => stats.rate_limited += 1,
            Outcome::Unauthorized | Outcome::Forbidden => stats.auth_failures += 1,
            Outcome::QuotaExhausted => stats.quota_exhausted += 1,
            Outcome::ServerError { .. } => stats.server_errors += 1,
            Outcome::Timeout => stats.timeouts += 1,
            Outcome::ClientError { .. } => stats.client_errors += 1,
        }

        match outcome {
            Outcome::Success => {
                state.rate_limit_streak = 0;
                state.transient_streak = 0;
                state.set_health(Health::Healthy, now_ms);
            }
            Outcome::RateLimited { retry_after_ms } => {
                // A 429 (as opposed to insufficient_quota) means the key authenticated, so it also
                // ends a disabled state.
                state.rate_limit_streak = state.rate_limit_streak.saturating_add(1);
                let cooldown_ms = match retry_after_ms {
                    Some(retry_after_ms) => retry_after_ms.min(MAX_RETRY_AFTER_MS),
                    None => doubling_backoff(
                        RATE_LIMIT_BACKOFF_START_MS,
                        RATE_LIMIT_BACKOFF_CAP_MS,
                        state.rate_limit_streak,
                    ),
                };
                let mut until_ms = now_ms.saturating_add(cooldown_ms);
                if let Health::CoolingDown { until_ms: current } = state.health {
                    until_ms = until_ms.max(current);
                }
                state.set_health(Health::CoolingDown { until_ms }, now_ms);
            }
            Outcome::Unauthorized | Outcome::Forbidden | Outcome::QuotaExhausted => {
                match state.health {
                    Health::Disabled {
                        since_ms, failures, ..
                    } => {
                        // Only the probe's verdict moves the backoff: requests picked before the key
                        // was disabled report the same failure late and must not inflate it.
                        if was_probe {
                            let failures = failures.saturating_add(1);
                            let next_probe_ms = now_ms.saturating_add(probe_backoff(failures));
                            let health = Health::Disabled {
                                since_ms,
                                next_probe_ms,
                                failures,
                            };
                            state.set_health(health, now_ms);
                        }
                    }
                    _ => {
                        let health = Health::Disabled {
                            since_ms: now_ms,
                            next_probe_ms: now_ms.saturating_add(PROBE_BACKOFF_START_MS),
                            failures: 1,
                        };
                        state.set_health(health, now_ms);
                    }
                }
            }
            Outcome::ServerError { .. } | Outcome::Timeout => {
                if let Health::Disabled { .. } = state.health {
                    // A probe that met a 5xx or timeout learned nothing about the key.
                    if was_probe {
                        state.reschedule_probe(now_ms);
                    }
                    return;
                }
                state.transient_streak = state.transient_streak.saturating_add(1);
                if state.transient_streak >= TRANSIENT_FAILURES_BEFORE_COOLDOWN {
                    state.transient_streak = 0;
                    let mut until_ms = now_ms.saturating_add(TRANSIENT_COOLDOWN_MS);
                    if let Health::CoolingDown { until_ms: current } = state.health {
                        until_ms = until_ms.max(current);
                    }
                    state.set_health(Health::CoolingDown { until_ms }, now_ms);
                }
            }
            Outcome::ClientError { .. } => {
                // The upstream answered sensibly, which breaks a run of 5xx. On a probe the answer is
                // inconclusive about the key (the request was bad), so the probe is rescheduled.
                state.transient_streak = 0;
                if was_probe {
                    state.reschedule_probe(now_ms);
                }
            }
        }
    }

    /// Whether an outcome with `key` is news for the shared health (call it before [`report`]):
    /// every key failure is, and so is a success that ends something other isolates believe (a
    /// cooldown, a streak of failures, a disabled state). Otherwise the shared view would count
    /// a 429 weeks later as "consecutive" and double its cooldown. Plain successes of a healthy
    /// key, nearly every request, are not sent; nor are the request's own errors.
    ///
    /// [`report`]: KeyPool::report
    pub fn worth_sharing(&self, key: &KeyId, outcome: &Outcome) -> bool {
        match outcome {
            Outcome::Success => self.state(key).is_some_and(|state| {
                state.health != Health::Healthy
                    || state.rate_limit_streak > 0
                    || state.transient_streak > 0
                    || state.probing_since_ms.is_some()
            }),
            Outcome::ClientError { .. } => false,
            _ => true,
        }
    }

    /// The earliest time a key can be tried again (now if one can), for a 503's Retry-After; `None`
    /// for an empty pool. For a disabled key that is its next probe, which may still fail.
    pub fn next_available_ms(&self, now_ms: u64) -> Option<u64> {
        self.keys
            .iter()
            .map(|entry| entry.state.available_at(now_ms))
            .min()
    }

    /// The health of every key, for sharing with other isolates.
    pub fn snapshot(&self) -> HealthSnapshot {
        HealthSnapshot {
            keys: self
                .keys
                .iter()
                .map(|entry| (entry.id.clone(), entry.state.clone()))
                .collect(),
        }
    }

    /// Applies another view of the keys' health: for each key, whichever state changed last wins
    /// (the snapshot on a tie, as it is the authoritative copy). A probe in flight elsewhere is
    /// adopted so this isolate does not probe the same key concurrently. Local counters are kept,
    /// and keys unknown to this pool are ignored.
    pub fn merge(&mut self, snapshot: &HealthSnapshot) {
        for entry in &mut self.keys {
            let Some(remote) = snapshot.keys.get(&entry.id) else {
                continue;
            };
            let local = &mut entry.state;
            if remote.changed_ms >= local.changed_ms {
                local.health = remote.health;
                local.changed_ms = remote.changed_ms;
                local.rate_limit_streak = remote.rate_limit_streak;
                local.transient_streak = remote.transient_streak;
                local.last_error.clone_from(&remote.last_error);
            }
            local.probing_since_ms = match local.health {
                Health::Disabled { .. } => local.probing_since_ms.max(remote.probing_since_ms),
                _ => None,
            };
        }
    }

    fn entry(&self, id: &KeyId) -> Option<&KeyEntry> {
        self.keys.iter().find(|entry| &entry.id == id)
    }
}

/// `start` doubled for each step after the first, capped.
pub fn doubling_backoff(start_ms: u64, cap_ms: u64, step: u32) -> u64 {
    let doublings = step.saturating_sub(1).min(32);
    start_ms.saturating_mul(1 << doublings).min(cap_ms)
}

fn probe_backoff(failures: u32) -> u64 {
    doubling_backoff(PROBE_BACKOFF_START_MS, PROBE_BACKOFF_CAP_MS, failures)
}

/// Classifies an upstream response by whose failure it is (see `core/failover.rs` for what
/// each class makes the request do).
///
/// Key-level, which cools or disables the key: 401; 402; any 4xx saying `insufficient_quota`
/// (also as a 429) or a billing limit; 403 or 429 saying `invalid_api_key`,
/// `account_deactivated` or an unsupported region; and 429 rate limits.
/// Request-level ([`Outcome::ClientError`]), which says nothing about the key and never
/// touches its health: 400, 404 (model not found), 403 without a key-level code (a project
/// that may not use the model), 413, 422, 429 "Request too large" (the request alone exceeds
/// the organisation's tokens per minute), content filters. One hostile or unlucky request
/// must not take the shared pool down.
///
/// `provider`'s own codes are read first ([`crate::provider::classify_quirk`]): DeepSeek's
/// 402, DashScope's `Arrearage` and region-mismatched keys, Moonshot's spent balance and
/// Zhipu's numeric account codes are the key's, whatever their status says generically.
pub fn classify(
    provider: Provider,
    status: u16,
    body: &str,
    retry_after_header: Option<&str>,
) -> Outcome {
    if (200..300).contains(&status) {
        return Outcome::Success;
    }
    let error = UpstreamError::parse(body);
    if let Some(outcome) = classify_quirk(
        provider,
        status,
        error.code.as_deref(),
        error.kind.as_deref(),
        &error.message,
    ) {
        return match outcome {
            Outcome::RateLimited { .. } => Outcome::RateLimited {
                retry_after_ms: retry_after_header.and_then(parse_retry_after_ms),
            },
            other => other,
        };
    }
    if (400..500).contains(&status) && error.says_no_quota() {
        return Outcome::QuotaExhausted;
    }
    match status {
        401 => Outcome::Unauthorized,
        // Payment Required: OpenRouter and others use it for an empty balance.
        402 => Outcome::QuotaExhausted,
        403 | 429 if error.says_key_rejected() => Outcome::Forbidden,
        403 => Outcome::ClientError { status },
        408 => Outcome::Timeout,
        429 if error.says_request_too_large() => Outcome::ClientError { status },
        429 => Outcome::RateLimited {
            retry_after_ms: retry_after_header.and_then(parse_retry_after_ms),
        },
        400..=499 => Outcome::ClientError { status },
        // 5xx, and anything an OpenAI-compatible upstream should never send.
        _ => Outcome::ServerError { status },
    }
}

/// The parts of an upstream error body that classification reads.
#[derive(Debug, Default)]
struct UpstreamError {
    code: Option<String>,
    kind: Option<String>,
    message: String,
}

impl UpstreamError {
    fn parse(body: &str) -> UpstreamError {
        if body.len() > MAX_ERROR_BODY_BYTES {
            return UpstreamError::default();
        }
        let Ok(parsed) = serde_json::from_str::<Value>(body) else {
            return UpstreamError::default();
        };
        // Some OpenAI-compatible upstreams (Gemini's) wrap the error object in an array.
        let error = match &parsed {
            Value::Array(items) => items.first().and_then(|item| item.get("error")),
            _ => parsed.get("error"),
        };
        let Some(error) = error else {
            return UpstreamError::default();
        };
        let text = |field: &str| error.get(field).and_then(Value::as_str).map(str::to_owned);
        UpstreamError {
            // Zhipu's codes are numbers ("1113"); some servers send them unquoted.
            code: text("code").or_else(|| {
                error
                    .get("code")
                    .and_then(Value::as_u64)
                    .map(|code| code.to_string())
            }),
            kind: text("type"),
            message: text("message").unwrap_or_default(),
        }
    }

    fn names(&self, any_of: &[&str]) -> bool {
        [&self.code, &self.kind].iter().any(|field| {
            field
                .as_deref()
                .is_some_and(|value| any_of.contains(&value))
        })
    }

    fn says_no_quota(&self) -> bool {
        self.names(&["insufficient_quota", "billing_hard_limit_reached"])
    }

    fn says_key_rejected(&self) -> bool {
        self.names(&[
            "invalid_api_key",
            "account_deactivated",
            "unsupported_country_region_territory",
        ])
    }

    /// OpenAI's "Request too large for gpt-4o in organization ... on tokens per min (TPM)":
    /// the request alone is over the limit, so every key of that organisation would refuse it.
    fn says_request_too_large(&self) -> bool {
        self.names(&["request_too_large"])
            || self
                .message
                .to_ascii_lowercase()
                .contains("request too large")
    }

    /// A short stable name of the error (status and code or type), to see whether two keys
    /// refused a request for the same reason.
    fn fingerprint(&self, status: u16) -> String {
        let reason = self.code.as_deref().or(self.kind.as_deref()).unwrap_or("");
        format!("{status} {reason}")
    }
}

/// The same refusal on two keys means the request, not the key: see `core/failover.rs`.
pub fn error_fingerprint(status: u16, body: &str) -> String {
    UpstreamError::parse(body).fingerprint(status)
}

/// Parses a Retry-After header given in seconds (fractions accepted, rounded up). The HTTP-date
/// form is ignored: it depends on clock agreement with the upstream, and the doubling backoff is a
/// safe fallback.
pub fn parse_retry_after_ms(value: &str) -> Option<u64> {
    let value = value.trim();
    if value.is_empty()
        || !value
            .bytes()
            .all(|byte| byte.is_ascii_digit() || byte == b'.')
    {
        return None;
    }
    let seconds: f64 = value.parse().ok()?;
    let millis = (seconds * 1000.0).ceil();
    // `as` saturates, so a huge value becomes u64::MAX and is capped when applied.
    millis.is_finite().then_some(millis as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET_A: &str = "sk-test-SECRET-aaaaaaaaaaaaaaaaaaaa";
    const SECRET_B: &str = "sk-test-SECRET-bbbbbbbbbbbbbbbbbbbb";
    const SECRET_C: &str = "sk-test-SECRET-cccccccccccccccccccc";

    fn pool(strategy: Strategy, weights: &[u32]) -> KeyPool {
        let secrets = [SECRET_A, SECRET_B, SECRET_C];
        let keys = secrets
            .iter()
            .zip(weights)
            .map(|(secret, &weight)| (secret.to_string(), weight))
            .collect();
        KeyPool::new(keys, strategy)
    }

    fn id(secret: &str) -> KeyId {
        KeyId::for_secret(secret)
    }

    /// A deterministic uniform sequence in [0, 1) (SplitMix64).
    struct Sequence(u64);

    impl Sequence {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut mixed = self.0;
            mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            mixed ^= mixed >> 31;
            (mixed >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Picks for one request the way the proxy does, excluding each key once tried, and checks the
    /// order of keys it gets.
    #[track_caller]
    fn check_failover(pool: &mut KeyPool, now_ms: u64, rand01: f64, expected: &[&str]) {
        let mut tried = Vec::new();
        while let Some(pick) = pool.pick(now_ms, rand01, &tried) {
            tried.push(pick.id);
        }
        let expected: Vec<KeyId> = expected.iter().map(|secret| id(secret)).collect();
        assert_eq!(tried, expected);
    }

    #[test]
    fn key_id_is_a_stable_hash_prefix() {
        // SHA-256("abc") = ba7816bf8f01cfea...
        assert_eq!(KeyId::for_secret("abc").as_str(), "key_ba7816bf");
        assert_eq!(
            KeyId::with_hex_digits("abc", 16).as_str(),
            "key_ba7816bf8f01cfea"
        );
    }

    #[test]
    fn secrets_never_appear_in_debug_or_serialised_output() {
        let mut pool = pool(Strategy::RoundRobin, &[1, 1, 1]);
        let pick = pool.pick(0, 0.5, &[]).unwrap_or_else(|| panic!("a key"));
        assert!(pick.secret().contains("SECRET"));
        pool.report(&pick.id, classify(Provider::OpenAi, 401, "", None), 10);
        let pick = pool.pick(0, 0.5, &[]).unwrap_or_else(|| panic!("a key"));
        let error_body =
            format!(r#"{{"error":{{"message":"Incorrect API key provided: {SECRET_B}"}}}}"#);
        pool.report(
            &pick.id,
            classify(Provider::OpenAi, 429, &error_body, Some("1")),
            10,
        );

        let snapshot_json = serde_json::to_string(&pool.snapshot()).unwrap_or_default();
        assert!(snapshot_json.contains("key_"), "{snapshot_json}");
        for shown in [
            format!("{pool:?}"),
            format!("{pick:?}"),
            format!("{:?}", pool.snapshot()),
            snapshot_json,
        ] {
            assert!(!shown.contains("SECRET"), "{shown}");
        }
    }

    #[test]
    fn new_trims_skips_empty_and_merges_duplicates() {
        let pool = KeyPool::new(
            vec![
                (format!(" {SECRET_A}\n"), 1),
                (String::new(), 1),
                ("  ".to_owned(), 1),
                (SECRET_A.to_owned(), 5),
            ],
            Strategy::default(),
        );
        assert_eq!(pool.ids().collect::<Vec<_>>(), [&id(SECRET_A)]);
        assert!(KeyPool::new(Vec::new(), Strategy::RoundRobin).is_empty());
    }

    #[test]
    fn failover_tries_each_key_once_then_gives_up() {
        let mut round_robin = pool(Strategy::RoundRobin, &[1, 1, 1]);
        check_failover(&mut round_robin, 0, 0.0, &[SECRET_A, SECRET_B, SECRET_C]);
        check_failover(&mut round_robin, 0, 0.0, &[SECRET_A, SECRET_B, SECRET_C]);
        let mut weighted = pool(Strategy::WeightedRandom, &[1, 1, 1]);
        check_failover(&mut weighted, 0, 0.99, &[SECRET_C, SECRET_B, SECRET_A]);
        check_failover(&mut weighted, 0, 0.0, &[SECRET_A, SECRET_B, SECRET_C]);
    }

    #[test]
    fn rate_limit_honours_retry_after_then_the_key_comes_back() {
        let mut pool = pool(Strategy::RoundRobin, &[1, 1]);
        pool.report(
            &id(SECRET_A),
            classify(Provider::OpenAi, 429, "{}", Some("7")),
            1_000,
        );
        assert_eq!(
            pool.state(&id(SECRET_A)).map(|state| state.health),
            Some(Health::CoolingDown { until_ms: 8_000 })
        );
        check_failover(&mut pool, 7_999, 0.0, &[SECRET_B]);
        check_failover(&mut pool, 8_000, 0.0, &[SECRET_A, SECRET_B]);
        pool.report(&id(SECRET_A), Outcome::Success, 8_100);
        assert_eq!(
            pool.state(&id(SECRET_A)).map(|state| state.health),
            Some(Health::Healthy)
        );
    }

    #[test]
    fn rate_limit_without_retry_after_doubles_from_one_second_to_a_minute() {
        let mut pool = pool(Strategy::RoundRobin, &[1]);
        let key = id(SECRET_A);
        let mut cooldowns = Vec::new();
        for _ in 0..9 {
            pool.report(
                &key,
                Outcome::RateLimited {
                    retry_after_ms: None,
                },
                0,
            );
            let until = pool.next_available_ms(0).unwrap_or_default();
            cooldowns.push(until);
            // Start afresh from now so each cooldown shows alone.
            if let Some(entry) = pool.keys.iter_mut().find(|entry| entry.id == key) {
                entry.state.health = Health::Healthy;
            }
        }
        assert_eq!(
            cooldowns,
            [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]
        );
        pool.report(&key, Outcome::Success, 0);
        pool.report(
            &key,
            Outcome::RateLimited {
                retry_after_ms: None,
            },
            0,
        );
        assert_eq!(pool.next_available_ms(0), Some(1_000));
    }

    #[test]
    fn unauthorized_disables_then_a_half_open_probe_heals_on_success() {
        let mut pool = pool(Strategy::RoundRobin, &[1, 1]);
        let key = id(SECRET_A);
        pool.report(&key, classify(Provider::OpenAi, 401, "", None), 0);
        let disabled = Health::Disabled {
            since_ms: 0,
            next_probe_ms: PROBE_BACKOFF_START_MS,
            failures: 1,
        };
        assert_eq!(pool.state(&key).map(|state| state.health), Some(disabled));
        check_failover(&mut pool, 29_999, 0.0, &[SECRET_B]);

        let probe = pool.pick(30_000, 0.0, &[]);
        assert_eq!(
            probe.as_ref().map(|pick| (&pick.id, pick.probe)),
            Some((&key, true))
        );
        // A concurrent request must not probe the same key.
        check_failover(&mut pool, 30_001, 0.0, &[SECRET_B]);
        pool.report(&key, Outcome::Success, 30_500);
        assert_eq!(
            pool.state(&key).map(|state| state.health),
            Some(Health::Healthy)
        );
        check_failover(&mut pool, 30_600, 0.0, &[SECRET_A, SECRET_B]);
    }

    #[test]
    fn failed_probes_double_the_backoff_up_to_ten_minutes() {
        let mut pool = pool(Strategy::RoundRobin, &[1]);
        let key = id(SECRET_A);
        pool.report(&key, Outcome::QuotaExhausted, 0);
        let mut waits = Vec::new();
        let mut now_ms = 0;
        for _ in 0..7 {
            let next_ms = pool.next_available_ms(now_ms).unwrap_or_default();
            waits.push(next_ms - now_ms);
            now_ms = next_ms;
            assert!(pool.pick(now_ms, 0.0, &[]).is_some_and(|pick| pick.probe));
            pool.report(&key, Outcome::Unauthorized, now_ms);
        }
        assert_eq!(
            waits,
            [30_000, 60_000, 120_000, 240_000, 480_000, 600_000, 600_000]
        );
    }

    #[test]
    fn late_failures_from_requests_picked_before_the_disable_do_not_inflate_the_backoff() {
        let mut pool = pool(Strategy::RoundRobin, &[1]);
        let key = id(SECRET_A);
        for _ in 0..5 {
            pool.report(&key, Outcome::Unauthorized, 100);
        }
        assert_eq!(
            pool.next_available_ms(100),
            Some(100 + PROBE_BACKOFF_START_MS)
        );
    }

    #[test]
    fn a_lost_probe_expires_so_the_key_is_probed_again_new_api_3536() {
        let mut pool = pool(Strategy::RoundRobin, &[1]);
        let key = id(SECRET_A);
        pool.report(&key, Outcome::Forbidden, 0);
        assert!(pool.pick(30_000, 0.0, &[]).is_some_and(|pick| pick.probe));
        // The probe's isolate died and never reported.
        assert!(pool.pick(30_000 + PROBE_LEASE_MS - 1, 0.0, &[]).is_none());
        assert_eq!(
            pool.next_available_ms(31_000),
            Some(30_000 + PROBE_LEASE_MS)
        );
        assert!(pool
            .pick(30_000 + PROBE_LEASE_MS, 0.0, &[])
            .is_some_and(|pick| pick.probe));
    }

    #[test]
    fn rate_limited_probe_shows_the_key_authenticates() {
        let mut pool = pool(Strategy::RoundRobin, &[1]);
        let key = id(SECRET_A);
        pool.report(&key, Outcome::Unauthorized, 0);
        assert!(pool.pick(30_000, 0.0, &[]).is_some_and(|pick| pick.probe));
        pool.report(
            &key,
            Outcome::RateLimited {
                retry_after_ms: Some(2_000),
            },
            30_100,
        );
        assert_eq!(
            pool.state(&key).map(|state| state.health),
            Some(Health::CoolingDown { until_ms: 32_100 })
        );
    }

    #[test]
    fn inconclusive_probe_is_rescheduled_without_doubling() {
        let mut pool = pool(Strategy::RoundRobin, &[1]);
        let key = id(SECRET_A);
        pool.report(&key, Outcome::Unauthorized, 0);
        assert!(pool.pick(30_000, 0.0, &[]).is_some());
        pool.report(&key, Outcome::ServerError { status: 502 }, 30_000);
        assert_eq!(pool.next_available_ms(30_000), Some(60_000));
        assert!(pool.pick(60_000, 0.0, &[]).is_some());
        pool.report(&key, Outcome::ClientError { status: 400 }, 60_000);
        assert_eq!(pool.next_available_ms(60_000), Some(90_000));
    }

    #[test]
    fn three_consecutive_transient_failures_cool_the_key_for_five_seconds() {
        let mut pool = pool(Strategy::RoundRobin, &[1, 1]);
        let key = id(SECRET_A);
        pool.report(&key, Outcome::Timeout, 0);
        pool.report(&key, Outcome::ServerError { status: 503 }, 0);
        // A sensible answer in between breaks the run.
        pool.report(&key, Outcome::ClientError { status: 400 }, 0);
        pool.report(&key, Outcome::Timeout, 0);
        pool.report(&key, Outcome::Timeout, 0);
        assert_eq!(
            pool.state(&key).map(|state| state.health),
            Some(Health::Healthy)
        );
        pool.report(&key, Outcome::ServerError { status: 500 }, 100);
        assert_eq!(
            pool.state(&key).map(|state| state.health),
            Some(Health::CoolingDown { until_ms: 5_100 })
        );
        assert_eq!(
            pool.state(&key).and_then(|state| state.last_error.clone()),
            Some("500 server_error".to_owned())
        );
        check_failover(&mut pool, 5_099, 0.0, &[SECRET_B]);
    }

    #[test]
    fn weighted_random_matches_weights_over_ten_thousand_picks() {
        let mut pool = pool(Strategy::WeightedRandom, &[1, 2, 7]);
        let mut sequence = Sequence(42);
        let mut counts: BTreeMap<KeyId, u32> = BTreeMap::new();
        for _ in 0..10_000 {
            if let Some(pick) = pool.pick(0, sequence.next(), &[]) {
                *counts.entry(pick.id).or_default() += 1;
            }
        }
        for (secret, expected) in [(SECRET_A, 1_000), (SECRET_B, 2_000), (SECRET_C, 7_000)] {
            let count = counts.get(&id(secret)).copied().unwrap_or_default();
            assert!(count.abs_diff(expected) <= 200, "{secret}: {count}");
        }
    }

    #[test]
    fn weight_zero_keys_are_backups() {
        let mut pool = pool(Strategy::WeightedRandom, &[0, 1]);
        check_failover(&mut pool, 0, 0.0, &[SECRET_B, SECRET_A]);
        pool.report(&id(SECRET_B), Outcome::Unauthorized, 0);
        check_failover(&mut pool, 1, 0.7, &[SECRET_A]);
    }

    #[test]
    fn round_robin_is_fair_and_skips_unusable_keys() {
        let mut pool = pool(Strategy::RoundRobin, &[1, 5, 1]);
        let mut counts: BTreeMap<KeyId, u32> = BTreeMap::new();
        for _ in 0..300 {
            if let Some(pick) = pool.pick(0, 0.0, &[]) {
                *counts.entry(pick.id).or_default() += 1;
            }
        }
        assert!(counts.values().all(|&count| count == 100), "{counts:?}");
        pool.report(
            &id(SECRET_B),
            Outcome::RateLimited {
                retry_after_ms: None,
            },
            0,
        );
        let order: Vec<KeyId> = (0..4)
            .filter_map(|_| pool.pick(10, 0.0, &[]).map(|pick| pick.id))
            .collect();
        assert_eq!(
            order,
            [id(SECRET_A), id(SECRET_C), id(SECRET_A), id(SECRET_C)]
        );
    }

    #[test]
    fn all_keys_exhausted_gives_none_and_when_they_return() {
        let mut pool = pool(Strategy::WeightedRandom, &[1, 1]);
        pool.report(
            &id(SECRET_A),
            Outcome::RateLimited {
                retry_after_ms: Some(9_000),
            },
            0,
        );
        pool.report(&id(SECRET_B), Outcome::Unauthorized, 0);
        assert!(pool.pick(1, 0.5, &[]).is_none());
        assert_eq!(pool.next_available_ms(1), Some(9_000));
        assert_eq!(
            KeyPool::new(Vec::new(), Strategy::default()).next_available_ms(1),
            None
        );
        // Everything excluded also yields None.
        let mut fresh = self::pool(Strategy::WeightedRandom, &[1, 1]);
        assert!(fresh.pick(0, 0.5, &[id(SECRET_A), id(SECRET_B)]).is_none());
        assert_eq!(fresh.next_available_ms(5), Some(5));
    }

    #[test]
    fn snapshot_merge_keeps_the_latest_change() {
        let mut authority = pool(Strategy::RoundRobin, &[1, 1]);
        let mut isolate = pool(Strategy::RoundRobin, &[1, 1]);
        authority.report(&id(SECRET_A), Outcome::Unauthorized, 100);
        // The isolate saw something newer about B than the authority knows.
        isolate.report(
            &id(SECRET_B),
            Outcome::RateLimited {
                retry_after_ms: Some(1_000),
            },
            200,
        );
        authority.report(&id(SECRET_B), Outcome::Success, 150);

        let json = serde_json::to_string(&authority.snapshot()).unwrap_or_default();
        let snapshot: HealthSnapshot = serde_json::from_str(&json).unwrap_or_default();
        isolate.merge(&snapshot);
        assert_eq!(
            isolate.state(&id(SECRET_A)).map(|state| state.health),
            authority.state(&id(SECRET_A)).map(|state| state.health)
        );
        assert_eq!(
            isolate.state(&id(SECRET_B)).map(|state| state.health),
            Some(Health::CoolingDown { until_ms: 1_200 })
        );
        // Counters stay local.
        assert_eq!(
            isolate
                .state(&id(SECRET_A))
                .map(|state| state.stats.auth_failures),
            Some(0)
        );
    }

    #[test]
    fn merged_probe_in_flight_prevents_a_concurrent_probe() {
        let mut authority = pool(Strategy::RoundRobin, &[1]);
        let mut isolate = pool(Strategy::RoundRobin, &[1]);
        authority.report(&id(SECRET_A), Outcome::Unauthorized, 0);
        isolate.merge(&authority.snapshot());
        assert!(authority
            .pick(30_000, 0.0, &[])
            .is_some_and(|pick| pick.probe));
        isolate.merge(&authority.snapshot());
        assert!(isolate.pick(30_001, 0.0, &[]).is_none());
    }

    #[track_caller]
    fn check_worth_sharing(pool: &KeyPool, outcome: Outcome, expected: bool) {
        assert_eq!(
            pool.worth_sharing(&id(SECRET_A), &outcome),
            expected,
            "{outcome:?}"
        );
    }

    #[test]
    fn successes_are_shared_only_when_they_end_a_cooldown_streak_or_disable() {
        let mut pool = pool(Strategy::RoundRobin, &[1, 1]);
        check_worth_sharing(&pool, Outcome::Success, false);
        check_worth_sharing(&pool, Outcome::ClientError { status: 400 }, false);
        check_worth_sharing(&pool, Outcome::Timeout, true);
        check_worth_sharing(&pool, Outcome::QuotaExhausted, true);

        pool.report(&id(SECRET_A), Outcome::ServerError { status: 502 }, 0);
        check_worth_sharing(&pool, Outcome::Success, true);
        pool.report(&id(SECRET_A), Outcome::Success, 1);
        check_worth_sharing(&pool, Outcome::Success, false);

        let rate_limited = Outcome::RateLimited {
            retry_after_ms: Some(1_000),
        };
        pool.report(&id(SECRET_A), rate_limited, 2);
        check_worth_sharing(&pool, Outcome::Success, true);
        pool.report(&id(SECRET_A), Outcome::Success, 2_000);

        pool.report(&id(SECRET_A), Outcome::Unauthorized, 3_000);
        check_worth_sharing(&pool, Outcome::Success, true);
        // Unknown keys (the pool was rebuilt) have nothing to share.
        assert!(!pool.worth_sharing(&id(SECRET_C), &Outcome::Success));
    }

    #[track_caller]
    fn check_classify(status: u16, body: &str, retry_after: Option<&str>, expected: Outcome) {
        assert_eq!(
            classify(Provider::OpenAi, status, body, retry_after),
            expected
        );
    }

    #[test]
    fn classification() {
        let quota = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        check_classify(200, "", None, Outcome::Success);
        check_classify(429, quota, Some("20"), Outcome::QuotaExhausted);
        check_classify(
            429,
            r#"[{"error":{"code":"insufficient_quota"}}]"#,
            None,
            Outcome::QuotaExhausted,
        );
        check_classify(
            429,
            r#"{"error":{"code":"rate_limit_exceeded"}}"#,
            Some("20"),
            Outcome::RateLimited {
                retry_after_ms: Some(20_000),
            },
        );
        check_classify(
            429,
            "",
            Some("0.5"),
            Outcome::RateLimited {
                retry_after_ms: Some(500),
            },
        );
        check_classify(
            429,
            "",
            Some("Wed, 21 Oct 2015 07:28:00 GMT"),
            Outcome::RateLimited {
                retry_after_ms: None,
            },
        );
        check_classify(
            429,
            "not json",
            Some("-1"),
            Outcome::RateLimited {
                retry_after_ms: None,
            },
        );
        check_classify(401, "", None, Outcome::Unauthorized);
        check_classify(402, "", None, Outcome::QuotaExhausted);
        // A project that may not use the model: the request's problem, not the key's.
        let model_forbidden = r#"{"error":{"message":"Project `proj_x` does not have access to model `gpt-4o`","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#;
        check_classify(
            403,
            model_forbidden,
            None,
            Outcome::ClientError { status: 403 },
        );
        check_classify(403, "", None, Outcome::ClientError { status: 403 });
        check_classify(
            403,
            r#"{"error":{"code":"account_deactivated"}}"#,
            None,
            Outcome::Forbidden,
        );
        check_classify(
            429,
            r#"{"error":{"code":"invalid_api_key"}}"#,
            None,
            Outcome::Forbidden,
        );
        check_classify(403, quota, None, Outcome::QuotaExhausted);
        let too_large = r#"{"error":{"message":"Request too large for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Requested 80000.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#;
        check_classify(
            429,
            too_large,
            Some("1"),
            Outcome::ClientError { status: 429 },
        );
        check_classify(413, "", None, Outcome::ClientError { status: 413 });
        check_classify(408, "", None, Outcome::Timeout);
        check_classify(400, quota, None, Outcome::QuotaExhausted);
        check_classify(
            400,
            r#"{"error":{"code":"context_length_exceeded"}}"#,
            None,
            Outcome::ClientError { status: 400 },
        );
        check_classify(404, "", None, Outcome::ClientError { status: 404 });
        // A 5xx never disables a key, whatever its body says.
        check_classify(500, quota, None, Outcome::ServerError { status: 500 });
        check_classify(529, "", None, Outcome::ServerError { status: 529 });
        check_classify(302, "", None, Outcome::ServerError { status: 302 });
    }

    #[test]
    fn provider_codes_make_billing_states_the_keys() {
        // DashScope's overdue account arrives as a 400: generically the request's fault.
        let arrearage = r#"{"error":{"code":"Arrearage","type":"Arrearage","message":"Access denied, please make sure your account is in good standing."}}"#;
        assert_eq!(
            classify(Provider::OpenAi, 400, arrearage, None),
            Outcome::ClientError { status: 400 }
        );
        assert_eq!(
            classify(Provider::Qwen, 400, arrearage, None),
            Outcome::QuotaExhausted
        );
        let deepseek = r#"{"error":{"message":"Insufficient Balance","type":"unknown_error","code":"invalid_request_error"}}"#;
        assert_eq!(
            classify(Provider::DeepSeek, 402, deepseek, None),
            Outcome::QuotaExhausted
        );
        // Zhipu's numeric codes, quoted or not; its concurrency limit keeps Retry-After.
        assert_eq!(
            classify(
                Provider::Zhipu,
                429,
                r#"{"error":{"code":1113,"message":"arrears"}}"#,
                None
            ),
            Outcome::QuotaExhausted
        );
        assert_eq!(
            classify(
                Provider::Zhipu,
                429,
                r#"{"error":{"code":"1302"}}"#,
                Some("2")
            ),
            Outcome::RateLimited {
                retry_after_ms: Some(2_000)
            }
        );
        let moonshot = r#"{"error":{"type":"exceeded_current_quota_error","message":"Your account is suspended"}}"#;
        assert_eq!(
            classify(Provider::Moonshot, 429, moonshot, Some("1")),
            Outcome::QuotaExhausted
        );
    }

    #[test]
    fn outcome_round_trips_through_json_for_reporting_to_a_durable_object() {
        let outcome = Outcome::RateLimited {
            retry_after_ms: Some(3),
        };
        let json = serde_json::to_string(&outcome).unwrap_or_default();
        assert_eq!(json, r#"{"kind":"rate_limited","retry_after_ms":3}"#);
        assert_eq!(serde_json::from_str::<Outcome>(&json).ok(), Some(outcome));
    }
}
