//! HTTP plumbing shared by the hub and the workers: the HTTPS listener, the JSON-RPC body
//! guard in front of `/mcp`, and the MCP fast lane.

pub mod jsonrpc;
pub mod lane;
pub mod tls;
