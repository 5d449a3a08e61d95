//! One interner for what many workers offer identically (tool schemas, whole tool lists):
//! equal values share one `Arc`, held weakly, so a fleet of hundreds keeps one copy of each
//! and a value no worker offers any more is freed.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, Weak};

/// Shares equal values by key; entries whose values are gone are dropped as the table grows.
pub(crate) struct Interner<K, V> {
    table: Mutex<HashMap<K, Weak<V>>>,
    /// Table size at which dead entries are pruned before inserting.
    prune_at: usize,
}

impl<K: Hash + Eq, V> Interner<K, V> {
    /// An empty interner that prunes dead entries once it holds `prune_at`.
    pub(crate) fn new(prune_at: usize) -> Self {
        Interner {
            table: Mutex::new(HashMap::new()),
            prune_at,
        }
    }

    /// The live shared value for `key`, or the one `make` builds (then shared).
    pub(crate) fn share(&self, key: K, make: impl FnOnce() -> Arc<V>) -> Arc<V> {
        let mut table = match self.table.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(shared) = table.get(&key).and_then(Weak::upgrade) {
            return shared;
        }
        if table.len() >= self.prune_at {
            table.retain(|_, w| w.strong_count() > 0);
        }
        let value = make();
        table.insert(key, Arc::downgrade(&value));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_share_and_dead_entries_are_pruned() {
        let interner: Interner<u8, String> = Interner::new(2);
        let a = interner.share(1, || Arc::new("one".into()));
        let b = interner.share(1, || Arc::new("other".into()));
        assert!(Arc::ptr_eq(&a, &b));
        drop((a, b));
        let c = interner.share(1, || Arc::new("fresh".into()));
        assert_eq!(*c, "fresh", "a freed value is built again");
        let _d = interner.share(2, || Arc::new("two".into()));
        drop(c);
        let _e = interner.share(3, || Arc::new("three".into()));
        assert_eq!(interner.table.lock().unwrap().len(), 2, "key 1 was pruned");
    }
}
