//! HTTPS for the worker listener, shared with the hub (see `hyperfed-tls`).

use std::sync::Arc;

pub(crate) use hyperfed_tls::TlsListener;

use crate::config::TlsFiles;
use crate::error::WorkerError;

/// Builds the TLS server configuration from the PEM certificate chain and private key.
pub(crate) fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, WorkerError> {
    hyperfed_tls::server_config(files).map_err(WorkerError::Config)
}
