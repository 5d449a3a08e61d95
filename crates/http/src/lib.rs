//! HTTP plumbing shared by the hub and the workers: the HTTPS listener and the JSON-RPC body
//! guard in front of `/mcp`.

pub mod jsonrpc;
pub mod tls;
