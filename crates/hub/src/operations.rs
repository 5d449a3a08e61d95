//! Hub operations made of several worker calls (`vm_place`, `vm_move`): their ids (every
//! audit record of one operation carries it), and the moves waiting for the caller to
//! confirm the source's deletion (kept in memory for the worker token's lifetime).

use std::time::{Duration, Instant};

use dashmap::DashMap;
use rand::RngCore as _;

/// How long a move waits for its deletion to be confirmed (the worker's token lives as long).
const PENDING_FOR: Duration = Duration::from_secs(300);
/// Most moves waiting at once (older ones are dropped first when full).
const MAX_PENDING: usize = 1024;

/// A fresh operation id, e.g. `op-3f9a0c1d2b4e5f60`.
pub(crate) fn new_operation_id() -> String {
    format!("op-{:016x}", rand::rng().next_u64())
}

/// A finished move whose source deletion awaits confirmation.
#[derive(Debug, Clone)]
pub(crate) struct PendingMove {
    /// The source cluster's alias.
    pub source: String,
    /// The source VM's uuid.
    pub vm_uuid: String,
    /// The source VM's name (for messages).
    pub vm_name: String,
    /// The target cluster's alias and the copy's uuid (for the answer).
    pub target: String,
    /// The copy's uuid on the target.
    pub copy_uuid: String,
    /// When it was recorded.
    pub since: Instant,
}

/// Moves waiting for the confirmation of their source's deletion, by operation id.
#[derive(Default)]
pub(crate) struct PendingMoves {
    moves: DashMap<String, PendingMove>,
}

impl PendingMoves {
    /// Remembers `pending` under `operation`.
    pub(crate) fn insert(&self, operation: &str, pending: PendingMove) {
        self.moves.retain(|_, m| m.since.elapsed() < PENDING_FOR);
        if self.moves.len() >= MAX_PENDING
            && let Some(oldest) = self
                .moves
                .iter()
                .min_by_key(|m| m.since)
                .map(|m| m.key().clone())
        {
            self.moves.remove(&oldest);
        }
        self.moves.insert(operation.to_owned(), pending);
    }

    /// The move waiting under `operation`, if it has not expired.
    pub(crate) fn get(&self, operation: &str) -> Option<PendingMove> {
        self.moves
            .get(operation)
            .map(|m| m.clone())
            .filter(|m| m.since.elapsed() < PENDING_FOR)
    }

    /// Forgets `operation` (its deletion ran).
    pub(crate) fn remove(&self, operation: &str) {
        self.moves.remove(operation);
    }
}
