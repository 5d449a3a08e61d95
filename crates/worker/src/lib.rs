//! `hyperfed-worker`: one SCALE Computing HyperCore cluster (real, or simulated in-process)
//! served as MCP tools over streamable HTTP or stdio, plus a small REST API for cURL, with
//! an optional join client that registers the worker with a HyperFed hub.
//!
//! Entry points: [`start`] (HTTP; returns a [`WorkerHandle`]), [`serve_stdio`] and
//! [`serve_io`]. Configuration: [`WorkerConfig`] (see `configs/worker.toml` for the file form).

#![warn(missing_docs)]

pub mod args;
pub mod auth;
pub mod catalog;
pub mod cluster;
pub mod config;
pub mod confirm;
pub mod elicit;
pub mod error;
mod fast_path;
pub mod handler;
mod join;
mod join_diagnosis;
pub mod metrics;
pub mod nats;
pub mod progress;
mod prompts;
mod resources;
pub mod rest;
pub mod server;
pub mod state;
mod tls;
pub mod tools;

pub use config::{ClusterSource, FileConfig, JoinConfig, TlsFiles, WorkerConfig};
pub use error::WorkerError;
pub use handler::WorkerMcp;
pub use server::{WorkerHandle, serve_io, serve_stdio, start};
