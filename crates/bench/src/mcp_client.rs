//! A deliberately plain MCP client over streamable HTTP (initialize, tools/list, tools/call),
//! written on reqwest so the benchmark can be pointed at any MCP server by URL and tool name
//! and measures the server, not an SDK.

use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Value, json};

/// What went wrong talking to the MCP server.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// Connection or HTTP-level failure.
    #[error("HTTP: {0}")]
    Http(String),
    /// The server answered with a JSON-RPC error.
    #[error("JSON-RPC error {code}: {message}")]
    Rpc {
        /// JSON-RPC error code.
        code: i64,
        /// Error message.
        message: String,
    },
    /// The answer was not a JSON-RPC response we could read.
    #[error("unreadable response: {0}")]
    Protocol(String),
}

/// Protocol version the benchmark client negotiates (stateful sessions).
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// One MCP session over streamable HTTP.
pub struct McpClient {
    http: reqwest::Client,
    url: String,
    headers: HeaderMap,
    next_id: AtomicU64,
}

impl McpClient {
    /// Opens a session: initialize, then notifications/initialized.
    pub async fn connect(
        http: reqwest::Client,
        url: &str,
        token: Option<&str>,
    ) -> Result<Self, McpError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(t) = token {
            let v = HeaderValue::from_str(&format!("Bearer {t}"))
                .map_err(|_| McpError::Http("token is not a valid header value".into()))?;
            headers.insert(AUTHORIZATION, v);
        }
        let mut client = McpClient {
            http,
            url: url.to_owned(),
            headers,
            next_id: AtomicU64::new(1),
        };
        let init = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "hyperfed-bench", "version": env!("CARGO_PKG_VERSION")}
            }
        });
        let resp = client.post(&init).await?;
        if let Some(sid) = resp.headers().get("mcp-session-id").cloned() {
            client.headers.insert("mcp-session-id", sid);
        }
        let body = read_response(resp, 0).await?;
        let negotiated = body
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or(PROTOCOL_VERSION)
            .to_owned();
        if let Ok(v) = HeaderValue::from_str(&negotiated) {
            client.headers.insert("mcp-protocol-version", v);
        }
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let r = client.post(&note).await?;
        if !r.status().is_success() {
            return Err(McpError::Http(format!(
                "notifications/initialized answered {}",
                r.status()
            )));
        }
        Ok(client)
    }

    async fn post(&self, body: &Value) -> Result<reqwest::Response, McpError> {
        self.http
            .post(&self.url)
            .headers(self.headers.clone())
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| McpError::Http(e.to_string()))
    }

    /// Sends one request and returns its `result`.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, McpError> {
        let raw = self.request_raw(method, params).await?;
        parse_result(&raw)
    }

    /// Sends one request and returns the bytes of its JSON-RPC response message.
    async fn request_raw(&self, method: &str, params: Value) -> Result<Vec<u8>, McpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let resp = self.post(&req).await?;
        response_message(resp, id).await
    }

    /// Every tool's name, following `nextCursor`. Only names are decoded (the rest of each
    /// tool is skipped), so the measurement is dominated by the server, not by this client.
    pub async fn list_tools(&self) -> Result<Vec<String>, McpError> {
        #[derive(serde::Deserialize)]
        struct Named {
            name: String,
        }
        #[derive(serde::Deserialize)]
        struct Page {
            tools: Vec<Named>,
            #[serde(rename = "nextCursor")]
            next_cursor: Option<String>,
        }
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let raw = self.request_raw("tools/list", params).await?;
            let page: Page = parse_result(&raw)?;
            names.extend(page.tools.into_iter().map(|t| t.name));
            cursor = page.next_cursor;
            if cursor.is_none() {
                return Ok(names);
            }
        }
    }

    /// Calls a tool; a result with `isError: true` is returned as an error.
    pub async fn call_tool(&self, name: &str, arguments: Value) -> Result<Value, McpError> {
        let result = self
            .request("tools/call", json!({"name": name, "arguments": arguments}))
            .await?;
        if result.get("isError").and_then(Value::as_bool) == Some(true) {
            let text = result
                .pointer("/content/0/text")
                .and_then(Value::as_str)
                .unwrap_or("tool error")
                .chars()
                .take(300)
                .collect();
            return Err(McpError::Rpc {
                code: 0,
                message: text,
            });
        }
        Ok(result)
    }
}

async fn read_response(resp: reqwest::Response, id: u64) -> Result<Value, McpError> {
    let raw = response_message(resp, id).await?;
    parse_result(&raw)
}

/// The JSON of the response message with `id` (plain JSON or one SSE `data:` line).
async fn response_message(resp: reqwest::Response, id: u64) -> Result<Vec<u8>, McpError> {
    let status = resp.status();
    let sse = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let body = resp
        .bytes()
        .await
        .map_err(|e| McpError::Http(e.to_string()))?;
    if !status.is_success() {
        return Err(McpError::Http(format!(
            "{status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )));
    }
    if !sse {
        // Decoded straight from the received bytes (no text copy of a large answer).
        return Ok(Vec::from(body));
    }
    let text = String::from_utf8_lossy(&body);
    // Notifications may precede the response on the same stream: pick the line with our id
    // without decoding the (possibly large) result.
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: Option<u64>,
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .find(|d| serde_json::from_str::<IdOnly>(d).is_ok_and(|m| m.id == Some(id)))
        .map(|d| d.as_bytes().to_vec())
        .ok_or_else(|| {
            McpError::Protocol(format!("no JSON-RPC response with id {id} in the answer"))
        })
}

/// Decodes a JSON-RPC response message into its `result` (or its error).
fn parse_result<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T, McpError> {
    #[derive(serde::Deserialize)]
    struct RpcError {
        code: i64,
        message: String,
    }
    #[derive(serde::Deserialize)]
    struct Envelope<T> {
        result: Option<T>,
        error: Option<RpcError>,
    }
    let env: Envelope<T> =
        serde_json::from_slice(raw).map_err(|e| McpError::Protocol(e.to_string()))?;
    if let Some(e) = env.error {
        return Err(McpError::Rpc {
            code: e.code,
            message: e.message,
        });
    }
    env.result
        .ok_or_else(|| McpError::Protocol("response has neither result nor error".into()))
}
