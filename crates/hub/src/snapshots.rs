//! Fan-out results held briefly so their pages can be served without asking every cluster
//! again: a snapshot is the merged, ordered rows of one fleet query, found by a random id
//! that the page cursors carry (`<tool prefix>.<id>.<offset>.<key of the last row>`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

/// How long a snapshot is kept after it was made.
pub(crate) const SNAPSHOT_TTL: Duration = Duration::from_secs(120);
/// Most snapshots kept at once (the oldest go first).
const MAX_SNAPSHOTS: usize = 32;

/// The complete result of one fleet query, before paging.
#[derive(Default)]
pub(crate) struct Listing {
    /// Every row, in page order.
    pub rows: Vec<Value>,
    /// Each row's sort key when `rows` are sorted by it (resuming after an expired cursor).
    pub keys: Option<Vec<String>>,
    /// Shown on the first page only, before the rows (summary, totals).
    pub head: Map<String, Value>,
    /// Shown on every page (completeness, clusters that did not answer).
    pub tail: Map<String, Value>,
}

/// A listing kept for paging, with the query it answers.
pub(crate) struct Snapshot {
    pub query: String,
    pub listing: Listing,
    made: Instant,
}

/// The snapshots of recent fleet queries.
#[derive(Default)]
pub(crate) struct Snapshots {
    kept: Mutex<VecDeque<(u64, Arc<Snapshot>)>>,
}

impl Snapshots {
    /// Keeps `listing` (the answer to `query`) and returns it with its id.
    pub(crate) fn put(&self, query: String, listing: Listing) -> (u64, Arc<Snapshot>) {
        let id = rand::random::<u64>();
        let snap = Arc::new(Snapshot {
            query,
            listing,
            made: Instant::now(),
        });
        let mut kept = match self.kept.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        kept.retain(|(_, s)| s.made.elapsed() < SNAPSHOT_TTL);
        while kept.len() >= MAX_SNAPSHOTS {
            kept.pop_front();
        }
        kept.push_back((id, snap.clone()));
        (id, snap)
    }

    /// The live snapshot `id`, if it is still kept.
    pub(crate) fn get(&self, id: u64) -> Option<Arc<Snapshot>> {
        let kept = match self.kept.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        kept.iter()
            .find(|(k, s)| *k == id && s.made.elapsed() < SNAPSHOT_TTL)
            .map(|(_, s)| s.clone())
    }
}

/// Where the next page starts: a snapshot, an offset in it and the last row's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub snapshot: u64,
    pub offset: usize,
    pub after: String,
}

impl Cursor {
    /// The cursor's text for a tool (`prefix` tells one tool's cursors from another's).
    pub(crate) fn encode(&self, prefix: &str) -> String {
        format!(
            "{prefix}.{:016x}.{}.{}",
            self.snapshot, self.offset, self.after
        )
    }

    /// Reads a cursor made by [`Cursor::encode`] with the same `prefix`.
    pub(crate) fn decode(prefix: &str, text: &str) -> Option<Cursor> {
        let mut parts = text.splitn(4, '.');
        if parts.next()? != prefix {
            return None;
        }
        let snapshot = u64::from_str_radix(parts.next()?, 16).ok()?;
        let offset = parts.next()?.parse().ok()?;
        let after = parts.next()?.to_owned();
        Some(Cursor {
            snapshot,
            offset,
            after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let c = Cursor {
            snapshot: 0xdead_beef,
            offset: 120,
            after: "dc-1/0a.b".into(),
        };
        let text = c.encode("vs");
        assert_eq!(Cursor::decode("vs", &text), Some(c));
        assert_eq!(Cursor::decode("fc", &text), None);
        for bad in ["", "vs", "vs.zz.1.a", "vs.10.-1.a", "vs.10.1"] {
            assert_eq!(Cursor::decode("vs", bad), None, "{bad}");
        }
    }

    #[test]
    fn snapshots_are_found_by_id_and_bounded() {
        let s = Snapshots::default();
        let (first, _) = s.put("q".into(), Listing::default());
        assert!(s.get(first).is_some_and(|x| x.query == "q"));
        for _ in 0..MAX_SNAPSHOTS {
            s.put("r".into(), Listing::default());
        }
        assert!(s.get(first).is_none(), "the oldest is dropped first");
    }
}
