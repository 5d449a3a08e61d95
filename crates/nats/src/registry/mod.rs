//! The fleet's registry in a JetStream key-value bucket (one per fleet, key = alias).
//!
//! A worker's [`Registrar`] stores a registration signed with a key derived from the join
//! secret and re-signs it on every heartbeat; the bucket's `max_age` is the heartbeat expiry, and
//! its limit markers make an expiry visible to watchers. Each hub replica runs a
//! [`RegistryWatch`]: it verifies every entry (proof, skew window, nonce memory, no rollback),
//! ignores and counts forged ones, and turns the rest into join / tools-changed / leave / expire
//! events plus a shared map of live registrations and their reply keys.

use async_nats::jetstream::kv::{self, Operation};
use bytes::Bytes;
use futures::StreamExt as _;
use hyperfed_protocol::Secret;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::connect::NatsConnection;
use crate::error::{SetupError, StoreError};
use crate::sign::{
    self, FleetKeys, Refusal, ReplayGuard, SKEW_MS, SessionKey, parse_id, random_id, unix_ms,
};
use crate::subject::{FleetName, check_token};

/// Timing and placement of the registry bucket; every hub and worker of a fleet must agree.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// How often a worker re-signs and re-stores its registration.
    pub heartbeat_interval: Duration,
    /// After this long without a heartbeat an entry expires (the bucket's `max_age`).
    pub expiry: Duration,
    /// Stream replicas (1 on one server, 3 on a 3-node cluster).
    pub replicas: usize,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            heartbeat_interval: Duration::from_secs(2),
            expiry: Duration::from_secs(6),
            replicas: 1,
        }
    }
}

impl RegistryConfig {
    fn check(&self) -> Result<(), SetupError> {
        if self.expiry < Duration::from_secs(1) || self.expiry.as_millis() > u128::from(SKEW_MS) {
            return Err(SetupError::Config(format!(
                "registry expiry must be between 1 s and {} s",
                SKEW_MS / 1000
            )));
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval >= self.expiry {
            return Err(SetupError::Config(
                "the heartbeat interval must be shorter than the registry expiry".into(),
            ));
        }
        if self.replicas == 0 || self.replicas > 5 {
            return Err(SetupError::Config(
                "registry replicas must be 1 to 5".into(),
            ));
        }
        Ok(())
    }
}

/// Opens the fleet's registry bucket, creating it when absent.
async fn open_bucket(
    conn: &NatsConnection,
    fleet: &FleetName,
    config: &RegistryConfig,
) -> Result<kv::Store, SetupError> {
    config.check()?;
    let js = conn.jetstream();
    let bucket = fleet.registry_bucket();
    // Open first: a worker whose NATS user may not create streams then never tries to.
    if let Ok(store) = js.get_key_value(&bucket).await {
        return Ok(store);
    }
    let created = js
        .create_key_value(kv::Config {
            bucket: bucket.clone(),
            description: format!("HyperFed fleet {fleet}: cluster registrations"),
            history: 1,
            max_age: config.expiry,
            num_replicas: config.replicas,
            storage: async_nats::jetstream::stream::StorageType::File,
            // Expiry leaves a marker that watchers see, kept as long as one expiry.
            limit_markers: Some(config.expiry.max(Duration::from_secs(1))),
            ..Default::default()
        })
        .await;
    match created {
        Ok(store) => Ok(store),
        // Created meanwhile by another replica or worker: use theirs.
        Err(create_err) => js
            .get_key_value(&bucket)
            .await
            .map_err(|_| SetupError::JetStream {
                what: format!("KV bucket {bucket}"),
                cause: create_err.to_string(),
            }),
    }
}

/// Which cluster a worker registers under its alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterIdentity {
    /// The cluster's uuid: its identity; a re-registration with the same uuid replaces the entry.
    pub cluster_uuid: String,
    /// The cluster's clusterName.
    pub cluster_name: String,
}

/// One registration as stored in the bucket, signed with the fleet's registration key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The alias (equals the bucket key).
    pub alias: String,
    /// The cluster's uuid.
    pub cluster_uuid: String,
    /// The cluster's clusterName.
    pub cluster_name: String,
    /// sha256 hex of the worker's tools/list result; a change means list_changed.
    pub tools_hash: String,
    /// Random per worker start; the worker's reply key is derived from it and the secret.
    pub session: String,
    /// Unix ms when this copy was signed (refreshed by each heartbeat).
    pub timestamp_ms: u64,
    /// Random, single use (32 hex digits).
    pub nonce: String,
    /// base64url HMAC over all the fields above and the fleet name.
    pub proof: String,
}

impl Registration {
    fn sign(keys: &WorkerKeys, id: &ClusterIdentity, tools_hash: &str) -> Self {
        let session = keys.session.as_str();
        let alias = keys.alias.clone();
        let keys = &*keys.fleet;
        let mut r = Registration {
            alias,
            cluster_uuid: id.cluster_uuid.clone(),
            cluster_name: id.cluster_name.clone(),
            tools_hash: tools_hash.to_owned(),
            session: session.to_owned(),
            timestamp_ms: unix_ms(),
            nonce: random_id().1,
            proof: String::new(),
        };
        r.proof = sign::sign(
            keys.registration_key(),
            &r.parts(keys).each_ref().map(|p| p.as_slice()),
        );
        r
    }

    fn parts(&self, keys: &FleetKeys) -> [Vec<u8>; 9] {
        [
            b"registration".to_vec(),
            keys.fleet().as_str().as_bytes().to_vec(),
            self.alias.as_bytes().to_vec(),
            self.cluster_uuid.as_bytes().to_vec(),
            self.cluster_name.as_bytes().to_vec(),
            self.tools_hash.as_bytes().to_vec(),
            self.session.as_bytes().to_vec(),
            self.timestamp_ms.to_be_bytes().to_vec(),
            self.nonce.as_bytes().to_vec(),
        ]
    }

    /// Checks sizes, the key it is stored under and the proof (not freshness or replay).
    fn verify_proof(&self, keys: &FleetKeys, key: &str) -> Result<(), Refusal> {
        let sized = [
            (&self.cluster_uuid, 128),
            (&self.cluster_name, 256),
            (&self.tools_hash, 128),
            (&self.session, 64),
            (&self.proof, 64),
        ];
        if self.alias != key
            || parse_id(&self.nonce).is_none()
            || sized.iter().any(|(v, max)| v.is_empty() || v.len() > *max)
        {
            return Err(Refusal::Malformed);
        }
        let parts = self.parts(keys);
        if sign::verify(
            keys.registration_key(),
            &parts.each_ref().map(|p| p.as_slice()),
            &self.proof,
        ) {
            Ok(())
        } else {
            Err(Refusal::Forged)
        }
    }

    fn to_bytes(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }
}

/// A worker's registration in the fleet bucket, kept alive by heartbeats.
pub struct Registrar {
    store: kv::Store,
    keys: WorkerKeys,
    identity: ClusterIdentity,
    tools_hash: Mutex<String>,
    revision: Mutex<u64>,
    config: RegistryConfig,
    conn: NatsConnection,
    left: AtomicBool,
}

impl std::fmt::Debug for Registrar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("alias", &self.keys.alias)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl Registrar {
    /// Claims `keys`' alias in the fleet bucket (refused when a live, authentic registration of
    /// another cluster holds it) and stores the first signed registration. Start `serve` with the
    /// same keys first, so no hub sees the registration before the worker can answer.
    pub async fn register(
        conn: &NatsConnection,
        keys: &WorkerKeys,
        identity: ClusterIdentity,
        tools_hash: &str,
        config: RegistryConfig,
    ) -> Result<Self, StoreError> {
        let store = open_bucket(conn, keys.fleet(), &config).await?;
        let registrar = Registrar {
            store,
            keys: keys.clone(),
            identity,
            tools_hash: Mutex::new(tools_hash.to_owned()),
            revision: Mutex::new(0),
            config,
            conn: conn.clone(),
            left: AtomicBool::new(false),
        };
        registrar.claim().await?;
        Ok(registrar)
    }

    /// The keys this registration signs with.
    pub fn worker_keys(&self) -> &WorkerKeys {
        &self.keys
    }

    /// The registered cluster.
    pub fn identity(&self) -> &ClusterIdentity {
        &self.identity
    }

    /// The configured heartbeat interval.
    pub fn heartbeat_interval(&self) -> Duration {
        self.config.heartbeat_interval
    }

    fn record(&self) -> Bytes {
        let hash = self
            .tools_hash
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default();
        Registration::sign(&self.keys, &self.identity, &hash).to_bytes()
    }

    fn set_revision(&self, rev: u64) {
        if let Ok(mut g) = self.revision.lock() {
            *g = rev;
        }
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> StoreError {
        match self.conn.ensure_connected() {
            Err(crate::NatsLinkError::Disconnected { cause }) => StoreError::Disconnected(cause),
            _ => StoreError::Unavailable(e.to_string()),
        }
    }

    async fn claim(&self) -> Result<(), StoreError> {
        let alias = &self.keys.alias;
        match self.store.create(alias, self.record()).await {
            Ok(rev) => {
                self.set_revision(rev);
                return Ok(());
            }
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
            Err(e) => return Err(self.unavailable(e)),
        }
        let entry = self
            .store
            .entry(alias.as_str())
            .await
            .map_err(|e| self.unavailable(e))?;
        let Some(entry) = entry else {
            // Expired between the two calls: try once more from scratch.
            let rev = self
                .store
                .create(alias, self.record())
                .await
                .map_err(|e| self.unavailable(e))?;
            self.set_revision(rev);
            return Ok(());
        };
        if entry.operation == Operation::Put
            && let Ok(holder) = serde_json::from_slice::<Registration>(&entry.value)
            && holder.verify_proof(&self.keys.fleet, alias).is_ok()
            && holder.cluster_uuid != self.identity.cluster_uuid
        {
            return Err(StoreError::AliasTaken {
                alias: alias.clone(),
                cluster_name: holder.cluster_name,
            });
        }
        // Our own earlier entry, a forged one, or a delete marker: take it over.
        let rev = self
            .store
            .update(alias, self.record(), entry.revision)
            .await
            .map_err(|e| self.unavailable(e))?;
        self.set_revision(rev);
        Ok(())
    }

    /// Re-signs and stores the registration (compare-and-set on the last revision; when someone
    /// else wrote the key meanwhile, the alias is claimed again). A no-op after `leave`.
    pub async fn heartbeat(&self) -> Result<(), StoreError> {
        if self.left.load(Ordering::Acquire) {
            return Ok(());
        }
        let last = self.revision.lock().map(|g| *g).unwrap_or(0);
        match self
            .store
            .update(&self.keys.alias, self.record(), last)
            .await
        {
            Ok(rev) => {
                self.set_revision(rev);
                Ok(())
            }
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => self.claim().await,
            Err(e) => Err(self.unavailable(e)),
        }
    }

    /// Records a new tools hash and stores it at once (hubs see `ToolsChanged`).
    pub async fn set_tools_hash(&self, tools_hash: &str) -> Result<(), StoreError> {
        if let Ok(mut g) = self.tools_hash.lock() {
            *g = tools_hash.to_owned();
        }
        self.heartbeat().await
    }

    /// Heartbeats every interval in a task until the returned handle is dropped; errors are
    /// logged and retried, an alias taken by another cluster stops it.
    pub fn spawn_heartbeats(self: &Arc<Self>) -> Heartbeats {
        let me = self.clone();
        Heartbeats(tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.config.heartbeat_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if me.left.load(Ordering::Acquire) {
                    return;
                }
                match me.heartbeat().await {
                    Ok(()) => {}
                    Err(e @ StoreError::AliasTaken { .. }) => {
                        tracing::error!(error = %e, "registration lost; heartbeats stop");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(alias = %me.keys.alias, error = %e, "heartbeat failed; retrying")
                    }
                }
            }
        }))
    }

    /// Removes the registration (hubs see `Left`) if it is still ours, and stops heartbeats.
    pub async fn leave(&self) -> Result<(), StoreError> {
        self.left.store(true, Ordering::Release);
        let last = self.revision.lock().map(|g| *g).unwrap_or(0);
        match self
            .store
            .delete_expect_revision(&self.keys.alias, Some(last))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(()),
            Err(e) => Err(self.unavailable(e)),
        }
    }
}

/// The heartbeat task of a [`Registrar`]; dropping it stops the heartbeats.
#[derive(Debug)]
pub struct Heartbeats(JoinHandle<()>);

impl Drop for Heartbeats {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What one worker process start signs and verifies with for one alias: the fleet's keys and a
/// fresh registration session (its reply key). Debug is redacted.
#[derive(Clone, Debug)]
pub struct WorkerKeys {
    pub(crate) alias: String,
    pub(crate) fleet: Arc<FleetKeys>,
    pub(crate) session: String,
    pub(crate) session_key: SessionKey,
}

impl WorkerKeys {
    /// Derives the keys for `alias` in `fleet` with a new random session.
    pub fn new(secret: &Secret, fleet: &FleetName, alias: &str) -> Result<Self, SetupError> {
        check_token("alias", alias)?;
        let fleet = Arc::new(FleetKeys::new(secret, fleet));
        let session = random_id().1;
        let session_key = fleet.session_key(alias, &session);
        Ok(WorkerKeys {
            alias: alias.to_owned(),
            fleet,
            session,
            session_key,
        })
    }

    /// The alias these keys answer for.
    pub fn alias(&self) -> &str {
        &self.alias
    }

    /// The fleet these keys belong to.
    pub fn fleet(&self) -> &FleetName {
        self.fleet.fleet()
    }
}

mod watch;

pub use watch::{LiveRegistrations, RefusalCounts, RegistryEvent, RegistryWatch};

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> FleetKeys {
        FleetKeys::new(&Secret::new("s"), &FleetName::new("f").unwrap())
    }

    fn id() -> ClusterIdentity {
        ClusterIdentity {
            cluster_uuid: "u1".into(),
            cluster_name: "c1".into(),
        }
    }

    #[test]
    fn proof_binds_fields_key_and_fleet() {
        let k = keys();
        let wk = WorkerKeys::new(&Secret::new("s"), k.fleet(), "a1").unwrap();
        let r = Registration::sign(&wk, &id(), "h");
        assert_eq!(r.verify_proof(&k, "a1"), Ok(()));
        assert_eq!(r.verify_proof(&k, "a2"), Err(Refusal::Malformed));
        let mut t = r.clone();
        t.tools_hash = "other".into();
        assert_eq!(t.verify_proof(&k, "a1"), Err(Refusal::Forged));
        let wrong = FleetKeys::new(&Secret::new("not-s"), &FleetName::new("f").unwrap());
        assert_eq!(r.verify_proof(&wrong, "a1"), Err(Refusal::Forged));
        let other_fleet = FleetKeys::new(&Secret::new("s"), &FleetName::new("g").unwrap());
        assert_eq!(r.verify_proof(&other_fleet, "a1"), Err(Refusal::Forged));
    }

    #[test]
    fn config_is_checked() {
        assert!(RegistryConfig::default().check().is_ok());
        let mut c = RegistryConfig::default();
        c.heartbeat_interval = c.expiry;
        assert!(c.check().is_err());
        c = RegistryConfig {
            expiry: Duration::from_secs(600),
            ..Default::default()
        };
        assert!(c.check().is_err());
    }
}
