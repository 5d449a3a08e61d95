//! The stateless call of the HTTP link: a read-only tool call is posted as one plain-JSON
//! request in the stateless 2026-07-28 form, and the worker's answer is checked for shape and
//! relayed as the bytes it arrived in, never decoded into SDK types and encoded again.
//!
//! Mutating calls, and calls whose client wants progress, use the link's MCP session (which
//! carries progress, cancellation and the audit's task tag).

use std::borrow::Cow;

use axum::body::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use rmcp::model::CallToolResult;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::call_token::CallTokens;
use super::{LinkError, name_cluster_in_error};

/// The protocol revision the stateless call speaks (stateless: no session, no handshake).
pub(super) const PROTOCOL: &str = "2026-07-28";
/// The per-request metadata a 2026-07-28 request carries instead of a handshake.
pub(super) const META: &str = concat!(
    r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","#,
    r#""io.modelcontextprotocol/clientCapabilities":{},"#,
    r#""io.modelcontextprotocol/clientInfo":{"name":"hyperfed-hub","version":""#,
    env!("CARGO_PKG_VERSION"),
    r#""}}"#
);
/// Largest worker answer the hub relays; a bigger one is refused, not buffered.
const MAX_RESULT_BYTES: usize = 16 * 1024 * 1024;

/// The body of one `tools/call` request (`arguments` passed through as they came).
pub(super) fn request_body(
    tool: &str,
    arguments: Option<&RawValue>,
) -> Result<Vec<u8>, serde_json::Error> {
    let name = serde_json::to_string(tool)?;
    let args = arguments.map_or("{}", RawValue::get);
    let mut body = Vec::with_capacity(128 + name.len() + args.len() + META.len());
    body.extend_from_slice(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"#);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(br#","arguments":"#);
    body.extend_from_slice(args.as_bytes());
    body.extend_from_slice(br#","_meta":"#);
    body.extend_from_slice(META.as_bytes());
    body.extend_from_slice(b"}}");
    Ok(body)
}

#[derive(Deserialize)]
struct RpcError {
    message: String,
}

/// A JSON-RPC response, with the result left as raw text.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<RpcError>,
}

#[derive(Deserialize)]
struct Block<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

/// What is checked of a relayed result: a content array of known block types, an object (or
/// nothing) as structured content, and a boolean (or nothing) as `isError`.
#[derive(Deserialize)]
struct Shape<'a> {
    #[serde(borrow)]
    content: Vec<Block<'a>>,
    #[serde(rename = "structuredContent", borrow, default)]
    structured: Option<&'a RawValue>,
    #[serde(rename = "isError", default)]
    is_error: Option<bool>,
}

const BLOCK_TYPES: [&str; 5] = ["text", "image", "audio", "resource_link", "resource"];

/// Reads a response body, refusing one larger than `MAX_RESULT_BYTES`.
async fn read_capped(mut resp: reqwest::Response) -> Result<Bytes, String> {
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_RESULT_BYTES as u64)
    {
        return Err(format!(
            "the worker's answer is larger than {MAX_RESULT_BYTES} bytes"
        ));
    }
    let mut first: Option<Bytes> = None;
    let mut rest: Vec<u8> = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("reading the worker's answer failed: {e}"))?
    {
        match &first {
            None => first = Some(chunk),
            Some(f) => {
                if rest.is_empty() {
                    rest.extend_from_slice(f);
                }
                rest.extend_from_slice(&chunk);
            }
        }
        let len = if rest.is_empty() {
            first.as_ref().map_or(0, Bytes::len)
        } else {
            rest.len()
        };
        if len > MAX_RESULT_BYTES {
            return Err(format!(
                "the worker's answer is larger than {MAX_RESULT_BYTES} bytes"
            ));
        }
    }
    Ok(if rest.is_empty() {
        first.unwrap_or_default()
    } else {
        Bytes::from(rest)
    })
}

/// The JSON-RPC response message inside an SSE body (notifications may precede it).
fn response_in_sse(body: &[u8]) -> Option<Bytes> {
    let text = std::str::from_utf8(body).ok()?;
    let mut data = String::new();
    let mut candidates = Vec::new();
    for line in text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
        if line.is_empty() {
            if !data.is_empty() {
                candidates.push(std::mem::take(&mut data));
            }
        } else if let Some(d) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
        }
    }
    if !data.is_empty() {
        candidates.push(data);
    }
    candidates.into_iter().find_map(|d| {
        let env: Envelope<'_> = serde_json::from_str(&d).ok()?;
        (env.result.is_some() || env.error.is_some()).then(|| Bytes::from(d.clone()))
    })
}

/// Checks a worker's JSON-RPC answer and returns the bytes of its `result`.
pub(super) fn relay_result(alias: &str, body: Bytes) -> Result<Bytes, LinkError> {
    let upstream = LinkError::Failed;
    let env: Envelope<'_> = serde_json::from_slice(&body)
        .map_err(|e| upstream(format!("the worker's answer is not JSON-RPC: {e}")))?;
    if let Some(e) = env.error {
        let message: String = e.message.chars().take(2000).collect();
        return Err(upstream(format!("the worker refused the call: {message}")));
    }
    let raw = env
        .result
        .ok_or_else(|| upstream("the worker's answer has neither result nor error".into()))?;
    let shape: Shape<'_> = serde_json::from_str(raw.get())
        .map_err(|e| upstream(format!("the worker's answer is not a tool result: {e}")))?;
    if let Some(b) = shape
        .content
        .iter()
        .find(|b| !BLOCK_TYPES.contains(&b.kind.as_ref()))
    {
        let kind: String = b.kind.chars().take(40).collect();
        return Err(upstream(format!(
            "the worker's answer has a content block of unknown type '{kind}'"
        )));
    }
    if shape.structured.is_some_and(|s| !s.get().starts_with('{')) {
        return Err(upstream(
            "the worker's structuredContent is not a JSON object".into(),
        ));
    }
    if shape.is_error == Some(true) {
        // Rare: decoded so the cluster can be named in the message.
        let result: CallToolResult = serde_json::from_str(raw.get())
            .map_err(|e| upstream(format!("the worker's error result is malformed: {e}")))?;
        let named = name_cluster_in_error(alias, result);
        return serde_json::to_vec(&named)
            .map(Bytes::from)
            .map_err(|e| upstream(format!("cannot encode the error result: {e}")));
    }
    // `raw` borrows from `body`: hand out that slice of the buffer without copying.
    let start = raw.get().as_ptr() as usize - body.as_ptr() as usize;
    Ok(body.slice(start..start + raw.get().len()))
}

/// Calls a read-only `tool` on `alias`'s worker at `url` with one stateless request; returns
/// the JSON text of its `CallToolResult` (a worker's error result has the cluster named in it).
pub(super) async fn call(
    http: &reqwest::Client,
    url: &str,
    tokens: &CallTokens,
    alias: &str,
    tool: &str,
    arguments: Option<&RawValue>,
) -> Result<Bytes, LinkError> {
    let upstream = LinkError::Failed;
    let lost = LinkError::Lost;
    let body = request_body(tool, arguments)
        .map_err(|e| upstream(format!("cannot encode the call: {e}")))?;
    let resp = http
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", PROTOCOL)
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .header(AUTHORIZATION, format!("Bearer {}", tokens.get()))
        .body(body)
        .send()
        .await
        // reqwest names the URL in its errors; a worker URL may carry a token.
        .map_err(|e| {
            lost(format!(
                "the worker could not be reached: {}",
                e.without_url()
            ))
        })?;
    let status = resp.status();
    let sse = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(upstream(format!(
            "the worker refused the hub's call token (HTTP {})",
            status.as_u16()
        )));
    }
    let body = read_capped(resp).await.map_err(lost)?;
    let body = if sse {
        response_in_sse(&body)
            .ok_or_else(|| upstream("the worker's event stream ended without an answer".into()))?
    } else {
        body
    };
    if !status.is_success() && serde_json::from_slice::<Envelope<'_>>(&body).is_err() {
        return Err(upstream(format!(
            "the worker answered HTTP {}",
            status.as_u16()
        )));
    }
    relay_result(alias, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn relay(body: &str) -> Result<String, String> {
        relay_result("c1", Bytes::from(body.to_owned()))
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn request_bodies_are_stateless_tool_calls() {
        let args = RawValue::from_string(r#"{"vm":"a"}"#.into()).unwrap();
        let body = request_body("vm_get", Some(&args)).unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["method"], "tools/call");
        assert_eq!(v["params"]["name"], "vm_get");
        assert_eq!(v["params"]["arguments"]["vm"], "a");
        assert_eq!(
            v["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"],
            PROTOCOL
        );
        let v: Value = serde_json::from_slice(&request_body("ping", None).unwrap()).unwrap();
        assert_eq!(v["params"]["arguments"], serde_json::json!({}));
    }

    #[test]
    fn results_are_relayed_as_sent_and_malformed_ones_refused() {
        let ok = r#"{"content":[{"type":"text","text":"{}"}],"structuredContent":{"a":1}}"#;
        assert_eq!(
            relay(&format!(r#"{{"jsonrpc":"2.0","id":1,"result":{ok}}}"#)),
            Ok(ok.to_owned())
        );
        let bad = [
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":"x"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"evil"}]}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"structuredContent":[1]}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":"yes"}}"#,
            "not json",
        ];
        for b in bad {
            assert!(relay(b).is_err(), "{b}");
        }
        let refused = relay(r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"no"}}"#);
        assert!(refused.unwrap_err().contains("refused the call: no"));
    }

    #[test]
    fn error_results_name_the_cluster() {
        let body = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"VM not found"}],"isError":true}}"#;
        let out = relay(body).unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["content"][0]["text"], "cluster 'c1': VM not found");
    }

    #[test]
    fn sse_answers_are_found_after_notifications() {
        let body = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n\
                    data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]}}\n\n";
        let msg = response_in_sse(body.as_bytes()).unwrap();
        assert_eq!(
            relay(std::str::from_utf8(&msg).unwrap()),
            Ok(r#"{"content":[]}"#.into())
        );
        assert!(response_in_sse(b"data: {\"jsonrpc\":\"2.0\",\"method\":\"x\"}\n\n").is_none());
    }
}
