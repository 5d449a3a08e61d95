//! The hub's prompts, completions, live resources and logging, with rmcp clients over
//! streamable HTTP against a hub with real workers on simulated clusters (all loopback).
#![allow(deprecated)] // logging/setLevel and resources/subscribe: deprecated in rmcp, not in MCP 2025-11-25

mod common;

use std::time::Duration;

use common::{SECRET, eventually};
use hypercore_sim::Archetype;
use hyperfed_hub::{Health, HubConfig, HubHandle, ToolsMode};
use hyperfed_protocol::Secret;
use hyperfed_worker::{JoinConfig, WorkerConfig, WorkerHandle};
use rmcp::model::{
    ArgumentInfo, CallToolRequestParams, ClientConfig, CompleteRequestParams, CompletionContext,
    GetPromptRequestParams, LoggingLevel, LoggingMessageNotificationParam,
    ReadResourceRequestParams, Reference, ResourceUpdatedNotificationParam, SetLevelRequestParams,
    SubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ServiceExt as _};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Longest wait for a notification (a bound, not a speed claim: updates come within ~1 s).
const WAIT: Duration = Duration::from_secs(30);

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

struct Session {
    client: RunningService<RoleClient, Listener>,
    updates: mpsc::UnboundedReceiver<String>,
    logs: mpsc::UnboundedReceiver<LoggingMessageNotificationParam>,
}

async fn session(hub: &HubHandle) -> Session {
    let (updates, updates_rx) = mpsc::unbounded_channel();
    let (logs, logs_rx) = mpsc::unbounded_channel();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(hub.mcp_url()),
    );
    let client = Listener { updates, logs }
        .serve(transport)
        .await
        .expect("connects");
    Session {
        client,
        updates: updates_rx,
        logs: logs_rx,
    }
}

async fn worker(hub: &str, archetype: Archetype, seed: u64, name: &str) -> WorkerHandle {
    let mut config = WorkerConfig::mock(Some(archetype), seed);
    if let hyperfed_worker::ClusterSource::Mock(sim) = &mut config.cluster {
        sim.task_duration = Duration::from_millis(50);
        sim.shutdown_duration = Duration::from_millis(50);
    }
    config.poll_interval = Duration::from_millis(20);
    config.join = Some(JoinConfig {
        hub_url: hub.to_owned(),
        secret: Secret::new(SECRET),
        name: Some(name.to_owned()),
        advertise: None,
    });
    hyperfed_worker::start(config).await.expect("worker starts")
}

async fn hub_with(mode: ToolsMode) -> HubHandle {
    let mut cfg = HubConfig::new("127.0.0.1:0".parse().unwrap(), Secret::new(SECRET));
    cfg.tools_mode = mode;
    cfg.heartbeat_interval = Duration::from_millis(200);
    cfg.fanout_timeout = Duration::from_secs(5);
    hyperfed_hub::start(cfg).await.unwrap()
}

/// A hub (namespaced) with an edge and a datacenter cluster up.
async fn fleet() -> (HubHandle, WorkerHandle, WorkerHandle) {
    let hub = hub_with(ToolsMode::Namespaced).await;
    let base = hub.base_url();
    let edge = worker(&base, Archetype::Edge, 21, "edge").await;
    let dc = worker(&base, Archetype::Datacenter, 22, "dc").await;
    eventually("two clusters up", || {
        let c = hub.clusters();
        c.len() == 2 && c.iter().all(|c| c.state == Health::Up)
    })
    .await;
    (hub, edge, dc)
}

fn prompt_text(r: &rmcp::model::GetPromptResult) -> String {
    r.messages
        .iter()
        .filter_map(|m| m.content.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn complete(
    s: &Session,
    prompt: &str,
    arg: &str,
    value: &str,
    context: &[(&str, &str)],
) -> rmcp::model::CompletionInfo {
    let mut p =
        CompleteRequestParams::new(Reference::for_prompt(prompt), ArgumentInfo::new(arg, value));
    if !context.is_empty() {
        p = p.with_context(CompletionContext::with_arguments(
            context
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        ));
    }
    s.client
        .complete(p)
        .await
        .expect("completion/complete")
        .completion
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_name_tools_as_the_mode_exports_them_and_arguments_complete() {
    let (hub, edge, dc) = fleet().await;
    let s = session(&hub).await;

    let prompts = s.client.list_all_prompts().await.unwrap();
    assert_eq!(prompts.len(), 4);
    let check = s
        .client
        .get_prompt(
            GetPromptRequestParams::new("maintenance_check")
                .with_arguments(json!({"cluster": "dc"}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    let text = prompt_text(&check);
    for tool in [
        "`dc__node_list`",
        "`dc__snapshot_list`",
        "`dc__cluster_info`",
    ] {
        assert!(text.contains(tool), "{tool} in {text}");
    }
    // A cluster that is not there, and a missing required argument, are named.
    let e = s
        .client
        .get_prompt(
            GetPromptRequestParams::new("maintenance_check")
                .with_arguments(json!({"cluster": "dc9"}).as_object().unwrap().clone()),
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("argument 'cluster': no cluster named 'dc9'"),
        "{e}"
    );
    let e = s
        .client
        .get_prompt(GetPromptRequestParams::new("maintenance_check"))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("argument 'cluster' is required"),
        "{e}"
    );

    // Cluster aliases complete from the registry.
    let c = complete(&s, "maintenance_check", "cluster", "d", &[]).await;
    assert_eq!(c.values, ["dc"]);
    let c = complete(&s, "rolling_restart", "cluster", "", &[]).await;
    assert_eq!(
        (c.values.clone(), c.total, c.has_more),
        (
            vec!["dc".to_owned(), "edge".to_owned()],
            Some(2),
            Some(false)
        )
    );

    // Tags and VM names complete from the VM index, within the cluster (and tag) chosen.
    let truth = dc.sim().unwrap().truth();
    let vms = truth["vms"].as_array().unwrap();
    let (tag, tagged) = vms
        .iter()
        .find_map(|v| {
            let t = v["tags"].as_array()?.first()?.as_str()?.to_owned();
            Some((t, v["name"].as_str()?.to_owned()))
        })
        .expect("the simulator tags some VMs");
    let c = complete(
        &s,
        "rolling_restart",
        "tag",
        &tag[..1],
        &[("cluster", "dc")],
    )
    .await;
    assert!(c.values.contains(&tag), "{c:?}");
    assert!(c.values.len() <= 100);
    let c = complete(
        &s,
        "rolling_restart",
        "first_vm",
        "",
        &[("cluster", "dc"), ("tag", &tag)],
    )
    .await;
    assert!(c.values.contains(&tagged), "{c:?}");
    let with_tag = vms
        .iter()
        .filter(|v| {
            v["tags"].as_array().is_some_and(|t| {
                t.iter()
                    .any(|x| x.as_str().is_some_and(|x| x.eq_ignore_ascii_case(&tag)))
            })
        })
        .count();
    assert!(
        c.total.unwrap() as usize <= with_tag,
        "only VMs with the tag: {c:?}"
    );
    // Only the chosen cluster's VMs are offered.
    let dc_names: Vec<&str> = vms.iter().filter_map(|v| v["name"].as_str()).collect();
    let all_dc = complete(&s, "rolling_restart", "first_vm", "", &[("cluster", "dc")]).await;
    assert!(!all_dc.values.is_empty());
    assert!(
        all_dc.values.iter().all(|n| dc_names.contains(&n.as_str())),
        "{all_dc:?}"
    );
    // Unknown prompts complete to nothing (as the conformance suite expects).
    assert!(
        complete(&s, "no_such_prompt", "cluster", "", &[])
            .await
            .values
            .is_empty()
    );

    s.client.cancel().await.unwrap();
    for w in [edge, dc] {
        w.shutdown().await;
    }
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_hubs_name_tools_with_a_cluster_argument() {
    let hub = hub_with(ToolsMode::Compact).await;
    let s = session(&hub).await;
    let r = s
        .client
        .get_prompt(GetPromptRequestParams::new("snapshot_gaps"))
        .await
        .unwrap();
    let text = prompt_text(&r);
    assert!(
        text.contains("`snapshot_list` with each cluster's alias as `cluster`"),
        "{text}"
    );
    assert!(
        text.contains("`vm_search`") && text.contains("7 days"),
        "{text}"
    );
    s.client.cancel().await.unwrap();
    hub.shutdown().await;
}

/// Stops `uuid` on the simulator directly (as a person at the cluster would), not via the hub.
async fn stop_on_simulator(worker: &WorkerHandle, uuid: &str) {
    let sim = worker.sim().unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/rest/v1/VirDomain/action", sim.base_url()))
        .basic_auth("admin", Some("admin"))
        .json(&json!([{"virDomainUUID": uuid, "actionType": "STOP"}]))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}

/// Waits until each of `uris` was announced (in any order; others are ignored).
async fn updates_of(s: &mut Session, uris: &[&str]) {
    let mut missing: Vec<&str> = uris.to_vec();
    while !missing.is_empty() {
        let got = tokio::time::timeout(WAIT, s.updates.recv())
            .await
            .unwrap_or_else(|_| panic!("no update of {missing:?}"))
            .unwrap();
        missing.retain(|u| *u != got);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_update_when_a_vm_stops_on_the_simulator_and_when_a_worker_goes_down() {
    let (hub, edge, dc) = fleet().await;
    let mut s = session(&hub).await;

    let listed = s.client.list_all_resources().await.unwrap();
    let uris: Vec<&str> = listed.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "hyperfed://fleet/status",
            "hyperfed://cluster/dc/status",
            "hyperfed://cluster/dc/vms",
            "hyperfed://cluster/edge/status",
            "hyperfed://cluster/edge/vms",
        ]
    );
    let peer = s.client.peer().clone();
    let read = |uri: &'static str| {
        let client = peer.clone();
        async move {
            let r = client
                .read_resource(ReadResourceRequestParams::new(uri))
                .await
                .unwrap();
            let text = match &r.contents[0] {
                rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
                other => panic!("not text: {other:?}"),
            };
            serde_json::from_str::<Value>(&text).unwrap()
        }
    };
    let truth = dc.sim().unwrap().truth();
    let vms = read("hyperfed://cluster/dc/vms").await;
    assert_eq!(
        vms["vms"].as_array().unwrap().len(),
        truth["vms"].as_array().unwrap().len(),
        "every page"
    );
    let fleet_status = read("hyperfed://fleet/status").await;
    assert_eq!(fleet_status["totals"]["answered"], 2);
    let e = s
        .client
        .read_resource(ReadResourceRequestParams::new("hyperfed://cluster/dc9/vms"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("hyperfed://cluster/dc9/vms"), "{e}");

    // A VM stopped behind the hub's back: the cluster's VM list is announced.
    for uri in [
        "hyperfed://cluster/dc/vms",
        "hyperfed://cluster/edge/status",
        "hyperfed://fleet/status",
    ] {
        s.client
            .subscribe(SubscribeRequestParams::new(uri))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(2500)).await; // the watch's baseline reads
    let running = truth["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["state"] == "RUNNING")
        .expect("a running VM");
    stop_on_simulator(&dc, running["uuid"].as_str().unwrap()).await;
    // The fleet status counts running VMs: it changes too.
    updates_of(
        &mut s,
        &["hyperfed://cluster/dc/vms", "hyperfed://fleet/status"],
    )
    .await;
    let after = read("hyperfed://cluster/dc/vms").await;
    let row = after["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["uuid"] == running["uuid"])
        .unwrap()
        .clone();
    assert_ne!(row["state"], "RUNNING", "{row}");

    // A worker going down: its status and the fleet status are announced.
    while s.updates.try_recv().is_ok() {}
    edge.shutdown().await;
    updates_of(
        &mut s,
        &["hyperfed://cluster/edge/status", "hyperfed://fleet/status"],
    )
    .await;

    s.client.cancel().await.unwrap();
    dc.shutdown().await;
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_tells_a_session_about_fan_outs_at_its_level_only() {
    let (hub, edge, dc) = fleet().await;
    let mut s = session(&hub).await;
    let search = || CallToolRequestParams::new("vm_search");

    // Before setLevel: nothing.
    s.client.call_tool(search()).await.unwrap();
    s.client
        .set_level(SetLevelRequestParams::new(LoggingLevel::Info))
        .await
        .unwrap();
    s.client.call_tool(search()).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let m = tokio::time::timeout(WAIT, s.logs.recv())
            .await
            .expect("log messages")
            .unwrap();
        seen.push(m);
    }
    assert_eq!(seen[0].level, LoggingLevel::Info);
    assert_eq!(
        seen[0].data,
        json!({"event": "fan-out", "tool": "vm_list", "clusters": 2})
    );
    assert_eq!(
        seen[1].data,
        json!({"event": "fan-out done", "tool": "vm_list", "answered": 2, "unanswered": 0})
    );
    assert_eq!(seen[0].logger.as_deref(), Some("hyperfed-hub"));
    assert!(s.logs.try_recv().is_err(), "no debug lines at info");

    // A cluster that does not answer is a warning; debug shows each answer.
    s.client
        .set_level(SetLevelRequestParams::new(LoggingLevel::Debug))
        .await
        .unwrap();
    edge.shutdown().await;
    s.client.call_tool(search()).await.unwrap();
    let mut levels = Vec::new();
    loop {
        let m = tokio::time::timeout(WAIT, s.logs.recv())
            .await
            .expect("log messages")
            .unwrap();
        let done = m.data["event"] == "fan-out done";
        levels.push((m.level, m.data));
        if done {
            break;
        }
    }
    assert!(
        levels
            .iter()
            .any(|(l, d)| *l == LoggingLevel::Debug && d["cluster"] == "dc"),
        "{levels:?}"
    );
    assert!(
        levels.iter().any(|(l, d)| *l == LoggingLevel::Warning
            && d["cluster"] == "edge"
            && d["event"] == "cluster did not answer"),
        "{levels:?}"
    );
    let text = format!("{levels:?}");
    assert!(
        !text.contains(SECRET) && !text.contains("http://"),
        "nothing secret: {text}"
    );

    s.client.cancel().await.unwrap();
    dc.shutdown().await;
    hub.shutdown().await;
}
