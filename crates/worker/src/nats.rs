//! The worker over NATS (issue #11): it dials out to NATS, serves its cluster's tools on its
//! alias's subjects (stateless 2026-07-28 JSON-RPC in, JSON-RPC out, through the same
//! `run_tool` as MCP) and keeps a signed registration alive in the fleet's KV bucket. Many
//! workers of one process share one connection ([`attach`] per cluster).

use std::sync::Arc;

use axum::body::Bytes;
use futures::future::BoxFuture;
use hyperfed_nats::{
    ClusterIdentity, Heartbeats, IncomingCall, NatsConnection, Registrar, RegistryConfig,
    ServeOptions, Serving, WorkerKeys, tools_hash,
};
use hyperfed_protocol::Secret;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::config::WorkerConfig;
use crate::error::WorkerError;
use crate::handler::run_tool;
use crate::progress::{ProgressReporter, ProgressSink};
use crate::state::WorkerState;

pub use hyperfed_nats::FleetName;

/// One cluster served over NATS; dropping it stops serving (call [`leave`](Self::leave) first
/// to tell the hubs at once).
pub struct NatsAttachment {
    alias: String,
    registrar: Arc<Registrar>,
    _heartbeats: Heartbeats,
    serving: Serving,
}

impl NatsAttachment {
    /// The alias this cluster is registered under.
    pub fn alias(&self) -> &str {
        &self.alias
    }

    /// Requests answered so far.
    pub fn answered(&self) -> u64 {
        self.serving.stats().answered()
    }

    /// Removes the registration (hubs hear `Left`) and stops serving.
    pub async fn leave(self) {
        if let Err(e) = self.registrar.leave().await {
            tracing::debug!(alias = %self.alias, error = %e, "leaving the fleet failed");
        }
    }
}

/// Serves `state`'s cluster as `alias` of `fleet` on `conn` and registers it (serve first, so
/// no hub sees the registration before the worker can answer).
pub async fn attach(
    conn: &NatsConnection,
    fleet: &FleetName,
    secret: &Secret,
    alias: &str,
    state: Arc<WorkerState>,
    registry: RegistryConfig,
) -> Result<NatsAttachment, WorkerError> {
    let nats_err = |e: &dyn std::fmt::Display| WorkerError::Transport(format!("NATS: {e}"));
    let keys = WorkerKeys::new(secret, fleet, alias).map_err(|e| nats_err(&e))?;
    let tools = state.catalog.tools();
    let tools_json = serde_json::to_vec(&json!({ "tools": &*tools }))
        .map_err(|e| WorkerError::Config(format!("cannot encode the tool list: {e}")))?;
    let hash = tools_hash(&tools_json);
    if let Ok(mut g) = state.alias.write() {
        *g = Some(alias.to_owned());
    }
    let id = state.identity();
    let handler = NatsHandler {
        state: state.clone(),
        tools_list: Bytes::from(tools_json),
    };
    let handler = Arc::new(handler);
    let serving = hyperfed_nats::serve(
        conn,
        &keys,
        move |call: IncomingCall| {
            let h = handler.clone();
            async move { h.handle(call).await }
        },
        ServeOptions::default(),
    )
    .await
    .map_err(|e| nats_err(&e))?;
    let identity = ClusterIdentity {
        cluster_uuid: id.uuid,
        cluster_name: id.name,
    };
    let registrar = Registrar::register(conn, &keys, identity, &hash, registry)
        .await
        .map_err(|e| nats_err(&e))?;
    let registrar = Arc::new(registrar);
    let heartbeats = registrar.spawn_heartbeats();
    tracing::info!(alias, fleet = %fleet, "serving the cluster over NATS");
    Ok(NatsAttachment {
        alias: alias.to_owned(),
        registrar,
        _heartbeats: heartbeats,
        serving,
    })
}

/// A worker with no listener (NATS only): its cluster connection and simulator.
pub struct HeadlessWorker {
    state: Arc<WorkerState>,
    sim: Option<hypercore_sim::SimHandle>,
    /// Stops the token-free metrics listener (`--metrics-listen`), when there is one.
    metrics_stop: tokio_util::sync::CancellationToken,
}

impl HeadlessWorker {
    /// Connects to the cluster (starting the simulator for a mock) without opening a port
    /// (except the loopback metrics listener, when `metrics_listen` asks for one).
    pub async fn start(config: &WorkerConfig) -> Result<Self, WorkerError> {
        let (state, sim) = crate::server::connect(config).await?;
        let metrics_stop = tokio_util::sync::CancellationToken::new();
        if let Some(addr) = config.metrics_listen {
            match hyperfed_http::metrics::bind(addr).await {
                Ok(listener) => {
                    let source = state.clone();
                    hyperfed_http::metrics::spawn(
                        listener,
                        Arc::new(move || source.metrics().render()),
                        metrics_stop.clone(),
                    );
                }
                Err(e) => {
                    if let Some(sim) = sim {
                        sim.shutdown().await;
                    }
                    return Err(WorkerError::Config(e));
                }
            }
        }
        Ok(HeadlessWorker {
            state,
            sim,
            metrics_stop,
        })
    }

    /// The shared state to [`attach`].
    pub fn state(&self) -> Arc<WorkerState> {
        self.state.clone()
    }

    /// The in-process simulator's REST base, for `--mock` workers.
    pub fn sim_url(&self) -> Option<String> {
        self.sim.as_ref().map(|s| s.base_url())
    }

    /// The in-process simulator, for `--mock` workers.
    pub fn sim(&self) -> Option<&hypercore_sim::SimHandle> {
        self.sim.as_ref()
    }

    /// Logs out of the cluster and stops the simulator.
    pub async fn shutdown(self) {
        self.metrics_stop.cancel();
        if let Err(e) = self.state.cluster.client().logout().await {
            tracing::debug!(error = %e, "logout from the cluster failed");
        }
        drop(self.state);
        if let Some(sim) = self.sim {
            sim.shutdown().await;
        }
    }
}

/// Answers one cluster's NATS requests.
struct NatsHandler {
    state: Arc<WorkerState>,
    /// The `tools/list` result, encoded once.
    tools_list: Bytes,
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    method: String,
    #[serde(default)]
    params: Option<CallParams>,
}

#[derive(Deserialize, Default)]
struct CallParams {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<Map<String, Value>>,
    #[serde(rename = "_meta", default)]
    meta: Option<Map<String, Value>>,
}

fn envelope(id: Option<&RawValue>, key: &str, value: &[u8]) -> Bytes {
    let id = id.map_or("null", RawValue::get);
    let mut out = Vec::with_capacity(48 + id.len() + value.len());
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(format!(r#","{key}":"#).as_bytes());
    out.extend_from_slice(value);
    out.push(b'}');
    Bytes::from(out)
}

fn rpc_error(id: Option<&RawValue>, code: i64, message: &str) -> Bytes {
    let err = json!({ "code": code, "message": message }).to_string();
    envelope(id, "error", err.as_bytes())
}

/// Progress of one NATS call, as `notifications/progress` JSON-RPC bodies.
struct NatsProgress {
    sink: hyperfed_nats::ProgressSink,
    token: Value,
}

impl ProgressSink for NatsProgress {
    fn send(&self, progress: f64, message: String) -> BoxFuture<'static, ()> {
        let body = json!({
            "jsonrpc": "2.0",
            "method": "notifications/progress",
            "params": {"progressToken": self.token, "progress": progress, "total": 100.0, "message": message}
        });
        let sink = self.sink.clone();
        Box::pin(async move {
            if let Ok(b) = serde_json::to_vec(&body) {
                sink.send(Bytes::from(b)).await;
            }
        })
    }
}

impl NatsHandler {
    async fn handle(&self, call: IncomingCall) -> Bytes {
        let req: Request<'_> = match serde_json::from_slice(&call.body) {
            Ok(r) => r,
            Err(e) => return rpc_error(None, -32700, &format!("not a JSON-RPC request: {e}")),
        };
        match req.method.as_str() {
            "tools/list" => envelope(req.id, "result", &self.tools_list),
            "tools/call" => {
                let params = req.params.unwrap_or_default();
                let Some(name) = params.name else {
                    return rpc_error(req.id, -32602, "tools/call needs params.name");
                };
                if call.fanout_tool.as_ref().is_some_and(|t| *t != name)
                    || (call.fanout_tool.is_some()
                        && !self.state.catalog.get(&name).is_some_and(|d| d.read_only))
                {
                    return rpc_error(req.id, -32602, "fan-outs carry one read-only tool only");
                }
                if self.state.catalog.get(&name).is_none() {
                    let msg = format!(
                        "unknown tool '{name}': call tools/list for the tools this worker serves"
                    );
                    return rpc_error(req.id, -32602, &msg);
                }
                let token = params
                    .meta
                    .as_ref()
                    .and_then(|m| m.get("progressToken"))
                    .cloned();
                let progress = match token {
                    Some(token) if call.progress.wanted() => {
                        ProgressReporter::with_sink(Arc::new(NatsProgress {
                            sink: call.progress.clone(),
                            token,
                        }))
                    }
                    _ => ProgressReporter::none(),
                }
                .with_cancel(call.cancel.clone());
                let args = params.arguments.unwrap_or_default();
                let result = run_tool(self.state.clone(), name, args, progress).await;
                match serde_json::to_vec(&result) {
                    Ok(b) => envelope(req.id, "result", &b),
                    Err(e) => rpc_error(req.id, -32603, &format!("cannot encode the result: {e}")),
                }
            }
            other => rpc_error(
                req.id,
                -32601,
                &format!("method '{other}' is not served over NATS"),
            ),
        }
    }
}
