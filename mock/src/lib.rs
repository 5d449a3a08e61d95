//! `hypercore-sim`: a seeded, simulated SCALE Computing HyperCore cluster that speaks the real
//! `/rest/v1` API over HTTP or HTTPS, with lazily-completing tasks, the VM power state
//! machine, fault injection and an out-of-band `/_sim` control surface for tests.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hypercore_sim::SimError> {
//! use hypercore_sim::{Archetype, SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::new(Some(Archetype::Edge), 42), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("{} serves /rest/v1", sim.base_url());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod archetype;
mod config;
mod generate;
pub mod model;
mod openapi;
mod server;
mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use archetype::{Archetype, UnknownArchetype};
pub use config::{FaultControl, Faults, SimConfig};
pub use generate::{
    ClusterState, MEMORY_HOLDING_STATES, NodeMemory, SETTINGS_COLLECTIONS, StorageFigures,
    generate, generate_with_vm_count,
};
pub use state::check_smb_uri;

/// Why a simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The self-signed certificate or TLS configuration could not be built.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    /// `openapi_file` could not be read.
    #[error("cannot read openapi_file {path}: {source}")]
    OpenApiFile {
        /// File asked for.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A configuration value is out of range.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
}

/// Entry point: starts simulated clusters.
pub struct Simulator;

impl Simulator {
    /// Generates the configured cluster, binds `addr` (port 0 picks a free port) and serves
    /// `/rest/v1` (HTTPS with a fresh self-signed certificate when `config.tls`).
    pub async fn start(config: SimConfig, addr: SocketAddr) -> Result<SimHandle, SimError> {
        config.faults.validate().map_err(SimError::Config)?;
        if config.session_error_status != 401 && config.session_error_status != 503 {
            return Err(SimError::Config(format!(
                "session_error_status must be 401 or 503, got {}",
                config.session_error_status
            )));
        }
        let openapi = match &config.openapi_file {
            Some(path) => {
                Bytes::from(std::fs::read(path).map_err(|source| SimError::OpenApiFile {
                    path: path.clone(),
                    source,
                })?)
            }
            None => Bytes::from(serde_json::to_vec(&openapi::document()).unwrap_or_default()),
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr, source })?;
        let (tls, cert_pem) = if config.tls {
            let (acceptor, pem) = tls_acceptor(local)?;
            (Some(acceptor), Some(pem))
        } else {
            (None, None)
        };
        let archetype = config.effective_archetype();
        let mut cluster = generate_with_vm_count(archetype, config.seed, config.vm_count);
        // The built-in administrator carries the configured user name.
        if let Some(admin) = cluster.users.first_mut() {
            admin.username = config.username.clone();
        }
        let faults = FaultControl::new(config.faults.clone());
        let shared = Arc::new(server::Shared {
            state: RwLock::new(
                state::SimState::new(cluster, config.task_duration, config.shutdown_duration)
                    .with_smb_root(config.smb_root.clone()),
            ),
            sessions: Mutex::new(state::SessionStore::new(config.session_limit)),
            faults: faults.clone(),
            openapi,
            version: Default::default(),
            bodies: Default::default(),
            config,
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(server::accept_loop(listener, tls, shared.clone(), stop_rx));
        tracing::debug!(%local, archetype = archetype.name(), "simulator listening");
        Ok(SimHandle {
            addr: local,
            scheme: if cert_pem.is_some() { "https" } else { "http" },
            shared,
            faults,
            cert_pem,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }
}

fn tls_acceptor(local: SocketAddr) -> Result<(tokio_rustls::TlsAcceptor, String), SimError> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let ip = local.ip().to_string();
    if !names.contains(&ip) && !local.ip().is_unspecified() {
        names.push(ip);
    }
    let certified =
        rcgen::generate_simple_self_signed(names).map_err(|e| SimError::Tls(e.to_string()))?;
    let pem = certified.cert.pem();
    let cert = CertificateDer::from(certified.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SimError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(|e| SimError::Tls(e.to_string()))?;
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((
        tokio_rustls::TlsAcceptor::from(Arc::new(server_config)),
        pem,
    ))
}

/// A running simulator; dropping it without [`SimHandle::shutdown`] also stops it.
pub struct SimHandle {
    addr: SocketAddr,
    scheme: &'static str,
    shared: Arc<server::Shared>,
    faults: FaultControl,
    cert_pem: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// `http(s)://127.0.0.1:PORT`, without the `/rest/v1` suffix.
    pub fn base_url(&self) -> String {
        let host = if self.addr.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else if self.addr.is_ipv6() {
            format!("[{}]", self.addr.ip())
        } else {
            self.addr.ip().to_string()
        };
        format!("{}://{}:{}", self.scheme, host, self.addr.port())
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Current ground truth (applies any task that is due first).
    pub fn truth(&self) -> Value {
        server::truth_of(&self.shared)
    }

    /// Run-time fault control for this simulator.
    pub fn faults(&self) -> FaultControl {
        self.faults.clone()
    }

    /// PEM of the self-signed certificate when serving HTTPS.
    pub fn cert_pem(&self) -> Option<String> {
        self.cert_pem.clone()
    }

    /// The archetype being served.
    pub fn archetype(&self) -> Archetype {
        self.shared.state.read().cluster.archetype
    }

    /// Stops accepting, closes every connection and waits for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}
