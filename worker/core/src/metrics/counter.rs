//! `Counter<K>`: monotonic counts by label tuple, sent over the wire as a list of pairs (JSON
//! object keys must be strings; label tuples are not).

use std::borrow::Borrow;
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Counts by key, in key order (so that a rendering is stable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter<K: Ord>(BTreeMap<K, u64>);

impl<K: Ord> Default for Counter<K> {
    fn default() -> Counter<K> {
        Counter(BTreeMap::new())
    }
}

impl<K: Ord> Counter<K> {
    pub fn add(&mut self, key: K, n: u64) {
        let count = self.0.entry(key).or_insert(0);
        *count = count.saturating_add(n);
    }

    pub fn get<Q: ?Sized + Ord>(&self, key: &Q) -> u64
    where
        K: Borrow<Q>,
    {
        self.0.get(key).copied().unwrap_or(0)
    }

    pub fn contains<Q: ?Sized + Ord>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.0.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &u64)> {
        self.0.iter()
    }

    pub fn merge(&mut self, other: Counter<K>) {
        for (key, n) in other.0 {
            self.add(key, n);
        }
    }
}

impl<K: Ord> IntoIterator for Counter<K> {
    type Item = (K, u64);
    type IntoIter = std::collections::btree_map::IntoIter<K, u64>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<K: Ord + Serialize> Serialize for Counter<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

impl<'de, K: Ord + Deserialize<'de>> Deserialize<'de> for Counter<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let pairs: Vec<(K, u64)> = Vec::deserialize(deserializer)?;
        let mut counter = Counter::default();
        for (key, n) in pairs {
            counter.add(key, n);
        }
        Ok(counter)
    }
}
