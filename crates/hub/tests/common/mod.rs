//! Test support: a small fake HyperFed worker (real MCP over streamable HTTP on loopback, real
//! join/heartbeat protocol, verifies the hub's call tokens) and an MCP client that records
//! `list_changed` and progress notifications.
#![allow(dead_code)]

pub mod liar;
pub mod sims;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyperfed_protocol::{CallClaims, JoinRequest, JoinResponse, Secret};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities,
    ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::{NotificationContext, RequestContext, RoleClient, RoleServer, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{
    StreamableHttpClientTransport, StreamableHttpServerConfig, StreamableHttpService,
};
use rmcp::{ClientHandler, ErrorData, ServerHandler, ServiceExt};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const SECRET: &str = "test-shared-secret-0123456789";

/// One simulated VM.
#[derive(Clone, Debug)]
pub struct Vm {
    pub uuid: String,
    pub name: String,
    pub state: String,
    pub tags: Vec<String>,
}

/// A fake cluster's ground truth.
pub struct FakeCluster {
    pub uuid: String,
    pub name: String,
    pub version: String,
    pub nodes_total: u64,
    pub nodes_online: u64,
    pub used_bytes: u64,
    pub total_bytes: u64,
    pub conditions: Vec<(String, String)>,
    pub vms: Mutex<Vec<Vm>>,
    pub latency_ms: AtomicU64,
    pub rejected_auth: AtomicUsize,
    pub calls: AtomicUsize,
    pub extra_tools: Mutex<Vec<String>>,
    pub peers: Mutex<Vec<rmcp::service::Peer<RoleServer>>>,
    pub cancelled: AtomicUsize,
    /// Also offer `api_request` (raw API, writes allowed: destructive).
    pub raw_api: AtomicBool,
}

impl FakeCluster {
    /// An "archetype": `edge` (small), `datacenter` (big), `dr` (mostly stopped).
    pub fn archetype(kind: &str, index: u32) -> FakeCluster {
        let (nodes, vms, version) = match kind {
            "edge" => (1, 3, "9.2.27"),
            "datacenter" => (6, 12, "9.4.30"),
            _ => (3, 6, "9.3.11"),
        };
        let vms = (0..vms)
            .map(|i| Vm {
                uuid: format!("{kind}{index}-vm-{i:04}-uuid"),
                name: if i == 0 {
                    "shared-name".to_owned()
                } else {
                    format!("{kind}{index}-vm{i}")
                },
                state: if kind == "dr" && i % 3 != 0 || i % 4 == 3 {
                    "SHUTOFF".into()
                } else {
                    "RUNNING".into()
                },
                tags: if i % 2 == 0 {
                    vec!["prod".into()]
                } else {
                    vec![]
                },
            })
            .collect();
        FakeCluster {
            uuid: format!("{kind}-{index}-cluster-uuid"),
            name: format!("{} Site {index}", kind.to_uppercase()),
            version: version.into(),
            nodes_total: nodes,
            nodes_online: nodes - u64::from(kind == "datacenter"),
            used_bytes: 1_000 * nodes,
            total_bytes: 10_000 * nodes,
            conditions: vec![
                ("WARNING".into(), format!("{kind} disk nearly full")),
                ("ERROR".into(), format!("{kind} node unreachable")),
            ]
            .into_iter()
            .take(if kind == "edge" { 1 } else { 2 })
            .collect(),
            vms: Mutex::new(vms),
            latency_ms: AtomicU64::new(0),
            rejected_auth: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
            extra_tools: Mutex::new(Vec::new()),
            peers: Mutex::new(Vec::new()),
            cancelled: AtomicUsize::new(0),
            raw_api: AtomicBool::new(false),
        }
    }

    /// Adds tools and tells connected sessions (the hub) the list changed.
    pub async fn set_extra_tools(&self, names: &[&str]) {
        *self.extra_tools.lock().unwrap() = names.iter().map(|s| s.to_string()).collect();
        let peers = self.peers.lock().unwrap().clone();
        for p in peers {
            let _ = p.notify_tool_list_changed().await;
        }
    }

    pub fn vms(&self) -> Vec<Vm> {
        self.vms.lock().unwrap().clone()
    }

    /// What `cluster_info` reports (the simulator's truth).
    pub fn info(&self) -> Value {
        let vms = self.vms();
        let running = vms.iter().filter(|v| v.state == "RUNNING").count();
        let mut sev = serde_json::Map::new();
        for (s, _) in &self.conditions {
            let n = sev.get(s).and_then(Value::as_u64).unwrap_or(0);
            sev.insert(s.clone(), json!(n + 1));
        }
        json!({
            "cluster": {"uuid": self.uuid, "name": self.name, "icos_version": self.version},
            "nodes": {"total": self.nodes_total, "online": self.nodes_online},
            "vms": {"total": vms.len(), "running": running},
            "storage": {"total_bytes": self.total_bytes, "used_bytes": self.used_bytes},
            "conditions": {"raised": self.conditions.len(), "by_severity": sev},
            "health": "ok",
        })
    }
}

fn schema(v: Value) -> Arc<serde_json::Map<String, Value>> {
    Arc::new(v.as_object().cloned().unwrap())
}

fn ann(read_only: bool, destructive: bool) -> ToolAnnotations {
    ToolAnnotations::from_raw(
        None,
        Some(read_only),
        Some(destructive),
        Some(false),
        Some(true),
    )
}

/// The fake worker's tools (a subset of the real catalog).
pub fn fake_tools(extra: &[String]) -> Vec<Tool> {
    let vm_schema = json!({"type": "object", "properties": {
        "vm": {"type": "string"}, "wait": {"type": "boolean"}, "confirm_token": {"type": "string"}
    }, "required": ["vm"]});
    let mut tools = vec![
        Tool::new(
            "cluster_info",
            "Cluster summary.",
            schema(json!({"type": "object", "properties": {}})),
        )
        .with_title("Cluster info")
        .with_annotations(ann(true, false)),
        Tool::new(
            "vm_list",
            "List VMs.",
            schema(json!({"type": "object", "properties": {
            "state": {"type": "string"}, "name": {"type": "string"}, "tag": {"type": "string"}}})),
        )
        .with_annotations(ann(true, false)),
        Tool::new(
            "condition_list",
            "Raised conditions.",
            schema(json!({"type": "object", "properties": {}})),
        )
        .with_annotations(ann(true, false)),
        Tool::new("vm_start", "Start a VM.", schema(vm_schema.clone()))
            .with_annotations(ann(false, false)),
        Tool::new(
            "vm_stop",
            "Power a VM off (destructive).",
            schema(vm_schema.clone()),
        )
        .with_annotations(ann(false, true)),
        Tool::new(
            "vm_clone",
            "Clone a VM (slow).",
            schema(json!({"type": "object", "properties": {
            "vm": {"type": "string"}, "name": {"type": "string"}}, "required": ["vm"]})),
        )
        .with_annotations(ann(false, false)),
        Tool::new(
            "vm_export",
            "Export a VM to an SMB share.",
            schema(json!({"type": "object", "properties": {
            "vm": {"type": "string"}, "target": {"type": "string"}}, "required": ["vm"]})),
        )
        .with_annotations(ann(false, false)),
        // Refused by the hub: a dot in the name.
        Tool::new(
            "bad.name",
            "Invalid name.",
            schema(json!({"type": "object"})),
        ),
    ];
    for name in extra {
        tools.push(
            Tool::new(
                name.clone(),
                "Extra tool.",
                schema(json!({"type": "object", "properties": {}})),
            )
            .with_annotations(ann(true, false)),
        );
    }
    tools
}

#[derive(Clone)]
struct FakeHandler {
    cluster: Arc<FakeCluster>,
}

fn ok(v: Value) -> Result<CallToolResponse, ErrorData> {
    Ok(CallToolResult::structured(v).into())
}

impl FakeHandler {
    fn find(&self, vm: &str) -> Option<usize> {
        self.cluster
            .vms
            .lock()
            .unwrap()
            .iter()
            .position(|v| v.uuid == vm || v.name == vm)
    }
}

impl ServerHandler for FakeHandler {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        );
        info.server_info = Implementation::new("fake-worker", "0");
        info
    }

    async fn on_initialized(&self, ctx: NotificationContext<RoleServer>) {
        self.cluster.peers.lock().unwrap().push(ctx.peer.clone());
    }

    async fn list_tools(
        &self,
        _r: Option<PaginatedRequestParams>,
        _c: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let extra = self.cluster.extra_tools.lock().unwrap().clone();
        let mut tools = fake_tools(&extra);
        if self.cluster.raw_api.load(Ordering::SeqCst) {
            tools.push(
                Tool::new(
                    "api_request",
                    "Raw HyperCore API request.",
                    schema(json!({"type": "object", "properties": {
                    "method": {"type": "string"}, "path": {"type": "string"}}, "required": ["path"]})),
                )
                .with_annotations(ann(false, true)),
            );
        }
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        req: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.cluster.calls.fetch_add(1, Ordering::SeqCst);
        let latency = self.cluster.latency_ms.load(Ordering::SeqCst);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        let args = req.arguments.clone().unwrap_or_default();
        let arg = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_owned);
        match req.name.as_ref() {
            "cluster_info" => ok(self.cluster.info()),
            "vm_list" => {
                let vms: Vec<Value> = self
                    .cluster
                    .vms()
                    .into_iter()
                    .filter(|v| arg("state").is_none_or(|s| v.state == s))
                    .filter(|v| arg("name").is_none_or(|s| v.name == s))
                    .filter(|v| arg("tag").is_none_or(|s| v.tags.contains(&s)))
                    .map(|v| json!({"uuid": v.uuid, "name": v.name, "state": v.state, "node_uuid": "n1", "tags": v.tags}))
                    .collect();
                ok(json!({"count": vms.len(), "vms": vms}))
            }
            "condition_list" => {
                let c: Vec<Value> = self
                    .cluster
                    .conditions
                    .iter()
                    .map(|(s, d)| json!({"severity": s, "description": d}))
                    .collect();
                ok(json!({"count": c.len(), "conditions": c}))
            }
            "vm_start" | "vm_stop" => {
                let vm = arg("vm").unwrap_or_default();
                let Some(i) = self.find(&vm) else {
                    return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                        "no VM '{vm}'"
                    ))])
                    .into());
                };
                if req.name == "vm_stop" && arg("confirm_token").as_deref() != Some("confirm-stop")
                {
                    return ok(
                        json!({"confirmation_required": true, "confirm_token": "confirm-stop",
                        "preview": format!("stop {vm}")}),
                    );
                }
                let state = if req.name == "vm_start" {
                    "RUNNING"
                } else {
                    "SHUTOFF"
                };
                self.cluster.vms.lock().unwrap()[i].state = state.into();
                ok(json!({"task_tag": "42", "state": "COMPLETE", "vm": vm}))
            }
            "vm_clone" => {
                // Long-running: reports its task like the real worker, then only ends when
                // the caller cancels (or after a minute).
                if let Some(token) = ctx.meta.get_progress_token() {
                    let p = ProgressNotificationParam::new(token, 5.0)
                        .with_total(100.0)
                        .with_message("task 555 RUNNING 5%".to_owned());
                    let _ = ctx.peer.notify_progress(p).await;
                }
                tokio::select! {
                    _ = ctx.ct.cancelled() => {
                        self.cluster.cancelled.fetch_add(1, Ordering::SeqCst);
                        ok(json!({"cancelled": true}))
                    }
                    _ = tokio::time::sleep(Duration::from_secs(60)) => ok(json!({"task_tag": "99"})),
                }
            }
            "vm_export" => {
                if let Some(token) = ctx.meta.get_progress_token() {
                    for p in [1.0, 2.0] {
                        let _ = ctx
                            .peer
                            .notify_progress(
                                ProgressNotificationParam::new(token.clone(), p).with_total(2.0),
                            )
                            .await;
                    }
                }
                ok(json!({"task_tag": "77", "state": "COMPLETE"}))
            }
            "api_request" => ok(json!({
                "status": 200,
                "method": arg("method").unwrap_or_else(|| "GET".into()),
                "path": arg("path"),
                "body": {}
            })),
            other => Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                "unknown tool {other}"
            ))])
            .into()),
        }
    }
}

async fn check_call_token(
    State(cluster): State<Arc<FakeCluster>>,
    req: Request,
    next: Next,
) -> Response {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::to_owned);
    let valid = token
        .as_deref()
        .is_some_and(|t| CallClaims::verify(&Secret::new(SECRET), &cluster.uuid, t).is_ok());
    if !valid {
        cluster.rejected_auth.fetch_add(1, Ordering::SeqCst);
        return (http::StatusCode::UNAUTHORIZED, "bad hub call token").into_response();
    }
    next.run(req).await
}

/// A running fake worker joined (or joining) to a hub.
pub struct FakeWorker {
    pub cluster: Arc<FakeCluster>,
    pub url: String,
    pub alias: Arc<Mutex<Option<String>>>,
    pub joins: Arc<AtomicUsize>,
    token: Arc<Mutex<Option<String>>>,
    hub_base: String,
    stop: CancellationToken,
    paused: Arc<AtomicBool>,
    server: tokio::task::JoinHandle<()>,
    joiner: tokio::task::JoinHandle<()>,
}

impl FakeWorker {
    /// Serves `cluster` on loopback and keeps it joined to the hub at `hub_base`.
    pub async fn start(cluster: FakeCluster, hub_base: &str, name: Option<&str>) -> FakeWorker {
        Self::start_with(cluster, hub_base, name, None).await
    }

    /// Like `start`, but serving HTTPS with `tls` (URL host `localhost`).
    pub async fn start_with(
        cluster: FakeCluster,
        hub_base: &str,
        name: Option<&str>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> FakeWorker {
        let cluster = Arc::new(cluster);
        let stop = CancellationToken::new();
        let handler = FakeHandler {
            cluster: cluster.clone(),
        };
        let config =
            StreamableHttpServerConfig::default().with_cancellation_token(stop.child_token());
        let svc = StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(LocalSessionManager::default()),
            config,
        );
        let app = axum::Router::new().nest_service("/mcp", svc).layer(
            axum::middleware::from_fn_with_state(cluster.clone(), check_call_token),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let s = stop.clone();
        let https = tls.is_some();
        let server = match tls {
            Some(tls) => {
                let listener = TlsTestListener {
                    tcp: listener,
                    acceptor: tokio_rustls::TlsAcceptor::from(tls),
                };
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(s.cancelled_owned())
                        .await;
                })
            }
            None => {
                // Like the real worker: no Nagle delay on small SSE writes.
                let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(s.cancelled_owned())
                        .await;
                })
            }
        };
        let url = if https {
            format!("https://localhost:{}/mcp", addr.port())
        } else {
            format!("http://{addr}/mcp")
        };
        let alias = Arc::new(Mutex::new(None));
        let token = Arc::new(Mutex::new(None));
        let joins = Arc::new(AtomicUsize::new(0));
        let paused = Arc::new(AtomicBool::new(false));
        let joiner = tokio::spawn(join_loop(
            hub_base.to_owned(),
            name.map(str::to_owned),
            cluster.clone(),
            url.clone(),
            alias.clone(),
            token.clone(),
            joins.clone(),
            paused.clone(),
            stop.clone(),
        ));
        FakeWorker {
            cluster,
            url,
            alias,
            joins,
            token,
            hub_base: hub_base.to_owned(),
            stop,
            paused,
            server,
            joiner,
        }
    }

    /// Waits until the worker has joined `n` times in total.
    pub async fn wait_joins(&self, n: usize) -> String {
        for _ in 0..400 {
            if self.joins.load(Ordering::SeqCst) >= n
                && let Some(a) = self.alias.lock().unwrap().clone()
            {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("worker {} did not join {n} time(s)", self.cluster.name);
    }

    /// Stops heartbeats (the hub will mark the cluster down) without leaving.
    pub fn pause_heartbeats(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    /// Leaves the hub on purpose.
    pub async fn leave(&self) -> u16 {
        self.paused.store(true, Ordering::SeqCst);
        let token = self.token.lock().unwrap().clone().unwrap_or_default();
        reqwest::Client::new()
            .post(format!("{}/v1/leave", self.hub_base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Stops serving and heartbeating (a "killed" worker).
    pub async fn shutdown(self) {
        self.stop.cancel();
        self.joiner.abort();
        let _ = self.joiner.await;
        let mut server = self.server;
        if tokio::time::timeout(Duration::from_secs(3), &mut server)
            .await
            .is_err()
        {
            server.abort();
        }
    }
}

/// A minimal HTTPS listener for the fake worker (handshake inline; tests only).
struct TlsTestListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsTestListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, peer)) = self.tcp.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            if let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(5), self.acceptor.accept(tcp)).await
            {
                return (tls, peer);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A self-signed certificate for `localhost` and 127.0.0.1: (server config, PEM certificate,
/// PEM private key).
pub fn self_signed() -> (Arc<rustls::ServerConfig>, String, String) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert_pem = cert.cert.pem();
    let key_pem = cert.signing_key.serialize_pem();
    let der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        cert.signing_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![der], key)
    .unwrap();
    (Arc::new(config), cert_pem, key_pem)
}

#[allow(clippy::too_many_arguments)]
async fn join_loop(
    hub_base: String,
    name: Option<String>,
    cluster: Arc<FakeCluster>,
    url: String,
    alias: Arc<Mutex<Option<String>>>,
    token_slot: Arc<Mutex<Option<String>>>,
    joins: Arc<AtomicUsize>,
    paused: Arc<AtomicBool>,
    stop: CancellationToken,
) {
    let http = reqwest::Client::new();
    let secret = Secret::new(SECRET);
    let mut backoff = Duration::from_millis(50);
    loop {
        if stop.is_cancelled() {
            return;
        }
        if paused.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let req = JoinRequest::sign(
            &secret,
            name.as_deref().unwrap_or(""),
            &cluster.uuid,
            &cluster.name,
            &url,
        );
        let resp = http
            .post(format!("{hub_base}/v1/join"))
            .json(&req)
            .send()
            .await;
        let joined: Option<JoinResponse> = match resp {
            Ok(r) if r.status().is_success() => r.json().await.ok(),
            _ => None,
        };
        let Some(joined) = joined else {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(400));
            continue;
        };
        backoff = Duration::from_millis(50);
        *alias.lock().unwrap() = Some(joined.alias.clone());
        *token_slot.lock().unwrap() = Some(joined.worker_token.clone());
        joins.fetch_add(1, Ordering::SeqCst);
        let interval = Duration::from_millis(joined.heartbeat_interval_ms.max(10));
        loop {
            tokio::time::sleep(interval).await;
            if stop.is_cancelled() {
                return;
            }
            if paused.load(Ordering::SeqCst) {
                continue;
            }
            let token = token_slot.lock().unwrap().clone().unwrap_or_default();
            match http
                .post(format!("{hub_base}/v1/heartbeat"))
                .bearer_auth(token)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => {
                    if let Ok(v) = r.json::<Value>().await
                        && let Some(t) = v.get("worker_token").and_then(Value::as_str)
                    {
                        *token_slot.lock().unwrap() = Some(t.to_owned());
                    }
                }
                // 401 (forgotten) or hub unreachable: join again.
                _ => break,
            }
        }
    }
}

/// Notifications an MCP client of the hub has received.
#[derive(Clone, Default)]
pub struct Recorder {
    pub list_changed: Arc<AtomicUsize>,
    pub progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

impl ClientHandler for Recorder {
    async fn on_tool_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        self.list_changed.fetch_add(1, Ordering::SeqCst);
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }
}

/// Opens an MCP client session with the hub.
pub async fn client(
    mcp_url: &str,
    token: Option<&str>,
) -> (RunningService<RoleClient, Recorder>, Recorder) {
    let mut config = StreamableHttpClientTransportConfig::with_uri(mcp_url.to_owned());
    if let Some(t) = token {
        config = config.auth_header(t.to_owned());
    }
    let rec = Recorder::default();
    let svc = rec
        .clone()
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("MCP client connects to the hub");
    (svc, rec)
}

/// Calls a hub tool and returns its JSON (structured content) and error flag.
pub async fn call(
    client: &RunningService<RoleClient, Recorder>,
    name: &str,
    args: Value,
) -> (Value, bool) {
    let mut p = CallToolRequestParams::new(name.to_owned());
    if let Value::Object(m) = args {
        p = p.with_arguments(m);
    }
    let r = client.call_tool(p).await.expect("tools/call answers");
    let text = r
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n");
    let v = r.structured_content.clone().unwrap_or(Value::String(text));
    (v, r.is_error == Some(true))
}

/// Polls `f` until it is true (up to ~10 s).
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..400 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// A fresh directory under the system temp dir, removed by `TempDir::drop`.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "hyperfed-hub-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
