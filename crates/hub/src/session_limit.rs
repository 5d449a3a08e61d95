//! Caps on MCP sessions: an `initialize` that would open more than `max_sessions` on the hub,
//! or more than `max_sessions_per_token` for one client subject, is refused (HTTP 503 / 429
//! with a JSON-RPC error) instead of holding memory until the idle timeout.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dashmap::DashMap;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;

use crate::auth::Principal;

/// The sessions open per client subject, checked against the session table.
pub(crate) struct SessionLimit {
    sessions: Arc<LocalSessionManager>,
    max_total: usize,
    max_per_subject: usize,
    by_subject: DashMap<String, Vec<Arc<str>>>,
    /// Serialises check-and-open, so concurrent `initialize` calls cannot overshoot the caps.
    opening: tokio::sync::Mutex<()>,
}

impl SessionLimit {
    /// Limits over `sessions` (rmcp's session table).
    pub(crate) fn new(
        sessions: Arc<LocalSessionManager>,
        max_total: usize,
        max_per_subject: usize,
    ) -> Self {
        SessionLimit {
            sessions,
            max_total: max_total.max(1),
            max_per_subject: max_per_subject.max(1),
            by_subject: DashMap::new(),
            opening: tokio::sync::Mutex::new(()),
        }
    }
}

fn refuse(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32000, "message": message},
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct RpcMethod<'a> {
    #[serde(borrow)]
    method: Option<&'a str>,
}

/// axum middleware on `/mcp` (inside authentication): counts and caps new sessions.
pub(crate) async fn limit_sessions(
    State(limit): State<Arc<SessionLimit>>,
    req: Request,
    next: Next,
) -> Response {
    if req.method() != Method::POST || req.headers().contains_key("mcp-session-id") {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    // The JSON-RPC guard in front has size-checked and buffered the body already.
    let Ok(bytes) = axum::body::to_bytes(body, hyperfed_http::jsonrpc::MAX_BODY_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let initialize = serde_json::from_slice::<RpcMethod<'_>>(&bytes)
        .is_ok_and(|m| m.method == Some("initialize"));
    let req = Request::from_parts(parts, Body::from(bytes));
    if !initialize {
        return next.run(req).await;
    }
    let subject = req
        .extensions()
        .get::<Principal>()
        .map_or_else(|| "anonymous".to_owned(), |p| p.subject.to_string());
    let _opening = limit.opening.lock().await;
    {
        let live = limit.sessions.sessions.read().await;
        if live.len() >= limit.max_total {
            tracing::warn!(
                sessions = live.len(),
                "refusing a new MCP session: the hub's session cap is reached"
            );
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many MCP sessions on this hub; close idle sessions or try again later",
            );
        }
        limit.by_subject.retain(|_, ids| {
            ids.retain(|id| live.contains_key(id));
            !ids.is_empty()
        });
        let mine = limit.by_subject.get(&subject).map_or(0, |ids| ids.len());
        if mine >= limit.max_per_subject {
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "too many MCP sessions for this token; close idle sessions first",
            );
        }
    }
    let resp = next.run(req).await;
    if let Some(sid) = resp
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
    {
        limit
            .by_subject
            .entry(subject)
            .or_default()
            .push(Arc::from(sid));
    }
    resp
}
