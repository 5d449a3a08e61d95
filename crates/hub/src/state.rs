//! The hub's shared state and its registry operations: join, heartbeat, leave, the health
//! monitor, catalog rebuilds and `list_changed` pushes to connected MCP clients.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use hyperfed_protocol::join::{MAX_CLOCK_SKEW, unix_now};
use hyperfed_protocol::redact_uri;
use hyperfed_protocol::{
    ClusterAlias, HeartbeatResponse, JoinError, JoinRequest, JoinResponse, WorkerClaims,
};
use rmcp::model::{ProgressNotificationParam, ProgressToken, Tool};
use rmcp::service::{Peer, RoleServer};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::auth::HubKey;
use crate::catalog::{self, Catalog};
use crate::config::HubConfig;
use crate::error::HubError;
use crate::registry::{ClusterEntry, ClusterRecord, ClusterSummary, ClusterView, Health};
use crate::route::VmIndex;
use crate::store::{Manifest, Store};
use crate::upstream::WorkerSession;
use crate::validate;

/// Lifetime of the token a worker presents on heartbeats.
const WORKER_TOKEN_TTL: Duration = Duration::from_secs(300);
/// Most join nonces remembered at once (each for 2x the allowed clock skew).
const MAX_NONCES: usize = 100_000;
/// Heartbeats a cluster may miss before it is marked down.
const MISSED_HEARTBEATS: u32 = 3;
/// Deadline for connecting to a joining worker and listing its tools.
const JOIN_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a finished call's progress mapping is kept for late notifications.
const PROGRESS_GRACE: Duration = Duration::from_secs(2);
/// The task tag in a worker progress message such as `task 1234 RUNNING 40%`.
fn task_tag_in(message: &str) -> Option<String> {
    let tag = message.strip_prefix("task ")?.split_whitespace().next()?;
    (!tag.is_empty()
        && tag.len() <= 64
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then(|| tag.to_owned())
}

/// How many times (10 ms apart) a progress notification looks for its call's mapping.
const PROGRESS_LOOKUP_TRIES: usize = 20;

/// The shared copy of a tool list whose manifest has `digest` (made from `tools` if none is
/// alive); entries whose lists are gone are dropped as the table grows.
fn intern_tools(
    table: &Mutex<HashMap<[u8; 32], Weak<Vec<Tool>>>>,
    tools: Vec<Tool>,
    digest: [u8; 32],
) -> Arc<Vec<Tool>> {
    let mut map = match table.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(shared) = map.get(&digest).and_then(Weak::upgrade) {
        return shared;
    }
    if map.len() >= 64 {
        map.retain(|_, w| w.strong_count() > 0);
    }
    let shared = Arc::new(tools);
    map.insert(digest, Arc::downgrade(&shared));
    shared
}

/// Why a join was refused, with the HTTP status it maps to.
#[derive(Debug)]
pub(crate) enum JoinRefusal {
    /// 401: bad, stale or replayed proof.
    Unauthorized(String),
    /// 400: a malformed request.
    BadRequest(String),
    /// 409: the alias belongs to another cluster.
    Conflict(String),
    /// 502: the hub could not reach the worker.
    Unreachable(String),
}

/// A downstream client waiting for progress of a forwarded call.
pub(crate) struct ProgressSink {
    /// The client session and its token, when the client asked for progress.
    pub client: Option<(Peer<RoleServer>, ProgressToken)>,
    /// The HyperCore task tag named in the worker's progress messages (`task <tag> ...`).
    pub task_tag: Option<String>,
    /// When the forwarded call ended (the entry is swept a little later).
    pub finished: Option<Instant>,
    /// The last progress value passed on.
    pub last: f64,
    /// The worker session's count of calls watching progress (released when swept).
    pub wanted: Arc<std::sync::atomic::AtomicUsize>,
}

/// Everything the hub shares between its HTTP handlers, MCP sessions and background tasks.
pub(crate) struct Hub {
    pub config: HubConfig,
    pub http: reqwest::Client,
    /// Signs and verifies scoped client tokens (`hub.key` in the data directory).
    pub key: HubKey,
    pub registry: DashMap<String, ClusterEntry>,
    pub store: Store,
    pub catalog: RwLock<Arc<Catalog>>,
    rebuild_lock: Mutex<()>,
    /// Bumped on every registry change that affects the exported tools.
    catalog_gen: AtomicU64,
    /// The `catalog_gen` the current catalog was built from.
    built_gen: AtomicU64,
    pub peers: Mutex<Vec<Peer<RoleServer>>>,
    /// Tool-list changes for 2026-07-28 clients listening with `subscriptions/listen`.
    pub list_changed: tokio::sync::broadcast::Sender<()>,
    nonces: DashMap<String, u64>,
    pub progress: DashMap<String, ProgressSink>,
    pub vm_index: VmIndex,
    pub fanout_permits: Semaphore,
    pub shutdown: CancellationToken,
    /// Cancelled first on shutdown: in-flight forwarded calls answer with an error.
    pub calls_stopping: CancellationToken,
    /// Serialises the final check-and-insert of joins (never held across an await).
    join_lock: Mutex<()>,
    /// One shared tool list per distinct manifest (workers of one version offer the same).
    manifests: Mutex<HashMap<[u8; 32], Weak<Vec<Tool>>>>,
}

impl Hub {
    /// Builds the state and loads known clusters as `reconnecting`.
    pub(crate) fn new(config: HubConfig, store: Store) -> Result<Arc<Self>, HubError> {
        let fanout_concurrency = config.fanout_concurrency.max(1);
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true);
        if let Some(ca) = &config.worker_ca {
            builder = builder.tls_certs_only(crate::tls::worker_roots(ca)?);
        }
        let http = builder
            .build()
            .map_err(|e| HubError::Config(format!("cannot build the HTTP client: {e}")))?;
        let key = match &config.data_dir {
            Some(dir) => HubKey::load_or_create(dir)?,
            None => HubKey::generate(),
        };
        let registry = DashMap::new();
        let manifests = Mutex::new(HashMap::new());
        for mut record in store.load_clusters()? {
            // The live entry keeps the tools once, in `tools`; the record's copy is for storage.
            let tools = std::mem::take(&mut record.tools);
            let tools = match Manifest::encode(&tools) {
                Ok(m) => intern_tools(&manifests, tools, m.digest),
                Err(_) => Arc::new(tools),
            };
            registry.insert(
                record.alias.clone(),
                ClusterEntry {
                    record,
                    tools,
                    health: Health::Reconnecting,
                    last_seen: Instant::now(),
                    session: None,
                    up: CancellationToken::new(),
                },
            );
        }
        let hub = Arc::new(Hub {
            config,
            http,
            key,
            registry,
            store,
            catalog: RwLock::new(Arc::new(Catalog::default())),
            rebuild_lock: Mutex::new(()),
            catalog_gen: AtomicU64::new(1),
            built_gen: AtomicU64::new(0),
            peers: Mutex::new(Vec::new()),
            list_changed: tokio::sync::broadcast::channel(16).0,
            nonces: DashMap::new(),
            progress: DashMap::new(),
            vm_index: VmIndex::default(),
            fanout_permits: Semaphore::new(fanout_concurrency),
            shutdown: CancellationToken::new(),
            calls_stopping: CancellationToken::new(),
            join_lock: Mutex::new(()),
            manifests,
        });
        hub.rebuild_catalog();
        Ok(hub)
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
                let views: Vec<ClusterView> = self.registry.iter().map(|e| e.view()).collect();
                let built = Arc::new(catalog::build(self.config.tools_mode, &views));
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

    fn check_nonce(&self, nonce: &str) -> Result<(), JoinRefusal> {
        let now = unix_now();
        let keep = 2 * MAX_CLOCK_SKEW.as_secs();
        if self.nonces.len() >= MAX_NONCES {
            self.nonces.retain(|_, seen| *seen + keep > now);
            if self.nonces.len() >= MAX_NONCES {
                return Err(JoinRefusal::Unauthorized(
                    "too many join attempts in the last two minutes; try again shortly".into(),
                ));
            }
        }
        match self.nonces.entry(nonce.to_owned()) {
            dashmap::Entry::Occupied(_) => {
                Err(JoinRefusal::Unauthorized(JoinError::Replayed.to_string()))
            }
            dashmap::Entry::Vacant(v) => {
                v.insert(now);
                Ok(())
            }
        }
    }

    fn alias_conflict(&self, alias: &str, cluster_uuid: &str) -> Option<String> {
        self.registry.get(alias).and_then(|e| {
            (e.record.cluster_uuid != cluster_uuid).then(|| {
                format!(
                    "cluster alias '{alias}' is already used by cluster {}; choose another with --name",
                    e.record.cluster_name
                )
            })
        })
    }

    /// Verifies a join request, connects to the worker, lists its tools and registers it.
    pub(crate) async fn join(
        self: &Arc<Self>,
        req: JoinRequest,
    ) -> Result<JoinResponse, JoinRefusal> {
        req.verify(&self.config.secret, unix_now())
            .map_err(|e| JoinRefusal::Unauthorized(e.to_string()))?;
        self.check_nonce(&req.nonce)?;
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
        let url = reqwest::Url::parse(&req.worker_url)
            .map_err(|e| JoinRefusal::BadRequest(format!("worker_url is not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(JoinRefusal::BadRequest(
                "worker_url must be an http:// or https:// URL with a host".into(),
            ));
        }
        if let Some(msg) = self.alias_conflict(&alias, &req.cluster_uuid) {
            return Err(JoinRefusal::Conflict(msg));
        }

        let connect = async {
            let session =
                WorkerSession::connect(self, &alias, &req.cluster_uuid, &req.worker_url).await?;
            match session.list_tools().await {
                Ok(tools) => Ok((session, tools)),
                Err(e) => {
                    session.close();
                    Err(e)
                }
            }
        };
        let (session, tools) = tokio::time::timeout(JOIN_CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| {
                JoinRefusal::Unreachable(format!(
                    "the hub could not reach the worker at {} within {} s",
                    redact_uri(&req.worker_url),
                    JOIN_CONNECT_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| {
                JoinRefusal::Unreachable(e.replace(&req.worker_url, &redact_uri(&req.worker_url)))
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
                intern_tools(&self.manifests, tools, manifest.digest)
            }
            Err(e) => {
                tracing::warn!(cluster = %alias, error = %e, "could not persist the cluster registration");
                Arc::new(tools)
            }
        };
        let mut replaced = Vec::new();
        {
            let _serial = self.join_lock.lock();
            if let Some(msg) = self.alias_conflict(&alias, &req.cluster_uuid) {
                session.close();
                return Err(JoinRefusal::Conflict(msg));
            }
            // The same cluster re-joining under a new alias replaces its old registration.
            let stale: Vec<String> = self
                .registry
                .iter()
                .filter(|e| e.record.cluster_uuid == req.cluster_uuid && e.key() != &alias)
                .map(|e| e.key().clone())
                .collect();
            for old in stale {
                if let Some((_, e)) = self.registry.remove(&old) {
                    let _ = self.store.remove_cluster(&old);
                    replaced.extend(e.session);
                }
            }
            let previous = self.registry.insert(
                alias.clone(),
                ClusterEntry {
                    record: record.clone(),
                    tools,
                    health: Health::Up,
                    last_seen: Instant::now(),
                    session: Some(session),
                    up: CancellationToken::new(),
                },
            );
            if let Some(prev) = previous {
                replaced.extend(prev.session);
            }
        }
        for s in replaced {
            s.close();
        }
        self.vm_index.forget(&alias);
        tracing::info!(cluster = %alias, url = %redact_uri(&req.worker_url), tools = tool_count, "cluster joined");
        self.tools_changed();
        Ok(JoinResponse {
            worker_token: WorkerClaims::issue(
                &self.config.secret,
                &alias,
                &req.cluster_uuid,
                WORKER_TOKEN_TTL,
            ),
            alias,
            heartbeat_interval_ms: u64::try_from(self.config.heartbeat_interval.as_millis())
                .unwrap_or(u64::MAX),
        })
    }

    fn verify_worker(&self, token: &str) -> Option<WorkerClaims> {
        let claims = WorkerClaims::verify(&self.config.secret, token).ok()?;
        let entry = self.registry.get(&claims.sub)?;
        (entry.record.cluster_uuid == claims.cid && entry.health != Health::Reconnecting)
            .then_some(claims)
    }

    /// Records a heartbeat; `None` means "unknown, re-join".
    pub(crate) fn heartbeat(self: &Arc<Self>, token: &str) -> Option<HeartbeatResponse> {
        let claims = self.verify_worker(token)?;
        let came_back = {
            let mut entry = self.registry.get_mut(&claims.sub)?;
            entry.last_seen = Instant::now();
            entry.record.last_seen = unix_now();
            let was_down = entry.health == Health::Down;
            entry.health = Health::Up;
            was_down
        };
        if came_back {
            tracing::info!(cluster = %claims.sub, "cluster is up again");
            self.tools_changed();
        }
        Some(HeartbeatResponse {
            worker_token: WorkerClaims::issue(
                &self.config.secret,
                &claims.sub,
                &claims.cid,
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
        if let Some((_, entry)) = self.registry.remove(alias) {
            if let Some(s) = entry.session {
                s.close();
            }
            let _ = self.store.remove_cluster(alias);
            self.vm_index.forget(alias);
            tracing::info!(cluster = %alias, "cluster left");
            self.tools_changed();
        }
    }

    /// Marks clusters down whose heartbeats stopped; returns how many changed.
    pub(crate) fn check_health(self: &Arc<Self>) -> usize {
        let limit = self.config.heartbeat_interval * MISSED_HEARTBEATS;
        let mut changed = Vec::new();
        for mut e in self.registry.iter_mut() {
            if e.health == Health::Up && e.last_seen.elapsed() > limit {
                e.health = Health::Down;
                // End the calls in flight to it now rather than at their timeout.
                e.up.cancel();
                e.up = CancellationToken::new();
                tracing::warn!(cluster = %e.key(), "cluster missed its heartbeats; marked down");
                changed.push(e.record.clone());
            }
        }
        for record in &changed {
            // Persist when it was last seen (heartbeats themselves are not written).
            let _ = self.store.touch_cluster(record);
        }
        if !changed.is_empty() {
            self.tools_changed();
        }
        changed.len()
    }

    /// Drops progress mappings of calls that ended more than `PROGRESS_GRACE` ago.
    fn sweep_progress(&self) {
        self.progress.retain(|_, s| {
            let keep = s.finished.is_none_or(|f| f.elapsed() < PROGRESS_GRACE);
            if !keep {
                s.wanted.fetch_sub(1, Ordering::AcqRel);
            }
            keep
        });
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
                    self.sweep_progress();
                }
            }
        }
    }

    /// Re-lists a worker's tools after it announced a change.
    pub(crate) async fn refresh_worker_tools(self: &Arc<Self>, alias: &str, cluster_uuid: &str) {
        let session = match self.registry.get(alias) {
            Some(e) if e.record.cluster_uuid == cluster_uuid => e.session.clone(),
            _ => None,
        };
        let Some(session) = session else { return };
        let tools = match session.list_tools().await {
            Ok(t) => validate::accept_tools(alias, t),
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
        let tools = intern_tools(&self.manifests, tools, manifest.digest);
        let record = {
            let Some(mut e) = self.registry.get_mut(alias) else {
                return;
            };
            if e.record.cluster_uuid != cluster_uuid {
                return;
            }
            e.tools = tools;
            e.record.clone()
        };
        let _ = self.store.save_cluster(&record, &manifest);
        self.tools_changed();
    }

    /// Passes a worker's progress notification to the client that asked for it.
    pub(crate) async fn forward_progress(
        &self,
        session: u64,
        mut params: ProgressNotificationParam,
    ) {
        let key = crate::route::progress_key(session, &params.progress_token);
        // The mapping is registered just after the request is handed to rmcp (which picks the
        // token), so a very fast first notification may arrive first: wait for it briefly.
        let mut target = None;
        for _ in 0..PROGRESS_LOOKUP_TRIES {
            let Some(mut sink) = self.progress.get_mut(&key) else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            if sink.task_tag.is_none()
                && let Some(tag) = params.message.as_deref().and_then(task_tag_in)
            {
                sink.task_tag = Some(tag);
            }
            // Notifications are handled on separate tasks, so they can arrive out of order:
            // pass on only increasing values, as the spec requires of progress.
            if params.progress > sink.last {
                sink.last = params.progress;
                target = sink.client.clone();
            }
            break;
        }
        if let Some((peer, token)) = target {
            params.progress_token = token;
            let _ = peer.notify_progress(params).await;
        }
    }

    /// Summaries of every registered cluster, sorted by alias.
    pub(crate) fn clusters(&self) -> Vec<ClusterSummary> {
        let mut v: Vec<ClusterSummary> = self.registry.iter().map(|e| e.summary()).collect();
        v.sort_by(|a, b| a.alias.cmp(&b.alias));
        v
    }

    /// The live session of an up cluster, or why there is none.
    pub(crate) fn session_of(&self, alias: &str) -> Result<Arc<WorkerSession>, HubError> {
        self.live_session(alias).map(|(s, _)| s)
    }

    /// `session_of`, with the token cancelled when the cluster is next marked down.
    pub(crate) fn live_session(
        &self,
        alias: &str,
    ) -> Result<(Arc<WorkerSession>, CancellationToken), HubError> {
        let entry = self
            .registry
            .get(alias)
            .ok_or_else(|| HubError::UnknownCluster(alias.to_owned()))?;
        match (entry.health, &entry.session) {
            (Health::Up, Some(s)) => Ok((s.clone(), entry.up.clone())),
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

    /// Closes every worker session and the database.
    pub(crate) fn close(&self) {
        self.shutdown.cancel();
        for e in self.registry.iter() {
            if let Some(s) = &e.session {
                s.close();
            }
        }
        for e in self.registry.iter() {
            let _ = self.store.touch_cluster(&e.record);
        }
        self.store.close();
    }
}
