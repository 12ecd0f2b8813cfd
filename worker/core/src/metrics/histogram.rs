//! A Prometheus histogram kept in milliseconds: a count per bucket (not cumulative; the
//! rendering accumulates), the sum and the bounds it was made with.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    /// Upper bounds, in milliseconds, ascending; one more bucket (`+Inf`) follows them.
    bounds_ms: Vec<u64>,
    /// Observations per bucket: `counts[i]` fell at or under `bounds_ms[i]` and over the
    /// bound before; the last is past every bound.
    counts: Vec<u64>,
    sum_ms: u64,
}

impl Histogram {
    pub fn new(bounds_s: &[f64]) -> Histogram {
        let bounds_ms: Vec<u64> = bounds_s.iter().map(|s| (s * 1000.0) as u64).collect();
        Histogram {
            counts: vec![0; bounds_ms.len() + 1],
            bounds_ms,
            sum_ms: 0,
        }
    }

    pub fn observe_ms(&mut self, ms: u64) {
        let bucket = self.bounds_ms.partition_point(|bound| *bound < ms);
        if let Some(count) = self.counts.get_mut(bucket) {
            *count += 1;
        }
        self.sum_ms = self.sum_ms.saturating_add(ms);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn sum_ms(&self) -> u64 {
        self.sum_ms
    }

    /// `(upper bound in seconds, cumulative count)` per bucket, `None` for `+Inf`.
    pub fn cumulative(&self) -> Vec<(Option<f64>, u64)> {
        let mut running = 0;
        self.counts
            .iter()
            .enumerate()
            .map(|(index, count)| {
                running += count;
                let bound = self.bounds_ms.get(index).map(|ms| *ms as f64 / 1000.0);
                (bound, running)
            })
            .collect()
    }

    /// Adds `other`'s observations. Histograms of other bounds (an upgrade changed them)
    /// cannot be added: the totals start over with the new bounds, which Prometheus reads as
    /// a counter reset.
    pub fn merge(&mut self, other: &Histogram) {
        if self.bounds_ms != other.bounds_ms || self.counts.len() != other.counts.len() {
            *self = other.clone();
            return;
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine = mine.saturating_add(*theirs);
        }
        self.sum_ms = self.sum_ms.saturating_add(other.sum_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_observation_falls_in_the_first_bucket_that_holds_it() {
        let mut histogram = Histogram::new(&[0.1, 1.0]);
        for ms in [0, 100, 101, 1_000, 5_000] {
            histogram.observe_ms(ms);
        }
        assert_eq!(
            histogram.cumulative(),
            vec![(Some(0.1), 2), (Some(1.0), 4), (None, 5)]
        );
        assert_eq!(histogram.sum_ms(), 6_201);
        assert_eq!(histogram.count(), 5);
    }

    #[test]
    fn histograms_of_other_bounds_start_over_rather_than_mix() {
        let mut old = Histogram::new(&[1.0]);
        old.observe_ms(10);
        let mut new = Histogram::new(&[0.5, 1.0]);
        new.observe_ms(700);
        old.merge(&new);
        assert_eq!(old, new);
    }
}
