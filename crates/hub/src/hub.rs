//! The `Hub`: the state shared by the front ends and background tasks (behind methods), and
//! its registry operations: join, heartbeat, leave, the health monitor, catalog rebuilds and
//! `list_changed` pushes to connected MCP clients.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use hyperfed_protocol::join::{MAX_CLOCK_SKEW, unix_now};
use hyperfed_protocol::{ClusterAlias, HeartbeatResponse, JoinError, JoinRequest, JoinResponse};
use rmcp::model::Tool;
use rmcp::service::{Peer, RoleServer};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::audit::RefusalLimiter;
use crate::auth::HubKey;
use crate::catalog::Catalog;
use crate::cluster::{ClusterRecord, ClusterSummary, Health, redact_url};
use crate::config::HubConfig;
use crate::error::HubError;
use crate::intern::Interner;
pub(crate) use crate::join_refusal::JoinRefusal;
use crate::link::{LinkConnector, LinkEvents, ListError, WorkerAddress};
use crate::registry::{LiveCluster, LiveLink, Registry};
use crate::snapshots::Snapshots;
use crate::store::{Manifest, Store};
use crate::tools_budget;
use crate::validate;
use crate::vm_index::VmIndex;
use crate::worker_token::{WorkerTokenClaims, WorkerTokens, new_join_id};

mod metrics_state;
mod placement_state;

/// Lifetime of the token a worker presents on heartbeats.
const WORKER_TOKEN_TTL: Duration = Duration::from_secs(300);
/// Most join nonces remembered at once (each for 2x the allowed clock skew).
const MAX_NONCES: usize = 100_000;
/// Heartbeats a cluster may miss before it is marked down.
const MISSED_HEARTBEATS: u32 = 3;
/// Deadline for connecting to a joining worker and listing its tools.
const JOIN_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Distinct tool lists kept before dead entries are pruned.
const TOOL_LISTS_PRUNE_AT: usize = 64;

/// Everything the hub shares between its HTTP handlers, MCP sessions and background tasks.
pub(crate) struct Hub {
    config: HubConfig,
    /// Builds worker links at join (the one place that knows the transport).
    connector: Box<dyn LinkConnector>,
    /// Signs and verifies scoped client tokens (`hub.key` in the data directory).
    key: HubKey,
    registry: Registry,
    store: Store,
    catalog: RwLock<Arc<Catalog>>,
    rebuild_lock: Mutex<()>,
    /// Bumped on every registry change that affects the exported tools.
    catalog_gen: AtomicU64,
    /// The `catalog_gen` the current catalog was built from.
    built_gen: AtomicU64,
    peers: Mutex<Vec<Peer<RoleServer>>>,
    /// Tool-list changes for 2026-07-28 clients listening with `subscriptions/listen`.
    list_changed: tokio::sync::broadcast::Sender<()>,
    nonces: DashMap<String, u64>,
    vm_index: VmIndex,
    /// Fleet query results kept briefly for their next pages.
    snapshots: Snapshots,
    fanout_permits: Semaphore,
    shutdown: CancellationToken,
    /// Cancelled first on shutdown: in-flight forwarded calls answer with an error.
    calls_stopping: CancellationToken,
    /// Serialises the final check-and-insert of joins (never held across an await).
    join_lock: Mutex<()>,
    /// One shared tool list per distinct manifest (workers of one version offer the same).
    tool_lists: Interner<[u8; 32], Vec<Tool>>,
    /// Signs worker tokens with a key of this run only, bound to one join.
    worker_tokens: WorkerTokens,
    /// Clusters being re-listed, with "re-list once more" when another change came meanwhile.
    relisting: DashMap<String, bool>,
    /// Refused calls recorded per subject and minute.
    refusals: RefusalLimiter,
    /// The address the HTTP listener is bound to (a worker URL naming it is refused).
    bound: std::sync::OnceLock<std::net::SocketAddr>,
    /// Placement claims against outcomes; moves awaiting a confirmed source deletion.
    trust: crate::trust::TrustBook,
    pending_moves: crate::operations::PendingMoves,
    /// The Prometheus series (`GET /metrics`).
    metrics: crate::metrics::HubMetrics,
}

/// A link's events, delivered to the hub that registered it (if it still runs).
struct HubEvents {
    hub: Weak<Hub>,
    alias: String,
    cluster_uuid: String,
}

impl LinkEvents for HubEvents {
    fn tools_changed(&self) {
        if let Some(hub) = self.hub.upgrade() {
            let (alias, uuid) = (self.alias.clone(), self.cluster_uuid.clone());
            // Re-list outside the link's notification handler so the link keeps flowing.
            tokio::spawn(async move { hub.refresh_worker_tools(&alias, &uuid).await });
        }
    }
}

impl Hub {
    /// Builds the state and loads known clusters as `reconnecting`.
    pub(crate) fn new(
        config: HubConfig,
        store: Store,
        connector: Box<dyn LinkConnector>,
    ) -> Result<Arc<Self>, HubError> {
        let fanout_concurrency = config.fanout_concurrency.max(1);
        let key = match &config.data_dir {
            Some(dir) => HubKey::load_or_create(dir)?,
            None => HubKey::generate(),
        };
        let registry = Registry::default();
        // Nonces older than the proofs' validity window can never be replayed: forget them.
        store.prune_nonces(unix_now().saturating_sub(2 * MAX_CLOCK_SKEW.as_secs()))?;
        let tool_lists = Interner::new(TOOL_LISTS_PRUNE_AT);
        for mut record in store.load_clusters()? {
            // The live entry keeps the tools once, in `tools`; the record's copy is for storage.
            let tools = std::mem::take(&mut record.tools);
            let tools = match Manifest::encode(&tools) {
                Ok(m) => tool_lists.share(m.digest, || Arc::new(tools)),
                Err(_) => Arc::new(tools),
            };
            registry.insert(LiveCluster::reconnecting(record, tools));
        }
        let hub = Arc::new(Hub {
            config,
            connector,
            key,
            registry,
            trust: crate::trust::TrustBook::load(&store),
            store,
            catalog: RwLock::new(Arc::new(Catalog::default())),
            rebuild_lock: Mutex::new(()),
            catalog_gen: AtomicU64::new(1),
            built_gen: AtomicU64::new(0),
            peers: Mutex::new(Vec::new()),
            list_changed: tokio::sync::broadcast::channel(16).0,
            nonces: DashMap::new(),
            vm_index: VmIndex::default(),
            snapshots: Snapshots::default(),
            fanout_permits: Semaphore::new(fanout_concurrency),
            shutdown: CancellationToken::new(),
            calls_stopping: CancellationToken::new(),
            join_lock: Mutex::new(()),
            tool_lists,
            worker_tokens: WorkerTokens::new(),
            relisting: DashMap::new(),
            refusals: RefusalLimiter::default(),
            bound: std::sync::OnceLock::new(),
            pending_moves: Default::default(),
            metrics: crate::metrics::HubMetrics::default(),
        });
        hub.rebuild_catalog();
        Ok(hub)
    }

    /// Records the listener's address (a worker URL naming it is this hub).
    pub(crate) fn set_bound(&self, addr: std::net::SocketAddr) {
        let _ = self.bound.set(addr);
    }

    /// True when `url` points at this hub's own listener (loopback, unspecified or its own
    /// address, and its port).
    fn is_own_address(&self, url: &str) -> bool {
        let (Some(bound), Ok(url)) = (self.bound.get(), reqwest::Url::parse(url)) else {
            return false;
        };
        if url.port_or_known_default() != Some(bound.port()) {
            return false;
        }
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        host.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified() || ip == bound.ip())
    }

    /// The configuration the hub was started with.
    pub(crate) fn config(&self) -> &HubConfig {
        &self.config
    }

    /// The transport's link builder (and its fan-out, if it has one).
    pub(crate) fn connector(&self) -> &dyn LinkConnector {
        self.connector.as_ref()
    }

    /// The key scoped client tokens are verified with.
    pub(crate) fn key(&self) -> &HubKey {
        &self.key
    }

    /// The database (audit trail).
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// How many refused calls each subject may still have recorded this minute.
    pub(crate) fn refusals(&self) -> &RefusalLimiter {
        &self.refusals
    }

    /// The live cluster registry.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Which cluster owns which VM.
    pub(crate) fn vm_index(&self) -> &VmIndex {
        &self.vm_index
    }

    /// Fleet query results kept for paging.
    pub(crate) fn snapshots(&self) -> &Snapshots {
        &self.snapshots
    }

    /// Slots for fan-out calls in flight (`fanout_concurrency`), shared by all fan-outs.
    pub(crate) fn fanout_permits(&self) -> &Semaphore {
        &self.fanout_permits
    }

    /// Cancelled when the hub stops serving.
    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Cancelled first on shutdown: forwarded calls in flight answer with an error.
    pub(crate) fn calls_stopping(&self) -> &CancellationToken {
        &self.calls_stopping
    }

    /// Answers forwarded calls in flight with an error (the first step of shutting down).
    pub(crate) fn stop_calls(&self) {
        self.calls_stopping.cancel();
    }

    /// Tool-list changes, for `subscriptions/listen` streams.
    pub(crate) fn subscribe_list_changed(&self) -> tokio::sync::broadcast::Receiver<()> {
        self.list_changed.subscribe()
    }

    /// The link of an up cluster with its up token, or why there is none.
    pub(crate) fn live_link(&self, alias: &str) -> Result<LiveLink, HubError> {
        self.registry.live_link(alias)
    }

    /// The current exported catalog.
    pub(crate) fn catalog(&self) -> Arc<Catalog> {
        // Rebuilt lazily on the first read after a change, so a burst of joins (e.g. every
        // worker re-joining after a hub restart) costs one rebuild, not one per join.
        // Readers that see a stale generation wait on the lock while another thread rebuilds,
        // so nobody is served the old catalog after a change was announced.
        let wanted = self.catalog_gen.load(Ordering::Acquire);
        if self.built_gen.load(Ordering::Acquire) < wanted {
            let _serial = self.rebuild_lock.lock();
            if self.built_gen.load(Ordering::Acquire) < wanted {
                // Read the generation before the registry: a change during the build bumps it
                // again and the next reader rebuilds.
                let target = self.catalog_gen.load(Ordering::Acquire);
                let views = self.registry.catalog_input();
                let built = Arc::new(tools_budget::build(self.config.tools_mode, &views));
                match self.catalog.write() {
                    Ok(mut g) => *g = built,
                    Err(p) => *p.into_inner() = built,
                }
                self.built_gen.store(target, Ordering::Release);
            }
        }
        match self.catalog.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Marks the exported catalog stale; the next read rebuilds it from the registry.
    pub(crate) fn rebuild_catalog(&self) {
        self.catalog_gen.fetch_add(1, Ordering::AcqRel);
    }

    /// Rebuilds the catalog and tells every connected MCP client the tool list changed.
    pub(crate) fn tools_changed(self: &Arc<Self>) {
        self.rebuild_catalog();
        // No receiver (no 2026-07-28 listener) is not an error.
        let _ = self.list_changed.send(());
        let peers: Vec<Peer<RoleServer>> = match self.peers.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        if peers.is_empty() {
            return;
        }
        let hub = self.clone();
        tokio::spawn(async move {
            let mut dead = Vec::new();
            for (i, peer) in peers.iter().enumerate() {
                if peer.is_transport_closed() || peer.notify_tool_list_changed().await.is_err() {
                    dead.push(i);
                }
            }
            if !dead.is_empty()
                && let Ok(mut g) = hub.peers.lock()
            {
                g.retain(|p| !p.is_transport_closed());
            }
        });
    }

    /// Remembers a connected MCP client for list_changed pushes.
    pub(crate) fn add_peer(&self, peer: Peer<RoleServer>) {
        if let Ok(mut g) = self.peers.lock() {
            g.retain(|p| !p.is_transport_closed());
            g.push(peer);
        }
    }

    async fn check_nonce(&self, nonce: &str) -> Result<(), JoinRefusal> {
        let now = unix_now();
        let keep = 2 * MAX_CLOCK_SKEW.as_secs();
        if self.nonces.len() >= MAX_NONCES {
            self.nonces.retain(|_, seen| *seen + keep > now);
            let _ = self.store.prune_nonces(now.saturating_sub(keep));
            if self.nonces.len() >= MAX_NONCES {
                return Err(JoinRefusal::Unauthorized(
                    "too many join attempts in the last two minutes; try again shortly".into(),
                ));
            }
        }
        match self.nonces.entry(nonce.to_owned()) {
            dashmap::Entry::Occupied(_) => {
                return Err(JoinRefusal::Unauthorized(JoinError::Replayed.to_string()));
            }
            dashmap::Entry::Vacant(v) => {
                v.insert(now);
            }
        }
        // The nonce is also kept on disk for the proof's validity window, so a join captured
        // before a restart cannot be replayed after it.
        match self.store.use_nonce(nonce, now).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(JoinRefusal::Unauthorized(JoinError::Replayed.to_string())),
            Err(e) => {
                tracing::warn!(error = %e, "cannot record a join nonce; refusing the join");
                Err(JoinRefusal::Unauthorized(
                    "the hub cannot record the join proof right now; try again".into(),
                ))
            }
        }
    }

    /// Verifies a join request, connects to the worker, lists its tools and registers it
    /// (counted: joins and refusals by reason).
    pub(crate) async fn join(
        self: &Arc<Self>,
        req: JoinRequest,
    ) -> Result<JoinResponse, JoinRefusal> {
        let result = self.join_checked(req).await;
        let refused = result.as_ref().err().map(JoinRefusal::reason);
        self.metrics.join(refused);
        result
    }

    async fn join_checked(self: &Arc<Self>, req: JoinRequest) -> Result<JoinResponse, JoinRefusal> {
        req.verify(&self.config.secret, unix_now())
            .map_err(|e| JoinRefusal::Unauthorized(e.to_string()))?;
        self.check_nonce(&req.nonce).await?;
        let wanted = if req.alias.trim().is_empty() {
            &req.cluster_name
        } else {
            &req.alias
        };
        let alias = ClusterAlias::normalise(wanted)
            .map_err(|e| JoinRefusal::BadRequest(e.to_string()))?
            .to_string();
        if req.cluster_uuid.trim().is_empty() {
            return Err(JoinRefusal::BadRequest("cluster_uuid is empty".into()));
        }
        self.connector
            .check_address(&req.worker_url)
            .map_err(JoinRefusal::BadRequest)?;
        if self.is_own_address(&req.worker_url) {
            tracing::warn!("join refused: the worker URL is this hub");
            return Err(JoinRefusal::BadRequest(
                "worker_url is this hub itself; a hub cannot join itself".into(),
            ));
        }
        if let Some(msg) = self.registry.alias_conflict(&alias, &req.cluster_uuid) {
            return Err(JoinRefusal::Conflict(msg));
        }
        if let Some(msg) = self
            .registry
            .live_elsewhere(&alias, &req.cluster_uuid, &req.worker_url)
        {
            return Err(JoinRefusal::Conflict(msg));
        }

        let events: Arc<dyn LinkEvents> = Arc::new(HubEvents {
            hub: Arc::downgrade(self),
            alias: alias.clone(),
            cluster_uuid: req.cluster_uuid.clone(),
        });
        let worker = WorkerAddress {
            alias: &alias,
            cluster_uuid: &req.cluster_uuid,
            url: &req.worker_url,
        };
        let connect = async {
            let link = self.connector.connect(worker, events).await?;
            match link.list_tools(&validate::LIST_LIMITS).await {
                Ok(tools) => Ok((link, tools)),
                Err(e) => {
                    link.close();
                    if matches!(e, ListError::OverLimit(_)) {
                        tracing::warn!(cluster = %alias, reason = %e, "join refused: the worker's tool list is over the hub's bounds");
                    }
                    Err(format!("the worker's tool list was refused: {e}"))
                }
            }
        };
        let (link, tools) = tokio::time::timeout(JOIN_CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| {
                JoinRefusal::Unreachable(format!(
                    "the hub could not reach the worker at {} within {} s",
                    redact_url(&req.worker_url),
                    JOIN_CONNECT_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| {
                JoinRefusal::Unreachable(e.replace(&req.worker_url, &redact_url(&req.worker_url)))
            })?;
        let tools = validate::accept_tools(&alias, tools);

        let record = ClusterRecord {
            alias: alias.clone(),
            cluster_uuid: req.cluster_uuid.clone(),
            cluster_name: req.cluster_name.chars().take(256).collect(),
            worker_url: req.worker_url.clone(),
            last_seen: unix_now(),
            tools: Vec::new(),
        };
        let tool_count = tools.len();
        let tools = match Manifest::encode(&tools) {
            Ok(manifest) => {
                if let Err(e) = self.store.save_cluster(&record, &manifest) {
                    tracing::warn!(cluster = %alias, error = %e, "could not persist the cluster registration");
                }
                self.tool_lists.share(manifest.digest, || Arc::new(tools))
            }
            Err(e) => {
                tracing::warn!(cluster = %alias, error = %e, "could not persist the cluster registration");
                Arc::new(tools)
            }
        };
        let mut replaced = Vec::new();
        let join_id = new_join_id();
        {
            let _serial = self.join_lock.lock();
            let conflict = self
                .registry
                .alias_conflict(&alias, &req.cluster_uuid)
                .or_else(|| {
                    self.registry
                        .live_elsewhere(&alias, &req.cluster_uuid, &req.worker_url)
                });
            if let Some(msg) = conflict {
                link.close();
                return Err(JoinRefusal::Conflict(msg));
            }
            // The same cluster re-joining under a new alias replaces its old registration.
            for old in self.registry.other_aliases_of(&req.cluster_uuid, &alias) {
                if let Some(old_link) = self.registry.remove(&old) {
                    let _ = self.store.remove_cluster(&old);
                    replaced.extend(old_link);
                }
            }
            let previous = self.registry.insert(LiveCluster {
                record: record.clone(),
                tools,
                health: Health::Up,
                last_seen: Instant::now(),
                link: Some(link),
                up: CancellationToken::new(),
                join_id: join_id.clone(),
            });
            replaced.extend(previous);
        }
        for l in replaced {
            l.close();
        }
        self.vm_index.forget(&alias);
        tracing::info!(cluster = %alias, url = %redact_url(&req.worker_url), tools = tool_count, "cluster joined");
        self.tools_changed();
        Ok(JoinResponse {
            worker_token: self.worker_tokens.issue(
                &alias,
                &req.cluster_uuid,
                &join_id,
                WORKER_TOKEN_TTL,
            ),
            alias,
            heartbeat_interval_ms: u64::try_from(self.config.heartbeat_interval.as_millis())
                .unwrap_or(u64::MAX),
        })
    }

    /// The claims of a worker token issued by this run for the join that holds its alias now.
    fn verify_worker(&self, token: &str) -> Option<WorkerTokenClaims> {
        let claims = self.worker_tokens.verify(token)?;
        self.registry
            .is_joined(&claims.sub, &claims.cid, &claims.jid)
            .then_some(claims)
    }

    /// Records a heartbeat; `None` means "unknown, re-join".
    pub(crate) fn heartbeat(self: &Arc<Self>, token: &str) -> Option<HeartbeatResponse> {
        let claims = self.verify_worker(token)?;
        let came_back = self
            .registry
            .heartbeat(&claims.sub, &claims.jid, unix_now())?;
        if came_back {
            tracing::info!(cluster = %claims.sub, "cluster is up again");
            self.tools_changed();
        }
        Some(HeartbeatResponse {
            worker_token: self.worker_tokens.issue(
                &claims.sub,
                &claims.cid,
                &claims.jid,
                WORKER_TOKEN_TTL,
            ),
        })
    }

    /// A worker leaving on purpose: forget it. `false` if the token is not valid.
    pub(crate) fn leave(self: &Arc<Self>, token: &str) -> bool {
        let Some(claims) = self.verify_worker(token) else {
            return false;
        };
        self.forget(&claims.sub);
        true
    }

    /// Removes a cluster from the registry and the database.
    pub(crate) fn forget(self: &Arc<Self>, alias: &str) {
        if let Some(link) = self.registry.remove(alias) {
            if let Some(l) = link {
                l.close();
            }
            let _ = self.store.remove_cluster(alias);
            self.vm_index.forget(alias);
            tracing::info!(cluster = %alias, "cluster left");
            self.tools_changed();
        }
    }

    /// Marks `alias` down at once (its worker's registration expired: it stays listed, as a
    /// cluster whose heartbeats stopped does, until it registers again or leaves).
    pub(crate) fn mark_down(self: &Arc<Self>, alias: &str, reason: &str) {
        if let Some(record) = self.registry.mark_down(alias) {
            let _ = self.store.touch_cluster(&record);
            tracing::warn!(cluster = %alias, reason, "cluster marked down");
            self.tools_changed();
        }
    }

    /// Marks clusters down whose heartbeats stopped; returns how many changed.
    pub(crate) fn check_health(self: &Arc<Self>) -> usize {
        let limit = self.config.heartbeat_interval * MISSED_HEARTBEATS;
        let changed = self.registry.mark_silent_down(limit);
        for record in &changed {
            // Persist when it was last seen (heartbeats themselves are not written).
            let _ = self.store.touch_cluster(record);
        }
        if !changed.is_empty() {
            self.tools_changed();
        }
        changed.len()
    }

    /// Background loop marking silent clusters down until shutdown.
    pub(crate) async fn health_loop(self: Arc<Self>) {
        let period = (self.config.heartbeat_interval / 2).max(Duration::from_millis(20));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tick.tick() => {
                    self.check_health();
                }
            }
        }
    }

    /// Re-lists a worker's tools after it announced a change; announcements during a re-list
    /// are folded into one more re-list, never run side by side.
    pub(crate) async fn refresh_worker_tools(self: &Arc<Self>, alias: &str, cluster_uuid: &str) {
        match self.relisting.entry(alias.to_owned()) {
            dashmap::Entry::Occupied(mut again) => {
                *again.get_mut() = true;
                return;
            }
            dashmap::Entry::Vacant(v) => {
                v.insert(false);
            }
        }
        loop {
            self.relist_once(alias, cluster_uuid).await;
            if self
                .relisting
                .remove_if(alias, |_, again| !*again)
                .is_some()
            {
                return;
            }
            if let Some(mut again) = self.relisting.get_mut(alias) {
                *again = false;
            }
        }
    }

    async fn relist_once(self: &Arc<Self>, alias: &str, cluster_uuid: &str) {
        let Some(link) = self.registry.link_of(alias, cluster_uuid) else {
            return;
        };
        let listed = tokio::time::timeout(
            validate::LIST_TIMEOUT,
            link.list_tools(&validate::LIST_LIMITS),
        )
        .await
        .unwrap_or_else(|_| {
            Err(ListError::OverLimit(format!(
                "its tool list took longer than {} s",
                validate::LIST_TIMEOUT.as_secs()
            )))
        });
        let tools = match listed {
            Ok(t) => validate::accept_tools(alias, t),
            Err(ListError::OverLimit(reason)) => {
                // A worker that floods the hub is dropped, not retried.
                tracing::warn!(cluster = %alias, %reason, "dropping a worker: its tool list is over the hub's bounds");
                if self.registry.link_of(alias, cluster_uuid).is_some() {
                    self.forget(alias);
                }
                return;
            }
            Err(e) => {
                tracing::warn!(cluster = %alias, error = %e, "could not re-list tools after list_changed");
                return;
            }
        };
        let manifest = match Manifest::encode(&tools) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(cluster = %alias, error = %e, "could not encode the new tool list");
                return;
            }
        };
        let tools = self.tool_lists.share(manifest.digest, || Arc::new(tools));
        let Some(record) = self.registry.set_tools(alias, cluster_uuid, tools) else {
            return;
        };
        let _ = self.store.save_cluster(&record, &manifest);
        self.tools_changed();
    }

    /// Summaries of every registered cluster, sorted by alias.
    pub(crate) fn clusters(&self) -> Vec<ClusterSummary> {
        self.registry.summaries()
    }

    /// Closes every worker link and the database, and forgets clients and clusters.
    pub(crate) fn close(&self) {
        self.shutdown.cancel();
        self.registry.close_links();
        for record in self.registry.records() {
            let _ = self.store.touch_cluster(&record);
        }
        self.store.close();
        if let Ok(mut peers) = self.peers.lock() {
            peers.clear();
        }
        self.registry.clear();
    }
}
