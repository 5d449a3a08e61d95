//! A real federation: one `hyperfed hub` process and three `hyperfed worker` processes of
//! different archetypes joined over loopback. Checks the namespaced tool union, fleet totals
//! against the simulators' truths, a routed action, a frozen (SIGSTOP) and a killed (SIGKILL)
//! worker during fan-out, a hub restart with re-join, and the audit log across the restart.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Proc, bin, free_port, wait_http_ok};
use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

const SECRET: &str = "federation-test-secret";
const HUB_TOKEN: &str = "hub-token";
const WORKER_TOKEN: &str = "worker-token";
const FANOUT_TIMEOUT_MS: u64 = 1500;

struct Member {
    alias: &'static str,
    archetype: &'static str,
    seed: u64,
    listen: String,
    proc: Proc,
}

fn truth(archetype: &str, seed: u64) -> Value {
    let out = Command::new(bin())
        .args([
            "mock",
            "truth",
            "--archetype",
            archetype,
            "--seed",
            &seed.to_string(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn start_hub(listen: &str, data: &std::path::Path) -> Proc {
    Proc::start(
        "hub",
        &[
            "hub",
            "--listen",
            listen,
            "--data",
            data.to_str().unwrap(),
            "--fanout-timeout",
            &format!("{FANOUT_TIMEOUT_MS}ms"),
            "--heartbeat-interval",
            "300ms",
            // This test reads the namespaced names.
            "--tools",
            "namespaced",
        ],
        &[("HYPERFED_SECRET", SECRET), ("HYPERFED_TOKEN", HUB_TOKEN)],
    )
}

fn start_worker(alias: &'static str, archetype: &'static str, seed: u64, hub: &str) -> Member {
    let listen = format!("127.0.0.1:{}", free_port());
    let proc = Proc::start(
        alias,
        &[
            "worker",
            "--mock",
            archetype,
            "--seed",
            &seed.to_string(),
            "--listen",
            &listen,
            "--join",
            hub,
            "--name",
            alias,
        ],
        &[
            ("HYPERFED_SECRET", SECRET),
            ("HYPERFED_TOKEN", WORKER_TOKEN),
        ],
    );
    Member {
        alias,
        archetype,
        seed,
        listen,
        proc,
    }
}

async fn mcp(url: &str, token: &str) -> RunningService<RoleClient, ()> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(token.to_owned()),
    );
    ().serve(transport).await.expect("MCP session")
}

async fn call(client: &RunningService<RoleClient, ()>, name: &str, args: Value) -> Value {
    let r = client
        .peer()
        .call_tool(
            CallToolRequestParams::new(name.to_owned())
                .with_arguments(args.as_object().cloned().unwrap_or_default()),
        )
        .await
        .unwrap_or_else(|e| panic!("{name} failed: {e}"));
    let mut v = r.structured_content.unwrap_or(Value::Null);
    if r.is_error == Some(true) {
        v = json!({"is_error": true, "result": v, "content": format!("{:?}", r.content)});
    }
    v
}

async fn clusters_up(http: &reqwest::Client, hub: &str) -> BTreeSet<String> {
    let v: Value = match http
        .get(format!("{hub}/v1/clusters"))
        .bearer_auth(HUB_TOKEN)
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => return BTreeSet::new(),
    };
    v["clusters"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|c| c["state"] == "up")
        .filter_map(|c| c["alias"].as_str().map(str::to_owned))
        .collect()
}

async fn wait_up(http: &reqwest::Client, hub: &str, want: &[&str], within: Duration) {
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    let deadline = Instant::now() + within;
    loop {
        let up = clusters_up(http, hub).await;
        if want.is_subset(&up) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "clusters up {up:?}, wanted {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federation_of_three_worker_processes() {
    common::init();
    let data = std::env::temp_dir().join(format!(
        "hyperfed-fed-{}-{}",
        std::process::id(),
        free_port()
    ));
    let hub_listen = format!("127.0.0.1:{}", free_port());
    let hub_url = format!("http://{hub_listen}");
    let mut hub = start_hub(&hub_listen, &data);
    assert!(wait_http_ok(&format!("{hub_url}/health"), Duration::from_secs(20)).await);
    let mut members = vec![
        start_worker("edge-a", "edge", 11, &hub_url),
        start_worker("dc-b", "datacenter", 12, &hub_url),
        start_worker("dr-c", "dr", 13, &hub_url),
    ];
    let http = reqwest::Client::new();
    wait_up(
        &http,
        &hub_url,
        &["edge-a", "dc-b", "dr-c"],
        Duration::from_secs(30),
    )
    .await;

    // 1. The namespaced list is exactly the union of the workers' own tools.
    let client = mcp(&format!("{hub_url}/mcp"), HUB_TOKEN).await;
    let hub_tools: BTreeSet<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    let mut union = BTreeSet::new();
    for m in &members {
        let w = mcp(&format!("http://{}/mcp", m.listen), WORKER_TOKEN).await;
        for t in w.list_all_tools().await.unwrap() {
            union.insert(format!("{}__{}", m.alias, t.name));
        }
        let _ = w.cancel().await;
    }
    let namespaced: BTreeSet<String> = hub_tools
        .iter()
        .filter(|n| n.contains("__"))
        .cloned()
        .collect();
    assert_eq!(namespaced, union);
    for n in &hub_tools {
        assert!(
            n.len() <= 48
                && n.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-'),
            "{n}"
        );
    }

    // 2. Fleet totals (cURL-style REST) equal the sum of the simulators' truths.
    let truths: Vec<Value> = members.iter().map(|m| truth(m.archetype, m.seed)).collect();
    let status: Value = http
        .get(format!("{hub_url}/v1/status"))
        .bearer_auth(HUB_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let vms_total: usize = truths
        .iter()
        .map(|t| t["vms"].as_array().unwrap().len())
        .sum();
    let running: usize = truths
        .iter()
        .map(|t| {
            t["vms"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|v| v["state"] == "RUNNING")
                .count()
        })
        .sum();
    assert_eq!(
        status.pointer("/totals/vms/total"),
        Some(&json!(vms_total)),
        "{status}"
    );
    assert_eq!(
        status.pointer("/totals/vms/running"),
        Some(&json!(running)),
        "{status}"
    );

    // 3. A routed action by alias/vm-name changes that VM on that cluster, and nothing else.
    let dc_truth = &truths[1];
    let target = dc_truth["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| {
            v["state"] == "SHUTOFF" && v["replication_source"].as_str().unwrap_or("").is_empty()
        })
        .expect("a startable SHUTOFF VM");
    let name = target["name"].as_str().unwrap();
    let started = call(&client, "vm_start", json!({"vm": format!("dc-b/{name}")})).await;
    assert!(started.get("is_error").is_none(), "{started}");
    let after = call(&client, "dc-b__vm_get", json!({"vm": target["uuid"]})).await;
    assert_eq!(
        after.pointer("/vm/state").or_else(|| after.get("state")),
        Some(&json!("RUNNING")),
        "{after}"
    );
    for (m, t) in members.iter().zip(&truths) {
        if m.alias == "dc-b" {
            continue;
        }
        let list = call(&client, &format!("{}__vm_list", m.alias), json!({})).await;
        let running_now = list["vms"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["state"] == "RUNNING")
            .count();
        let running_before = t["vms"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["state"] == "RUNNING")
            .count();
        assert_eq!(running_now, running_before, "{} changed", m.alias);
    }

    // 4. A frozen worker (SIGSTOP) costs a fan-out at most its timeout; the others answer.
    members[0].proc.signal("STOP");
    let t = Instant::now();
    let fleet = call(&client, "fleet_status", json!({})).await;
    let took = t.elapsed();
    members[0].proc.signal("CONT");
    assert!(
        took < Duration::from_millis(FANOUT_TIMEOUT_MS + 3000),
        "fan-out took {took:?}"
    );
    assert_eq!(
        fleet.pointer("/totals/answered"),
        Some(&json!(2)),
        "{fleet}"
    );
    assert!(
        fleet["unanswered"].to_string().contains("edge-a"),
        "{fleet}"
    );
    // Frozen longer than three heartbeats, edge-a may have been marked down: it is up again at
    // its next heartbeat.
    wait_up(
        &http,
        &hub_url,
        &["edge-a", "dc-b", "dr-c"],
        Duration::from_secs(15),
    )
    .await;

    // 5. A worker killed during a fan-out: the answer still arrives by the timeout.
    let peer = client.peer().clone();
    let fan = tokio::spawn(async move {
        let t = Instant::now();
        let r = peer
            .call_tool(CallToolRequestParams::new("fleet_status"))
            .await
            .map(|r| r.structured_content.unwrap_or(Value::Null));
        (t.elapsed(), r)
    });
    members[2].proc.kill();
    let (took, r) = fan.await.unwrap();
    let fleet = r.expect("fleet_status answered");
    assert!(
        took < Duration::from_millis(FANOUT_TIMEOUT_MS + 3000),
        "fan-out took {took:?}"
    );
    assert!(
        fleet
            .pointer("/totals/answered")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            >= 2,
        "{fleet}"
    );
    let _ = client.cancel().await;

    // 6. Hub restart: the audit log survives, and the live workers re-join on their own.
    hub.terminate(Duration::from_secs(10));
    let out = Command::new(bin())
        .args(["audit", "--data", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let audit = String::from_utf8_lossy(&out.stdout);
    assert!(
        audit.contains("vm_start") && audit.contains("dc-b"),
        "audit: {audit}"
    );
    assert!(!audit.contains(SECRET) && !audit.contains(HUB_TOKEN));
    let hub2 = start_hub(&hub_listen, &data);
    assert!(wait_http_ok(&format!("{hub_url}/health"), Duration::from_secs(20)).await);
    wait_up(
        &http,
        &hub_url,
        &["edge-a", "dc-b"],
        Duration::from_secs(30),
    )
    .await;
    let audit: Value = http
        .get(format!("{hub_url}/v1/audit"))
        .bearer_auth(HUB_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(audit.to_string().contains("vm_start"), "{audit}");
    let client = mcp(&format!("{hub_url}/mcp"), HUB_TOKEN).await;
    let again = call(&client, "dc-b__cluster_info", json!({})).await;
    assert!(again.get("is_error").is_none(), "{again}");
    let _ = client.cancel().await;

    // Nothing leaked into any process's log.
    for m in &members {
        let log = m.proc.log_text();
        assert!(
            !log.contains(SECRET) && !log.contains(WORKER_TOKEN),
            "{} log leaks a secret",
            m.alias
        );
    }
    assert!(!hub2.log_text().contains(SECRET));
    drop(hub2);
    drop(members);
    let _ = std::fs::remove_dir_all(&data);
}
