//! The HTTP(S) front of the simulator: the `/rest/v1` routes, authentication (session cookie
//! or Basic), fault injection, the `/_sim` control routes and the connection accept loop.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use rand::Rng;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::config::{FaultControl, Faults, SimConfig};
use crate::model::{Iso, IsoMount, VirDomainStats};
use crate::state::{ApiError, SessionCheck, SessionStore, SimState, TaskResult, VmAction};

/// State shared by every connection of one simulator.
pub(crate) struct Shared {
    pub(crate) state: RwLock<SimState>,
    pub(crate) sessions: Mutex<SessionStore>,
    pub(crate) config: SimConfig,
    pub(crate) faults: FaultControl,
    pub(crate) openapi: Bytes,
    /// Bumped whenever the state is written (under the write lock).
    pub(crate) version: AtomicU64,
    /// Encoded whole collections, each with the state version it was encoded from.
    pub(crate) bodies: Mutex<HashMap<Kind, (u64, Bytes)>>,
}

/// The session a request was authenticated with ("" for Basic auth).
#[derive(Clone)]
struct SessionId(String);

/// Error returned to hyper to close a connection without answering (fault injection).
#[derive(Debug)]
struct DroppedConnection;

impl std::fmt::Display for DroppedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DroppedConnection {}

const INTERNAL_ERROR: &str = "An internal error occurred";

fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response {
    let mut resp = Response::new(Body::from(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn error_json(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        serde_json::to_vec(&json!({ "error": message })).unwrap_or_default(),
    )
}

fn ser<T: Serialize + ?Sized>(value: &T) -> Response {
    body_response(serde_json::to_vec(value).ok())
}

/// 200 with an encoded body, or the generic 500 when encoding failed.
fn body_response(body: Option<Vec<u8>>) -> Response {
    match body {
        Some(body) => json_response(StatusCode::OK, body),
        None => error_json(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Validation(text) => {
                let mut resp = Response::new(Body::from(text));
                *resp.status_mut() = StatusCode::BAD_REQUEST;
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                resp
            }
            ApiError::BadRequest(message) => error_json(StatusCode::BAD_REQUEST, &message),
            ApiError::Internal => error_json(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR),
        }
    }
}

fn task_response(result: Result<TaskResult, ApiError>) -> Response {
    match result {
        Ok(r) => ser(&json!({ "taskTag": r.task_tag, "createdUUID": r.created_uuid })),
        Err(e) => e.into_response(),
    }
}

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("request body is not valid JSON: {e}")))
}

fn parse_object(body: &Bytes) -> Result<serde_json::Map<String, Value>, ApiError> {
    match parse_body(body)? {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::Validation(
            "Request has one or more errors\n  In body\n    Expected an object".into(),
        )),
    }
}

// ----- authentication ------------------------------------------------------------------

fn cookie_session(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == "sessionID")
        .map(|(_, v)| v.to_owned())
}

fn basic_ok(headers: &HeaderMap, config: &SimConfig) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(encoded) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Ok(text) = String::from_utf8(decoded) else {
        return false;
    };
    match text.split_once(':') {
        Some((user, pass)) => credentials_match(config, user, pass),
        None => false,
    }
}

fn credentials_match(config: &SimConfig, user: &str, pass: &str) -> bool {
    // Compare every byte so the answer time does not depend on where they differ.
    fn same(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
    let u = same(user.as_bytes(), config.username.as_bytes());
    let p = same(pass.as_bytes(), config.password.as_bytes());
    u & p
}

async fn require_session(State(sh): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let now = Instant::now();
    if let Some(id) = cookie_session(req.headers()) {
        let ttl = sh.faults.get().session_ttl_ms.map(Duration::from_millis);
        if sh.sessions.lock().check(&id, now, ttl) == SessionCheck::Valid {
            req.extensions_mut().insert(SessionId(id));
            return next.run(req).await;
        }
    }
    if basic_ok(req.headers(), &sh.config) {
        req.extensions_mut().insert(SessionId(String::new()));
        return next.run(req).await;
    }
    let status =
        StatusCode::from_u16(sh.config.session_error_status).unwrap_or(StatusCode::UNAUTHORIZED);
    error_json(status, "expired session or no session passed")
}

async fn login(State(sh): State<Arc<Shared>>, body: Bytes) -> Response {
    let body = match parse_object(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let (Some(Value::String(user)), Some(Value::String(pass))) =
        (body.get("username"), body.get("password"))
    else {
        return ApiError::Validation(
            "Request has one or more errors\n  In body\n    Missing required property: username, password (strings)".into(),
        )
        .into_response();
    };
    if body.get("useOIDC").and_then(Value::as_bool) == Some(true) {
        return error_json(
            StatusCode::UNAUTHORIZED,
            "OIDC is not configured on this cluster",
        );
    }
    if !credentials_match(&sh.config, user, pass) {
        return error_json(StatusCode::UNAUTHORIZED, "Invalid username or password");
    }
    let id = {
        let bytes: [u8; 16] = rand::rng().random();
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    };
    sh.sessions.lock().add(id.clone(), Instant::now());
    let mut resp = ser(&json!({ "sessionID": id }));
    if let Ok(cookie) = HeaderValue::from_str(&format!("sessionID={id}; Path=/")) {
        resp.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    resp
}

async fn logout(
    State(sh): State<Arc<Shared>>,
    Extension(session): Extension<SessionId>,
) -> Response {
    if !session.0.is_empty() {
        sh.sessions.lock().remove(&session.0);
    }
    StatusCode::OK.into_response()
}

async fn ping() -> Response {
    ser(&json!({ "status": "Active" }))
}

async fn openapi(State(sh): State<Arc<Shared>>) -> Response {
    json_response(StatusCode::OK, sh.openapi.to_vec())
}

// ----- reads ---------------------------------------------------------------------------

/// The collections served by GET.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Cluster,
    Node,
    VirDomain,
    VirDomainStats,
    VirDomainSnapshot,
    VirDomainBlockDevice,
    VirDomainNetDevice,
    Condition,
    Drive,
    VirtualDisk,
    Iso,
    User,
    Role,
    TaskTag,
    SnapshotSchedule,
    /// A collection served verbatim from `ClusterState::settings`.
    Settings(&'static str),
}

fn filtered<'a, T: Serialize + 'a>(
    items: impl Iterator<Item = &'a T>,
    id: Option<&str>,
    key: impl Fn(&T) -> &str,
) -> Option<Vec<u8>> {
    let picked: Vec<&T> = items.filter(|x| id.is_none_or(|id| key(x) == id)).collect();
    serde_json::to_vec(&picked).ok()
}

/// A read lock on the state after applying whatever fell due by `now` (readers run in parallel;
/// the write lock is taken only when a task or timer is due).
pub(crate) fn read_state(sh: &Shared, now: Instant) -> RwLockReadGuard<'_, SimState> {
    let guard = sh.state.read();
    if !guard.is_due(now) {
        return guard;
    }
    drop(guard);
    let mut write = sh.state.write();
    write.advance(now);
    sh.version.fetch_add(1, Ordering::AcqRel);
    RwLockWriteGuard::downgrade(write)
}

/// The write lock on the state after applying whatever fell due by `now`.
fn write_state(sh: &Shared, now: Instant) -> RwLockWriteGuard<'_, SimState> {
    let mut write = sh.state.write();
    write.advance(now);
    sh.version.fetch_add(1, Ordering::AcqRel);
    write
}

fn read(sh: &Shared, kind: Kind, id: Option<&str>) -> Response {
    let now = Instant::now();
    let state = read_state(sh, now);
    // A whole collection that does not depend on the clock is encoded once per state version:
    // a fleet of simulators polled by many workers then costs next to nothing to serve.
    let cacheable = id.is_none() && !matches!(kind, Kind::TaskTag | Kind::VirDomainStats);
    if !cacheable {
        return body_response(encode(&state, kind, id, now));
    }
    let version = sh.version.load(Ordering::Acquire);
    if let Some((v, body)) = sh.bodies.lock().get(&kind)
        && *v == version
    {
        return json_response(StatusCode::OK, body.clone());
    }
    let Some(body) = encode(&state, kind, None, now).map(Bytes::from) else {
        return body_response(None);
    };
    drop(state);
    sh.bodies.lock().insert(kind, (version, body.clone()));
    json_response(StatusCode::OK, body)
}

/// The JSON of a GET on `kind` (one record when `id` is given), None if encoding failed.
fn encode(state: &SimState, kind: Kind, id: Option<&str>, now: Instant) -> Option<Vec<u8>> {
    let c = &state.cluster;
    match kind {
        Kind::Cluster => filtered(std::iter::once(&c.cluster), id, |x| &x.uuid),
        Kind::Node => filtered(c.nodes.iter(), id, |x| &x.uuid),
        Kind::VirDomain => filtered(c.vms.iter(), id, |x| &x.uuid),
        Kind::VirDomainStats => {
            let stats: Vec<VirDomainStats> = c
                .stats
                .iter()
                .filter(|s| id.is_none_or(|id| s.uuid == id))
                .map(|s| {
                    live_stats(
                        s,
                        c.vms
                            .iter()
                            .find(|v| v.uuid == s.uuid)
                            .map(|v| v.state.as_str()),
                    )
                })
                .collect();
            serde_json::to_vec(&stats).ok()
        }
        Kind::VirDomainSnapshot => filtered(c.snapshots.iter(), id, |x| &x.uuid),
        Kind::VirDomainBlockDevice => {
            filtered(c.vms.iter().flat_map(|v| v.block_devs.iter()), id, |x| {
                &x.uuid
            })
        }
        Kind::VirDomainNetDevice => {
            filtered(c.vms.iter().flat_map(|v| v.net_devs.iter()), id, |x| {
                &x.uuid
            })
        }
        Kind::Condition => filtered(c.conditions.iter(), id, |x| &x.name),
        Kind::Drive => filtered(c.nodes.iter().flat_map(|n| n.drives.iter()), id, |x| {
            &x.uuid
        }),
        Kind::VirtualDisk => filtered(c.virtual_disks.iter(), id, |x| &x.uuid),
        Kind::Iso => {
            let isos: Vec<Iso> = c
                .isos
                .iter()
                .filter(|i| id.is_none_or(|id| i.uuid == id))
                .map(|i| {
                    let mut iso = i.clone();
                    iso.mounts = c
                        .vms
                        .iter()
                        .filter(|v| {
                            v.block_devs
                                .iter()
                                .any(|d| d.kind == "IDE_CDROM" && d.path == i.path)
                        })
                        .map(|v| IsoMount {
                            vm_uuid: v.uuid.clone(),
                            vm_name: v.name.clone(),
                        })
                        .collect();
                    iso
                })
                .collect();
            serde_json::to_vec(&isos).ok()
        }
        Kind::User => filtered(c.users.iter(), id, |x| &x.uuid),
        Kind::Role => filtered(c.roles.iter(), id, |x| &x.uuid),
        Kind::SnapshotSchedule => filtered(c.schedules.iter(), id, |x| &x.uuid),
        Kind::Settings(name) => filtered(
            c.settings.get(name).into_iter().flatten(),
            id,
            |x: &Value| x["uuid"].as_str().unwrap_or_default(),
        ),
        Kind::TaskTag => match id {
            Some(tag) => serde_json::to_vec(&state.task_get(tag, now)).ok(),
            None => serde_json::to_vec(&state.task_list(now)).ok(),
        },
    }
}

/// Stats as served: a VM that is not running uses no CPU, network or disk.
fn live_stats(stats: &VirDomainStats, vm_state: Option<&str>) -> VirDomainStats {
    let mut s = stats.clone();
    if vm_state != Some("RUNNING") {
        s.cpu_usage = 0.0;
        s.rx_bit_rate = 0;
        s.tx_bit_rate = 0;
        for v in &mut s.vsd_stats {
            for r in &mut v.rates {
                r.millireads_per_second = 0;
                r.milliwrites_per_second = 0;
                r.read_kibibytes_per_second = 0;
                r.write_kibibytes_per_second = 0;
            }
        }
    }
    s
}

async fn condition_filter(
    State(sh): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let flag = |k: &str| q.get(k).is_some_and(|v| v == "true" || v == "1");
    let (include_set, include_not_ok) = (flag("includeSet"), flag("includeNotOK"));
    let state = read_state(&sh, Instant::now());
    let list: Vec<_> = state
        .cluster
        .conditions
        .iter()
        .filter(|c| {
            (!include_set && !include_not_ok)
                || (include_set && c.value)
                || (include_not_ok && !c.is_ok)
        })
        .collect();
    ser(&list)
}

// ----- mutations -----------------------------------------------------------------------

async fn vm_action(
    State(sh): State<Arc<Shared>>,
    Extension(session): Extension<SessionId>,
    body: Bytes,
) -> Response {
    let actions = match parse_actions(&body) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let ignore_acpi = sh.faults.get().ignore_acpi;
    let now = Instant::now();
    let mut state = write_state(&sh, now);
    task_response(state.vm_actions(actions, &session.0, now, ignore_acpi))
}

fn parse_actions(body: &Bytes) -> Result<Vec<VmAction>, ApiError> {
    let invalid = |detail: &str| {
        ApiError::Validation(format!(
            "Request has one or more errors\n  In body\n    {detail}"
        ))
    };
    let Value::Array(items) = parse_body(body)? else {
        return Err(invalid("Expected an array of VirDomainActionDescription"));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(obj) = item else {
            return Err(invalid(&format!("At index {i}: expected an object")));
        };
        let vm = match obj.get("virDomainUUID") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(invalid(&format!(
                    "At index {i}: missing required property: virDomainUUID (string)"
                )));
            }
        };
        let action = match obj.get("actionType") {
            Some(Value::String(s))
                if [
                    "START",
                    "SHUTDOWN",
                    "STOP",
                    "PAUSE",
                    "REBOOT",
                    "RESET",
                    "LIVEMIGRATE",
                    "NMI",
                ]
                .contains(&s.as_str()) =>
            {
                s.clone()
            }
            _ => {
                return Err(invalid(&format!(
                    "At index {i}: actionType must be one of START, SHUTDOWN, STOP, PAUSE, REBOOT, RESET, LIVEMIGRATE, NMI"
                )));
            }
        };
        let node = match obj.get("nodeUUID") {
            None => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(invalid(&format!("At index {i}: nodeUUID must be a string"))),
        };
        if obj.get("cause").is_some_and(|c| !c.is_string()) {
            return Err(invalid(&format!("At index {i}: cause must be a string")));
        }
        out.push(VmAction { vm, action, node });
    }
    Ok(out)
}

async fn snapshot_create(
    State(sh): State<Arc<Shared>>,
    Extension(session): Extension<SessionId>,
    body: Bytes,
) -> Response {
    let body = match parse_object(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let now = Instant::now();
    let mut state = write_state(&sh, now);
    task_response(state.snapshot_create(&body, &session.0, now))
}

async fn snapshot_delete(
    State(sh): State<Arc<Shared>>,
    Extension(session): Extension<SessionId>,
    Path(uuid): Path<String>,
) -> Response {
    let now = Instant::now();
    let mut state = write_state(&sh, now);
    task_response(state.snapshot_delete(&uuid, &session.0, now))
}

/// A mutation of one VM whose body must be a JSON object: parse, then apply under the write lock.
type VmMutation = fn(
    &mut SimState,
    &str,
    &serde_json::Map<String, Value>,
    &str,
    Instant,
) -> Result<TaskResult, ApiError>;

fn vm_object_mutation(
    sh: &Shared,
    session: &SessionId,
    uuid: &str,
    body: &Bytes,
    apply: VmMutation,
) -> Response {
    let body = match parse_object(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let now = Instant::now();
    let mut state = write_state(sh, now);
    task_response(apply(&mut state, uuid, &body, &session.0, now))
}

async fn vm_clone(
    State(sh): State<Arc<Shared>>,
    Extension(session): Extension<SessionId>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> Response {
    vm_object_mutation(&sh, &session, &uuid, &body, SimState::vm_clone)
}

async fn vm_export(
    State(sh): State<Arc<Shared>>,
    Extension(session): Extension<SessionId>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> Response {
    vm_object_mutation(&sh, &session, &uuid, &body, SimState::vm_export)
}

async fn vm_patch(
    State(sh): State<Arc<Shared>>,
    Extension(session): Extension<SessionId>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> Response {
    vm_object_mutation(&sh, &session, &uuid, &body, SimState::vm_patch)
}

// ----- out-of-band control -------------------------------------------------------------

async fn sim_truth(State(sh): State<Arc<Shared>>) -> Response {
    ser(&truth_of(&sh))
}

pub(crate) fn truth_of(sh: &Shared) -> Value {
    read_state(sh, Instant::now()).cluster.truth()
}

async fn sim_faults_get(State(sh): State<Arc<Shared>>) -> Response {
    ser(&sh.faults.get())
}

async fn sim_faults_put(State(sh): State<Arc<Shared>>, body: Bytes) -> Response {
    let faults: Faults = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => {
            return error_json(
                StatusCode::BAD_REQUEST,
                &format!("body is not a valid Faults object: {e}"),
            );
        }
    };
    if let Err(e) = faults.validate() {
        return error_json(StatusCode::BAD_REQUEST, &e);
    }
    sh.faults.set(faults.clone());
    ser(&faults)
}

async fn not_found() -> Response {
    error_json(StatusCode::NOT_FOUND, "no such route")
}

// ----- router and connections ----------------------------------------------------------

macro_rules! read_routes {
    ($router:expr, $( $path:literal => $kind:expr ),* $(,)?) => {{
        let mut r = $router;
        $(
            r = r
                .route($path, get(|State(sh): State<Arc<Shared>>| async move { read(&sh, $kind, None) }))
                .route(
                    concat!($path, "/{id}"),
                    get(|State(sh): State<Arc<Shared>>, Path(id): Path<String>| async move {
                        read(&sh, $kind, Some(&id))
                    }),
                );
        )*
        r
    }};
}

/// Builds the complete router (REST API, control routes, 404 fallback).
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let protected: Router<Arc<Shared>> =
        Router::new()
            .route("/logout", post(logout))
            .route("/Condition/filter", get(condition_filter))
            .route(
                "/VirDomain/action",
                // A GET treats "action" as a VM uuid, like the real cluster: no such VM, `[]`.
                post(vm_action).get(|State(sh): State<Arc<Shared>>| async move {
                    read(&sh, Kind::VirDomain, Some("action"))
                }),
            )
            .route(
                "/VirDomain/{uuid}",
                get(
                    |State(sh): State<Arc<Shared>>, Path(id): Path<String>| async move {
                        read(&sh, Kind::VirDomain, Some(&id))
                    },
                )
                .patch(vm_patch),
            )
            .route("/VirDomain/{uuid}/clone", post(vm_clone))
            .route("/VirDomain/{uuid}/export", post(vm_export))
            .route(
                "/VirDomainSnapshot",
                get(|State(sh): State<Arc<Shared>>| async move {
                    read(&sh, Kind::VirDomainSnapshot, None)
                })
                .post(snapshot_create),
            )
            .route(
                "/VirDomainSnapshot/{uuid}",
                get(
                    |State(sh): State<Arc<Shared>>, Path(id): Path<String>| async move {
                        read(&sh, Kind::VirDomainSnapshot, Some(&id))
                    },
                )
                .delete(snapshot_delete),
            )
            .route(
                "/VirDomain",
                get(
                    |State(sh): State<Arc<Shared>>| async move { read(&sh, Kind::VirDomain, None) },
                ),
            );
    let protected = read_routes!(protected,
        "/Cluster" => Kind::Cluster,
        "/Node" => Kind::Node,
        "/VirDomainStats" => Kind::VirDomainStats,
        "/VirDomainBlockDevice" => Kind::VirDomainBlockDevice,
        "/VirDomainNetDevice" => Kind::VirDomainNetDevice,
        "/Condition" => Kind::Condition,
        "/Drive" => Kind::Drive,
        "/VirtualDisk" => Kind::VirtualDisk,
        "/ISO" => Kind::Iso,
        "/User" => Kind::User,
        "/Role" => Kind::Role,
        "/TaskTag" => Kind::TaskTag,
        "/VirDomainSnapshotSchedule" => Kind::SnapshotSchedule,
        "/DNSConfig" => Kind::Settings("DNSConfig"),
        "/TimeSource" => Kind::Settings("TimeSource"),
        "/TimeZone" => Kind::Settings("TimeZone"),
        "/AlertSMTPConfig" => Kind::Settings("AlertSMTPConfig"),
        "/AlertEmailTarget" => Kind::Settings("AlertEmailTarget"),
        "/AlertSyslogTarget" => Kind::Settings("AlertSyslogTarget"),
        "/NucleusKey" => Kind::Settings("NucleusKey"),
        "/GPU" => Kind::Settings("GPU"),
        "/Update" => Kind::Settings("Update"),
        "/MonitoringConfig" => Kind::Settings("MonitoringConfig"),
        "/OIDCConfig" => Kind::Settings("OIDCConfig"),
        "/Registration" => Kind::Settings("Registration"),
        "/RemoteClusterConnection" => Kind::Settings("RemoteClusterConnection"),
        "/VirDomainReplication" => Kind::Settings("VirDomainReplication"),
    )
    .route_layer(middleware::from_fn_with_state(
        shared.clone(),
        require_session,
    ));
    let rest = Router::new()
        .route("/login", post(login))
        .route("/ping", get(ping))
        .route("/openapi.json", get(openapi))
        .merge(protected);
    Router::new()
        .nest("/rest/v1", rest)
        .route("/_sim/truth", get(sim_truth))
        .route("/_sim/faults", get(sim_faults_get).put(sim_faults_put))
        .fallback(not_found)
        .with_state(shared)
}

fn roll(rng: &mut impl Rng, p: f64) -> bool {
    p > 0.0 && rng.random::<f64>() < p
}

/// Applies the injected faults to one `/rest/v1` request, then hands it to the router.
async fn serve_request(
    sh: Arc<Shared>,
    router: Router,
    peer: std::net::SocketAddr,
    req: hyper::Request<Incoming>,
) -> Result<Response, DroppedConnection> {
    if req.uri().path().starts_with("/_sim") && !peer.ip().is_loopback() {
        return Ok(error_json(
            StatusCode::FORBIDDEN,
            "the /_sim control routes answer loopback clients only",
        ));
    }
    if req.uri().path().starts_with("/rest/") {
        let f = sh.faults.get();
        let (drop, delay, fail) = {
            let mut rng = rand::rng();
            let drop = f.down || roll(&mut rng, f.drop_connections_rate);
            let jitter = if f.jitter_ms > 0 {
                rng.random_range(0..=f.jitter_ms)
            } else {
                0
            };
            let fail = roll(&mut rng, f.error_rate).then(|| rng.random_bool(0.5));
            (drop, f.latency_ms + jitter, fail)
        };
        if drop {
            return Err(DroppedConnection);
        }
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        match fail {
            Some(true) => {
                return Ok(error_json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service temporarily unavailable",
                ));
            }
            Some(false) => {
                return Ok(error_json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    INTERNAL_ERROR,
                ));
            }
            None => {}
        }
    }
    let resp: Result<Response, Infallible> = router.oneshot(req.map(Body::new)).await;
    match resp {
        Ok(r) => Ok(r),
        Err(never) => match never {},
    }
}

/// Accepts connections until `stop` fires, serving each with HTTP/1.1 (over TLS if given).
pub(crate) async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let router = router(shared.clone());
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "simulator accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (sh, router, tls) = (shared.clone(), router.clone(), tls.clone());
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        serve_request(sh.clone(), router.clone(), peer, req)
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = http.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}
