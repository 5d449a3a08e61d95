//! Types shared by the HyperFed hub and its workers: redacted secrets, cluster aliases,
//! the join proof, the JWTs exchanged after a join, duration parsing, tool-name rules and
//! the result budget, the yes/no confirmation question, and the runbooks both serve as MCP prompts.
//! Nothing here does I/O, so both sides and the tests agree on one definition.

pub mod alias;
pub mod budget;
#[cfg(feature = "mcp")]
pub mod confirm_mcp;
pub mod confirm_question;
pub mod duration;
pub mod join;
pub mod names;
pub mod redact;
pub mod rest;
pub mod runbooks;
pub mod secret;

pub use alias::{AliasError, ClusterAlias};
pub use confirm_question::{Answer, ConfirmPreview};
pub use duration::parse_duration;
pub use join::{CallClaims, HeartbeatResponse, JoinError, JoinRequest, JoinResponse, WorkerClaims};
pub use names::{MAX_EXPORTED_TOOL_NAME, is_valid_tool_name};
pub use redact::{redact_json, redact_uri};
pub use secret::{Secret, ct_eq};
