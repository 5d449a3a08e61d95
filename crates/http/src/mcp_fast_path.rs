//! The MCP fast path in front of an rmcp streamable HTTP service: the requests that dominate traffic
//! (`tools/call` of tools the server marks as fast, and optionally `tools/list`) are answered
//! without the SDK's per-request session machinery. Everything else, and anything unusual about
//! a request (unknown session, odd headers, batches, unexpected params, progress wanted), goes
//! to the SDK's service unchanged, so its answers and errors stay the reference behaviour.
//!
//! A server plugs in with [`FastPathServer`]; [`mcp_fast_path`] is the axum middleware.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dashmap::DashMap;
use rmcp::model::ProtocolVersion;
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

/// The stateless protocol revision (no session; metadata on every request).
const STATELESS: &str = "2026-07-28";
/// A session whose requests all took the fast path still sends one through the SDK this
/// often, so the SDK's idle timeout never closes a busy session.
const TOUCH_SESSION_EVERY: Duration = Duration::from_secs(300);
/// Sessions remembered for that; beyond it the stale ones are forgotten.
const MAX_TOUCHED: usize = 100_000;

/// What a server answers on the fast path. Results are given in one shape; the fast path adapts
/// them to the client's protocol revision as rmcp does (2026-07-28 clients get `resultType`,
/// and `ttlMs`/`cacheScope` on lists; older ones get no `resultType: "complete"`).
pub trait FastPathServer: Send + Sync + 'static {
    /// The JSON of the tools/list result page at `cursor`, without `resultType`, `ttlMs` or
    /// `cacheScope` (None: let the SDK answer).
    fn tools_list(&self, parts: &Parts, cursor: Option<&str>) -> Option<Bytes>;

    /// Whether a call of `name` may take the fast path (read-only, no side effects).
    fn fast_call(&self, parts: &Parts, name: &str) -> bool;

    /// Runs a fast call; resolves to the JSON of its `CallToolResult` (None: the SDK answers).
    /// `cancel` fires when the client cancels the request.
    fn call(
        &self,
        parts: &Parts,
        name: &str,
        arguments: Option<&RawValue>,
        cancel: CancellationToken,
    ) -> impl Future<Output = Option<Bytes>> + Send;
}

/// A fast path for one server: the server, the SDK's session table and the calls in flight.
pub struct FastPath<S> {
    server: S,
    sessions: Arc<LocalSessionManager>,
    /// In-flight fast calls by `<session>\n<request id>`, so `notifications/cancelled` works.
    inflight: DashMap<String, CancellationToken>,
    /// When a session's request last went through the SDK.
    touched: DashMap<Arc<str>, Instant>,
}

impl<S: FastPathServer> FastPath<S> {
    /// A fast path for `server` in front of the SDK service that uses `sessions`.
    pub fn new(server: S, sessions: Arc<LocalSessionManager>) -> Self {
        FastPath {
            server,
            sessions,
            inflight: DashMap::new(),
            touched: DashMap::new(),
        }
    }
}

/// A JSON-RPC message, decoded only as far as routing needs.
#[derive(Deserialize)]
struct Message<'a> {
    jsonrpc: Cow<'a, str>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    method: Cow<'a, str>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

/// The per-request metadata the fast path looks at.
#[derive(Deserialize, Default)]
struct Meta<'a> {
    #[serde(rename = "progressToken", default)]
    progress_token: Option<IgnoredAny>,
    #[serde(rename = "io.modelcontextprotocol/protocolVersion", borrow, default)]
    protocol_version: Option<Cow<'a, str>>,
    #[serde(rename = "io.modelcontextprotocol/clientCapabilities", default)]
    client_capabilities: Option<IgnoredAny>,
    /// A per-request log level (2026-07-28): the SDK serves it, so the messages are sent.
    #[serde(rename = "io.modelcontextprotocol/logLevel", default)]
    log_level: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallParams<'a> {
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
    #[serde(rename = "_meta", borrow, default)]
    meta: Option<Meta<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams<'a> {
    #[serde(borrow, default)]
    cursor: Option<Cow<'a, str>>,
    #[serde(rename = "_meta", borrow, default)]
    meta: Option<Meta<'a>>,
}

#[derive(Deserialize)]
struct CancelParams<'a> {
    #[serde(rename = "requestId", borrow)]
    request_id: &'a RawValue,
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The client accepts both answer forms of streamable HTTP (as the SDK requires).
fn accepts_both(headers: &HeaderMap) -> bool {
    header_str(headers, header::ACCEPT.as_str())
        .is_some_and(|a| a.contains("application/json") && a.contains("text/event-stream"))
}

fn is_json(headers: &HeaderMap) -> bool {
    header_str(headers, header::CONTENT_TYPE.as_str())
        .is_some_and(|c| c.trim_start().starts_with("application/json"))
}

/// An id the fast path answers: a string or an integer (what MCP allows: JSON-RPC's
/// "numbers should not contain fractional parts"). Anything else (`1e99999`, `-0.5`, an
/// integer beyond i64, `null`) is left to the SDK, which judges it.
fn valid_id(id: &RawValue) -> bool {
    let s = id.get();
    if s.starts_with('"') {
        return serde_json::from_str::<&str>(s).is_ok()
            || serde_json::from_str::<String>(s).is_ok();
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && s.parse::<i64>().is_ok()
}

/// How the request is bound to the client: a live legacy session, or stateless 2026-07-28.
enum Binding {
    Session(Arc<str>),
    Stateless,
}

impl<S> FastPath<S> {
    /// The request's binding, or None when the SDK must judge the request itself.
    async fn binding(
        &self,
        headers: &HeaderMap,
        meta: Option<&Meta<'_>>,
        method: &str,
        name: Option<&str>,
    ) -> Option<Binding> {
        let version = header_str(headers, "mcp-protocol-version");
        let meta_version = meta.and_then(|m| m.protocol_version.as_deref());
        if let Some(sid) = header_str(headers, "mcp-session-id") {
            // A legacy session: a known pre-2026 version (or none) and no per-request version.
            if meta_version.is_some()
                || version.is_some_and(|v| {
                    v >= STATELESS
                        || !ProtocolVersion::KNOWN_VERSIONS
                            .iter()
                            .any(|k| k.as_str() == v)
                })
            {
                return None;
            }
            let sid: Arc<str> = Arc::from(sid);
            if !self.sessions.has_session(&sid).await.unwrap_or(false) {
                self.touched.remove(&sid);
                return None;
            }
            // Let one request through the SDK now and then, which keeps the session alive.
            let now = Instant::now();
            let stale = self
                .touched
                .get(&sid)
                .is_none_or(|t| now.duration_since(*t) >= TOUCH_SESSION_EVERY);
            if stale {
                if self.touched.len() >= MAX_TOUCHED {
                    let cutoff = now.checked_sub(TOUCH_SESSION_EVERY).unwrap_or(now);
                    self.touched.retain(|_, t| *t > cutoff);
                }
                self.touched.insert(sid, now);
                return None;
            }
            return Some(Binding::Session(sid));
        }
        // Stateless: the header and the request's own metadata agree on 2026-07-28, the
        // required metadata is there, and the routing headers match the body.
        let meta = meta?;
        let ok = version == Some(STATELESS)
            && meta_version == Some(STATELESS)
            && meta.client_capabilities.is_some()
            && header_str(headers, "mcp-method") == Some(method)
            && header_str(headers, "mcp-name") == name
            && !headers.keys().any(|k| k.as_str().starts_with("mcp-param-"));
        ok.then_some(Binding::Stateless)
    }
}

/// The fields 2026-07-28 requires on a complete, cacheable list result (rmcp's defaults).
const LIST_FIELDS_2026: &[u8] = br#""resultType":"complete","ttlMs":0,"cacheScope":"private","#;

/// A tools/list page (legacy shape, an object) in the shape of the client's revision.
fn list_for(binding: &Binding, page: Bytes) -> Option<Bytes> {
    match binding {
        Binding::Session(_) => Some(page),
        Binding::Stateless => {
            let rest = page.strip_prefix(b"{")?;
            let mut out = Vec::with_capacity(page.len() + LIST_FIELDS_2026.len());
            out.push(b'{');
            out.extend_from_slice(LIST_FIELDS_2026);
            if rest.first() == Some(&b'}') {
                // An empty object: no comma after the inserted fields.
                out.pop();
            }
            out.extend_from_slice(rest);
            Some(Bytes::from(out))
        }
    }
}

/// A tool result in the shape of the client's revision: `resultType` present for 2026-07-28,
/// and a `"complete"` one removed for older revisions (only top-level keys are looked at).
fn call_for(binding: &Binding, result: Bytes) -> Option<Bytes> {
    use std::collections::BTreeMap;
    let modern = matches!(binding, Binding::Stateless);
    // rmcp writes resultType first: the common cases need no parsing.
    const COMPLETE_FIRST: &[u8] = br#"{"resultType":"complete","#;
    if result.starts_with(COMPLETE_FIRST) {
        if modern {
            return Some(result);
        }
        let mut out = Vec::with_capacity(result.len());
        out.push(b'{');
        out.extend_from_slice(&result[COMPLETE_FIRST.len()..]);
        return Some(Bytes::from(out));
    }
    let mentioned = result.windows(12).any(|w| w == b"\"resultType\"");
    if !modern && !mentioned {
        return Some(result);
    }
    let mut top: BTreeMap<Cow<'_, str>, Box<RawValue>> = serde_json::from_slice(&result).ok()?;
    if modern {
        if top.contains_key("resultType") {
            return Some(result);
        }
        top.insert(
            Cow::Borrowed("resultType"),
            RawValue::from_string("\"complete\"".into()).ok()?,
        );
    } else if top
        .get("resultType")
        .is_some_and(|v| v.get() == "\"complete\"")
    {
        top.remove("resultType");
    } else {
        return Some(result);
    }
    serde_json::to_vec(&top).ok().map(Bytes::from)
}

/// A body sent as a few buffers in turn, with its exact length known (no copying them into one).
struct Pieces(std::collections::VecDeque<Bytes>);

impl http_body::Body for Pieces {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(http_body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.0.iter().map(|b| b.len() as u64).sum())
    }
}

/// A JSON-RPC response with `result` spliced in as it is (the result's buffer is not copied).
fn respond(id: &RawValue, result: Bytes) -> Response {
    let mut head = Vec::with_capacity(id.get().len() + 32);
    head.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    head.extend_from_slice(id.get().as_bytes());
    head.extend_from_slice(br#","result":"#);
    let pieces = [Bytes::from(head), result, Bytes::from_static(b"}")];
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::new(Pieces(pieces.into_iter().collect())),
    )
        .into_response()
}

/// axum middleware on `/mcp`: answers what it can, passes the rest to the SDK's service.
pub async fn mcp_fast_path<S: FastPathServer>(
    State(fast_path): State<Arc<FastPath<S>>>,
    req: Request,
    next: Next,
) -> Response {
    if req.method() != Method::POST || !is_json(req.headers()) || !accepts_both(req.headers()) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    // The JSON-RPC guard in front has buffered and size-checked the body already.
    let bytes = match axum::body::to_bytes(body, crate::jsonrpc::MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
        }
    };
    if let Some(response) = try_serve(&fast_path, &parts, &bytes).await {
        return response;
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The fast answer to a request, or None to let the SDK serve it.
async fn try_serve<S: FastPathServer>(
    fast_path: &FastPath<S>,
    parts: &Parts,
    bytes: &Bytes,
) -> Option<Response> {
    let msg: Message<'_> = serde_json::from_slice(bytes).ok()?;
    if msg.jsonrpc != "2.0" {
        return None;
    }
    match (msg.method.as_ref(), msg.id) {
        ("notifications/cancelled", None) => {
            // Cancel a fast call in flight; the SDK still sees the notification.
            if let (Some(sid), Some(params)) =
                (header_str(&parts.headers, "mcp-session-id"), msg.params)
                && let Ok(p) = serde_json::from_str::<CancelParams<'_>>(params.get())
                && let Some((_, token)) = fast_path
                    .inflight
                    .remove(&format!("{sid}\n{}", p.request_id.get()))
            {
                token.cancel();
            }
            None
        }
        ("tools/list", Some(id)) if valid_id(id) => {
            let params: ListParams<'_> = match msg.params {
                Some(p) => serde_json::from_str(p.get()).ok()?,
                None => ListParams {
                    cursor: None,
                    meta: None,
                },
            };
            let binding = fast_path
                .binding(&parts.headers, params.meta.as_ref(), "tools/list", None)
                .await?;
            let page = fast_path
                .server
                .tools_list(parts, params.cursor.as_deref())?;
            Some(respond(id, list_for(&binding, page)?))
        }
        ("tools/call", Some(id)) if valid_id(id) => {
            let params: CallParams<'_> = serde_json::from_str(msg.params?.get()).ok()?;
            let meta = params.meta.as_ref();
            if meta.is_some_and(|m| m.progress_token.is_some() || m.log_level.is_some())
                || params.arguments.is_some_and(|a| !a.get().starts_with('{'))
                || !fast_path.server.fast_call(parts, &params.name)
            {
                return None;
            }
            let binding = fast_path
                .binding(
                    &parts.headers,
                    meta,
                    "tools/call",
                    Some(params.name.as_ref()),
                )
                .await?;
            let cancel = CancellationToken::new();
            let _forget = match &binding {
                Binding::Session(sid) => {
                    let key = format!("{sid}\n{}", id.get());
                    fast_path.inflight.insert(key.clone(), cancel.clone());
                    Some(InflightGuard { fast_path, key })
                }
                Binding::Stateless => None,
            };
            let result = fast_path
                .server
                .call(parts, &params.name, params.arguments, cancel)
                .await?;
            Some(respond(id, call_for(&binding, result)?))
        }
        _ => None,
    }
}

/// Forgets an in-flight call's cancellation entry when the call ends (or its client leaves).
struct InflightGuard<'a, S> {
    fast_path: &'a FastPath<S>,
    key: String,
}

impl<S> Drop for InflightGuard<'_, S> {
    fn drop(&mut self) {
        self.fast_path.inflight.remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn meta(json: &str) -> Meta<'_> {
        serde_json::from_str(json).unwrap()
    }

    #[tokio::test]
    async fn stateless_requests_need_matching_headers_and_metadata() {
        let fast_path = FastPath::<()>::bare();
        let good = r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;
        let h = headers(&[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "vm_get"),
        ]);
        let m = meta(good);
        assert!(matches!(
            fast_path
                .binding(&h, Some(&m), "tools/call", Some("vm_get"))
                .await,
            Some(Binding::Stateless)
        ));
        // Each mismatch leaves the request to the SDK.
        assert!(
            fast_path
                .binding(&h, Some(&m), "tools/call", Some("other"))
                .await
                .is_none()
        );
        assert!(
            fast_path
                .binding(&h, None, "tools/call", Some("vm_get"))
                .await
                .is_none()
        );
        let no_caps = meta(r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}"#);
        assert!(
            fast_path
                .binding(&h, Some(&no_caps), "tools/call", Some("vm_get"))
                .await
                .is_none()
        );
        let old = headers(&[("mcp-protocol-version", "2025-11-25")]);
        assert!(
            fast_path
                .binding(&old, Some(&m), "tools/call", Some("vm_get"))
                .await
                .is_none()
        );
        let param = headers(&[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "vm_get"),
            ("mcp-param-vm", "x"),
        ]);
        assert!(
            fast_path
                .binding(&param, Some(&m), "tools/call", Some("vm_get"))
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn unknown_sessions_go_to_the_sdk() {
        let fast_path = FastPath::<()>::bare();
        let h = headers(&[
            ("mcp-session-id", "nope"),
            ("mcp-protocol-version", "2025-11-25"),
        ]);
        assert!(
            fast_path
                .binding(&h, None, "tools/call", Some("x"))
                .await
                .is_none()
        );
    }

    fn text(b: Bytes) -> serde_json::Value {
        serde_json::from_slice(&b).unwrap()
    }

    #[test]
    fn results_take_the_shape_of_the_clients_revision() {
        let session = Binding::Session(Arc::from("s"));
        let page = Bytes::from_static(br#"{"tools":[{"name":"a"}],"nextCursor":"hf1.1"}"#);
        assert_eq!(list_for(&session, page.clone()).unwrap(), page);
        let modern = text(list_for(&Binding::Stateless, page).unwrap());
        assert_eq!(modern["resultType"], "complete");
        assert_eq!(modern["ttlMs"], 0);
        assert_eq!(modern["cacheScope"], "private");
        assert_eq!(modern["tools"][0]["name"], "a");
        let empty = text(list_for(&Binding::Stateless, Bytes::from_static(b"{}")).unwrap());
        assert_eq!(empty["resultType"], "complete");

        let first = Bytes::from_static(br#"{"resultType":"complete","content":[]}"#);
        assert_eq!(
            call_for(&session, first.clone()).unwrap(),
            Bytes::from_static(br#"{"content":[]}"#)
        );
        assert_eq!(call_for(&Binding::Stateless, first.clone()).unwrap(), first);
        let with = Bytes::from_static(br#"{"content":[],"resultType":"complete","isError":false}"#);
        let legacy = text(call_for(&session, with.clone()).unwrap());
        assert!(legacy.get("resultType").is_none(), "{legacy}");
        assert_eq!(legacy["isError"], false);
        assert_eq!(call_for(&Binding::Stateless, with.clone()).unwrap(), with);
        let without =
            Bytes::from_static(br#"{"content":[{"type":"text","text":"{\"resultType\":1}"}]}"#);
        assert_eq!(call_for(&session, without.clone()).unwrap(), without);
        let added = text(call_for(&Binding::Stateless, without).unwrap());
        assert_eq!(added["resultType"], "complete");
        // A nested resultType is not the result's own.
        let nested =
            Bytes::from_static(br#"{"content":[],"structuredContent":{"resultType":"complete"}}"#);
        let kept = text(call_for(&session, nested).unwrap());
        assert_eq!(kept["structuredContent"]["resultType"], "complete");
    }

    #[test]
    fn responses_splice_id_and_result() {
        let id = RawValue::from_string("\"a\"".into()).unwrap();
        let r = respond(&id, Bytes::from_static(br#"{"content":[]}"#));
        assert_eq!(r.status(), StatusCode::OK);
        let body = futures_body(r);
        assert_eq!(
            body,
            r#"{"jsonrpc":"2.0","id":"a","result":{"content":[]}}"#
        );
        assert!(valid_id(&id));
        assert!(!valid_id(&RawValue::from_string("null".into()).unwrap()));
        for good in ["0", "-7", "9223372036854775807", "\"x\\\"y\""] {
            assert!(
                valid_id(&RawValue::from_string(good.into()).unwrap()),
                "{good}"
            );
        }
        for bad in ["1e99999", "-0.5", "1.0", "99999999999999999999", "true"] {
            assert!(
                !valid_id(&RawValue::from_string(bad.into()).unwrap()),
                "{bad}"
            );
        }
        assert!(!valid_id(&RawValue::from_string("{}".into()).unwrap()));
    }

    fn futures_body(r: Response) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = rt
            .block_on(axum::body::to_bytes(r.into_body(), usize::MAX))
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    impl FastPath<()> {
        fn bare() -> Self {
            FastPath {
                server: (),
                sessions: Arc::new(LocalSessionManager::default()),
                inflight: DashMap::new(),
                touched: DashMap::new(),
            }
        }
    }
}
