//! Starting and stopping a worker: connect to the cluster (starting the simulator for
//! `--mock`), serve MCP at `/mcp` and REST on one listener, join the hub if asked, and shut
//! everything down cleanly (logging out of the cluster). Also the stdio mode.

use crate::fast_path::WorkerFastPath;
use hyperfed_http::mcp_fast_path::{FastPath, mcp_fast_path};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use rmcp::ServiceExt as _;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::{AuthPolicy, require_bearer};
use crate::catalog::Catalog;
use crate::cluster::Cluster;
use crate::config::{ClusterSource, WorkerConfig};
use crate::confirm::Confirmations;
use crate::error::WorkerError;
use crate::handler::WorkerMcp;
use crate::join::{JoinStatus, Joiner};
use crate::metrics::WorkerMetrics;
use crate::rest;
use crate::state::WorkerState;
use crate::tls;
use crate::tools;
use hyperfed_http::origin::{HostPolicy, check_host_and_origin, require_json_body};

/// A running worker; call [`WorkerHandle::shutdown`] to stop it.
pub struct WorkerHandle {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    https: bool,
    state: Arc<WorkerState>,
    cancel: CancellationToken,
    server: JoinHandle<()>,
    joiner: Option<JoinHandle<()>>,
    join_status: JoinStatus,
    sim: Option<hypercore_sim::SimHandle>,
}

impl WorkerHandle {
    /// The bound listen address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>` (`https://` with TLS), the REST base.
    pub fn base_url(&self) -> String {
        base_url(self.https, self.addr)
    }

    /// `http://<addr>/metrics` of the token-free metrics listener, when one was asked for.
    pub fn metrics_url(&self) -> Option<String> {
        self.metrics_addr.map(|a| format!("http://{a}/metrics"))
    }

    /// `http://<addr>/mcp` (`https://` with TLS), the MCP endpoint.
    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base_url())
    }

    /// The wrapped cluster's uuid (`None` if the cluster was unreachable so far).
    pub fn cluster_uuid(&self) -> Option<String> {
        Some(self.state.identity().uuid).filter(|u| !u.is_empty())
    }

    /// The wrapped cluster's name (`None` if the cluster was unreachable so far).
    pub fn cluster_name(&self) -> Option<String> {
        Some(self.state.identity().name).filter(|u| !u.is_empty())
    }

    /// The alias the hub registered this worker under, while joined.
    pub fn joined_alias(&self) -> Option<String> {
        self.join_status.alias.read().ok().and_then(|g| g.clone())
    }

    /// What the last failed join attempt said, while not joined (what to fix).
    pub fn join_problem(&self) -> Option<String> {
        self.join_status.problem()
    }

    /// The in-process simulator, for `--mock` workers.
    pub fn sim(&self) -> Option<&hypercore_sim::SimHandle> {
        self.sim.as_ref()
    }

    /// The state shared by this worker's sessions (to serve it over NATS too).
    pub fn state(&self) -> Arc<WorkerState> {
        self.state.clone()
    }

    /// An MCP handler over this worker's state (serve it on any rmcp transport).
    pub fn mcp_service(&self) -> WorkerMcp {
        WorkerMcp::new(self.state.clone())
    }

    /// Stops serving, stops the join loop, logs out of the cluster and stops the simulator.
    pub async fn shutdown(self) {
        let t0 = std::time::Instant::now();
        self.cancel.cancel();
        if let Some(j) = self.joiner {
            let _ = j.await;
        }
        let mut server = self.server;
        if tokio::time::timeout(Duration::from_secs(5), &mut server)
            .await
            .is_err()
        {
            server.abort();
        }
        tracing::debug!(
            elapsed_ms = t0.elapsed().as_millis() as u64,
            "server stopped"
        );
        if let Err(e) = self.state.cluster.client().logout().await {
            tracing::debug!(error = %e, "logout from the cluster failed");
        }
        // Drop our client (and its idle keep-alive connections) before stopping the simulator,
        // so the simulator's graceful shutdown has no open connection to wait for.
        drop(self.state);
        tracing::debug!(elapsed_ms = t0.elapsed().as_millis() as u64, "logged out");
        if let Some(sim) = self.sim {
            sim.shutdown().await;
        }
        tracing::debug!(
            elapsed_ms = t0.elapsed().as_millis() as u64,
            "worker stopped"
        );
    }
}

/// Connects to the cluster (starting the simulator for a mock) and builds the shared state.
pub(crate) async fn connect(
    config: &WorkerConfig,
) -> Result<(Arc<WorkerState>, Option<hypercore_sim::SimHandle>), WorkerError> {
    config.validate()?;
    // One crypto provider for every TLS client in the process; an installed one is kept.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (cluster_config, sim) = match &config.cluster {
        ClusterSource::Real(c) => (c.clone(), None),
        ClusterSource::Mock(sim_config) => {
            let sim = hypercore_sim::Simulator::start(
                sim_config.clone(),
                SocketAddr::from(([127, 0, 0, 1], 0)),
            )
            .await
            .map_err(|e| WorkerError::Simulator(e.to_string()))?;
            let mut c = hypercore::ClusterConfig::new(
                sim.base_url(),
                hypercore::Credentials::new(
                    sim_config.username.clone(),
                    sim_config.password.clone(),
                ),
            );
            if let Some(pem) = sim.cert_pem() {
                c = c.with_tls(hypercore::TlsMode::CaPem(pem));
            }
            (c, Some(sim))
        }
    };
    let client = hypercore::Client::new(cluster_config)
        .map_err(|e| WorkerError::Config(format!("cluster connection settings: {e}")))?;
    let metrics = Arc::new(WorkerMetrics::default());
    client.set_observer(metrics.clone());
    let state = Arc::new(WorkerState {
        cluster: Cluster::with_read_cache_ttl(client, config.read_cache_ttl)
            .counting(metrics.clone()),
        metrics,
        catalog: Catalog::new(
            tools::all_tools(config.allow_raw_writes && !config.read_only),
            config.read_only,
        ),
        confirmations: Confirmations::new(config.confirm_ttl),
        identity: RwLock::new(Default::default()),
        alias: Arc::new(RwLock::new(None)),
        action_lock: Arc::new(tokio::sync::Mutex::new(())),
        wait_timeout: config.wait_timeout,
        poll_interval: config.poll_interval,
        openapi: tokio::sync::OnceCell::new(),
    });
    match tokio::time::timeout(Duration::from_secs(10), state.refresh_identity()).await {
        Ok(Ok(id)) => {
            tracing::info!(cluster = %id.name, uuid = %id.uuid, version = %id.icos_version, "connected to the cluster")
        }
        Ok(Err(hypercore::Error::Auth { username, message })) => {
            if let Some(sim) = sim {
                sim.shutdown().await;
            }
            return Err(WorkerError::Unavailable(format!(
                "HyperCore rejected the credentials of user '{username}': {message}"
            )));
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "cluster not reachable yet; serving anyway"),
        Err(_) => tracing::warn!("cluster did not answer within 10 s; serving anyway"),
    }
    Ok((state, sim))
}

/// Sessions idle for up to 30 minutes survive: a hub keeps one session per worker and may
/// stay quiet longer than rmcp's 5-minute default.
fn session_manager() -> LocalSessionManager {
    let mut manager = LocalSessionManager::default();
    manager.session_config.keep_alive = Some(Duration::from_secs(30 * 60));
    manager
}

fn base_url(https: bool, addr: SocketAddr) -> String {
    let scheme = if https { "https" } else { "http" };
    format!("{scheme}://{addr}")
}

fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(authority.to_owned())
}

/// A session DELETE answers 204 instead of rmcp's 202: the Python MCP SDK reads only 200 and
/// 204 as a clean session end (and prints "Session termination failed: 202" otherwise).
async fn session_end_no_content(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let delete = req.method() == axum::http::Method::DELETE;
    let mut resp = next.run(req).await;
    if delete && resp.status() == axum::http::StatusCode::ACCEPTED {
        *resp.status_mut() = axum::http::StatusCode::NO_CONTENT;
    }
    resp
}

/// Starts a worker: connects, binds, serves MCP and REST, and joins the hub if configured.
pub async fn start(config: WorkerConfig) -> Result<WorkerHandle, WorkerError> {
    config.validate()?;
    // Certificate problems are reported before the cluster is contacted.
    let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
    let https = tls.is_some();
    let (state, sim) = connect(&config).await?;
    let metrics_listener = match config.metrics_listen {
        Some(addr) => match hyperfed_http::metrics::bind(addr).await {
            Ok(l) => Some(l),
            Err(e) => {
                if let Some(sim) = sim {
                    sim.shutdown().await;
                }
                return Err(WorkerError::Config(e));
            }
        },
        None => None,
    };
    let metrics_addr = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(source) => {
            if let Some(sim) = sim {
                sim.shutdown().await;
            }
            return Err(WorkerError::Bind {
                addr: config.listen,
                source,
            });
        }
    };
    let addr = listener.local_addr().map_err(|source| WorkerError::Bind {
        addr: config.listen,
        source,
    })?;

    let mut allowed: Vec<String> = Vec::new();
    if addr.ip().is_unspecified() && config.allowed_hosts.is_empty() {
        tracing::warn!(
            listen = %addr,
            "listening on all interfaces but only loopback Host headers are accepted: add --allowed-host <name or ip> for remote clients"
        );
    }
    if let Some(h) = config
        .join
        .as_ref()
        .and_then(|j| j.advertise.as_deref())
        .and_then(host_of)
    {
        allowed.push(h);
    }
    allowed.extend(config.allowed_hosts.iter().cloned());
    // The hub's Host and Origin checks (one implementation): no cross-site page drives this
    // worker, even without a token on loopback.
    let hosts = Arc::new(HostPolicy::new(addr, &allowed));
    let join_status = JoinStatus {
        alias: state.alias.clone(),
        problem: Arc::default(),
        joining: config.join.is_some(),
    };

    let cancel = CancellationToken::new();
    let mcp_state = state.clone();
    let sessions = Arc::new(session_manager());
    let mcp = StreamableHttpService::new(
        move || Ok(WorkerMcp::new(mcp_state.clone())),
        sessions.clone(),
        StreamableHttpServerConfig::default()
            .with_allowed_hosts(hosts.rmcp_hosts())
            // Stateless (2026-07-28) calls, such as the hub's stateless call, get plain JSON.
            .with_json_response(true)
            .with_cancellation_token(cancel.child_token()),
    );
    // The MCP URL the hub calls this worker at (and what the stand-in uuid is derived from).
    let worker_url = config
        .join
        .as_ref()
        .and_then(|j| j.advertise.clone())
        .unwrap_or_else(|| format!("{}/mcp", base_url(https, addr)));
    let policy = AuthPolicy {
        token: config.token.clone(),
        join_secret: config.join.as_ref().map(|j| j.secret.clone()),
        state: state.clone(),
        pending_uuid: config
            .join
            .as_ref()
            .map(|_| hyperfed_protocol::join::pending_cluster_uuid(&worker_url)),
    };
    // Read-only tool calls take the MCP fast path (see hyperfed_http::mcp_fast_path).
    let fast_path = Arc::new(FastPath::new(WorkerFastPath(state.clone()), sessions));
    let mcp = Router::new()
        .nest_service("/mcp", mcp)
        .layer(axum::middleware::from_fn_with_state(
            fast_path,
            mcp_fast_path,
        ))
        .layer(axum::middleware::from_fn(session_end_no_content));
    let router = Router::new()
        .merge(mcp)
        .merge(rest::protected_routes(state.clone()))
        .layer(axum::middleware::from_fn(require_json_body))
        // Inside authentication: only authenticated bodies are buffered and checked.
        .layer(axum::middleware::from_fn(
            hyperfed_http::jsonrpc::reject_malformed_json,
        ))
        .layer(axum::middleware::from_fn_with_state(
            policy.clone(),
            require_bearer,
        ))
        .merge(rest::public_routes(state.clone(), join_status.clone()))
        .layer(axum::middleware::from_fn_with_state(
            hosts,
            check_host_and_origin,
        ));

    if let Some(listener) = metrics_listener {
        let source = state.clone();
        hyperfed_http::metrics::spawn(
            listener,
            Arc::new(move || source.metrics().render()),
            cancel.clone(),
        );
    }
    let shutdown = cancel.clone();
    let server = tokio::spawn(async move {
        let served = hyperfed_http::serve::serve(listener, router, tls, shutdown).await;
        if let Err(e) = served {
            tracing::error!(error = %e, "worker HTTP server failed");
        }
    });
    tracing::info!(mcp = %format!("{}/mcp", base_url(https, addr)), tls = https, read_only = config.read_only, "worker listening");

    if let Some(join) = &config.join
        && join.advertise.is_none()
        && addr.ip().is_unspecified()
    {
        tracing::warn!(
            listen = %addr,
            "joining the hub with an all-interfaces address: set --advertise http://<reachable host>:{}/mcp so the hub can call back",
            addr.port()
        );
    }
    let joiner = config.join.clone().map(|join| {
        let j = Joiner {
            config: join,
            worker_url,
            state: state.clone(),
            status: join_status.clone(),
            cancel: cancel.child_token(),
        };
        tokio::spawn(j.run())
    });

    Ok(WorkerHandle {
        addr,
        metrics_addr,
        https,
        state,
        cancel,
        server,
        joiner,
        join_status,
        sim,
    })
}

/// Serves the worker's MCP tools over any byte stream pair until the client disconnects.
pub async fn serve_io<R, W>(config: WorkerConfig, reader: R, writer: W) -> Result<(), WorkerError>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let (state, sim) = connect(&config).await?;
    let served = async {
        let running = WorkerMcp::new(state.clone())
            .serve((reader, writer))
            .await
            .map_err(|e| WorkerError::Transport(e.to_string()))?;
        running
            .waiting()
            .await
            .map_err(|e| WorkerError::Transport(e.to_string()))?;
        Ok::<(), WorkerError>(())
    }
    .await;
    if let Err(e) = state.cluster.client().logout().await {
        tracing::debug!(error = %e, "logout from the cluster failed");
    }
    drop(state);
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    served
}

/// Serves the worker's MCP tools on stdin/stdout (logs go to stderr).
pub async fn serve_stdio(config: WorkerConfig) -> Result<(), WorkerError> {
    serve_io(config, tokio::io::stdin(), tokio::io::stdout()).await
}
