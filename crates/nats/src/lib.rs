//! HyperFed's hub<->worker transport over NATS and JetStream, transport-only: payloads are
//! opaque (MCP JSON-RPC) bytes. It owns the fleet's subjects, the signed registry in a KV
//! bucket, signed calls, replies, progress and cancellation, fan-out, and the audit stream.
//! See README.md for the design and the measured numbers.

pub mod audit;
pub mod call;
pub mod connect;
pub mod error;
pub mod registry;
pub mod revocations;
pub mod serve;
pub mod sign;
pub mod subject;
#[cfg(feature = "testing")]
pub mod testing;

pub use audit::{AuditConfig, AuditEntry, AuditLog, AuditStage};
pub use call::{Caller, FanOutReplies};
pub use connect::{LinkState, NatsConnection, NatsOptions, PASSWORD_ENV, USER_ENV};
pub use error::{NatsLinkError, SetupError, StoreError};
pub use registry::{
    ClusterIdentity, Heartbeats, LiveRegistrations, RefusalCounts, Registrar, Registration,
    RegistryConfig, RegistryEvent, RegistryWatch, WorkerKeys,
};
pub use revocations::FleetRevocations;
pub use serve::{
    CallHandler, IncomingCall, ProgressSink, ServeOptions, ServeStats, Serving, serve,
};
pub use sign::{FleetKeys, tools_hash};
pub use subject::{FleetName, is_subject_token};
