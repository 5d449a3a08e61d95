//! HTTP plumbing shared by the hub and the workers: serving (plain or HTTPS), the bearer token
//! of a request, the JSON-RPC body guard in front of `/mcp`, the MCP fast path, per-session
//! MCP state both servers share (resource subscriptions, the logging level), and serving
//! Prometheus metrics.

pub mod bearer;
pub mod completion;
pub mod jsonrpc;
pub mod mcp_fast_path;
pub mod metrics;
pub mod origin;
pub mod resource_watch;
pub mod serve;
pub mod session_log;
pub mod tls;
