//! The hub's HTTP surface: the worker join/heartbeat/leave endpoints, the MCP endpoint and
//! the REST API for cURL, with bearer-token authentication (constant-time) on `/mcp` and `/v1/*`.

use std::sync::Arc;

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

use crate::audit::{DEFAULT_PAGE, MAX_PAGE};
use crate::auth::{ClientClaims, Principal, Scope};
use crate::call_context::CallContext;
use crate::cluster::Health;
use crate::error::HubError;
use crate::fast_path::HubFastPath;
use crate::hub::{Hub, JoinRefusal};
use crate::mcp::HubServer;
use crate::session_limit::{SessionLimit, limit_sessions};
use crate::{dispatch, fleet, fleet_overview};
use hyperfed_http::bearer::bearer;
use hyperfed_http::mcp_fast_path::{FastPath, mcp_fast_path};
use hyperfed_http::origin::{HostPolicy, check_host_and_origin, require_json_body};

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        let status = match &self {
            HubError::BadRequest(_) | HubError::Config(_) => StatusCode::BAD_REQUEST,
            HubError::Forbidden(_) => StatusCode::FORBIDDEN,
            HubError::UnknownCluster(_) => StatusCode::NOT_FOUND,
            HubError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            HubError::Upstream { .. } => StatusCode::BAD_GATEWAY,
            HubError::UpstreamLost { .. } => StatusCode::GATEWAY_TIMEOUT,
            HubError::Storage(_) | HubError::Bind { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        error(status, self.to_string())
    }
}

async fn require_token(State(hub): State<Arc<Hub>>, mut req: Request, next: Next) -> Response {
    let presented = bearer(req.headers());
    let required = hub.config().token.is_some() || hub.config().require_token;
    let principal = match presented {
        // Constant-time compare with the static token (simple mode: admin).
        Some(t) if hub.config().token.as_ref().is_some_and(|s| s.matches(t)) => Principal {
            subject: Arc::from("bearer-token"),
            scope: Scope::Admin,
            scoped: false,
        },
        Some(t) => match ClientClaims::verify(hub.key(), t) {
            Ok(claims) => Principal {
                subject: Arc::from(claims.sub.as_str()),
                scope: claims.scope,
                scoped: true,
            },
            Err(e) if required => return error(StatusCode::UNAUTHORIZED, e.to_string()),
            Err(_) => Principal::anonymous(),
        },
        None if required => {
            return error(
                StatusCode::UNAUTHORIZED,
                "missing bearer token (Authorization: Bearer <token>)",
            );
        }
        None => Principal::anonymous(),
    };
    req.extensions_mut().insert(principal);
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
    let up = clusters.iter().filter(|c| c.state == Health::Up).count();
    Json(json!({"status": "ok", "clusters": clusters.len(), "up": up}))
}

async fn clusters(State(hub): State<Arc<Hub>>) -> Json<Value> {
    Json(json!({"clusters": hub.clusters()}))
}

async fn status(State(hub): State<Arc<Hub>>) -> Result<Json<Value>, HubError> {
    fleet_overview::fleet_status(&hub, &Default::default())
        .await
        .map(Json)
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
    let args = dispatch::object_of([
        ("state", q.state),
        ("name", q.name),
        ("tag", q.tag),
        ("cluster", q.cluster),
    ]);
    fleet::vm_search(&hub, &args).await.map(Json)
}

async fn tools(
    State(hub): State<Arc<Hub>>,
    principal: Option<axum::Extension<Principal>>,
) -> Json<Value> {
    let scope = principal.map_or(Scope::Admin, |p| p.0.scope);
    let catalog = hub.catalog();
    let tools = catalog.visible(scope);
    Json(json!({"count": tools.len(), "tools": tools.as_ref()}))
}

/// `POST /v1/tools/{name}`: the same shape as the worker's REST API, the result object on
/// success; on failure a fitting status and `{"error": "..."}`.
async fn call(
    State(hub): State<Arc<Hub>>,
    Path(name): Path<String>,
    principal: Option<axum::Extension<Principal>>,
    body: axum::body::Bytes,
) -> Result<Response, HubError> {
    if !hub.catalog().routes.contains_key(name.as_str()) {
        return Ok(error(
            StatusCode::NOT_FOUND,
            format!("unknown tool '{name}': GET /v1/tools lists the tools this hub serves"),
        ));
    }
    let args = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| HubError::BadRequest(format!("the request body is not JSON: {e}")))?;
        dispatch::as_object(v)?
    };
    let who = principal.map_or_else(Principal::anonymous, |p| p.0);
    let ctx = CallContext::plain(who.audit_subject("rest"), who.scope);
    let result = match dispatch::call_tool_typed(&hub, &name, args, &ctx).await? {
        Ok(result) => result,
        Err(HubError::BadRequest(m)) => {
            let status = StatusCode::from_u16(hyperfed_protocol::rest::tool_error_status(&m))
                .unwrap_or(StatusCode::BAD_REQUEST);
            return Ok(error(status, m));
        }
        Err(e) => return Ok(e.into_response()),
    };
    if result.is_error == Some(true) {
        let message = dispatch::result_text(&result);
        let status = StatusCode::from_u16(hyperfed_protocol::rest::tool_error_status(&message))
            .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        return Ok(error(status, message));
    }
    Ok(match dispatch::result_json(&result) {
        Some(v) => Json(v).into_response(),
        None => Json(json!({"text": dispatch::result_text(&result)})).into_response(),
    })
}

/// `POST /v1/placement`: the arguments of `placement_select` (ranked table), or with
/// `"dispatch": true` and a `name` those of `vm_place` (the VM is created on the first).
async fn placement(
    State(hub): State<Arc<Hub>>,
    principal: Option<axum::Extension<Principal>>,
    body: axum::body::Bytes,
) -> Result<Response, HubError> {
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| HubError::BadRequest(format!("the request body is not JSON: {e}")))?;
    let mut args = dispatch::as_object(v)?.unwrap_or_default();
    let tool = match args.remove("dispatch") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => "placement_select",
        Some(Value::Bool(true)) => "vm_place",
        Some(_) => {
            return Err(HubError::BadRequest(
                "'dispatch' must be true or false".into(),
            ));
        }
    };
    let who = principal.map_or_else(Principal::anonymous, |p| p.0);
    let ctx = CallContext::plain(who.audit_subject("rest"), who.scope);
    let result = match dispatch::call_tool_typed(&hub, tool, Some(args), &ctx).await? {
        Ok(result) => result,
        Err(e) => return Ok(e.into_response()),
    };
    if result.is_error == Some(true) {
        let message = dispatch::result_text(&result);
        return Ok(error(StatusCode::UNPROCESSABLE_ENTITY, message));
    }
    Ok(Json(dispatch::result_json(&result).unwrap_or(Value::Null)).into_response())
}

#[derive(Deserialize)]
struct AuditQuery {
    limit: Option<usize>,
    before: Option<u64>,
    subject: Option<String>,
    cluster: Option<String>,
    outcome: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// `GET /v1/audit?limit=N&before=ID&subject=&cluster=&outcome=&since=&until=`: the latest
/// matching records (100 by default, at most 1000), oldest first, with `next_before` for the
/// older page. `admin` sees every record; a `read` or `operate` token only the calls made
/// with its own subject. `since`/`until` take RFC 3339 or a duration ago (`24h`).
async fn audit(
    State(hub): State<Arc<Hub>>,
    Query(q): Query<AuditQuery>,
    principal: Option<axum::Extension<Principal>>,
) -> Result<Json<Value>, HubError> {
    let who = principal.map_or_else(Principal::anonymous, |p| p.0);
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let own = (who.scope < Scope::Admin).then(|| who.subject.clone());
    let filter = crate::audit::AuditFilter {
        subject: q.subject,
        cluster: q.cluster,
        outcome: q.outcome,
        since: q.since,
        until: q.until,
    };
    let matcher = filter.matcher().map_err(HubError::BadRequest)?;
    let (entries, next) = hub
        .store()
        .audit_page(q.before, limit, |e| {
            own.as_deref().is_none_or(|sub| e.made_by(sub)) && matcher.matches(e)
        })
        .await?;
    Ok(Json(
        json!({"count": entries.len(), "entries": entries, "next_before": next}),
    ))
}

/// A session DELETE answers 204 instead of rmcp's 202: the Python MCP SDK reads only 200 and
/// 204 as a clean session end (and prints "Session termination failed: 202" otherwise).
async fn session_end_no_content(req: Request, next: Next) -> Response {
    let delete = req.method() == http::Method::DELETE;
    let mut resp = next.run(req).await;
    if delete && resp.status() == StatusCode::ACCEPTED {
        *resp.status_mut() = StatusCode::NO_CONTENT;
    }
    resp
}

/// Builds the whole router.
pub(crate) fn router(hub: Arc<Hub>, bound: std::net::SocketAddr) -> Router {
    let policy = Arc::new(HostPolicy::new(bound, &hub.config().allowed_hosts));
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(hub.shutdown_token().child_token());
    config = if policy.is_open() {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(policy.rmcp_hosts())
    };
    let mut sessions = LocalSessionManager::default();
    // Clients may sit idle between tool calls, but an idle session holds memory: it is closed
    // after `session_idle` (10 minutes by default), and sessions are capped (session_limit).
    sessions.session_config.keep_alive = Some(hub.config().session_idle);
    let factory_hub = hub.clone();
    let sessions = Arc::new(sessions);
    let mcp = StreamableHttpService::new(
        move || {
            Ok(HubServer {
                hub: factory_hub.clone(),
            })
        },
        sessions.clone(),
        config,
    );
    let limit = Arc::new(SessionLimit::new(
        sessions.clone(),
        hub.config().max_sessions,
        hub.config().max_sessions_per_token,
    ));
    let fast_path = Arc::new(FastPath::new(HubFastPath(hub.clone()), sessions));
    let mcp = Router::new()
        .nest_service("/mcp", mcp)
        .layer(axum::middleware::from_fn_with_state(
            fast_path,
            mcp_fast_path,
        ))
        .layer(axum::middleware::from_fn_with_state(limit, limit_sessions))
        .layer(axum::middleware::from_fn(session_end_no_content));
    let protected = Router::new()
        .merge(mcp)
        .route("/v1/clusters", get(clusters))
        .route("/v1/status", get(status))
        .route("/v1/vms", get(vms))
        .route("/v1/tools", get(tools))
        .route("/v1/tools/{name}", post(call))
        .route("/v1/audit", get(audit))
        .route("/v1/placement", post(placement))
        // Inside authentication: only authenticated bodies are buffered and checked.
        .layer(axum::middleware::from_fn(
            hyperfed_http::jsonrpc::reject_malformed_json,
        ))
        .layer(axum::middleware::from_fn_with_state(
            hub.clone(),
            require_token,
        ))
        // State-changing REST calls must be JSON (no cross-site form or text/plain POST).
        .layer(axum::middleware::from_fn(require_json_body))
        // Outermost: a foreign browser page is refused before authentication.
        .layer(axum::middleware::from_fn_with_state(
            policy,
            check_host_and_origin,
        ));
    Router::new()
        .merge(protected)
        .route("/health", get(health))
        .route("/v1/join", post(join))
        .route("/v1/heartbeat", post(heartbeat))
        .route("/v1/leave", post(leave))
        .with_state(hub)
}
