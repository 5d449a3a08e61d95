//! Shared helpers for the worker's integration tests: a worker on a fresh simulator with
//! short task durations, an rmcp client and a reqwest client.
#![allow(dead_code)]

use std::time::Duration;

use hyperfed_protocol::Secret;
use hyperfed_worker::{ClusterSource, WorkerConfig, WorkerHandle};
use rmcp::ServiceExt as _;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Map, Value};

pub const TOKEN: &str = "test-token-0123456789";

/// A datacenter seed-7 simulator config with fast tasks.
pub fn sim_config() -> hypercore_sim::SimConfig {
    let mut sim = hypercore_sim::SimConfig::new(Some(hypercore_sim::Archetype::Datacenter), 7);
    sim.task_duration = Duration::from_millis(150);
    sim.shutdown_duration = Duration::from_millis(250);
    sim
}

/// A worker config on [`sim_config`] with the test token.
pub fn config() -> WorkerConfig {
    let mut c = WorkerConfig::new(ClusterSource::Mock(sim_config()));
    c.token = Some(Secret::new(TOKEN));
    c.poll_interval = Duration::from_millis(25);
    c.wait_timeout = Duration::from_secs(20);
    c
}

pub async fn start() -> WorkerHandle {
    hyperfed_worker::start(config())
        .await
        .expect("worker starts")
}

pub type Client = RunningService<RoleClient, ()>;

pub async fn mcp(worker: &WorkerHandle, token: &str) -> Client {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(worker.mcp_url()).auth_header(token),
    );
    ().serve(transport).await.expect("mcp client connects")
}

pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

pub async fn call(client: &Client, name: &str, args: Value) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(obj(args)))
        .await
        .unwrap_or_else(|e| panic!("{name}: protocol error {e}"))
}

/// Calls a tool that must succeed and returns its structured content, after checking it
/// against the tool's advertised outputSchema.
pub async fn ok(client: &Client, name: &str, args: Value) -> Value {
    let r = call(client, name, args).await;
    assert_ne!(r.is_error, Some(true), "{name} failed: {}", text(&r));
    let out = r
        .structured_content
        .clone()
        .unwrap_or_else(|| panic!("{name}: no structuredContent"));
    let tools = client.list_all_tools().await.expect("tools/list");
    let tool = tools
        .iter()
        .find(|t| t.name == name)
        .expect("tool is listed");
    let schema = Value::Object((**tool.output_schema.as_ref().expect("outputSchema")).clone());
    let validator = jsonschema::validator_for(&schema).expect("outputSchema compiles");
    if let Err(e) = validator.validate(&out) {
        panic!("{name}: structuredContent does not match its outputSchema: {e}\n{out}");
    }
    out
}

/// Calls a tool that must fail and returns its error text.
pub async fn err(client: &Client, name: &str, args: Value) -> String {
    let r = call(client, name, args).await;
    assert_eq!(
        r.is_error,
        Some(true),
        "{name} should fail but returned {:?}",
        r.structured_content
    );
    text(&r)
}

pub fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn truth(worker: &WorkerHandle) -> Value {
    worker.sim().expect("mock worker").truth()
}

pub fn truth_vm<'a>(truth: &'a Value, uuid: &str) -> &'a Value {
    truth["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["uuid"] == uuid)
        .unwrap_or_else(|| panic!("vm {uuid} not in truth"))
}

/// The first VM in the truth with this state (and, if asked, no replication source).
pub fn vm_in_state(truth: &Value, state: &str) -> Value {
    truth["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["state"] == state && v["replication_source"].as_str().unwrap_or("").is_empty())
        .unwrap_or_else(|| panic!("no {state} VM in the truth"))
        .clone()
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}
