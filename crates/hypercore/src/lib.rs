//! Async client for the SCALE Computing HyperCore REST API (`/rest/v1`): one [`Client`] per
//! cluster with a shared session, typed models in [`model`], typed errors in [`Error`].
//! It knows nothing of MCP; the worker builds its tools on top of it.
//!
//! Operations: `list_*` / `get_*` for VMs, VM stats, snapshots, block and net devices, nodes,
//! clusters, conditions, drives, virtual disks, ISOs, users, roles and tasks; [`Client::vm_action`],
//! [`Client::create_snapshot`], [`Client::delete_snapshot`], [`Client::clone_vm`],
//! [`Client::export_vm`], [`Client::task`], [`Client::wait_task`] (and [`Client::wait_task_reporting`]),
//! [`Client::wait_vm_state`],
//! [`Client::openapi`], [`Client::raw`], [`Client::ping`], [`Client::login`], [`Client::logout`].
//! Every list is a `Vec<T>`; every get is an `Option<T>`.
//!
//! ```no_run
//! # async fn demo() -> hypercore::Result<()> {
//! use hypercore::{Client, ClusterConfig, Credentials, TlsMode, VmAction, WaitOptions};
//! let config = ClusterConfig::new("https://10.0.0.5", Credentials::new("admin", "secret"))
//!     .with_tls(TlsMode::Insecure);
//! let client = Client::new(config)?;
//! let vm = client.list_vms().await?.into_iter().find(|vm| vm.name == "web-01");
//! if let Some(vm) = vm {
//!     let result = client.vm_action(&vm.uuid, VmAction::Start).await?;
//!     client
//!         .wait_task(&result.task_tag, WaitOptions::default(), |t| {
//!             println!("{}%", t.progress_percent)
//!         })
//!         .await?;
//! }
//! client.logout().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Mutations are serialized per client (HyperCore does not cope well with parallel changes);
//! reads run concurrently. Reads (GET) that fail transiently (connection failures, timeouts,
//! HTTP 500/502/503/504) are retried with bounded exponential backoff
//! ([`ClusterConfig::with_read_retries`]); mutations are never retried, and a mutation whose
//! connection broke after sending fails with [`Error::OutcomeUnknown`]. Call
//! [`Client::logout`] on shutdown: sessions are long-lived and each user has a session limit.

mod actions;
mod changes;
mod client;
mod config;
mod decode;
mod error;
pub mod model;
pub mod observe;
mod raw;
mod reads;
mod request;
mod tls;
mod wait;

pub use actions::{CloneSpec, ExportSpec, VmAction};
pub use changes::{CreateSpec, DiskSpec, ImportSpec, VmPatch};
pub use client::{Client, ClientStats};
pub use config::{
    AuthMode, ClusterConfig, Credentials, DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_RETRIES,
    DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY_BACKOFF, MAX_READ_RETRIES, TlsMode,
};
pub use decode::parse_records;
pub use error::{Error, Result, TransportKind};
pub use hyperfed_protocol::Secret;
pub use model::Collection;
pub use raw::{RawBody, RawResponse};
pub use reqwest::Method;
pub use wait::{DEFAULT_POLL_RETRIES, WaitOptions};
