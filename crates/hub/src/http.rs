//! The hub's HTTP surface: the worker join/heartbeat/leave endpoints, the MCP endpoint and
//! the REST API for cURL, with bearer-token authentication (constant-time) on `/mcp` and `/v1/*`,
//! public health probes, and the OpenAPI 3.1 document of this REST API derived from the
//! handlers' annotations below (`GET /v1/openapi.json`, public: it describes, holds no data).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
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
use utoipa::OpenApi as _;

use crate::audit::{DEFAULT_PAGE, MAX_PAGE};
use crate::auth::{ClientClaims, Principal, Scope};
use crate::call_context::CallContext;
use crate::cluster::Health;
use crate::error::HubError;
use crate::fast_path::HubFastPath;
use crate::http_body::{AuditPage, ClusterList, HubHealth};
use crate::hub::{Hub, JoinRefusal};
use crate::mcp::HubServer;
use crate::resources::HubFingerprints;
use crate::session_limit::{SessionLimit, limit_sessions};
use crate::{dispatch, fleet, fleet_overview};
use hyperfed_http::bearer::bearer;
use hyperfed_http::mcp_fast_path::{FastPath, mcp_fast_path};
use hyperfed_http::origin::{HostPolicy, check_host_and_origin, require_json_body};
use hyperfed_protocol::rest::{
    ErrorBody, Liveness, Readiness, ReadinessCheck, ToolDescription, ToolList, ToolResult,
};

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    (status, Json(hyperfed_protocol::rest::error_body(&message))).into_response()
}

/// A query string that does not parse: 400 in the one error shape, naming the parameter.
fn bad_query(e: QueryRejection) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        format!("invalid query string: {}", e.body_text()),
    )
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

/// A worker joins with an HMAC proof of the join secret; answers its worker token.
#[utoipa::path(post, path = "/v1/join", tag = "workers",
    request_body = JoinRequest,
    responses(
        (status = 200, description = "Joined (or re-joined) under the alias", body = hyperfed_protocol::JoinResponse),
        (status = 400, description = "The request is not a valid join request", body = ErrorBody),
        (status = 401, description = "Wrong proof, stale timestamp or replayed nonce", body = ErrorBody),
        (status = 409, description = "The alias is taken by another cluster", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 502, description = "The hub cannot reach the worker's MCP endpoint", body = ErrorBody),
    ))]
pub(crate) async fn join(
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

/// A joined worker's heartbeat (with its worker token); answers a refreshed token.
#[utoipa::path(post, path = "/v1/heartbeat", tag = "workers", security(("worker_token" = [])),
    responses(
        (status = 200, description = "Heartbeat recorded", body = hyperfed_protocol::HeartbeatResponse),
        (status = 401, description = "Unknown or expired worker token", body = ErrorBody),
    ))]
pub(crate) async fn heartbeat(State(hub): State<Arc<Hub>>, headers: HeaderMap) -> Response {
    match bearer(&headers).and_then(|t| hub.heartbeat(t)) {
        Some(resp) => Json(resp).into_response(),
        None => error(
            StatusCode::UNAUTHORIZED,
            "unknown or expired worker token; join again",
        ),
    }
}

/// A joined worker leaves (with its worker token).
#[utoipa::path(post, path = "/v1/leave", tag = "workers", security(("worker_token" = [])),
    responses(
        (status = 204, description = "Left; the cluster is forgotten"),
        (status = 401, description = "Unknown or expired worker token", body = ErrorBody),
    ))]
pub(crate) async fn leave(State(hub): State<Arc<Hub>>, headers: HeaderMap) -> Response {
    if bearer(&headers).is_some_and(|t| hub.leave(t)) {
        hub.metrics().left();
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(StatusCode::UNAUTHORIZED, "unknown or expired worker token")
    }
}

/// Public: the hub serves, with cluster counts (kept as it always was; see /livez, /readyz).
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "The hub serves", body = HubHealth)))]
pub(crate) async fn health(State(hub): State<Arc<Hub>>) -> Json<HubHealth> {
    let clusters = hub.clusters();
    let up = clusters.iter().filter(|c| c.state == Health::Up).count();
    Json(HubHealth {
        status: "ok",
        clusters: clusters.len(),
        up,
    })
}

/// Public liveness: 200 while the process serves HTTP; nothing else is checked.
#[utoipa::path(get, path = "/livez", tag = "health",
    responses((status = 200, description = "The process serves HTTP", body = Liveness)))]
pub(crate) async fn livez() -> Json<Liveness> {
    Json(Liveness::live())
}

/// Public readiness: 200 when the hub's store is open and it is not shutting down, else 503.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready: the store is open and the hub is not stopping", body = Readiness),
        (status = 503, description = "Not ready; `error` names the failed checks", body = Readiness),
    ))]
pub(crate) async fn readyz(State(hub): State<Arc<Hub>>) -> Response {
    let store = hub.store().is_open();
    let stopping = hub.shutdown_token().is_cancelled();
    let (status, body) = Readiness::of(vec![
        ReadinessCheck {
            name: "store".into(),
            ok: store,
            problem: (!store).then(|| "the hub database is closed".into()),
        },
        ReadinessCheck {
            name: "serving".into(),
            ok: !stopping,
            problem: stopping.then(|| "the hub is shutting down".into()),
        },
    ]);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    (status, Json(body)).into_response()
}

/// Public: this document, the OpenAPI 3.1 description of the hub's REST API.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
pub(crate) async fn openapi_json() -> Response {
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        openapi_document(),
    )
        .into_response()
}

/// The hub's OpenAPI document as JSON, built once.
pub(crate) fn openapi_document() -> &'static str {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| HubApi::openapi().to_json().unwrap_or_else(|_| "{}".into()))
}

/// `GET /metrics`: the Prometheus text (behind the token like the REST API; any scope).
async fn metrics(State(hub): State<Arc<Hub>>) -> Response {
    hyperfed_http::metrics::response(hub.render_metrics())
}

/// The registered clusters with their state.
#[utoipa::path(get, path = "/v1/clusters", tag = "fleet", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every registered cluster", body = ClusterList),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
    ))]
pub(crate) async fn clusters(State(hub): State<Arc<Hub>>) -> Json<ClusterList> {
    Json(ClusterList {
        clusters: hub.clusters(),
    })
}

/// `limit` and `cursor` of a paged REST read, as the fleet tools take them (a `limit` that is
/// not a number goes on as text, so the tool's own message names the argument).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Rows per page.
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl PageQuery {
    fn add_to(self, args: &mut rmcp::model::JsonObject) {
        if let Some(n) = self.limit.filter(|n| !n.is_empty()) {
            let v = n.parse::<u64>().map_or(Value::String(n), |n| json!(n));
            args.insert("limit".into(), v);
        }
        if let Some(c) = self.cursor.filter(|c| !c.is_empty()) {
            args.insert("cursor".into(), Value::String(c));
        }
    }
}

/// The fleet at a glance (the `fleet_status` tool's result), one page.
#[utoipa::path(get, path = "/v1/status", tag = "fleet", security(("bearer" = [])), params(PageQuery),
    responses(
        (status = 200, description = "The fleet_status result", body = ToolResult),
        (status = 400, description = "limit or cursor is invalid, or the query string does not parse", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 500, description = "The hub database failed", body = ErrorBody),
    ))]
pub(crate) async fn status(
    State(hub): State<Arc<Hub>>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, HubError> {
    let Query(page) = match q {
        Ok(q) => q,
        Err(e) => return Ok(bad_query(e)),
    };
    let mut args = Default::default();
    page.add_to(&mut args);
    fleet_overview::fleet_status(&hub, &args)
        .await
        .map(|v| Json(v).into_response())
}

/// `GET /v1/vms` filters (the `vm_search` tool's arguments).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct VmQuery {
    /// Power state, e.g. RUNNING or SHUTOFF.
    state: Option<String>,
    /// Part of the VM name.
    name: Option<String>,
    /// A tag the VM carries.
    tag: Option<String>,
    /// Only this cluster alias.
    cluster: Option<String>,
    /// Rows per page.
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// VMs across the fleet (the `vm_search` tool's result).
#[utoipa::path(get, path = "/v1/vms", tag = "fleet", security(("bearer" = [])), params(VmQuery),
    responses(
        (status = 200, description = "The vm_search result", body = ToolResult),
        (status = 400, description = "A filter is invalid or the query string does not parse", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 404, description = "No cluster by that alias", body = ErrorBody),
    ))]
pub(crate) async fn vms(
    State(hub): State<Arc<Hub>>,
    q: Result<Query<VmQuery>, QueryRejection>,
) -> Result<Response, HubError> {
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => return Ok(bad_query(e)),
    };
    let mut args = dispatch::object_of([
        ("state", q.state),
        ("name", q.name),
        ("tag", q.tag),
        ("cluster", q.cluster),
    ]);
    PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .add_to(&mut args);
    fleet::vm_search(&hub, &args)
        .await
        .map(|v| Json(v).into_response())
}

/// The tools this token may call (MCP `Tool` objects).
#[utoipa::path(get, path = "/v1/tools", tag = "tools", security(("bearer" = [])),
    responses(
        (status = 200, description = "The tools visible to this token's scope", body = ToolList),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
    ))]
pub(crate) async fn tools(
    State(hub): State<Arc<Hub>>,
    principal: Option<axum::Extension<Principal>>,
) -> Json<ToolList> {
    let scope = principal.map_or(Scope::Admin, |p| p.0.scope);
    let catalog = hub.catalog();
    let tools = catalog.visible(scope);
    Json(ToolList {
        count: tools.len(),
        tools: serde_json::to_value(tools.as_ref()).unwrap_or(Value::Null),
    })
}

/// `POST /v1/tools/{name}`: the same shape as the worker's REST API, the result object on
/// success; on failure a fitting status and `{"error": "..."}`.
#[utoipa::path(post, path = "/v1/tools/{name}", tag = "tools", security(("bearer" = [])),
    params(("name" = String, Path, description = "A tool name from GET /v1/tools")),
    request_body(content = Object, description = "The tool's arguments (its inputSchema); an empty body is no arguments", content_type = "application/json"),
    responses(
        (status = 200, description = "The tool's result (its outputSchema); a tool without structured output answers {\"text\": ...}", body = ToolResult),
        (status = 400, description = "The body is not a JSON object", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "Refused for this token's scope", body = ErrorBody),
        (status = 404, description = "No such tool, cluster or VM", body = ErrorBody),
        (status = 409, description = "The VM name is ambiguous", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "The tool ran and failed (wrong argument, HyperCore refused)", body = ErrorBody),
        (status = 502, description = "The cluster is down or failed", body = ErrorBody),
        (status = 503, description = "The cluster cannot take calls now", body = ErrorBody),
        (status = 504, description = "The worker was lost mid-call", body = ErrorBody),
    ))]
pub(crate) async fn call(
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
#[utoipa::path(post, path = "/v1/placement", tag = "fleet", security(("bearer" = [])),
    request_body(content = Object, description = "placement_select's arguments (see its inputSchema in GET /v1/tools); with \"dispatch\": true and a name, vm_place's", content_type = "application/json"),
    responses(
        (status = 200, description = "The ranked table (placement_select), or the created VM (vm_place)", body = ToolResult),
        (status = 400, description = "The body is not a JSON object, or dispatch is not a boolean", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "Refused for this token's scope", body = ErrorBody),
        (status = 404, description = "No cluster by that alias", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "The placement failed (bad requirements, no fit, the create failed)", body = ErrorBody),
        (status = 502, description = "A cluster failed", body = ErrorBody),
        (status = 503, description = "A cluster cannot take calls now", body = ErrorBody),
        (status = 504, description = "A worker was lost mid-call", body = ErrorBody),
    ))]
pub(crate) async fn placement(
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

/// `GET /v1/audit` paging and filters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Records per page (100 by default, at most 1000).
    limit: Option<usize>,
    /// Only records older than this id (`next_before` of the previous page).
    before: Option<u64>,
    /// Only calls by this token subject.
    subject: Option<String>,
    /// Only calls to this cluster alias.
    cluster: Option<String>,
    /// Only this outcome: pending, ok, error, confirmation_required, cancelled.
    outcome: Option<String>,
    /// Only records from then on: RFC 3339 or a duration ago (`24h`).
    since: Option<String>,
    /// Only records until then: RFC 3339 or a duration ago.
    until: Option<String>,
}

/// `GET /v1/audit?limit=N&before=ID&subject=&cluster=&outcome=&since=&until=`: the latest
/// matching records (100 by default, at most 1000), oldest first, with `next_before` for the
/// older page. `admin` sees every record; a `read` or `operate` token only the calls made
/// with its own subject. `since`/`until` take RFC 3339 or a duration ago (`24h`).
#[utoipa::path(get, path = "/v1/audit", tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses(
        (status = 200, description = "One page of audit records", body = AuditPage),
        (status = 400, description = "A filter or the query string is invalid", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 500, description = "The hub database failed", body = ErrorBody),
    ))]
pub(crate) async fn audit(
    State(hub): State<Arc<Hub>>,
    q: Result<Query<AuditQuery>, QueryRejection>,
    principal: Option<axum::Extension<Principal>>,
) -> Result<Response, HubError> {
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => return Ok(bad_query(e)),
    };
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
    Ok(Json(AuditPage {
        count: entries.len(),
        entries,
        next_before: next,
    })
    .into_response())
}

/// The hub's REST API as an OpenAPI 3.1 document, derived from the annotations above.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "HyperFed hub REST API",
        description = "The hub's REST face for cURL and scripts (MCP clients use /mcp). Every 4xx and 5xx answer has the body ErrorBody: {\"error\": \"<message>\"}."
    ),
    paths(
        health, livez, readyz, openapi_json, join, heartbeat, leave, clusters, status, vms,
        tools, call, placement, audit
    ),
    components(schemas(ErrorBody, ToolDescription)),
    modifiers(&BearerSchemes),
    tags(
        (name = "health", description = "Public probes for load balancers and Kubernetes"),
        (name = "meta", description = "This description"),
        (name = "workers", description = "Workers joining, heartbeating and leaving"),
        (name = "fleet", description = "Clusters and VMs across the fleet"),
        (name = "tools", description = "Every MCP tool, callable over REST"),
        (name = "audit", description = "Who changed what, through the hub"),
    )
)]
struct HubApi;

/// The two bearer schemes: client tokens (`--token` or a scoped token) and worker tokens.
struct BearerSchemes;

impl utoipa::Modify for BearerSchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        let mut client = Http::new(HttpAuthScheme::Bearer);
        client.description =
            Some("The hub's --token, or a scoped token from `hyperfed token issue`".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(client));
        let mut worker = Http::new(HttpAuthScheme::Bearer);
        worker.description = Some("The worker token a join answered".into());
        components.add_security_scheme("worker_token", SecurityScheme::Http(worker));
    }
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
    let prints = HubFingerprints::new(hub.clone());
    let sessions = Arc::new(sessions);
    let mcp = StreamableHttpService::new(
        move || Ok(HubServer::new(prints.clone())),
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
        .route("/metrics", get(metrics))
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
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/v1/openapi.json", get(openapi_json))
        .merge(crate::ui::router())
        .route("/v1/join", post(join))
        .route("/v1/heartbeat", post(heartbeat))
        .route("/v1/leave", post(leave))
        .with_state(hub)
}
