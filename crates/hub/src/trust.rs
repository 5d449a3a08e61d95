//! The trust record: for every cluster, what it claimed in placement (that a VM fits) against
//! what happened (the create succeeded, or failed for lack of room; the cluster did not answer
//! in time). Kept in the hub database, so it survives restarts; `placement_select` ranks a
//! cluster whose claims did not hold below every trusted one, and `fleet_status` shows it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::audit::now_rfc3339;
use crate::store::Store;

/// Below this score a cluster ranks after every trusted one.
pub(crate) const TRUSTED_AT: f64 = 0.75;

/// One cluster's claims and outcomes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct TrustRecord {
    /// Times it said a VM fits and the hub dispatched the VM there.
    #[serde(default)]
    pub claims: u64,
    /// Of those, creates that succeeded.
    #[serde(default)]
    pub honoured: u64,
    /// Of those, creates refused for lack of room (the claim did not hold).
    #[serde(default)]
    pub broken: u64,
    /// Placement questions it did not answer within the fan-out timeout.
    #[serde(default)]
    pub unanswered: u64,
    /// When a claim last failed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_broken: Option<String>,
}

impl TrustRecord {
    /// 1.0 for a cluster with no failures; each broken claim weighs as two honoured ones, each
    /// unanswered question a quarter (a late answer is not a false one).
    pub(crate) fn score(&self) -> f64 {
        let h = self.honoured as f64;
        let bad = 2.0 * self.broken as f64 + 0.25 * self.unanswered as f64;
        let s = (1.0 + h) / (1.0 + h + bad);
        (s * 100.0).round() / 100.0
    }

    /// Whether the cluster ranks with the trusted ones.
    pub(crate) fn trusted(&self) -> bool {
        self.score() >= TRUSTED_AT
    }

    /// The record as shown in placement answers and `fleet_status`.
    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({
            "score": self.score(),
            "trusted": self.trusted(),
            "claims": self.claims,
            "honoured": self.honoured,
            "broken": self.broken,
            "unanswered": self.unanswered,
        });
        if let Some(t) = &self.last_broken {
            v["last_broken"] = json!(t);
        }
        v
    }
}

/// What happened to one claim or question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It said the VM fits and the create succeeded.
    Honoured,
    /// It said the VM fits and the create was refused for lack of room.
    Broken,
    /// It did not answer a placement question in time.
    Unanswered,
}

/// Every cluster's trust record, loaded from and written through to the hub database.
#[derive(Default)]
pub(crate) struct TrustBook {
    records: Mutex<BTreeMap<String, TrustRecord>>,
}

impl TrustBook {
    /// The records the database holds (unreadable ones are skipped with a warning).
    pub(crate) fn load(store: &Store) -> Self {
        let mut records = BTreeMap::new();
        match store.trust_records() {
            Ok(rows) => {
                for (alias, bytes) in rows {
                    match serde_json::from_slice::<TrustRecord>(&bytes) {
                        Ok(r) => {
                            records.insert(alias, r);
                        }
                        Err(e) => {
                            tracing::warn!(cluster = %alias, error = %e, "skipping an unreadable trust record")
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the trust records"),
        }
        TrustBook {
            records: Mutex::new(records),
        }
    }

    /// The record of `alias` (a fresh one when the hub knows nothing of it yet).
    pub(crate) fn get(&self, alias: &str) -> TrustRecord {
        let g = match self.records.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.get(alias).cloned().unwrap_or_default()
    }

    /// Whether the hub holds a record for `alias`.
    pub(crate) fn known(&self, alias: &str) -> bool {
        match self.records.lock() {
            Ok(g) => g.contains_key(alias),
            Err(p) => p.into_inner().contains_key(alias),
        }
    }

    /// Notes `outcome` for `alias` and writes the record through; returns the new record.
    pub(crate) fn note(&self, store: &Store, alias: &str, outcome: Outcome) -> TrustRecord {
        let record = {
            let mut g = match self.records.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let r = g.entry(alias.to_owned()).or_default();
            match outcome {
                Outcome::Honoured => {
                    r.claims += 1;
                    r.honoured += 1;
                }
                Outcome::Broken => {
                    r.claims += 1;
                    r.broken += 1;
                    r.last_broken = Some(now_rfc3339());
                }
                Outcome::Unanswered => r.unanswered += 1,
            }
            r.clone()
        };
        let written = serde_json::to_vec(&record)
            .map_err(|e| e.to_string())
            .and_then(|b| store.put_trust(alias, &b).map_err(|e| e.to_string()));
        if let Err(e) = written {
            tracing::warn!(cluster = %alias, error = %e, "cannot store a trust record");
        }
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_claim_drops_below_trusted_and_honoured_ones_restore_it() {
        let mut r = TrustRecord::default();
        assert_eq!(r.score(), 1.0);
        r.unanswered = 1;
        assert!(r.trusted(), "one late answer is not a lie: {}", r.score());
        r.unanswered = 0;
        r.claims = 1;
        r.broken = 1;
        assert_eq!(r.score(), 0.33);
        assert!(!r.trusted());
        r.claims += 6;
        r.honoured = 6;
        assert!(r.trusted(), "{}", r.score());
    }

    #[test]
    fn records_survive_a_reopened_database() {
        let dir = std::env::temp_dir().join(format!("hyperfed-trust-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let store = Store::open(Some(&dir)).unwrap();
            let book = TrustBook::load(&store);
            book.note(&store, "liar", Outcome::Broken);
            book.note(&store, "good", Outcome::Honoured);
            store.close();
        }
        let store = Store::open(Some(&dir)).unwrap();
        let book = TrustBook::load(&store);
        assert_eq!(book.get("liar").broken, 1);
        assert_eq!(book.get("good").honoured, 1);
        assert!(!book.known("other"));
        store.close();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
