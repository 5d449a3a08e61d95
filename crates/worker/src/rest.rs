//! The REST face for cURL on the same listener: `/health`, `/ready`, `/livez` and `/readyz`
//! (public probes), `/v1/openapi.json` (public: this API described, derived from the
//! annotations below), `/v1/tools`, `POST /v1/tools/{name}`, `/v1/status`, `/v1/vms` and
//! `/v1/vms/{uuid-or-name}`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyperfed_protocol::rest::{
    ErrorBody, Liveness, Readiness, ReadinessCheck, ToolDescription, ToolList, ToolResult,
};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::OpenApi as _;

use crate::join::JoinStatus;
use crate::progress::ProgressReporter;
use crate::state::WorkerState;

type Shared = Arc<WorkerState>;

/// Routes that need a bearer token.
pub fn protected_routes(state: Shared) -> Router {
    Router::new()
        .route("/v1/tools", get(list_tools))
        .route("/v1/tools/{name}", post(call_tool))
        .route("/v1/status", get(status))
        .route("/v1/vms", get(vms))
        .route("/v1/vms/{id}", get(vm))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Routes anyone may call: liveness, readiness and the OpenAPI document.
pub(crate) fn public_routes(state: Shared, join: JoinStatus) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/v1/openapi.json", get(openapi_json))
        .with_state((state, join))
}

/// The wrapped cluster as the worker knows it (empty strings until it first answered).
#[derive(Serialize, utoipa::ToSchema)]
struct ClusterIdentityBody {
    /// Cluster uuid.
    uuid: String,
    /// clusterName.
    name: String,
    /// HyperCore version.
    icos_version: String,
}

/// `GET /health`.
#[derive(Serialize, utoipa::ToSchema)]
struct WorkerHealth {
    /// Always `up` while the worker answers.
    status: &'static str,
    /// Whether the cluster answered `/ping` within 3 s.
    cluster_reachable: bool,
    /// The wrapped cluster.
    cluster: ClusterIdentityBody,
    /// The worker's version.
    version: &'static str,
}

/// The hub join as `/ready` reports it.
#[derive(Serialize, utoipa::ToSchema)]
struct HubJoinBody {
    /// The alias the hub registered this worker under, while joined.
    joined_as: Option<String>,
    /// What the last failed join attempt said, while not joined.
    problem: Option<String>,
}

/// `GET /ready`: `cluster` when ready; `error` when not.
#[derive(Serialize, utoipa::ToSchema)]
struct WorkerReady {
    /// Whether the cluster answers.
    ready: bool,
    /// The cluster's name (when ready).
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<String>,
    /// What to check (when not ready).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// The hub join, if any.
    hub: HubJoinBody,
}

/// `GET /metrics`: the Prometheus text (behind the bearer token like the REST API).
async fn metrics(State(state): State<Shared>) -> Response {
    hyperfed_http::metrics::response(state.metrics().render())
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    (status, Json(hyperfed_protocol::rest::error_body(&message))).into_response()
}

fn tool_error_status(message: &str) -> StatusCode {
    StatusCode::from_u16(hyperfed_protocol::rest::tool_error_status(message))
        .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY)
}

async fn run(state: &WorkerState, tool: &str, args: Map<String, Value>) -> Response {
    match state.call_tool(tool, args, ProgressReporter::none()).await {
        Ok(v) => Json(v).into_response(),
        Err(m) => error(tool_error_status(&m), m),
    }
}

/// Whether the cluster answers `/ping` within 3 s.
async fn cluster_reachable(state: &WorkerState) -> bool {
    tokio::time::timeout(
        Duration::from_secs(3),
        state
            .cluster
            .raw(crate::cluster::Method::Get, "/ping", None),
    )
    .await
    .is_ok_and(|r| r.is_ok_and(|(status, _)| status < 300))
}

/// Liveness with details: 200 while the process serves HTTP, whatever the cluster does.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "The worker serves", body = WorkerHealth)))]
async fn health(State((state, _)): State<(Shared, JoinStatus)>) -> Response {
    let reachable = cluster_reachable(&state).await;
    let id = state.identity();
    Json(WorkerHealth {
        status: "up",
        cluster_reachable: reachable,
        cluster: ClusterIdentityBody {
            uuid: id.uuid,
            name: id.name,
            icos_version: id.icos_version,
        },
        version: env!("CARGO_PKG_VERSION"),
    })
    .into_response()
}

const CLUSTER_SILENT: &str = "the cluster does not answer: check --hypercore-url, the network path to it and its credentials; the worker keeps retrying";

/// Readiness (kept as it was): 200 once the cluster answers, 503 (with the reason) until then.
#[utoipa::path(get, path = "/ready", tag = "health",
    responses(
        (status = 200, description = "The cluster answers", body = WorkerReady),
        (status = 503, description = "The cluster does not answer yet", body = WorkerReady),
    ))]
async fn ready(State((state, join)): State<(Shared, JoinStatus)>) -> Response {
    let reachable = cluster_reachable(&state).await;
    if reachable && state.identity().uuid.is_empty() {
        let _ = state.refresh_identity().await;
    }
    let id = state.identity();
    let hub = HubJoinBody {
        joined_as: join.alias.read().ok().and_then(|g| g.clone()),
        problem: join.problem(),
    };
    let (status, body) = if reachable {
        let body = WorkerReady {
            ready: true,
            cluster: Some(id.name),
            error: None,
            hub,
        };
        (StatusCode::OK, body)
    } else {
        let body = WorkerReady {
            ready: false,
            cluster: None,
            error: Some(CLUSTER_SILENT.into()),
            hub,
        };
        (StatusCode::SERVICE_UNAVAILABLE, body)
    };
    (status, Json(body)).into_response()
}

/// Public liveness: 200 while the process serves HTTP; nothing else is checked.
#[utoipa::path(get, path = "/livez", tag = "health",
    responses((status = 200, description = "The process serves HTTP", body = Liveness)))]
async fn livez() -> Json<Liveness> {
    Json(Liveness::live())
}

/// Public readiness: 200 when the worker is logged in to its cluster (an authenticated read
/// succeeded and the cluster answers now) and, when started with --join, joined to the hub.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Logged in to the cluster (and joined, if joining)", body = Readiness),
        (status = 503, description = "Not ready; `error` names the failed checks", body = Readiness),
    ))]
async fn readyz(State((state, join)): State<(Shared, JoinStatus)>) -> Response {
    let reachable = cluster_reachable(&state).await;
    // An identity comes from an authenticated read: it proves a working login.
    let logged_in =
        reachable && (!state.identity().uuid.is_empty() || state.refresh_identity().await.is_ok());
    let mut checks = vec![ReadinessCheck {
        name: "cluster_login".into(),
        ok: logged_in,
        problem: (!logged_in).then(|| CLUSTER_SILENT.into()),
    }];
    if join.joining {
        let joined = join.alias.read().ok().is_some_and(|g| g.is_some());
        checks.push(ReadinessCheck {
            name: "hub_join".into(),
            ok: joined,
            problem: (!joined).then(|| {
                join.problem()
                    .unwrap_or_else(|| "not joined to the hub yet".into())
            }),
        });
    }
    let (status, body) = Readiness::of(checks);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    (status, Json(body)).into_response()
}

/// Public: the OpenAPI 3.1 description of the worker's REST API.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
async fn openapi_json() -> Response {
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        openapi_document(),
    )
        .into_response()
}

/// The worker's OpenAPI document as JSON, built once.
pub(crate) fn openapi_document() -> &'static str {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        WorkerApi::openapi()
            .to_json()
            .unwrap_or_else(|_| "{}".into())
    })
}

/// The tools this worker serves (MCP `Tool` objects).
#[utoipa::path(get, path = "/v1/tools", tag = "tools", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every tool this worker serves", body = ToolList),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
    ))]
async fn list_tools(State(state): State<Shared>) -> Response {
    let tools: Vec<Value> = state
        .catalog
        .tools()
        .iter()
        .map(|t| serde_json::to_value(t).unwrap_or(Value::Null))
        .collect();
    Json(ToolList {
        count: tools.len(),
        tools: Value::Array(tools),
    })
    .into_response()
}

/// Calls one tool: its result object, or a fitting status and the error body.
#[utoipa::path(post, path = "/v1/tools/{name}", tag = "tools", security(("bearer" = [])),
    params(("name" = String, Path, description = "A tool name from GET /v1/tools")),
    request_body(content = Object, description = "The tool's arguments (its inputSchema); an empty body is no arguments", content_type = "application/json"),
    responses(
        (status = 200, description = "The tool's result (its outputSchema)", body = ToolResult),
        (status = 400, description = "The body is not a JSON object", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 403, description = "Refused (read-only worker, confirmation rules)", body = ErrorBody),
        (status = 404, description = "No such tool or VM", body = ErrorBody),
        (status = 409, description = "The VM name is ambiguous", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "The tool ran and failed (wrong argument, HyperCore refused)", body = ErrorBody),
        (status = 502, description = "The cluster is unavailable", body = ErrorBody),
    ))]
async fn call_tool(
    State(state): State<Shared>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if state.catalog.get(&name).is_none() {
        return error(
            StatusCode::NOT_FOUND,
            format!("unknown tool '{name}': GET /v1/tools lists the tools this worker serves"),
        );
    }
    let args = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(m)) => m,
            Ok(Value::Null) => Map::new(),
            Ok(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "the body must be a JSON object of tool arguments",
                );
            }
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("the body is not valid JSON: {e}"),
                );
            }
        }
    };
    run(&state, &name, args).await
}

/// The cluster at a glance (the `cluster_info` tool's result).
#[utoipa::path(get, path = "/v1/status", tag = "cluster", security(("bearer" = [])),
    responses(
        (status = 200, description = "The cluster_info result", body = ToolResult),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 502, description = "The cluster is unavailable", body = ErrorBody),
    ))]
async fn status(State(state): State<Shared>) -> Response {
    match state.read("cluster_info").await {
        Ok(v) => Json(v).into_response(),
        Err(m) => error(StatusCode::BAD_GATEWAY, m),
    }
}

/// The cluster's VMs (the `vm_list` tool's result); every query parameter is a `vm_list`
/// argument.
#[utoipa::path(get, path = "/v1/vms", tag = "cluster", security(("bearer" = [])),
    params(
        ("state" = Option<String>, Query, description = "Power state, e.g. RUNNING (any case)"),
        ("name" = Option<String>, Query, description = "Name substring (any case)"),
        ("tag" = Option<String>, Query, description = "Exact tag (any case)"),
        ("details" = Option<bool>, Query, description = "More columns: true, 1 or yes"),
    ),
    responses(
        (status = 200, description = "The vm_list result", body = ToolResult),
        (status = 400, description = "An argument is invalid", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 502, description = "The cluster is unavailable", body = ErrorBody),
    ))]
async fn vms(State(state): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut args = Map::new();
    for (k, v) in q {
        let value = match k.as_str() {
            "details" => Value::Bool(matches!(v.as_str(), "true" | "1" | "yes")),
            "state" => Value::String(v.to_ascii_uppercase()),
            _ => Value::String(v),
        };
        args.insert(k, value);
    }
    match state
        .call_tool("vm_list", args, ProgressReporter::none())
        .await
    {
        Ok(v) => Json(v).into_response(),
        Err(m) if m.contains("is unavailable right now") => error(StatusCode::BAD_GATEWAY, m),
        Err(m) => error(StatusCode::BAD_REQUEST, m),
    }
}

/// One VM's full record (the `vm_get` tool's result).
#[utoipa::path(get, path = "/v1/vms/{id}", tag = "cluster", security(("bearer" = [])),
    params(("id" = String, Path, description = "The VM's uuid or name")),
    responses(
        (status = 200, description = "The vm_get result", body = ToolResult),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 404, description = "No VM by that uuid or name", body = ErrorBody),
        (status = 409, description = "The name is ambiguous", body = ErrorBody),
        (status = 422, description = "The call failed", body = ErrorBody),
        (status = 502, description = "The cluster is unavailable", body = ErrorBody),
    ))]
async fn vm(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let mut args = Map::new();
    args.insert("vm".into(), Value::String(id));
    run(&state, "vm_get", args).await
}

/// The worker's REST API as an OpenAPI 3.1 document, derived from the annotations above.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "HyperFed worker REST API",
        description = "One HyperCore cluster's REST face for cURL and scripts (MCP clients use /mcp). Every 4xx and 5xx answer but /ready's and /readyz's 503 has the body ErrorBody: {\"error\": \"<message>\"} (those two carry `error` too)."
    ),
    paths(
        health, ready, livez, readyz, openapi_json, list_tools, call_tool, status, vms, vm
    ),
    components(schemas(ErrorBody, ToolDescription)),
    modifiers(&BearerScheme),
    tags(
        (name = "health", description = "Public probes for load balancers and Kubernetes"),
        (name = "meta", description = "This description"),
        (name = "tools", description = "Every MCP tool, callable over REST"),
        (name = "cluster", description = "The cluster and its VMs"),
    )
)]
struct WorkerApi;

/// The bearer scheme: the worker's --token, or the hub's call token.
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description =
            Some("The worker's --token (needed when it has one), or a hub's call token".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
    }
}
