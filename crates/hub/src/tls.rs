//! TLS for the hub: its HTTPS server configuration (the listener is `hyperfed-http`'s) and the CA
//! bundle the hub trusts for `https://` worker URLs.

use std::path::Path;
use std::sync::Arc;

use crate::config::TlsFiles;
use crate::error::HubError;

/// Builds the server configuration from the PEM certificate chain and private key.
pub(crate) fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, HubError> {
    hyperfed_http::tls::server_config(files).map_err(HubError::Config)
}

/// The certificates of a PEM CA bundle trusted for `https://` worker URLs.
pub(crate) fn worker_roots(path: &Path) -> Result<Vec<reqwest::Certificate>, HubError> {
    let pem = std::fs::read(path).map_err(|e| {
        HubError::Config(format!(
            "cannot read the worker CA bundle {}: {e}",
            path.display()
        ))
    })?;
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
