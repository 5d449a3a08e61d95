//! HTTPS for the worker listener, shared with the hub (see `hyperfed-http`).

use std::sync::Arc;

use crate::config::TlsFiles;
use crate::error::WorkerError;

/// Builds the TLS server configuration from the PEM certificate chain and private key.
pub(crate) fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, WorkerError> {
    hyperfed_http::tls::server_config(files).map_err(WorkerError::Config)
}
