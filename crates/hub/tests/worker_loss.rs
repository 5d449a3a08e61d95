//! A worker lost while a forwarded call is in flight: the caller is answered as soon as the hub
//! knows (cluster marked down, worker session gone), not at the call timeout.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use hyperfed_hub::{HubConfig, HubHandle, ToolsMode};
use hyperfed_protocol::Secret;
use serde_json::{Value, json};

/// Far longer than the test bound below, so an answer within the bound cannot be the timeout.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the caller may wait for the error in these tests.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

fn config(heartbeat: Duration) -> HubConfig {
    let mut c = HubConfig::new("127.0.0.1:0".parse().unwrap(), Secret::new(SECRET));
    // These tests read the namespaced names.
    c.tools_mode = ToolsMode::Namespaced;
    c.heartbeat_interval = heartbeat;
    c.call_timeout = CALL_TIMEOUT;
    c
}

/// Starts a slow `vm_clone` (it reports task 555, then waits a minute) on `alias`, calls
/// `lose` once the worker has it, and returns the caller's error text.
async fn lose_during_clone(
    hub: &HubHandle,
    w: FakeWorker,
    alias: &str,
    lose: impl AsyncFnOnce(FakeWorker),
) -> String {
    let (client, _) = client(&hub.mcp_url(), None).await;
    let peer = client.peer().clone();
    let tool = format!("{alias}__vm_clone");
    let vm = w.cluster.vms()[0].name.clone();
    let pending = tokio::spawn(async move {
        let p = rmcp::model::CallToolRequestParams::new(tool)
            .with_arguments(json!({ "vm": vm }).as_object().cloned().unwrap());
        peer.call_tool(p).await
    });
    let cluster = w.cluster.clone();
    eventually("the slow call reached the worker", || {
        cluster.calls.load(Ordering::SeqCst) >= 1
    })
    .await;
    lose(w).await;
    let lost_at = std::time::Instant::now();
    let answer = tokio::time::timeout(ANSWER_WITHIN, pending)
        .await
        .expect("the caller is answered well before the call timeout")
        .unwrap()
        .expect("an MCP answer, not a transport failure");
    let took = lost_at.elapsed();
    assert_eq!(answer.is_error, Some(true));
    let text: Vec<String> = answer
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    let _ = client.cancel().await;
    let text = text.join("\n");
    eprintln!("{alias}: answered {took:?} after the worker was lost: {text}");
    text
}

async fn last_audit(hub: &HubHandle) -> Value {
    let audit: Value = reqwest::get(format!("{}/v1/audit", hub.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    audit["entries"].as_array().unwrap().last().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_ends_when_its_cluster_is_marked_down() {
    // Down after ~750 ms without heartbeats.
    let hub = hyperfed_hub::start(config(Duration::from_millis(250)))
        .await
        .unwrap();
    let w = FakeWorker::start(
        FakeCluster::archetype("edge", 21),
        &hub.base_url(),
        Some("frozen"),
    )
    .await;
    w.wait_joins(1).await;
    let cluster = w.cluster.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let text = lose_during_clone(&hub, w, "frozen", async move |w: FakeWorker| {
        // Frozen: still serving, but silent towards the hub.
        w.pause_heartbeats(true);
        let _ = tx.send(w);
    })
    .await;
    assert!(
        text.starts_with("cluster 'frozen': it went down"),
        "caller told: {text}"
    );
    assert!(
        text.contains("outcome is unknown") && text.contains("task 555"),
        "caller told: {text}"
    );
    let last = last_audit(&hub).await;
    assert_eq!(last["tool"], "vm_clone", "{last}");
    assert_eq!(last["outcome"], "unknown", "{last}");
    assert_eq!(last["task_tag"], "555", "{last}");
    // The (frozen, still reachable) worker is told to stop waiting.
    eventually("the abandoned call was cancelled on the worker", || {
        cluster.cancelled.load(Ordering::SeqCst) == 1
    })
    .await;
    rx.await.unwrap().shutdown().await;
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_ends_when_its_worker_session_is_gone() {
    // Heartbeats so rare that the health monitor cannot be what ends the call.
    let hub = hyperfed_hub::start(config(Duration::from_secs(60)))
        .await
        .unwrap();
    let w = FakeWorker::start(
        FakeCluster::archetype("edge", 22),
        &hub.base_url(),
        Some("killed"),
    )
    .await;
    w.wait_joins(1).await;
    let text = lose_during_clone(&hub, w, "killed", async |w: FakeWorker| {
        // Stops serving: its MCP session and streams end.
        w.shutdown().await;
    })
    .await;
    assert!(
        text.starts_with("cluster 'killed': "),
        "caller told: {text}"
    );
    assert!(
        text.contains("outcome is unknown") && text.contains("task 555"),
        "caller told: {text}"
    );
    let last = last_audit(&hub).await;
    assert_eq!(last["outcome"], "unknown", "{last}");
    assert_eq!(last["task_tag"], "555", "{last}");
    hub.shutdown().await;
}
