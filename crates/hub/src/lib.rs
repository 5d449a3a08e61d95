//! HyperFed hub: workers join with a shared secret; the hub re-exports their tools over one
//! MCP endpoint (namespaced or compact), fans reads out across clusters, routes VM actions to
//! the owning cluster and audits every mutating call.
//!
//! Start one with [`start`]; stop it with [`HubHandle::shutdown`].

// Bottom layer: errors, configuration, authentication.
pub mod auth;
pub mod config;
pub mod error;
mod tls;
mod worker_token;
// Plain data and the parts that keep or derive it.
pub mod audit;
mod call_context;
mod catalog;
pub mod cluster;
mod elicit;
mod fleet_audit;
mod fleet_decl;
mod intern;
mod join_refusal;
mod mcp_logging;
mod metrics;
mod progress;
mod snapshots;
mod store;
mod tools_budget;
mod trust;
mod validate;
mod vm_index;
// The worker link (one trait, HTTP behind it), the registry and the hub.
mod hub;
mod link;
mod nats_fleet;
mod operations;
mod registry;
// Serving calls.
mod audited;
mod dispatch;
mod fan_out;
mod fleet;
mod fleet_overview;
mod fleet_page;
mod forward;
mod placement;
mod prompts;
mod recovery;
mod resources;
// Front ends.
mod fast_path;
mod http;
mod http_body;
mod mcp;
mod mcp_session;
mod session_limit;
mod ui;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use audit::AuditEntry;
pub use auth::{ClientClaims, HubKey, Scope, issue_token};
pub use cluster::{ClusterSummary, Health};
pub use config::{HubConfig, NatsMode, TlsFiles, ToolsMode};
pub use error::HubError;
pub use fleet_audit::read_fleet as read_fleet_audit;

use hub::Hub;
use link::HttpConnector;
use store::Store;

/// A running hub.
pub struct HubHandle {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    tls: bool,
    hub: Arc<Hub>,
    server: tokio::task::JoinHandle<()>,
    health: tokio::task::JoinHandle<()>,
}

/// Starts a hub: opens its database, binds its listener and serves until shut down.
pub async fn start(config: HubConfig) -> Result<HubHandle, HubError> {
    if config.secret.is_empty() {
        return Err(HubError::Config(
            "the join secret is empty; give --secret, --secret-file or HYPERFED_SECRET".into(),
        ));
    }
    if config.token.as_ref().is_some_and(|t| t.is_empty()) {
        return Err(HubError::Config("the client token is empty".into()));
    }
    if config.heartbeat_interval.is_zero()
        || config.fanout_timeout.is_zero()
        || config.call_timeout.is_zero()
    {
        return Err(HubError::Config(
            "heartbeat interval, fan-out timeout and call timeout must be above zero".into(),
        ));
    }
    // reqwest is built without a default TLS provider; use the workspace's one (ring) unless the
    // process already chose one.
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    // The token-free metrics listener is refused off loopback before anything else starts.
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(
            hyperfed_http::metrics::bind(addr)
                .await
                .map_err(HubError::Config)?,
        ),
        None => None,
    };
    let metrics_addr = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| HubError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| HubError::Bind {
        addr: config.listen,
        source,
    })?;
    let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
    let store = Store::open(config.data_dir.as_deref())?;
    let (connector, nats_feed): (Box<dyn link::LinkConnector>, _) = match &config.nats {
        Some(mode) => {
            let (c, feed) = nats_fleet::connect(mode, &config.secret, &store).await?;
            (Box::new(c), Some(feed))
        }
        None => (Box::new(HttpConnector::new(&config)?), None),
    };
    // Records a previous run left pending, read before this run serves any call.
    let pending = store.pending_audit()?;
    let hub = Hub::new(config, store, connector)?;
    hub.set_bound(addr);
    if let Some(feed) = nats_feed {
        nats_fleet::spawn(hub.clone(), feed);
    }
    if !pending.is_empty() {
        tracing::info!(
            records = pending.len(),
            "resolving audit records the previous run left pending"
        );
        tokio::spawn(recovery::resolve_pending(hub.clone(), pending));
    }
    let app = http::router(hub.clone(), addr);
    let stop = hub.shutdown_token().clone();
    let stop_all = hub.shutdown_token().clone();
    let https = tls.is_some();
    let server = tokio::spawn(async move {
        let result = hyperfed_http::serve::serve(listener, app, tls, stop).await;
        if let Err(e) = result {
            tracing::error!(error = %e, "hub HTTP server failed");
        }
        // However the server ended, stop everything else too (`HubHandle::stopped` resolves).
        stop_all.cancel();
    });
    let health = tokio::spawn(hub.clone().health_loop());
    if let Some(listener) = metrics_listener {
        let source = hub.clone();
        hyperfed_http::metrics::spawn(
            listener,
            Arc::new(move || source.render_metrics()),
            hub.shutdown_token().clone(),
        );
        if let Some(at) = metrics_addr {
            tracing::info!(%at, "serving /metrics without a token on loopback");
        }
    }
    tracing::info!(%addr, tls = https, clusters = hub.registry().len(), mode = %hub.config().tools_mode, "hub listening");
    Ok(HubHandle {
        addr,
        metrics_addr,
        tls: https,
        hub,
        server,
        health,
    })
}

impl HubHandle {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>` (`https://` with TLS): where workers join and REST lives.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// `http://<addr>/metrics` of the token-free metrics listener, when one was asked for.
    pub fn metrics_url(&self) -> Option<String> {
        self.metrics_addr.map(|a| format!("http://{a}/metrics"))
    }

    /// `<base_url>/mcp`: the MCP endpoint.
    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base_url())
    }

    /// Number of registered clusters (any state).
    pub fn cluster_count(&self) -> usize {
        self.hub.registry().len()
    }

    /// Every registered cluster with its state, sorted by alias.
    pub fn clusters(&self) -> Vec<ClusterSummary> {
        self.hub.clusters()
    }

    /// Number of exported tools right now.
    pub fn tool_count(&self) -> usize {
        self.hub.catalog().tools.len()
    }

    /// Resolves when the HTTP server stops (e.g. after a fatal error); for `hyperfed hub`.
    pub async fn stopped(&self) {
        self.hub.shutdown_token().cancelled().await;
    }

    /// Stops serving, closes worker sessions and the database (releasing its lock).
    pub async fn shutdown(self) {
        // First answer in-flight forwarded calls with an error, and give those answers a
        // moment to reach their clients before the sessions close.
        self.hub.stop_calls();
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.hub.shutdown_token().cancel();
        let _ = self.health.await;
        let mut server = self.server;
        // Open SSE streams end when their sessions close; do not wait forever for stragglers.
        if tokio::time::timeout(Duration::from_secs(3), &mut server)
            .await
            .is_err()
        {
            server.abort();
        }
        self.hub.close();
        tracing::info!(addr = %self.addr, "hub stopped");
    }
}
