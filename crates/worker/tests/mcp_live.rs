//! The worker's prompts, completions, resource subscriptions and logging, with an rmcp client
//! over streamable HTTP against a worker on the simulator.
#![allow(deprecated)] // logging/setLevel and resources/subscribe: deprecated in rmcp, not in MCP 2025-11-25

mod common;

use std::time::Duration;

use common::*;
use rmcp::ClientHandler;
use rmcp::ServiceExt as _;
use rmcp::model::{
    ArgumentInfo, CallToolRequestParams, ClientConfig, CompleteRequestParams,
    GetPromptRequestParams, LoggingLevel, LoggingMessageNotificationParam,
    ReadResourceRequestParams, Reference, ResourceUpdatedNotificationParam, SetLevelRequestParams,
    SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, Peer, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Longest wait for a notification (a bound, not a speed claim: updates come within ~1 s).
const WAIT: Duration = Duration::from_secs(30);

/// A client that records the server's resource updates and log messages.
#[derive(Clone)]
struct Listener {
    updates: mpsc::UnboundedSender<String>,
    logs: mpsc::UnboundedSender<LoggingMessageNotificationParam>,
}

impl ClientHandler for Listener {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::default()
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        let _ = self.updates.send(params.uri);
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        let _ = self.logs.send(params);
    }
}

/// Calls a tool through `peer`; `Ok` is its structured result, `Err` its error text.
async fn call_on(peer: &Peer<RoleClient>, name: &str, args: Value) -> Result<Value, String> {
    let r = peer
        .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(obj(args)))
        .await
        .unwrap_or_else(|e| panic!("{name}: protocol error {e}"));
    if r.is_error == Some(true) {
        Err(text(&r))
    } else {
        Ok(r.structured_content.unwrap_or_default())
    }
}

async fn ok_on(peer: &Peer<RoleClient>, name: &str, args: Value) -> Value {
    call_on(peer, name, args)
        .await
        .unwrap_or_else(|e| panic!("{name} failed: {e}"))
}

type Heard = (
    RunningService<RoleClient, Listener>,
    mpsc::UnboundedReceiver<String>,
    mpsc::UnboundedReceiver<LoggingMessageNotificationParam>,
);

async fn listening_client(url: String) -> Heard {
    let (updates, updates_rx) = mpsc::unbounded_channel();
    let (logs, logs_rx) = mpsc::unbounded_channel();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url).auth_header(TOKEN),
    );
    let client = Listener { updates, logs }
        .serve(transport)
        .await
        .expect("mcp client connects");
    (client, updates_rx, logs_rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_list_and_render_with_arguments_and_tags_complete() {
    let worker = start().await;
    let client = mcp(&worker, TOKEN).await;

    let prompts = client.list_all_prompts().await.unwrap();
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "triage_conditions",
            "maintenance_check",
            "snapshot_gaps",
            "rolling_restart"
        ]
    );
    let restart = prompts
        .iter()
        .find(|p| p.name == "rolling_restart")
        .unwrap();
    let args: Vec<&str> = restart
        .arguments
        .iter()
        .flatten()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(
        args,
        ["tag", "batch", "first_vm"],
        "a worker serves one cluster: no cluster argument"
    );

    let got = client
        .get_prompt(
            GetPromptRequestParams::new("rolling_restart")
                .with_arguments(obj(json!({"tag": "web", "batch": "2"}))),
        )
        .await
        .unwrap();
    let text = serde_json::to_string(&got.messages).unwrap();
    assert!(text.contains("tagged \\\"web\\\", 2 at a time"), "{text}");
    assert!(
        text.contains("`vm_reboot`") && text.contains("confirm_token"),
        "{text}"
    );

    // A missing required argument is named.
    let e = client
        .get_prompt(GetPromptRequestParams::new("rolling_restart"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("argument 'tag' is required"), "{e}");

    // Tags complete from the cluster's VMs, by prefix.
    let truth = truth(&worker);
    let tag = truth["vms"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["tags"].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .next()
        .expect("the simulator tags some VMs")
        .to_owned();
    let done = client
        .complete(CompleteRequestParams::new(
            Reference::for_prompt("rolling_restart"),
            ArgumentInfo::new("tag", &tag[..1]),
        ))
        .await
        .unwrap();
    assert!(
        done.completion.values.contains(&tag),
        "{:?}",
        done.completion
    );
    assert!(
        done.completion
            .values
            .iter()
            .all(|v| v.to_lowercase().starts_with(&tag[..1].to_lowercase()))
    );
    assert!(done.completion.values.len() <= 100);
    client.cancel().await.unwrap();
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribed_vm_list_is_announced_when_a_vm_stops_and_not_after_unsubscribing() {
    let worker = start().await;
    let (client, mut updates, _logs) = listening_client(worker.mcp_url()).await;
    let vm = vm_in_state(&truth(&worker), "RUNNING");
    let uuid = vm["uuid"].as_str().unwrap().to_owned();

    client
        .subscribe(SubscribeRequestParams::new("hypercore://vms"))
        .await
        .unwrap();
    // Let the watch take its baseline read before the change.
    client
        .read_resource(ReadResourceRequestParams::new("hypercore://vms"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let preview = ok_on(&client, "vm_stop", json!({"vm": uuid})).await;
    ok_on(
        &client,
        "vm_stop",
        json!({"vm": uuid, "confirm_token": preview["confirm_token"]}),
    )
    .await;
    let uri = tokio::time::timeout(WAIT, updates.recv())
        .await
        .expect("an update after the VM stopped")
        .unwrap();
    assert_eq!(uri, "hypercore://vms");
    let r = client
        .read_resource(ReadResourceRequestParams::new("hypercore://vms"))
        .await
        .unwrap();
    let text = serde_json::to_string(&r.contents).unwrap();
    assert!(text.contains("SHUTOFF"), "the update shows the new state");

    // Unsubscribed: a later change is not announced.
    client
        .unsubscribe(UnsubscribeRequestParams::new("hypercore://vms"))
        .await
        .unwrap();
    while updates.try_recv().is_ok() {}
    ok_on(&client, "vm_start", json!({"vm": uuid})).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(updates.try_recv().is_err(), "no update after unsubscribing");

    // Unknown resources are refused on read, naming the URI.
    let e = client
        .read_resource(ReadResourceRequestParams::new("hypercore://nope"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("hypercore://nope"), "{e}");
    client.cancel().await.unwrap();
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_sends_messages_at_the_level_asked_and_nothing_below() {
    let worker = start().await;
    let (client, _updates, mut logs) = listening_client(worker.mcp_url()).await;

    // Nothing before the client asks.
    ok_on(&client, "cluster_info", json!({})).await;
    client
        .set_level(SetLevelRequestParams::new(LoggingLevel::Warning))
        .await
        .unwrap();
    ok_on(&client, "cluster_info", json!({})).await;
    assert!(
        call_on(&client, "vm_get", json!({"vm": "no-such-vm"}))
            .await
            .is_err()
    );
    let warning = tokio::time::timeout(WAIT, logs.recv())
        .await
        .expect("a warning for the failed call")
        .unwrap();
    assert_eq!(warning.level, LoggingLevel::Warning);
    assert_eq!(warning.data["tool"], "vm_get");
    assert!(logs.try_recv().is_err(), "no debug messages at warning");

    client
        .set_level(SetLevelRequestParams::new(LoggingLevel::Debug))
        .await
        .unwrap();
    ok_on(&client, "cluster_info", json!({})).await;
    let debug = tokio::time::timeout(WAIT, logs.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(debug.level, LoggingLevel::Debug);
    assert_eq!(
        debug.data,
        json!({"event": "tool call", "tool": "cluster_info"})
    );
    client.cancel().await.unwrap();
    worker.shutdown().await;
}
