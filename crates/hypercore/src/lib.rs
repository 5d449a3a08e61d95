//! Async client for the SCALE Computing HyperCore REST API (`/rest/v1`): one [`Client`] per
//! cluster with a shared session, typed models in [`model`], typed errors in [`Error`].
//! It knows nothing of MCP; the worker builds its tools on top of it.
//!
//! Operations: `list_*` / `get_*` for VMs, VM stats, snapshots, block and net devices, nodes,
//! clusters, conditions, drives, virtual disks, ISOs, users and tasks; [`Client::vm_action`],
//! [`Client::create_snapshot`], [`Client::delete_snapshot`], [`Client::clone_vm`],
//! [`Client::export_vm`], [`Client::task`], [`Client::wait_task`], [`Client::wait_vm_state`],
//! [`Client::openapi`], [`Client::raw`], [`Client::ping`], [`Client::login`], [`Client::logout`].
//! Every list is a `Vec<T>`; every get is an `Option<T>`.

mod client;
mod config;
mod error;
pub mod model;
mod ops;
mod tls;

pub use client::{Client, ClientStats};
pub use config::{
    AuthMode, ClusterConfig, Credentials, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, TlsMode,
};
pub use error::{Error, Result, TransportKind};
pub use hyperfed_protocol::Secret;
pub use ops::{CloneSpec, ExportSpec, RawBody, RawResponse, VmAction, WaitOptions};
pub use reqwest::Method;
