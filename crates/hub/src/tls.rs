//! TLS for the hub: the HTTPS listener (rustls with ring, handshakes off the accept loop,
//! TCP_NODELAY kept) and the CA bundle the hub trusts for `https://` worker URLs.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::config::TlsFiles;
use crate::error::HubError;

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn read(path: &Path, what: &str) -> Result<Vec<u8>, HubError> {
    std::fs::read(path)
        .map_err(|e| HubError::Config(format!("cannot read {what} {}: {e}", path.display())))
}

/// Builds the server configuration from the PEM certificate chain and private key.
pub(crate) fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, HubError> {
    let pem = read(&files.cert, "the TLS certificate")?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            HubError::Config(format!(
                "invalid PEM certificate in {}: {e}",
                files.cert.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(HubError::Config(format!(
            "no certificate in {} (--tls-cert expects a PEM chain, leaf first)",
            files.cert.display()
        )));
    }
    let key_pem = read(&files.key, "the TLS key")?;
    // The key's bytes never appear in an error: only the file name.
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
        HubError::Config(format!(
            "no usable PEM private key (PKCS#8, PKCS#1 or SEC1) in {}",
            files.key.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HubError::Config(format!("TLS setup failed: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            HubError::Config(format!(
                "the TLS key {} does not fit the certificate {}: {e}",
                files.key.display(),
                files.cert.display()
            ))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificates of a PEM CA bundle trusted for `https://` worker URLs.
pub(crate) fn worker_roots(path: &Path) -> Result<Vec<reqwest::Certificate>, HubError> {
    let pem = read(path, "the worker CA bundle")?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| HubError::Config(format!("invalid PEM CA bundle {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(HubError::Config(format!(
            "no certificate in the worker CA bundle {}",
            path.display()
        )));
    }
    Ok(certs)
}

/// An axum listener yielding TLS streams whose handshakes completed.
pub(crate) struct TlsListener {
    addr: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Accepts on `tcp` until `stop`; each handshake runs in its own task, bounded in time.
    pub(crate) fn new(
        tcp: TcpListener,
        config: Arc<rustls::ServerConfig>,
        stop: CancellationToken,
    ) -> std::io::Result<Self> {
        let addr = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stop.cancelled() => return,
                    a = tcp.accept() => a,
                };
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::debug!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                // Small JSON-RPC answers must not wait for delayed ACKs.
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { addr, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop ended (shutdown): never yield another connection.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
