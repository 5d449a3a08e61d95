//! HTTP plumbing shared by the hub and the workers: serving (plain or HTTPS), the bearer token
//! of a request, the JSON-RPC body guard in front of `/mcp`, and the MCP fast path.

pub mod bearer;
pub mod jsonrpc;
pub mod mcp_fast_path;
pub mod origin;
pub mod serve;
pub mod tls;
