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
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let resp = self.post(&req).await?;
        read_response(resp, id).await
    }

    /// Every tool, following `nextCursor`.
    pub async fn list_tools(&self) -> Result<Vec<Value>, McpError> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let result = self.request("tools/list", params).await?;
            if let Some(list) = result.get("tools").and_then(Value::as_array) {
                tools.extend(list.iter().cloned());
            }
            cursor = result
                .get("nextCursor")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if cursor.is_none() {
                return Ok(tools);
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
    let status = resp.status();
    let sse = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let text = resp
        .text()
        .await
        .map_err(|e| McpError::Http(e.to_string()))?;
    if !status.is_success() {
        return Err(McpError::Http(format!(
            "{status}: {}",
            text.chars().take(200).collect::<String>()
        )));
    }
    let candidates: Vec<Value> = if sse {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str(d.trim()).ok())
            .collect()
    } else {
        vec![serde_json::from_str(&text).map_err(|e| McpError::Protocol(e.to_string()))?]
    };
    for msg in candidates {
        if msg.get("id").and_then(Value::as_u64) != Some(id) {
            continue;
        }
        if let Some(err) = msg.get("error") {
            return Err(McpError::Rpc {
                code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            });
        }
        if let Some(result) = msg.get("result") {
            return Ok(result.clone());
        }
    }
    Err(McpError::Protocol(format!(
        "no JSON-RPC response with id {id} in the answer"
    )))
}
