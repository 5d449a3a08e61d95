//! State shared by every connection of one simulator ([`Shared`]): the live cluster behind a
//! read-write lock (advanced lazily on each access), the sessions, the configuration and faults,
//! and the cache of encoded collections keyed by [`Kind`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::body::Bytes;
use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::config::{FaultControl, SimConfig};
use crate::state::{SessionStore, SimState};

/// State shared by every connection of one simulator.
pub(crate) struct Shared {
    pub(crate) state: RwLock<SimState>,
    pub(crate) sessions: Mutex<SessionStore>,
    pub(crate) config: SimConfig,
    pub(crate) faults: FaultControl,
    pub(crate) openapi: Bytes,
    /// Bumped whenever the state is written (under the write lock).
    pub(crate) version: AtomicU64,
    /// Encoded whole collections, each with the state version it was encoded from.
    pub(crate) bodies: Mutex<HashMap<Kind, (u64, Bytes)>>,
}

/// The collections served by GET.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Cluster,
    Node,
    VirDomain,
    VirDomainStats,
    VirDomainSnapshot,
    VirDomainBlockDevice,
    VirDomainNetDevice,
    Condition,
    Drive,
    VirtualDisk,
    Iso,
    User,
    Role,
    TaskTag,
    SnapshotSchedule,
    /// A collection served verbatim from `ClusterState::settings`.
    Settings(&'static str),
}

/// A read lock on the state after applying whatever fell due by `now` (readers run in parallel;
/// the write lock is taken only when a task or timer is due).
pub(super) fn read_state(sh: &Shared, now: Instant) -> RwLockReadGuard<'_, SimState> {
    let guard = sh.state.read();
    if !guard.is_due(now) {
        return guard;
    }
    drop(guard);
    let mut write = sh.state.write();
    write.advance(now);
    sh.version.fetch_add(1, Ordering::AcqRel);
    RwLockWriteGuard::downgrade(write)
}

/// The write lock on the state after applying whatever fell due by `now`.
pub(super) fn write_state(sh: &Shared, now: Instant) -> RwLockWriteGuard<'_, SimState> {
    let mut write = sh.state.write();
    write.advance(now);
    sh.version.fetch_add(1, Ordering::AcqRel);
    write
}
