//! The hub with real `hyperfed-worker`s over simulated clusters of three archetypes, all on
//! loopback: the exported list is the union of the workers' tools, fleet totals equal the
//! simulators' truths, and routed actions (with confirmation) change exactly the right VM.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{SECRET, call, client, eventually};
use hypercore_sim::Archetype;
use hyperfed_hub::{Health, HubConfig, ToolsMode};
use hyperfed_protocol::{CallClaims, Secret};
use hyperfed_worker::{JoinConfig, WorkerConfig, WorkerHandle};
use rmcp::ServiceExt as _;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

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

fn truth_of(w: &WorkerHandle) -> Value {
    w.sim().expect("mock worker").truth()
}

fn vm_states(truths: &[Value]) -> Vec<(String, String)> {
    truths
        .iter()
        .flat_map(|t| t["vms"].as_array().unwrap().iter())
        .map(|v| {
            (
                v["uuid"].as_str().unwrap().to_owned(),
                v["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_workers_union_truth_totals_and_routed_actions() {
    let mut cfg = HubConfig::new("127.0.0.1:0".parse().unwrap(), Secret::new(SECRET));
    // These tests read the namespaced names.
    cfg.tools_mode = ToolsMode::Namespaced;
    cfg.heartbeat_interval = Duration::from_millis(200);
    cfg.fanout_timeout = Duration::from_secs(5);
    let hub = hyperfed_hub::start(cfg).await.unwrap();
    let base = hub.base_url();
    let workers = vec![
        worker(&base, Archetype::Edge, 11, "edge").await,
        worker(&base, Archetype::Datacenter, 12, "dc").await,
        worker(&base, Archetype::Dr, 13, "dr").await,
    ];
    eventually("three clusters up", || {
        let c = hub.clusters();
        c.len() == 3 && c.iter().all(|c| c.state == Health::Up)
    })
    .await;
    let aliases = ["edge", "dc", "dr"];

    // The namespaced list is exactly the union of the workers' own tool lists.
    let (hub_client, _) = client(&hub.mcp_url(), None).await;
    let hub_tools = hub_client.list_all_tools().await.unwrap();
    let exported: BTreeSet<String> = hub_tools
        .iter()
        .map(|t| t.name.to_string())
        .filter(|n| n.contains("__"))
        .collect();
    let mut expected = BTreeSet::new();
    for (w, alias) in workers.iter().zip(aliases) {
        // A joined worker only accepts the hub's call tokens: present one to list directly.
        let token = CallClaims::issue(
            &Secret::new(SECRET),
            &w.cluster_uuid().unwrap(),
            Duration::from_secs(60),
        );
        let transport = rmcp::transport::StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(w.mcp_url()).auth_header(token),
        );
        let direct = ().serve(transport).await.unwrap();
        for t in direct.list_all_tools().await.unwrap() {
            let name = format!("{alias}__{}", t.name);
            assert!(name.len() <= 48, "{name}");
            // Schemas and annotations pass through unchanged.
            let mine = hub_tools
                .iter()
                .find(|h| h.name == name.as_str())
                .expect("exported");
            assert_eq!(mine.input_schema, t.input_schema, "{name}");
            assert_eq!(mine.annotations, t.annotations, "{name}");
            expected.insert(name);
        }
        direct.cancel().await.unwrap();
    }
    assert_eq!(exported, expected);

    // Fleet totals equal the sum of the simulators' truths.
    let (status, err) = call(&hub_client, "fleet_status", json!({})).await;
    assert!(!err, "{status}");
    let truths: Vec<Value> = workers.iter().map(truth_of).collect();
    let sum = |key: &str| -> u64 {
        truths
            .iter()
            .map(|t| t["totals"][key].as_u64().unwrap())
            .sum()
    };
    let totals = &status["totals"];
    assert_eq!(totals["answered"], 3);
    assert_eq!(totals["vms"]["total"].as_u64().unwrap(), sum("vms"));
    assert_eq!(totals["nodes"]["total"].as_u64().unwrap(), sum("nodes"));
    assert_eq!(
        totals["nodes"]["online"].as_u64().unwrap(),
        sum("nodes_online")
    );
    assert_eq!(
        totals["conditions"]["raised"].as_u64().unwrap(),
        sum("conditions_raised")
    );
    let running: u64 = truths
        .iter()
        .map(|t| t["totals"]["vms_by_state"]["RUNNING"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(totals["vms"]["running"].as_u64().unwrap(), running);
    let used: u64 = truths
        .iter()
        .map(|t| t["totals"]["storage"]["used_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(totals["storage"]["used_bytes"].as_u64().unwrap(), used);
    let (found, _) = call(&hub_client, "vm_search", json!({"state": "RUNNING"})).await;
    assert_eq!(found["total"].as_u64().unwrap(), running);
    let (found, _) = call(
        &hub_client,
        "vm_search",
        json!({"state": "RUNNING", "limit": 1000}),
    )
    .await;
    assert_eq!(found["count"].as_u64().unwrap(), running);

    // A routed action by uuid starts exactly one (startable) VM, wherever it lives.
    let before = vm_states(&truths);
    let (owner, target) = truths
        .iter()
        .zip(aliases)
        .flat_map(|(t, a)| t["vms"].as_array().unwrap().iter().map(move |v| (a, v)))
        .find(|(_, v)| {
            v["state"] == "SHUTOFF" && v["replication_source"].as_str().unwrap_or("").is_empty()
        })
        .map(|(a, v)| (a, v.clone()))
        .expect("some cluster has a stopped VM that is not a replication target");
    let uuid = target["uuid"].as_str().unwrap();
    let (r, err) = call(&hub_client, "vm_start", json!({"vm": uuid, "wait": true})).await;
    assert!(!err, "{r}");
    let after = vm_states(&workers.iter().map(truth_of).collect::<Vec<_>>());
    for ((u, s0), (u1, s1)) in before.iter().zip(&after) {
        assert_eq!(u, u1);
        if u == uuid {
            assert_eq!(s1, "RUNNING");
        } else {
            assert_eq!(s0, s1, "VM {u} changed");
        }
    }

    // A name found on several clusters is an error listing the matches.
    let (r, err) = call(&hub_client, "vm_stop", json!({"vm": "dc-01"})).await;
    assert!(err, "{r}");
    for alias in aliases {
        assert!(
            r.as_str().unwrap().contains(&format!("{alias}/dc-01")),
            "{r}"
        );
    }

    // A destructive routed action needs the worker's confirmation, end to end.
    let dc_vm = truths[1]["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["state"] == "RUNNING")
        .unwrap()
        .clone();
    let name = dc_vm["name"].as_str().unwrap();
    let vm_ref = format!("dc/{name}");
    let (r, err) = call(&hub_client, "vm_stop", json!({"vm": vm_ref, "wait": true})).await;
    assert!(!err, "{r}");
    assert_eq!(r["confirmation_required"], true, "{r}");
    let token = r["confirm_token"].as_str().unwrap().to_owned();
    let (r, err) = call(
        &hub_client,
        "vm_stop",
        json!({"vm": vm_ref, "wait": true, "confirm_token": token}),
    )
    .await;
    assert!(!err, "{r}");
    let now = truth_of(&workers[1]);
    let stopped = now["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["uuid"] == dc_vm["uuid"])
        .unwrap();
    assert_eq!(stopped["state"], "SHUTOFF");

    let audit: Value = reqwest::get(format!("{base}/v1/audit"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let outcomes: Vec<(&str, &str)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["cluster"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [(owner, "ok"), ("dc", "confirmation_required"), ("dc", "ok")]
    );
    assert!(!audit.to_string().contains(&token));

    hub_client.cancel().await.unwrap();
    for w in workers {
        w.shutdown().await;
    }
    hub.shutdown().await;
}
