//! The live cluster registry: who joined, their worker link, the tools it offers and whether
//! it is up, in a DashMap keyed by alias. The durable part (`ClusterRecord`) is mirrored to
//! sled by the hub.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use rmcp::model::Tool;
use tokio_util::sync::CancellationToken;

use crate::catalog::CatalogCluster;
use crate::cluster::{ClusterRecord, ClusterSummary, Health};
use crate::error::HubError;
use crate::link::WorkerLink;

/// A registered cluster with its live state.
pub(crate) struct LiveCluster {
    /// The durable facts (its `tools` stay empty here: see `tools`).
    pub record: ClusterRecord,
    /// The worker's validated tools, shared with every cluster offering the same list.
    pub tools: Arc<Vec<Tool>>,
    /// Whether it can take calls.
    pub health: Health,
    /// When its last heartbeat (or join) arrived.
    pub last_seen: Instant,
    /// The link to its worker (None until a worker joins after a hub restart).
    pub link: Option<Arc<dyn WorkerLink>>,
    /// Cancelled when the cluster is marked down, so calls in flight to it end at once (a
    /// fresh token is put in its place for the next up period).
    pub up: CancellationToken,
    /// The join this registration came from; only its worker token heartbeats it.
    pub join_id: String,
}

impl LiveCluster {
    /// A cluster known from before a hub restart, waiting for its worker to re-join.
    pub(crate) fn reconnecting(record: ClusterRecord, tools: Arc<Vec<Tool>>) -> Self {
        LiveCluster {
            record,
            tools,
            health: Health::Reconnecting,
            last_seen: Instant::now(),
            link: None,
            up: CancellationToken::new(),
            join_id: String::new(),
        }
    }

    fn view(&self) -> CatalogCluster {
        CatalogCluster {
            alias: self.record.alias.clone(),
            cluster_name: self.record.cluster_name.clone(),
            health: self.health,
            tools: self.tools.clone(),
        }
    }

    fn summary(&self) -> ClusterSummary {
        ClusterSummary {
            alias: self.record.alias.clone(),
            cluster_name: self.record.cluster_name.clone(),
            cluster_uuid: self.record.cluster_uuid.clone(),
            worker_url: crate::cluster::redact_url(&self.record.worker_url),
            state: self.health,
            last_seen: self.record.last_seen,
            tool_count: self.tools.len(),
        }
    }
}

/// A cluster's link and its "up" token (cancelled when it is next marked down).
pub(crate) struct LiveLink {
    /// The link to the cluster's worker.
    pub link: Arc<dyn WorkerLink>,
    /// Cancelled when the cluster is next marked down.
    pub up: CancellationToken,
}

/// Every registered cluster, by alias.
#[derive(Default)]
pub(crate) struct Registry {
    clusters: DashMap<String, LiveCluster>,
}

impl Registry {
    /// Number of registered clusters (any state).
    pub(crate) fn len(&self) -> usize {
        self.clusters.len()
    }

    /// True when `alias` is registered.
    pub(crate) fn contains(&self, alias: &str) -> bool {
        self.clusters.contains_key(alias)
    }

    /// Adds (or replaces) a cluster; returns the link of the entry it replaced.
    pub(crate) fn insert(&self, cluster: LiveCluster) -> Option<Arc<dyn WorkerLink>> {
        self.clusters
            .insert(cluster.record.alias.clone(), cluster)
            .and_then(|prev| prev.link)
    }

    /// Removes a cluster; returns its link (if any) when it was registered.
    pub(crate) fn remove(&self, alias: &str) -> Option<Option<Arc<dyn WorkerLink>>> {
        self.clusters.remove(alias).map(|(_, c)| c.link)
    }

    /// Forgets every cluster (at shutdown).
    pub(crate) fn clear(&self) {
        self.clusters.clear();
    }

    /// The aliases registered for `cluster_uuid` under another name than `alias`.
    pub(crate) fn other_aliases_of(&self, cluster_uuid: &str, alias: &str) -> Vec<String> {
        self.clusters
            .iter()
            .filter(|e| e.record.cluster_uuid == cluster_uuid && e.key() != alias)
            .map(|e| e.key().clone())
            .collect()
    }

    /// Why `alias` cannot be taken by `cluster_uuid` (another cluster holds it), or None.
    pub(crate) fn alias_conflict(&self, alias: &str, cluster_uuid: &str) -> Option<String> {
        self.clusters.get(alias).and_then(|e| {
            // A worker that joined while its cluster was unreachable re-joins with the real uuid.
            let stand_in = e
                .record
                .cluster_uuid
                .starts_with(hyperfed_protocol::join::PENDING_CLUSTER_PREFIX);
            (e.record.cluster_uuid != cluster_uuid && !stand_in).then(|| {
                format!(
                    "cluster alias '{alias}' is already used by cluster {}; choose another with --name",
                    e.record.cluster_name
                )
            })
        })
    }

    /// True when `alias` is registered for `cluster_uuid` by the join `join_id` and not
    /// waiting to re-join.
    pub(crate) fn is_joined(&self, alias: &str, cluster_uuid: &str, join_id: &str) -> bool {
        self.clusters.get(alias).is_some_and(|e| {
            e.record.cluster_uuid == cluster_uuid
                && e.health != Health::Reconnecting
                && !e.join_id.is_empty()
                && e.join_id == join_id
        })
    }

    /// Why `alias` (or another alias of `cluster_uuid`) cannot move to `url`: it is held by a
    /// live worker at another URL, which must leave or be marked down first.
    pub(crate) fn live_elsewhere(
        &self,
        alias: &str,
        cluster_uuid: &str,
        url: &str,
    ) -> Option<String> {
        self.clusters.iter().find_map(|e| {
            let same = e.key() == alias || e.record.cluster_uuid == cluster_uuid;
            (same && e.health == Health::Up && e.record.worker_url != url).then(|| {
                format!(
                    "cluster alias '{}' is held by a live worker at another URL; it moves only after that worker leaves or is marked down",
                    e.key()
                )
            })
        })
    }

    /// Records a heartbeat of `alias` from its join `join_id`; `Some(true)` when it was down
    /// until now, None when that join no longer holds the alias.
    pub(crate) fn heartbeat(&self, alias: &str, join_id: &str, now_unix: u64) -> Option<bool> {
        let mut e = self.clusters.get_mut(alias)?;
        if e.join_id != join_id || e.health == Health::Reconnecting {
            return None;
        }
        e.last_seen = Instant::now();
        e.record.last_seen = now_unix;
        let was_down = e.health == Health::Down;
        e.health = Health::Up;
        Some(was_down)
    }

    /// Marks down the up clusters silent for longer than `limit`, ending their calls in
    /// flight; returns their records.
    pub(crate) fn mark_silent_down(&self, limit: Duration) -> Vec<ClusterRecord> {
        let mut changed = Vec::new();
        for mut e in self.clusters.iter_mut() {
            if e.health == Health::Up && e.last_seen.elapsed() > limit {
                e.health = Health::Down;
                // End the calls in flight to it now rather than at their timeout.
                e.up.cancel();
                e.up = CancellationToken::new();
                tracing::warn!(cluster = %e.key(), "cluster missed its heartbeats; marked down");
                changed.push(e.record.clone());
            }
        }
        changed
    }

    /// Marks `alias` down now (its registration expired), ending its calls in flight;
    /// returns its record when it was up.
    pub(crate) fn mark_down(&self, alias: &str) -> Option<ClusterRecord> {
        let mut e = self.clusters.get_mut(alias)?;
        if e.health != Health::Up {
            return None;
        }
        e.health = Health::Down;
        e.up.cancel();
        e.up = CancellationToken::new();
        Some(e.record.clone())
    }

    /// The link of `alias` while it is registered for `cluster_uuid`.
    pub(crate) fn link_of(&self, alias: &str, cluster_uuid: &str) -> Option<Arc<dyn WorkerLink>> {
        match self.clusters.get(alias) {
            Some(e) if e.record.cluster_uuid == cluster_uuid => e.link.clone(),
            _ => None,
        }
    }

    /// Replaces the tools of `alias` if it is still registered for `cluster_uuid`; returns
    /// its record.
    pub(crate) fn set_tools(
        &self,
        alias: &str,
        cluster_uuid: &str,
        tools: Arc<Vec<Tool>>,
    ) -> Option<ClusterRecord> {
        let mut e = self.clusters.get_mut(alias)?;
        if e.record.cluster_uuid != cluster_uuid {
            return None;
        }
        e.tools = tools;
        Some(e.record.clone())
    }

    /// Whether `alias` offers `tool` and, if so, whether its own manifest declares it
    /// read-only (`Some(true)`); None when the cluster or the tool is unknown.
    pub(crate) fn tool_read_only(&self, alias: &str, tool: &str) -> Option<bool> {
        let e = self.clusters.get(alias)?;
        let t = e.tools.iter().find(|t| t.name == tool)?;
        Some(crate::validate::is_read_only(t))
    }

    /// The link of an up cluster (with its up token), or why there is none.
    pub(crate) fn live_link(&self, alias: &str) -> Result<LiveLink, HubError> {
        let entry = self
            .clusters
            .get(alias)
            .ok_or_else(|| HubError::UnknownCluster(alias.to_owned()))?;
        match (entry.health, &entry.link) {
            (Health::Up, Some(link)) => Ok(LiveLink {
                link: link.clone(),
                up: entry.up.clone(),
            }),
            (Health::Reconnecting, _) | (_, None) => Err(HubError::Unavailable {
                alias: alias.to_owned(),
                state: "reconnecting",
                hint: "known from before the hub restarted; waiting for its worker to re-join",
            }),
            (Health::Down, _) => Err(HubError::Unavailable {
                alias: alias.to_owned(),
                state: "down",
                hint: "its worker stopped sending heartbeats; it is up again at its next heartbeat",
            }),
        }
    }

    /// `up`, `down`, `reconnecting`, or `unknown` for an alias not registered.
    pub(crate) fn health_of(&self, alias: &str) -> &'static str {
        self.clusters
            .get(alias)
            .map(|e| e.health.as_str())
            .unwrap_or("unknown")
    }

    /// Aliases a fan-out of `tool` goes to (sorted): clusters offering it, and clusters not up
    /// (so they are reported as not answering).
    pub(crate) fn fan_out_aliases(&self, tool: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .clusters
            .iter()
            .filter(|e| e.tools.iter().any(|t| t.name == tool) || e.health != Health::Up)
            .map(|e| e.key().clone())
            .collect();
        v.sort();
        v
    }

    /// Whether `alias`'s `tool` declares argument `arg` (workers before paging do not).
    pub(crate) fn tool_takes(&self, alias: &str, tool: &str, arg: &str) -> bool {
        self.clusters.get(alias).is_some_and(|e| {
            e.tools.iter().any(|t| {
                t.name == tool
                    && t.input_schema
                        .get("properties")
                        .and_then(|p| p.get(arg))
                        .is_some()
            })
        })
    }

    /// Summaries of every registered cluster, sorted by alias.
    pub(crate) fn summaries(&self) -> Vec<ClusterSummary> {
        let mut v: Vec<ClusterSummary> = self.clusters.iter().map(|e| e.summary()).collect();
        v.sort_by(|a, b| a.alias.cmp(&b.alias));
        v
    }

    /// What the catalog builder needs of every cluster (any order).
    pub(crate) fn catalog_input(&self) -> Vec<CatalogCluster> {
        self.clusters.iter().map(|e| e.view()).collect()
    }

    /// Every registration (to persist when it was last seen).
    pub(crate) fn records(&self) -> Vec<ClusterRecord> {
        self.clusters.iter().map(|e| e.record.clone()).collect()
    }

    /// Closes every worker link.
    pub(crate) fn close_links(&self) {
        for e in self.clusters.iter() {
            if let Some(link) = &e.link {
                link.close();
            }
        }
    }
}
