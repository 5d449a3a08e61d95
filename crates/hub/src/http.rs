//! The hub's HTTP surface: the worker join/heartbeat/leave endpoints, the MCP endpoint and
//! the REST API for cURL, with bearer-token authentication (constant-time) on `/mcp` and `/v1/*`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyperfed_protocol::JoinRequest;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::HubError;
use crate::mcp::HubServer;
use crate::route::{self, CallContext};
use crate::state::{Hub, JoinRefusal};

/// Who the auth middleware let in (the audit subject).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Principal(pub &'static str);

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        let status = match &self {
            HubError::BadRequest(_) | HubError::Config(_) => StatusCode::BAD_REQUEST,
            HubError::UnknownCluster(_) => StatusCode::NOT_FOUND,
            HubError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            HubError::Upstream { .. } => StatusCode::BAD_GATEWAY,
            HubError::UpstreamLost { .. } => StatusCode::GATEWAY_TIMEOUT,
            HubError::Storage(_) | HubError::Bind { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        error(status, self.to_string())
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

async fn require_token(State(hub): State<Arc<Hub>>, mut req: Request, next: Next) -> Response {
    match &hub.config.token {
        None => {
            req.extensions_mut().insert(Principal("anonymous"));
        }
        Some(token) => {
            let ok = bearer(req.headers()).is_some_and(|t| token.matches(t));
            if !ok {
                return error(
                    StatusCode::UNAUTHORIZED,
                    "missing or wrong bearer token (Authorization: Bearer <token>)",
                );
            }
            req.extensions_mut().insert(Principal("bearer-token"));
        }
    }
    next.run(req).await
}

async fn join(
    State(hub): State<Arc<Hub>>,
    body: Result<Json<JoinRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid join request: {e}"),
            );
        }
    };
    match hub.join(req).await {
        Ok(resp) => Json(resp).into_response(),
        Err(JoinRefusal::Unauthorized(m)) => {
            tracing::warn!(reason = %m, "join refused");
            error(StatusCode::UNAUTHORIZED, m)
        }
        Err(JoinRefusal::BadRequest(m)) => error(StatusCode::BAD_REQUEST, m),
        Err(JoinRefusal::Conflict(m)) => error(StatusCode::CONFLICT, m),
        Err(JoinRefusal::Unreachable(m)) => error(StatusCode::BAD_GATEWAY, m),
    }
}

async fn heartbeat(State(hub): State<Arc<Hub>>, headers: HeaderMap) -> Response {
    match bearer(&headers).and_then(|t| hub.heartbeat(t)) {
        Some(resp) => Json(resp).into_response(),
        None => error(
            StatusCode::UNAUTHORIZED,
            "unknown or expired worker token; join again",
        ),
    }
}

async fn leave(State(hub): State<Arc<Hub>>, headers: HeaderMap) -> Response {
    if bearer(&headers).is_some_and(|t| hub.leave(t)) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(StatusCode::UNAUTHORIZED, "unknown or expired worker token")
    }
}

async fn health(State(hub): State<Arc<Hub>>) -> Json<Value> {
    let clusters = hub.clusters();
    let up = clusters
        .iter()
        .filter(|c| c.state == crate::registry::Health::Up)
        .count();
    Json(json!({"status": "ok", "clusters": clusters.len(), "up": up}))
}

async fn clusters(State(hub): State<Arc<Hub>>) -> Json<Value> {
    Json(json!({"clusters": hub.clusters()}))
}

async fn status(State(hub): State<Arc<Hub>>) -> Result<Json<Value>, HubError> {
    route::fleet_status(&hub).await.map(Json)
}

#[derive(Deserialize)]
struct VmQuery {
    state: Option<String>,
    name: Option<String>,
    tag: Option<String>,
    cluster: Option<String>,
}

async fn vms(
    State(hub): State<Arc<Hub>>,
    Query(q): Query<VmQuery>,
) -> Result<Json<Value>, HubError> {
    let args = route::object_of([
        ("state", q.state),
        ("name", q.name),
        ("tag", q.tag),
        ("cluster", q.cluster),
    ]);
    route::vm_search(&hub, &args).await.map(Json)
}

async fn tools(State(hub): State<Arc<Hub>>) -> Json<Value> {
    let catalog = hub.catalog();
    Json(json!({"count": catalog.tools.len(), "tools": catalog.tools.as_ref()}))
}

async fn call(
    State(hub): State<Arc<Hub>>,
    Path(name): Path<String>,
    principal: Option<axum::Extension<Principal>>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, HubError> {
    let args = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| HubError::BadRequest(format!("the request body is not JSON: {e}")))?;
        route::as_object(v)?
    };
    let who = principal.map(|p| p.0.0).unwrap_or("anonymous");
    let ctx = CallContext::plain(format!("{who} via rest"));
    let result = route::call_tool(&hub, &name, args, &ctx).await?;
    serde_json::to_value(&result)
        .map(Json)
        .map_err(|e| HubError::Storage(format!("cannot encode the result: {e}")))
}

#[derive(Deserialize)]
struct AuditQuery {
    limit: Option<usize>,
}

async fn audit(
    State(hub): State<Arc<Hub>>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, HubError> {
    let entries = hub.store.audit_entries(Some(q.limit.unwrap_or(1000)))?;
    Ok(Json(json!({"count": entries.len(), "entries": entries})))
}

/// Builds the whole router.
pub(crate) fn router(hub: Arc<Hub>) -> Router {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
        .into_iter()
        .map(String::from)
        .collect();
    hosts.extend(hub.config.allowed_hosts.iter().cloned());
    // A hub bound to one specific address also answers to that address.
    let ip = hub.config.listen.ip();
    if !ip.is_unspecified() && !ip.is_loopback() {
        hosts.push(ip.to_string());
    }
    let mut config =
        StreamableHttpServerConfig::default().with_cancellation_token(hub.shutdown.child_token());
    config = if hosts.iter().any(|h| h == "*") {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(hosts)
    };
    let mut sessions = LocalSessionManager::default();
    // Clients may sit idle for a long time between tool calls.
    sessions.session_config.keep_alive = Some(Duration::from_secs(3600));
    let factory_hub = hub.clone();
    let mcp = StreamableHttpService::new(
        move || {
            Ok(HubServer {
                hub: factory_hub.clone(),
            })
        },
        Arc::new(sessions),
        config,
    );
    let protected = Router::new()
        .nest_service("/mcp", mcp)
        .route("/v1/clusters", get(clusters))
        .route("/v1/status", get(status))
        .route("/v1/vms", get(vms))
        .route("/v1/tools", get(tools))
        .route("/v1/tools/{name}", post(call))
        .route("/v1/audit", get(audit))
        .layer(axum::middleware::from_fn_with_state(
            hub.clone(),
            require_token,
        ));
    Router::new()
        .merge(protected)
        .route("/health", get(health))
        .route("/v1/join", post(join))
        .route("/v1/heartbeat", post(heartbeat))
        .route("/v1/leave", post(leave))
        .with_state(hub)
}
