//! The worker's error type: what went wrong while starting or running a worker. Tool
//! failures the model should read are not errors here; they are `isError` tool results.

use std::net::SocketAddr;

/// Why a worker could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The configuration is invalid or incomplete.
    #[error("invalid worker configuration: {0}")]
    Config(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The simulated cluster could not be started.
    #[error("cannot start the simulated cluster: {0}")]
    Simulator(String),
    /// The HyperCore cluster is unreachable or refused us.
    #[error("cluster unavailable: {0}")]
    Unavailable(String),
    /// Serving MCP failed (for example the stdio stream broke).
    #[error("MCP transport failed: {0}")]
    Transport(String),
}
