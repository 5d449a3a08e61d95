//! The REST face for cURL on the same listener: `/health` (public liveness), `/ready`
//! (public readiness: 503 until the cluster answers), `/v1/tools`, `POST /v1/tools/{name}`,
//! `/v1/status`, `/v1/vms` and `/v1/vms/{uuid-or-name}`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

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
        .with_state(state)
}

/// Routes anyone may call: liveness and readiness.
pub(crate) fn public_routes(state: Shared, join: JoinStatus) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .with_state((state, join))
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

/// Liveness: 200 while the process serves HTTP, whatever the cluster does.
async fn health(State((state, _)): State<(Shared, JoinStatus)>) -> Response {
    let reachable = cluster_reachable(&state).await;
    let id = state.identity();
    Json(json!({
        "status": "up",
        "cluster_reachable": reachable,
        "cluster": {"uuid": id.uuid, "name": id.name, "icos_version": id.icos_version},
        "version": env!("CARGO_PKG_VERSION"),
    }))
    .into_response()
}

/// Readiness: 200 once the cluster answers, 503 (with the reason) until then.
async fn ready(State((state, join)): State<(Shared, JoinStatus)>) -> Response {
    let reachable = cluster_reachable(&state).await;
    if reachable && state.identity().uuid.is_empty() {
        let _ = state.refresh_identity().await;
    }
    let id = state.identity();
    let hub = json!({
        "joined_as": join.alias.read().ok().and_then(|g| g.clone()),
        "problem": join.problem(),
    });
    if reachable {
        return Json(json!({"ready": true, "cluster": id.name, "hub": hub})).into_response();
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({
            "ready": false,
            "error": "the cluster does not answer: check --hypercore-url, the network path to it and its credentials; the worker keeps retrying",
            "hub": hub,
        })),
    )
        .into_response()
}

async fn list_tools(State(state): State<Shared>) -> Response {
    let tools: Vec<Value> = state
        .catalog
        .tools()
        .iter()
        .map(|t| serde_json::to_value(t).unwrap_or(Value::Null))
        .collect();
    Json(json!({"count": tools.len(), "tools": tools})).into_response()
}

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

async fn status(State(state): State<Shared>) -> Response {
    match state.read("cluster_info").await {
        Ok(v) => Json(v).into_response(),
        Err(m) => error(StatusCode::BAD_GATEWAY, m),
    }
}

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

async fn vm(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let mut args = Map::new();
    args.insert("vm".into(), Value::String(id));
    run(&state, "vm_get", args).await
}
