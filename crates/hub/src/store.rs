//! Persistence: one sled database holding the cluster registry and the audit trail. The
//! handles live behind an Option so shutdown releases the database lock even if tasks linger.

use std::path::Path;
use std::sync::{OnceLock, RwLock};

use serde::{Deserialize, Serialize};

use crate::audit::{AUDIT_TREE, AuditEntry};
use crate::cluster::ClusterRecord;
use crate::error::HubError;
use crate::fleet_audit::FleetAudit;

const CLUSTERS_TREE: &str = "clusters";
/// Join nonces seen (-> Unix seconds), kept for the proof's validity window across restarts.
const NONCES_TREE: &str = "join_nonces";
/// sled's page cache: the hub reads its trees at startup and for audit queries only.
const SLED_CACHE_BYTES: u64 = 4 * 1024 * 1024;
/// alias -> the manifest it offers: `MANIFEST_REF` + SHA-256 (older databases: the JSON).
const TOOLS_TREE: &str = "cluster_tools";
/// SHA-256 -> tool manifest JSON, stored once however many clusters offer it.
const MANIFESTS_TREE: &str = "tool_manifests";
/// Name of the sled tree holding this hub's own settings (its replica id).
const META_TREE: &str = "meta";
/// Key of the replica id in the meta tree.
const REPLICA_ID: &[u8] = b"replica_id";
/// alias -> the cluster's trust record (JSON; see `trust`).
const TRUST_TREE: &str = "trust";
/// Tries and pause while a just-closed database in this process still holds its lock.
const LOCK_RETRIES: u32 = 40;
const LOCK_RETRY_EVERY: std::time::Duration = std::time::Duration::from_millis(50);
/// First byte of a manifest reference (JSON text never starts with it).
const MANIFEST_REF: u8 = 0;

/// A validated tool list encoded for storage, with the SHA-256 that identifies it.
pub(crate) struct Manifest {
    json: Vec<u8>,
    /// Identifies the manifest: equal lists have equal digests.
    pub digest: [u8; 32],
}

impl Manifest {
    /// Encodes `tools`.
    pub(crate) fn encode(tools: &[rmcp::model::Tool]) -> Result<Self, HubError> {
        use sha2::Digest as _;
        let json = serde_json::to_vec(tools).map_err(|e| HubError::Storage(e.to_string()))?;
        let digest = sha2::Sha256::digest(&json).into();
        Ok(Manifest { json, digest })
    }
}

/// A cluster record as stored, without its tool list (kept in its own tree).
#[derive(Serialize, Deserialize)]
struct StoredCluster {
    alias: String,
    cluster_uuid: String,
    cluster_name: String,
    worker_url: String,
    last_seen: u64,
}

struct Trees {
    db: sled::Db,
    clusters: sled::Tree,
    tools: sled::Tree,
    manifests: sled::Tree,
    audit: sled::Tree,
    nonces: sled::Tree,
    trust: sled::Tree,
}

/// The hub's sled database.
pub(crate) struct Store {
    trees: RwLock<Option<Trees>>,
    /// The fleet's audit stream, when this hub is a replica on NATS.
    fleet_audit: OnceLock<FleetAudit>,
}

fn closed() -> HubError {
    HubError::Storage("the hub database is closed (the hub is shutting down)".into())
}

impl Store {
    /// Opens the database in `data_dir`, or a temporary one when `None`.
    pub(crate) fn open(data_dir: Option<&Path>) -> Result<Self, HubError> {
        let config = match data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    HubError::Storage(format!(
                        "cannot create data directory {}: {e}",
                        dir.display()
                    ))
                })?;
                sled::Config::new()
                    .path(dir)
                    .cache_capacity(SLED_CACHE_BYTES)
            }
            None => sled::Config::new()
                .temporary(true)
                .cache_capacity(SLED_CACHE_BYTES),
        };
        // A database just closed in this process (a hub restarted in place) keeps its file
        // lock until sled's background flusher lets go: wait briefly for it. Another
        // process's lock stays held and is reported as before.
        let mut opened = config.open();
        for _ in 0..LOCK_RETRIES {
            match &opened {
                // sled reports it as kind Other with this text.
                Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                    std::thread::sleep(LOCK_RETRY_EVERY);
                    opened = config.open();
                }
                _ => break,
            }
        }
        let db = opened.map_err(|e| {
            HubError::Storage(format!(
                "cannot open the hub database{}: {e}",
                data_dir
                    .map(|d| format!(" in {}", d.display()))
                    .unwrap_or_default()
            ))
        })?;
        let clusters = db.open_tree(CLUSTERS_TREE)?;
        let tools = db.open_tree(TOOLS_TREE)?;
        let manifests = db.open_tree(MANIFESTS_TREE)?;
        let audit = db.open_tree(AUDIT_TREE)?;
        let nonces = db.open_tree(NONCES_TREE)?;
        let trust = db.open_tree(TRUST_TREE)?;
        Ok(Store {
            trees: RwLock::new(Some(Trees {
                db,
                clusters,
                tools,
                manifests,
                audit,
                nonces,
                trust,
            })),
            fleet_audit: OnceLock::new(),
        })
    }

    /// This hub's id among the replicas of a fleet: random, made once and kept in its database.
    pub(crate) fn replica_id(&self) -> Result<String, HubError> {
        self.with(|t| {
            let meta = t.db.open_tree(META_TREE)?;
            if let Some(v) = meta.get(REPLICA_ID)? {
                return Ok(String::from_utf8_lossy(&v).into_owned());
            }
            let fresh = format!("r{:016x}", rand::random::<u64>());
            match meta.compare_and_swap(REPLICA_ID, None::<&[u8]>, Some(fresh.as_bytes()))? {
                Ok(()) => {
                    meta.flush()?;
                    Ok(fresh)
                }
                Err(cas) => Ok(cas
                    .current
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
                    .unwrap_or(fresh)),
            }
        })
    }

    /// Mirrors every audit record into the fleet's audit stream from now on.
    pub(crate) fn set_fleet_audit(&self, audit: FleetAudit) {
        let _ = self.fleet_audit.set(audit);
    }

    fn with<T>(&self, f: impl FnOnce(&Trees) -> Result<T, HubError>) -> Result<T, HubError> {
        let guard = self.trees.read().map_err(|_| closed())?;
        match guard.as_ref() {
            Some(t) => f(t),
            None => Err(closed()),
        }
    }

    /// Every persisted cluster record, with its tools; manifests no cluster offers any more
    /// are dropped.
    pub(crate) fn load_clusters(&self) -> Result<Vec<ClusterRecord>, HubError> {
        self.with(|t| {
            let mut out = Vec::new();
            let mut referenced = std::collections::HashSet::new();
            for item in t.clusters.iter() {
                let (key, value) = item?;
                let meta = match serde_json::from_slice::<StoredCluster>(&value) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(
                            key = %String::from_utf8_lossy(&key), error = %e,
                            "skipping an unreadable cluster record"
                        );
                        continue;
                    }
                };
                let stored = match t.tools.get(&key)? {
                    Some(v) if v.first() == Some(&MANIFEST_REF) => {
                        referenced.insert(v[1..].to_vec());
                        t.manifests.get(&v[1..])?
                    }
                    other => other,
                };
                let tools = match stored {
                    Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                        tracing::warn!(cluster = %meta.alias, error = %e, "unreadable stored tool list");
                        Vec::new()
                    }),
                    None => Vec::new(),
                };
                out.push(ClusterRecord {
                    alias: meta.alias,
                    cluster_uuid: meta.cluster_uuid,
                    cluster_name: meta.cluster_name,
                    worker_url: meta.worker_url,
                    last_seen: meta.last_seen,
                    tools,
                });
            }
            for item in t.manifests.iter() {
                let (digest, _) = item?;
                if !referenced.contains(digest.as_ref()) {
                    t.manifests.remove(digest)?;
                }
            }
            Ok(out)
        })
    }

    /// Writes (or replaces) a cluster record and its tool list; flushed in the background.
    pub(crate) fn save_cluster(
        &self,
        record: &ClusterRecord,
        manifest: &Manifest,
    ) -> Result<(), HubError> {
        let mut reference = Vec::with_capacity(1 + manifest.digest.len());
        reference.push(MANIFEST_REF);
        reference.extend_from_slice(&manifest.digest);
        self.with(|t| {
            // Workers of one version offer the same manifest: it is written once.
            if !t.manifests.contains_key(manifest.digest)? {
                t.manifests
                    .insert(manifest.digest, manifest.json.as_slice())?;
            }
            t.tools.insert(record.alias.as_bytes(), reference)?;
            Ok(())
        })?;
        self.touch_cluster(record)
    }

    /// Writes a cluster record without its (large, unchanged) tool list, e.g. for last_seen.
    pub(crate) fn touch_cluster(&self, record: &ClusterRecord) -> Result<(), HubError> {
        let meta = StoredCluster {
            alias: record.alias.clone(),
            cluster_uuid: record.cluster_uuid.clone(),
            cluster_name: record.cluster_name.clone(),
            worker_url: record.worker_url.clone(),
            last_seen: record.last_seen,
        };
        let bytes = serde_json::to_vec(&meta).map_err(|e| HubError::Storage(e.to_string()))?;
        self.with(|t| {
            t.clusters.insert(record.alias.as_bytes(), bytes)?;
            Ok(())
        })
    }

    /// Forgets a cluster record.
    pub(crate) fn remove_cluster(&self, alias: &str) -> Result<(), HubError> {
        self.with(|t| {
            t.clusters.remove(alias.as_bytes())?;
            t.tools.remove(alias.as_bytes())?;
            Ok(())
        })
    }

    /// Allocates an id and writes a pending audit entry, flushed to disk before returning.
    pub(crate) async fn audit_begin(&self, entry: AuditEntry) -> Result<AuditEntry, HubError> {
        let mut entry = entry.bounded();
        let tree = self.with(|t| {
            entry.id = t.db.generate_id()?;
            let bytes = serde_json::to_vec(&entry).map_err(|e| HubError::Storage(e.to_string()))?;
            t.audit.insert(entry.id.to_be_bytes(), bytes)?;
            Ok(t.audit.clone())
        })?;
        tree.flush_async().await?;
        if let Some(fleet) = self.fleet_audit.get()
            && let Err(e) = fleet.started(&entry).await
        {
            // Not stored fleet-wide: the action is not forwarded, and the record says why.
            let mut refused = entry.clone();
            refused.outcome = "error".into();
            refused.error = Some(e.to_string());
            refused.completed = Some(crate::audit::now_rfc3339());
            self.write_audit(&refused).await?;
            return Err(e);
        }
        Ok(entry)
    }

    async fn write_audit(&self, entry: &AuditEntry) -> Result<(), HubError> {
        let bytes = serde_json::to_vec(entry).map_err(|e| HubError::Storage(e.to_string()))?;
        let tree = self.with(|t| {
            t.audit.insert(entry.id.to_be_bytes(), bytes)?;
            Ok(t.audit.clone())
        })?;
        tree.flush_async().await?;
        Ok(())
    }

    /// Rewrites an audit entry (its task tag, its outcome), flushed to disk before returning.
    pub(crate) async fn audit_complete(&self, entry: &AuditEntry) -> Result<(), HubError> {
        let entry = entry.clone().bounded();
        self.write_audit(&entry).await?;
        if let Some(fleet) = self.fleet_audit.get() {
            fleet.completed(&entry).await?;
        }
        Ok(())
    }

    /// Every audit record still `pending` (calls a previous run did not see end).
    pub(crate) fn pending_audit(&self) -> Result<Vec<AuditEntry>, HubError> {
        self.with(|t| {
            let mut out = Vec::new();
            for item in t.audit.iter() {
                let (_, value) = item?;
                if let Ok(e) = serde_json::from_slice::<AuditEntry>(&value)
                    && e.outcome == "pending"
                {
                    out.push(e);
                }
            }
            Ok(out)
        })
    }

    /// Records a join nonce seen at `now` (flushed before returning); false when it was
    /// already recorded (a replay, also across hub restarts).
    pub(crate) async fn use_nonce(&self, nonce: &str, now: u64) -> Result<bool, HubError> {
        let (fresh, tree) = self.with(|t| {
            let swapped = t.nonces.compare_and_swap(
                nonce.as_bytes(),
                None::<&[u8]>,
                Some(&now.to_be_bytes()[..]),
            )?;
            Ok((swapped.is_ok(), t.nonces.clone()))
        })?;
        if fresh {
            tree.flush_async().await?;
        }
        Ok(fresh)
    }

    /// Forgets join nonces recorded before `cutoff` (Unix seconds): their proofs are stale.
    pub(crate) fn prune_nonces(&self, cutoff: u64) -> Result<(), HubError> {
        self.with(|t| {
            for item in t.nonces.iter() {
                let (key, value) = item?;
                let seen = <[u8; 8]>::try_from(value.as_ref()).map_or(0, u64::from_be_bytes);
                if seen < cutoff {
                    t.nonces.remove(key)?;
                }
            }
            Ok(())
        })
    }

    /// Every stored trust record: (alias, JSON).
    pub(crate) fn trust_records(&self) -> Result<Vec<(String, Vec<u8>)>, HubError> {
        self.with(|t| {
            let mut out = Vec::new();
            for item in t.trust.iter() {
                let (key, value) = item?;
                out.push((String::from_utf8_lossy(&key).into_owned(), value.to_vec()));
            }
            Ok(out)
        })
    }

    /// Writes one cluster's trust record (JSON), flushed in the background.
    pub(crate) fn put_trust(&self, alias: &str, json: &[u8]) -> Result<(), HubError> {
        self.with(|t| {
            t.trust.insert(alias.as_bytes(), json)?;
            Ok(())
        })
    }

    /// One page of the audit trail (see `audit::page`): the fleet's, read from its stream,
    /// when this hub is a replica on NATS; else this hub's own.
    pub(crate) async fn audit_page(
        &self,
        before: Option<u64>,
        limit: usize,
        keep: impl Fn(&AuditEntry) -> bool,
    ) -> Result<(Vec<AuditEntry>, Option<u64>), HubError> {
        if let Some(fleet) = self.fleet_audit.get() {
            return fleet.page(before, limit, keep).await;
        }
        self.with(|t| crate::audit::page(&t.audit, before, limit, keep))
    }

    /// Whether the database is open (not yet closed by shutdown).
    pub(crate) fn is_open(&self) -> bool {
        self.with(|_| Ok(())).is_ok()
    }

    /// Flushes and closes the database, releasing its directory lock.
    pub(crate) fn close(&self) {
        let taken = self.trees.write().ok().and_then(|mut g| g.take());
        if let Some(t) = taken
            && let Err(e) = t.db.flush()
        {
            tracing::warn!(error = %e, "flushing the hub database on shutdown failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::Tool;

    fn record(alias: &str) -> ClusterRecord {
        ClusterRecord {
            alias: alias.into(),
            cluster_uuid: format!("uuid-{alias}"),
            cluster_name: alias.to_uppercase(),
            worker_url: format!("http://127.0.0.1:1/{alias}"),
            last_seen: 7,
            tools: Vec::new(),
        }
    }

    fn tools(names: &[&str]) -> Vec<Tool> {
        names
            .iter()
            .map(|n| {
                Tool::new(
                    n.to_string(),
                    "d",
                    std::sync::Arc::new(serde_json::Map::new()),
                )
            })
            .collect()
    }

    fn names(r: &ClusterRecord) -> Vec<String> {
        r.tools.iter().map(|t| t.name.to_string()).collect()
    }

    #[test]
    fn identical_manifests_are_stored_once_and_orphans_dropped() {
        let dir = std::env::temp_dir().join(format!("hyperfed-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let common = tools(&["a", "b"]);
        {
            let store = Store::open(Some(&dir)).unwrap();
            store
                .save_cluster(&record("c1"), &Manifest::encode(&common).unwrap())
                .unwrap();
            store
                .save_cluster(&record("c2"), &Manifest::encode(&common).unwrap())
                .unwrap();
            store
                .save_cluster(&record("c3"), &Manifest::encode(&tools(&["x"])).unwrap())
                .unwrap();
            store
                .with(|t| {
                    assert_eq!(t.manifests.len(), 2, "two distinct manifests");
                    Ok(())
                })
                .unwrap();
            store.remove_cluster("c3").unwrap();
            store.close();
        }
        let store = Store::open(Some(&dir)).unwrap();
        let mut loaded = store.load_clusters().unwrap();
        loaded.sort_by(|a, b| a.alias.cmp(&b.alias));
        assert_eq!(loaded.len(), 2);
        assert_eq!(names(&loaded[0]), ["a", "b"]);
        assert_eq!(names(&loaded[1]), ["a", "b"]);
        assert_eq!(loaded[1].worker_url, "http://127.0.0.1:1/c2");
        store
            .with(|t| {
                assert_eq!(t.manifests.len(), 1, "the manifest only c3 offered is gone");
                Ok(())
            })
            .unwrap();
        store.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tool_lists_stored_inline_by_older_hubs_still_load() {
        let dir = std::env::temp_dir().join(format!("hyperfed-store-old-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(Some(&dir)).unwrap();
        store.touch_cluster(&record("old")).unwrap();
        let json = serde_json::to_vec(&tools(&["legacy"])).unwrap();
        store
            .with(|t| {
                t.tools.insert("old", json)?;
                Ok(())
            })
            .unwrap();
        let loaded = store.load_clusters().unwrap();
        assert_eq!(names(&loaded[0]), ["legacy"]);
        store.close();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
