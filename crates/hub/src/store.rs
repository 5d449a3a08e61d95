//! Persistence: one sled database holding the cluster registry and the audit trail. The
//! handles live behind an Option so shutdown releases the database lock even if tasks linger.

use std::path::Path;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use crate::audit::{AUDIT_TREE, AuditEntry};
use crate::error::HubError;
use crate::registry::ClusterRecord;

const CLUSTERS_TREE: &str = "clusters";
/// sled's page cache: the hub reads its trees at startup and for audit queries only.
const SLED_CACHE_BYTES: u64 = 16 * 1024 * 1024;
const TOOLS_TREE: &str = "cluster_tools";

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
    audit: sled::Tree,
}

/// The hub's sled database.
pub(crate) struct Store {
    trees: RwLock<Option<Trees>>,
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
        let db = config.open().map_err(|e| {
            HubError::Storage(format!(
                "cannot open the hub database{}: {e}",
                data_dir
                    .map(|d| format!(" in {}", d.display()))
                    .unwrap_or_default()
            ))
        })?;
        let clusters = db.open_tree(CLUSTERS_TREE)?;
        let tools = db.open_tree(TOOLS_TREE)?;
        let audit = db.open_tree(AUDIT_TREE)?;
        Ok(Store {
            trees: RwLock::new(Some(Trees {
                db,
                clusters,
                tools,
                audit,
            })),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&Trees) -> Result<T, HubError>) -> Result<T, HubError> {
        let guard = self.trees.read().map_err(|_| closed())?;
        match guard.as_ref() {
            Some(t) => f(t),
            None => Err(closed()),
        }
    }

    /// Every persisted cluster record, with its tools.
    pub(crate) fn load_clusters(&self) -> Result<Vec<ClusterRecord>, HubError> {
        self.with(|t| {
            let mut out = Vec::new();
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
                let tools = match t.tools.get(&key)? {
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
            Ok(out)
        })
    }

    /// Writes (or replaces) a cluster record and its tool list; flushed in the background.
    pub(crate) fn save_cluster(
        &self,
        record: &ClusterRecord,
        tools: &[rmcp::model::Tool],
    ) -> Result<(), HubError> {
        let tools = serde_json::to_vec(tools).map_err(|e| HubError::Storage(e.to_string()))?;
        self.with(|t| {
            t.tools.insert(record.alias.as_bytes(), tools)?;
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
    pub(crate) async fn audit_begin(&self, mut entry: AuditEntry) -> Result<AuditEntry, HubError> {
        let tree = self.with(|t| {
            entry.id = t.db.generate_id()?;
            let bytes = serde_json::to_vec(&entry).map_err(|e| HubError::Storage(e.to_string()))?;
            t.audit.insert(entry.id.to_be_bytes(), bytes)?;
            Ok(t.audit.clone())
        })?;
        tree.flush_async().await?;
        Ok(entry)
    }

    /// Rewrites an audit entry with its outcome (flushed by sled shortly after).
    pub(crate) fn audit_complete(&self, entry: &AuditEntry) -> Result<(), HubError> {
        let bytes = serde_json::to_vec(entry).map_err(|e| HubError::Storage(e.to_string()))?;
        self.with(|t| {
            t.audit.insert(entry.id.to_be_bytes(), bytes)?;
            Ok(())
        })
    }

    /// The latest `limit` audit entries, oldest first.
    pub(crate) fn audit_entries(&self, limit: Option<usize>) -> Result<Vec<AuditEntry>, HubError> {
        self.with(|t| crate::audit::entries(&t.audit, limit))
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
