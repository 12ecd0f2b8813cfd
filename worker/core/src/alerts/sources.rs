//! Where alerts come from, besides budgets ([`super::budget_alerts`]): changes of key health
//! (a key disabled, every key of an upstream down) and the requests' error rate over a
//! 5-minute window.

use std::collections::VecDeque;

use super::event::{permille, Alert, AlertKind, Subject};
use crate::keypool::{Health, HealthSnapshot};

/// The error-rate window.
pub const ERROR_WINDOW_MS: u64 = 5 * 60_000;
/// Below this many requests in the window, no rate is judged: two failures of three requests
/// at night are not an outage.
pub const ERROR_RATE_MIN_REQUESTS: u64 = 10;

/// What changed between two snapshots of one upstream's keys: each key that became disabled,
/// and the upstream going down (no key usable) when some key was usable before.
pub fn key_health_alerts(
    upstream: &str,
    before: &HealthSnapshot,
    after: &HealthSnapshot,
    now_ms: u64,
) -> Vec<Alert> {
    let alert = |kind| Alert {
        subject: Subject::Deployment,
        kind,
        at_ms: now_ms,
    };
    let disabled = |snapshot: &HealthSnapshot, key| {
        snapshot
            .keys
            .get(key)
            .is_some_and(|state| matches!(state.health, Health::Disabled { .. }))
    };
    let mut alerts: Vec<Alert> = after
        .keys
        .keys()
        .filter(|key| disabled(after, key) && !disabled(before, key))
        .map(|key| {
            alert(AlertKind::KeyDisabled {
                upstream: upstream.to_string(),
                key_id: key.as_str().to_string(),
            })
        })
        .collect();
    if all_down(after, now_ms) && !all_down(before, now_ms) {
        alerts.push(alert(AlertKind::UpstreamDown {
            upstream: upstream.to_string(),
        }));
    }
    alerts
}

/// Every key disabled or cooling down past `now_ms` (an upstream without keys is not "down":
/// it was never up).
fn all_down(snapshot: &HealthSnapshot, now_ms: u64) -> bool {
    !snapshot.keys.is_empty()
        && snapshot.keys.values().all(|state| match state.health {
            Health::Healthy => false,
            Health::CoolingDown { until_ms } => until_ms > now_ms,
            Health::Disabled { .. } => true,
        })
}

/// Requests and failures of the last [`ERROR_WINDOW_MS`], in per-minute buckets.
#[derive(Debug, Clone, Default)]
pub struct ErrorWindow {
    /// (minute, requests, failed), oldest first.
    buckets: VecDeque<(u64, u64, u64)>,
}

impl ErrorWindow {
    /// Adds counts reported at `now_ms`.
    pub fn record(&mut self, requests: u64, failed: u64, now_ms: u64) {
        let minute = now_ms / 60_000;
        self.expire(now_ms);
        match self.buckets.back_mut() {
            Some((last, total, bad)) if *last == minute => {
                *total += requests;
                *bad += failed;
            }
            _ => self.buckets.push_back((minute, requests, failed)),
        }
    }

    fn expire(&mut self, now_ms: u64) {
        let oldest = (now_ms / 60_000).saturating_sub(ERROR_WINDOW_MS / 60_000 - 1);
        while self
            .buckets
            .front()
            .is_some_and(|(minute, ..)| *minute < oldest)
        {
            self.buckets.pop_front();
        }
    }

    /// (requests, failed) in the window ending at `now_ms`.
    pub fn totals(&mut self, now_ms: u64) -> (u64, u64) {
        self.expire(now_ms);
        self.buckets
            .iter()
            .fold((0, 0), |(total, bad), (_, requests, failed)| {
                (total + requests, bad + failed)
            })
    }

    /// The alert when the window's error rate is above `threshold` (with enough requests).
    pub fn alert(&mut self, threshold: f64, now_ms: u64) -> Option<Alert> {
        let (total, failed) = self.totals(now_ms);
        let threshold_permille = permille(threshold);
        let above = u128::from(failed) * 1000 > u128::from(total) * u128::from(threshold_permille);
        (total >= ERROR_RATE_MIN_REQUESTS && above).then_some(Alert {
            subject: Subject::Deployment,
            kind: AlertKind::ErrorRate {
                failed,
                total,
                threshold_permille,
            },
            at_ms: now_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keypool::{KeyId, KeyState};

    fn snapshot(states: &[(&str, Health)]) -> HealthSnapshot {
        HealthSnapshot {
            keys: states
                .iter()
                .map(|(secret, health)| {
                    (
                        KeyId::for_secret(secret),
                        KeyState {
                            health: *health,
                            changed_ms: 0,
                            probing_since_ms: None,
                            rate_limit_streak: 0,
                            transient_streak: 0,
                            last_error: None,
                            stats: Default::default(),
                        },
                    )
                })
                .collect(),
        }
    }

    const DISABLED: Health = Health::Disabled {
        since_ms: 0,
        next_probe_ms: 60_000,
        failures: 1,
    };

    fn kinds(alerts: &[Alert]) -> Vec<&'static str> {
        alerts.iter().map(|alert| alert.kind.name()).collect()
    }

    #[test]
    fn a_key_disabled_and_then_the_whole_upstream() {
        let healthy = snapshot(&[("sk-a", Health::Healthy), ("sk-b", Health::Healthy)]);
        let one = snapshot(&[("sk-a", DISABLED), ("sk-b", Health::Healthy)]);
        let both = snapshot(&[
            ("sk-a", DISABLED),
            ("sk-b", Health::CoolingDown { until_ms: 9_000 }),
        ]);
        assert_eq!(
            kinds(&key_health_alerts("openai", &healthy, &one, 1_000)),
            ["key_disabled"]
        );
        assert_eq!(
            kinds(&key_health_alerts("openai", &one, &both, 1_000)),
            ["upstream_down"]
        );
        // Nothing new: nothing raised. A cooled-down key is usable again: not down.
        assert!(key_health_alerts("openai", &both, &both, 1_000).is_empty());
        assert!(key_health_alerts("openai", &one, &both, 10_000).is_empty());
        let alert = &key_health_alerts("openai", &healthy, &one, 1_000)[0];
        assert_eq!(
            alert.kind,
            AlertKind::KeyDisabled {
                upstream: "openai".into(),
                key_id: KeyId::for_secret("sk-a").as_str().into()
            }
        );
    }

    #[test]
    fn error_rate_over_five_minutes_needs_enough_requests() {
        let mut window = ErrorWindow::default();
        let minute = 60_000;
        window.record(5, 4, 0);
        // 4 of 5 failed, but 5 requests are too few to judge.
        assert!(window.alert(0.2, 0).is_none());
        window.record(15, 0, 2 * minute);
        // 4 of 20: 20% is not above 20%.
        assert!(window.alert(0.2, 2 * minute).is_none());
        window.record(5, 3, 4 * minute);
        let alert = window.alert(0.2, 4 * minute).expect("7 of 25 is 28%");
        assert_eq!(
            alert.kind,
            AlertKind::ErrorRate {
                failed: 7,
                total: 25,
                threshold_permille: 200
            }
        );
        // Five minutes after the first bucket, its failures have left the window.
        assert_eq!(window.totals(5 * minute), (20, 3));
    }
}
