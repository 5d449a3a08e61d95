//! Fault tests at the process level: `hyperfed mock` processes (faults changed at run time over
//! `PUT /_sim/faults`), real-cluster-path `hyperfed worker` processes in front of them, joined to
//! a `hyperfed hub` process. Covers simulator faults, a slow cluster, lost workers during routed
//! actions, a hub restart under load, action concurrency and a short soak with RSS measured.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Proc, free_port, wait_http_ok};
use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

const SECRET: &str = "faults-test-secret";
const HUB_TOKEN: &str = "faults-hub-token";
const WORKER_TOKEN: &str = "faults-worker-token";

/// The process tests share two cores: run them one at a time so their time bounds hold.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One simulated cluster (a `hyperfed mock` process) and the worker in front of it.
struct Cluster {
    alias: &'static str,
    sim_url: String,
    _sim: Proc,
    worker: Proc,
}

/// A hub process, its data directory and the clusters joined to it.
struct Fed {
    hub: Option<Proc>,
    hub_listen: String,
    hub_url: String,
    hub_args: Vec<String>,
    data: PathBuf,
    clusters: Vec<Cluster>,
    http: reqwest::Client,
}

/// True when `hyperfed worker` has a read cache (`--read-cache-ttl`) that the tests turn off.
fn worker_has_read_cache() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| {
        std::process::Command::new(common::bin())
            .args(["worker", "--help"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("--read-cache-ttl"))
            .unwrap_or(false)
    })
}

fn start_hub(listen: &str, data: &std::path::Path, extra: &[String]) -> Proc {
    let mut args: Vec<String> = vec![
        "hub".into(),
        "--listen".into(),
        listen.into(),
        "--data".into(),
        data.display().to_string(),
        "--heartbeat-interval".into(),
        "300ms".into(),
        // These tests call the namespaced names.
        "--tools".into(),
        "namespaced".into(),
    ];
    args.extend(extra.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Proc::start(
        "hub",
        &args,
        &[("HYPERFED_SECRET", SECRET), ("HYPERFED_TOKEN", HUB_TOKEN)],
    )
}

impl Fed {
    /// Starts a hub with `hub_args`, then one mock + real-path worker per `(alias, archetype,
    /// seed, task_ms)` and waits until every cluster is up on the hub.
    async fn start(clusters: &[(&'static str, &str, u64, u64)], hub_args: &[&str]) -> Fed {
        common::init();
        let data = std::env::temp_dir().join(format!(
            "hyperfed-faults-{}-{}",
            std::process::id(),
            free_port()
        ));
        let hub_listen = format!("127.0.0.1:{}", free_port());
        let hub_url = format!("http://{hub_listen}");
        let hub_args: Vec<String> = hub_args.iter().map(|s| s.to_string()).collect();
        let hub = start_hub(&hub_listen, &data, &hub_args);
        let mut sims = Vec::new();
        for (alias, archetype, seed, task_ms) in clusters {
            let listen = format!("127.0.0.1:{}", free_port());
            let sim = Proc::start(
                &format!("mock-{alias}"),
                &[
                    "mock",
                    "--listen",
                    &listen,
                    "--archetype",
                    archetype,
                    "--seed",
                    &seed.to_string(),
                    "--task-ms",
                    &task_ms.to_string(),
                    "--shutdown-ms",
                    &task_ms.to_string(),
                ],
                &[],
            );
            sims.push((*alias, format!("http://{listen}"), sim));
        }
        assert!(wait_http_ok(&format!("{hub_url}/health"), Duration::from_secs(20)).await);
        let mut out = Vec::new();
        for (alias, sim_url, sim) in sims {
            assert!(
                wait_http_ok(&format!("{sim_url}/_sim/truth"), Duration::from_secs(20)).await,
                "simulator {alias} did not start"
            );
            let listen = format!("127.0.0.1:{}", free_port());
            let no_read_cache = if worker_has_read_cache() {
                ["--read-cache-ttl", "0"]
            } else {
                ["--log", "info"]
            };
            let worker = Proc::start(
                alias,
                &[
                    "worker",
                    "--hypercore-url",
                    &sim_url,
                    "--username",
                    "admin",
                    "--listen",
                    &listen,
                    "--join",
                    &hub_url,
                    "--name",
                    alias,
                    "--wait-timeout",
                    "30s",
                    // Every read reaches the simulator, so its faults are what the test sees.
                    no_read_cache[0],
                    no_read_cache[1],
                ],
                &[
                    ("HYPERCORE_PASSWORD", "admin"),
                    ("HYPERFED_SECRET", SECRET),
                    ("HYPERFED_TOKEN", WORKER_TOKEN),
                ],
            );
            out.push(Cluster {
                alias,
                sim_url,
                _sim: sim,
                worker,
            });
        }
        let fed = Fed {
            hub: Some(hub),
            hub_listen,
            hub_url,
            hub_args,
            data,
            clusters: out,
            http: reqwest::Client::new(),
        };
        let all: Vec<&str> = fed.clusters.iter().map(|c| c.alias).collect();
        fed.wait_up(&all, Duration::from_secs(30)).await;
        fed
    }

    fn cluster(&self, alias: &str) -> &Cluster {
        self.clusters
            .iter()
            .find(|c| c.alias == alias)
            .expect("cluster of this test")
    }

    async fn clusters_up(&self) -> Vec<String> {
        let Ok(r) = self
            .http
            .get(format!("{}/v1/clusters", self.hub_url))
            .bearer_auth(HUB_TOKEN)
            .send()
            .await
        else {
            return Vec::new();
        };
        let v: Value = r.json().await.unwrap_or_default();
        v["clusters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter(|c| c["state"] == "up")
            .filter_map(|c| c["alias"].as_str().map(str::to_owned))
            .collect()
    }

    async fn wait_up(&self, want: &[&str], within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let up = self.clusters_up().await;
            if want.iter().all(|w| up.iter().any(|u| u == w)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "clusters up {up:?}, wanted {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn set_faults(&self, alias: &str, faults: Value) {
        let r = self
            .http
            .put(format!("{}/_sim/faults", self.cluster(alias).sim_url))
            .json(&faults)
            .send()
            .await
            .expect("PUT /_sim/faults");
        assert!(r.status().is_success(), "faults {faults} refused");
    }

    async fn truth(&self, alias: &str) -> Value {
        self.http
            .get(format!("{}/_sim/truth", self.cluster(alias).sim_url))
            .send()
            .await
            .expect("GET /_sim/truth")
            .json()
            .await
            .expect("truth JSON")
    }

    async fn audit(&self) -> Vec<Value> {
        let v: Value = self
            .http
            .get(format!("{}/v1/audit", self.hub_url))
            .bearer_auth(HUB_TOKEN)
            .send()
            .await
            .expect("GET /v1/audit")
            .json()
            .await
            .expect("audit JSON");
        v.get("entries")
            .or_else(|| v.get("audit"))
            .and_then(Value::as_array)
            .cloned()
            .or_else(|| v.as_array().cloned())
            .unwrap_or_default()
    }

    async fn client(&self) -> RunningService<RoleClient, ()> {
        mcp(&format!("{}/mcp", self.hub_url), HUB_TOKEN).await
    }

    fn hub_pid(&self) -> u32 {
        self.hub.as_ref().map(|h| h.child.id()).unwrap_or(0)
    }

    async fn restart_hub(&mut self) {
        if let Some(mut hub) = self.hub.take() {
            hub.terminate(Duration::from_secs(10));
        }
        self.hub = Some(start_hub(&self.hub_listen, &self.data, &self.hub_args));
        assert!(wait_http_ok(&format!("{}/health", self.hub_url), Duration::from_secs(20)).await);
    }
}

impl Drop for Fed {
    fn drop(&mut self) {
        self.hub.take();
        self.clusters.clear();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

async fn mcp(url: &str, token: &str) -> RunningService<RoleClient, ()> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(token.to_owned()),
    );
    ().serve(transport).await.expect("MCP session")
}

/// What a tool call gave the caller.
#[derive(Debug)]
enum Reply {
    /// A successful result's structured content.
    Ok(Value),
    /// A tool result with isError: its text.
    ToolError(String),
    /// A protocol or transport error.
    Failed(String),
    /// No answer within the bound.
    Hung,
}

impl Reply {
    fn text(&self) -> String {
        match self {
            Reply::Ok(v) => v.to_string(),
            Reply::ToolError(t) | Reply::Failed(t) => t.clone(),
            Reply::Hung => "no answer".into(),
        }
    }
}

async fn call_peer(
    peer: &rmcp::Peer<RoleClient>,
    name: &str,
    args: Value,
    bound: Duration,
) -> Reply {
    let req = CallToolRequestParams::new(name.to_owned())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    match tokio::time::timeout(bound, peer.call_tool(req)).await {
        Err(_) => Reply::Hung,
        Ok(Err(e)) => Reply::Failed(e.to_string()),
        Ok(Ok(r)) if r.is_error == Some(true) => Reply::ToolError(format!(
            "{} {}",
            serde_json::to_string(&r.content).unwrap_or_default(),
            r.structured_content.unwrap_or(Value::Null)
        )),
        Ok(Ok(r)) => Reply::Ok(r.structured_content.unwrap_or(Value::Null)),
    }
}

async fn call(
    client: &RunningService<RoleClient, ()>,
    name: &str,
    args: Value,
    bound: Duration,
) -> Reply {
    call_peer(client.peer(), name, args, bound).await
}

/// Names of startable (SHUTOFF, not a replication target) VMs in a simulator's truth.
fn shutoff_vms(truth: &Value) -> Vec<String> {
    truth["vms"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|v| {
            v["state"] == "SHUTOFF" && v["replication_source"].as_str().unwrap_or("").is_empty()
        })
        .filter_map(|v| v["name"].as_str().map(str::to_owned))
        .collect()
}

fn vm_state(truth: &Value, name: &str) -> String {
    truth["vms"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .find(|v| v["name"] == name)
        .and_then(|v| v["state"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// VmRSS of a process in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// True when an error text is specific: it names the cluster it came from.
fn specific(text: &str) -> bool {
    text.contains("flaky")
}

/// Latency spikes, a burst of 5xx, session expiry, dropped connections and a cluster that is
/// down: reads succeed or fail with a specific error naming the cluster, and never hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_faults_reach_the_caller_as_specific_errors() {
    let _serial = SERIAL.lock().await;
    let fed = Fed::start(&[("flaky", "edge", 21, 300)], &["--fanout-timeout", "2s"]).await;
    let client = fed.client().await;
    let bound = Duration::from_secs(20);
    let read = "flaky__vm_list";

    // Baseline.
    let r = call(&client, read, json!({}), bound).await;
    assert!(matches!(r, Reply::Ok(_)), "baseline: {r:?}");

    // Latency spike (below the fan-out timeout): reads and fan-out still answer.
    fed.set_faults("flaky", json!({"latency_ms": 600, "jitter_ms": 300}))
        .await;
    let r = call(&client, read, json!({}), bound).await;
    assert!(matches!(r, Reply::Ok(_)), "latency spike: {r:?}");
    let r = call(&client, "fleet_status", json!({}), bound).await;
    let Reply::Ok(fleet) = r else {
        panic!("fleet_status under latency: {r:?}")
    };
    assert_eq!(
        fleet.pointer("/totals/answered"),
        Some(&json!(1)),
        "{fleet}"
    );

    // A burst of 5xx: each read succeeds or names the cluster in its error.
    fed.set_faults("flaky", json!({"error_rate": 0.5})).await;
    let mut ok = 0;
    for _ in 0..12 {
        match call(&client, read, json!({}), bound).await {
            Reply::Ok(_) => ok += 1,
            Reply::ToolError(t) => assert!(specific(&t), "5xx error is not specific: {t}"),
            other => panic!("5xx burst: {other:?}"),
        }
    }
    eprintln!("5xx burst (error_rate 0.5): {ok}/12 reads succeeded");

    // Session expiry: the worker logs in again on its own.
    fed.set_faults("flaky", json!({"session_ttl_ms": 150}))
        .await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let r = call(&client, read, json!({}), bound).await;
        assert!(matches!(r, Reply::Ok(_)), "after session expiry: {r:?}");
    }

    // Dropped connections: each read succeeds or names the cluster.
    fed.set_faults("flaky", json!({"drop_connections_rate": 0.4}))
        .await;
    let mut ok = 0;
    for _ in 0..10 {
        match call(&client, read, json!({}), bound).await {
            Reply::Ok(_) => ok += 1,
            Reply::ToolError(t) => assert!(specific(&t), "dropped-connection error: {t}"),
            other => panic!("dropped connections: {other:?}"),
        }
    }
    eprintln!("dropped connections (rate 0.4): {ok}/10 reads succeeded");

    // Cluster down: a specific error, promptly; fan-out lists it unanswered.
    fed.set_faults("flaky", json!({"down": true})).await;
    let t = Instant::now();
    let r = call(&client, read, json!({}), bound).await;
    let took = t.elapsed();
    eprintln!("cluster down: answered in {took:?}: {}", r.text());
    assert!(
        took < Duration::from_secs(10),
        "cluster down: waited {took:?}"
    );
    match &r {
        Reply::ToolError(t) => assert!(specific(t), "down error is not specific: {t}"),
        other => panic!("cluster down: {other:?}"),
    }
    let r = call(&client, "fleet_status", json!({}), bound).await;
    let Reply::Ok(fleet) = r else {
        panic!("fleet_status with a cluster down: {r:?}")
    };
    assert_eq!(
        fleet.pointer("/totals/answered"),
        Some(&json!(0)),
        "{fleet}"
    );
    assert!(fleet["unanswered"].to_string().contains("flaky"), "{fleet}");

    // Back up: reads work again.
    fed.set_faults("flaky", json!({})).await;
    let r = call(&client, read, json!({}), bound).await;
    assert!(matches!(r, Reply::Ok(_)), "after recovery: {r:?}");
    let _ = client.cancel().await;
}

/// Issue 6: reads are retried with bounded backoff, so a short burst of 5xx (every request fails
/// for 150 ms) does not reach the caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_retried_through_a_burst_of_5xx() {
    let _serial = SERIAL.lock().await;
    let fed = Fed::start(&[("retry", "edge", 22, 300)], &[]).await;
    let client = fed.client().await;
    for round in 0..3 {
        fed.set_faults("retry", json!({"error_rate": 1.0})).await;
        let peer = client.peer().clone();
        let read = tokio::spawn(async move {
            call_peer(&peer, "retry__vm_list", json!({}), Duration::from_secs(20)).await
        });
        tokio::time::sleep(Duration::from_millis(150)).await;
        fed.set_faults("retry", json!({})).await;
        let r = read.await.expect("read task");
        assert!(
            matches!(r, Reply::Ok(_)),
            "round {round}: read not retried: {r:?}"
        );
    }
    let _ = client.cancel().await;
}

/// Issue 6: every failure reaches the caller as a specific error naming the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cluster_failure_names_the_cluster() {
    let _serial = SERIAL.lock().await;
    let fed = Fed::start(&[("named", "edge", 23, 300)], &[]).await;
    let client = fed.client().await;
    for faults in [
        json!({"error_rate": 1.0}),
        json!({"drop_connections_rate": 1.0}),
        json!({"down": true}),
    ] {
        fed.set_faults("named", faults.clone()).await;
        let r = call(
            &client,
            "named__vm_list",
            json!({}),
            Duration::from_secs(20),
        )
        .await;
        match r {
            Reply::ToolError(t) => assert!(t.contains("named"), "{faults}: {t}"),
            other => panic!("{faults}: expected a tool error, got {other:?}"),
        }
    }
    let _ = client.cancel().await;
}

/// One cluster answering slowly never delays another's answer beyond the fan-out timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_slow_cluster_never_delays_another() {
    let _serial = SERIAL.lock().await;
    const FANOUT_MS: u64 = 1000;
    let fed = Fed::start(
        &[("fast", "edge", 31, 300), ("slow", "edge", 32, 300)],
        &["--fanout-timeout", "1s"],
    )
    .await;
    let client = fed.client().await;
    fed.set_faults("slow", json!({"latency_ms": 6000})).await;

    let t = Instant::now();
    let r = call(&client, "fleet_status", json!({}), Duration::from_secs(20)).await;
    let took = t.elapsed();
    let Reply::Ok(fleet) = r else {
        panic!("fleet_status: {r:?}")
    };
    assert!(
        took < Duration::from_millis(FANOUT_MS + 3000),
        "fan-out took {took:?}"
    );
    assert_eq!(
        fleet.pointer("/totals/answered"),
        Some(&json!(1)),
        "{fleet}"
    );
    assert!(fleet["unanswered"].to_string().contains("slow"), "{fleet}");

    // A direct read of the fast cluster while a slow read is in flight.
    let peer = client.peer().clone();
    let slow = tokio::spawn(async move {
        call_peer(&peer, "slow__vm_list", json!({}), Duration::from_secs(30)).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    let r = call(&client, "fast__vm_list", json!({}), Duration::from_secs(20)).await;
    let took = t.elapsed();
    assert!(matches!(r, Reply::Ok(_)), "fast read: {r:?}");
    assert!(
        took < Duration::from_millis(FANOUT_MS + 3000),
        "fast read took {took:?} behind a slow one"
    );
    assert!(!slow.is_finished(), "the slow read should still be running");
    let slow = slow.await.expect("slow read task");
    assert!(!matches!(slow, Reply::Hung), "slow read hung");
    let _ = client.cancel().await;
}

/// What a caller and the audit log saw when a worker was lost during a routed action.
struct Lost {
    took: Duration,
    reply: Reply,
    audit: Value,
    vm_state_after: String,
}

/// Starts `vm_start` on a SHUTOFF VM through the hub's routed tool, sends `signal` to the
/// worker while the cluster's task runs, and collects what the caller and the audit log saw.
async fn lose_worker_during_action(fed: &Fed, alias: &str, signal: &str) -> Lost {
    let truth = fed.truth(alias).await;
    let vm = shutoff_vms(&truth)
        .into_iter()
        .next()
        .expect("a SHUTOFF VM");
    let client = fed.client().await;
    let peer = client.peer().clone();
    let target = format!("{alias}/{vm}");
    let action = tokio::spawn(async move {
        let t = Instant::now();
        let r = call_peer(
            &peer,
            "vm_start",
            json!({"vm": target}),
            Duration::from_secs(30),
        )
        .await;
        (t.elapsed(), r)
    });
    // The worker submits the start at once; the cluster's task then runs for its task time.
    // Lose the worker while that task is running.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let worker = &fed.cluster(alias).worker;
    worker.signal(signal);
    let (took, reply) = action.await.expect("action task");
    if signal == "STOP" {
        worker.signal("CONT");
    }
    let _ = client.cancel().await;
    let audit = fed
        .audit()
        .await
        .into_iter()
        .rev()
        .find(|e| e["cluster"] == alias && e["tool"] == "vm_start")
        .unwrap_or(Value::Null);
    // The simulated cluster finishes the task it accepted.
    let mut vm_state_after = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        vm_state_after = vm_state(&fed.truth(alias).await, &vm);
        if vm_state_after == "RUNNING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Lost {
        took,
        reply,
        audit,
        vm_state_after,
    }
}

/// A worker frozen (SIGSTOP) and a worker killed (SIGKILL) during a routed action the cluster had
/// accepted: the caller gets an error naming the cluster within the call timeout, and the audit
/// log records the outcome as unknown with the task tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_frozen_or_killed_during_a_routed_action() {
    let _serial = SERIAL.lock().await;
    const CALL_TIMEOUT_MS: u64 = 2000;
    let fed = Fed::start(
        &[("frozen", "edge", 41, 4000), ("killed", "edge", 42, 4000)],
        &["--call-timeout", "2s", "--fanout-timeout", "1s"],
    )
    .await;
    for (alias, signal) in [("frozen", "STOP"), ("killed", "KILL")] {
        let lost = lose_worker_during_action(&fed, alias, signal).await;
        eprintln!(
            "{signal} during vm_start on {alias}: answered in {:?}: {}; audit: {}; VM afterwards: {}",
            lost.took,
            lost.reply.text(),
            lost.audit,
            lost.vm_state_after
        );
        assert!(
            lost.took < Duration::from_millis(CALL_TIMEOUT_MS + 4000),
            "{signal}: the caller waited {:?}",
            lost.took
        );
        match &lost.reply {
            Reply::ToolError(t) => {
                assert!(t.contains(alias), "{signal}: error names no cluster: {t}")
            }
            other => panic!("{signal}: expected a tool error naming {alias}, got {other:?}"),
        }
        // The cluster had accepted the action: its outcome is unknown, with the task tag.
        assert!(
            lost.reply.text().contains("unknown"),
            "{signal}: caller told {}",
            lost.reply.text()
        );
        assert_eq!(
            lost.audit["outcome"], "unknown",
            "{signal}: audit record {}",
            lost.audit
        );
        assert!(
            lost.audit["task_tag"]
                .as_str()
                .is_some_and(|t| !t.is_empty()),
            "{signal}: audit record has no task tag: {}",
            lost.audit
        );
        assert!(lost.audit.get("completed").is_some(), "{}", lost.audit);
        assert_eq!(
            lost.vm_state_after, "RUNNING",
            "the cluster had accepted the start"
        );
    }
}

/// Hub restart while clients call in a loop: in-flight calls fail cleanly (no call is left
/// without an answer), workers re-join, clients reconnect, new sessions work and the audit log
/// survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_restart_under_load() {
    restart_under_load(true).await;
}

/// Restarts the hub while four clients call a read in a loop; `strict` also demands no hung call.
async fn restart_under_load(strict: bool) {
    let _serial = SERIAL.lock().await;
    let mut fed = Fed::start(&[("steady", "edge", 51, 300)], &[]).await;
    let truth = fed.truth("steady").await;
    let vm = shutoff_vms(&truth)
        .into_iter()
        .next()
        .expect("a SHUTOFF VM");
    let client = fed.client().await;
    let r = call(
        &client,
        "vm_start",
        json!({"vm": format!("steady/{vm}")}),
        Duration::from_secs(20),
    )
    .await;
    assert!(matches!(r, Reply::Ok(_)), "action before restart: {r:?}");
    let _ = client.cancel().await;

    let stop = Arc::new(AtomicBool::new(false));
    let restarted = Arc::new(AtomicBool::new(false));
    let hangs = Arc::new(AtomicUsize::new(0));
    // Clients that have had a call answered since the restart.
    let back = Arc::new(AtomicUsize::new(0));
    let mut loops = Vec::new();
    for _ in 0..4 {
        let (stop, restarted, hangs, back) =
            (stop.clone(), restarted.clone(), hangs.clone(), back.clone());
        let url = format!("{}/mcp", fed.hub_url);
        loops.push(tokio::spawn(async move {
            let (mut ok_before, mut ok_after, mut failed) = (0usize, 0usize, 0usize);
            while !stop.load(Ordering::SeqCst) {
                let transport = StreamableHttpClientTransport::from_config(
                    StreamableHttpClientTransportConfig::with_uri(url.clone())
                        .auth_header(HUB_TOKEN.to_owned()),
                );
                let session = match tokio::time::timeout(
                    Duration::from_secs(10),
                    ().serve(transport),
                )
                .await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(_)) => {
                        failed += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    Err(_) => {
                        hangs.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                };
                while !stop.load(Ordering::SeqCst) {
                    let after = restarted.load(Ordering::SeqCst);
                    // A hang is a call with no answer at all: the bound is far above the
                    // hub's shutdown window (200 ms + at most 3 s), so machine noise is no hang.
                    match call(
                        &session,
                        "steady__cluster_info",
                        json!({}),
                        Duration::from_secs(15),
                    )
                    .await
                    {
                        Reply::Ok(_) if after => {
                            if ok_after == 0 {
                                back.fetch_add(1, Ordering::SeqCst);
                            }
                            ok_after += 1
                        }
                        Reply::Ok(_) => ok_before += 1,
                        Reply::Hung => {
                            eprintln!("hung call (restarted: {after})");
                            hangs.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        other @ (Reply::ToolError(_) | Reply::Failed(_)) => {
                            eprintln!("failed call (restarted: {after}): {}", other.text());
                            failed += 1;
                            break;
                        }
                    }
                }
                let _ = tokio::time::timeout(Duration::from_secs(2), session.cancel()).await;
            }
            (ok_before, ok_after, failed)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    fed.restart_hub().await;
    fed.wait_up(&["steady"], Duration::from_secs(30)).await;
    restarted.store(true, Ordering::SeqCst);
    // Let every client get through at least once after the restart (bounded), then stop.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while back.load(Ordering::SeqCst) < 4 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let mut totals = (0, 0, 0);
    for l in loops {
        let (b, a, f) = l.await.expect("client loop");
        eprintln!("client loop: {b} ok before, {a} ok after, {f} failed");
        assert!(
            !strict || a > 0,
            "a client never succeeded after the restart"
        );
        totals = (totals.0 + b, totals.1 + a, totals.2 + f);
    }
    eprintln!(
        "hub restart under load: {} calls before, {} after, {} failed cleanly, {} hung",
        totals.0,
        totals.1,
        totals.2,
        hangs.load(Ordering::SeqCst)
    );
    assert!(totals.0 > 0, "no call succeeded before the restart");
    assert!(totals.1 > 0, "no call succeeded after the restart");
    if strict {
        assert_eq!(
            hangs.load(Ordering::SeqCst),
            0,
            "calls got no answer across the restart"
        );
    }
    let audit = fed.audit().await;
    assert!(
        audit
            .iter()
            .any(|e| e["tool"] == "vm_start" && e["cluster"] == "steady" && e["outcome"] == "ok"),
        "audit after restart: {audit:?}"
    );
    let client = fed.client().await;
    let r = call(
        &client,
        "steady__vm_list",
        json!({}),
        Duration::from_secs(20),
    )
    .await;
    assert!(
        matches!(r, Reply::Ok(_)),
        "new session after restart: {r:?}"
    );
    let _ = client.cancel().await;
}

/// Runs two `vm_start` calls at once through the hub and returns how long both took.
async fn two_starts(fed: &Fed, a: String, b: String) -> Duration {
    let client = fed.client().await;
    let (p1, p2) = (client.peer().clone(), client.peer().clone());
    let bound = Duration::from_secs(30);
    let t = Instant::now();
    let (r1, r2) = tokio::join!(
        call_peer(&p1, "vm_start", json!({"vm": a}), bound),
        call_peer(&p2, "vm_start", json!({"vm": b}), bound)
    );
    let took = t.elapsed();
    assert!(
        matches!(r1, Reply::Ok(_)) && matches!(r2, Reply::Ok(_)),
        "{r1:?} {r2:?}"
    );
    let _ = client.cancel().await;
    took
}

/// Simulated task time of the concurrency tests: each start waits for its task.
const TASK_MS: u64 = 2000;

/// Two power actions on one cluster run one after the other; on different clusters, in parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_actions_serialise_per_cluster_and_overlap_across_clusters() {
    let _serial = SERIAL.lock().await;
    let fed = Fed::start(
        &[
            ("one", "datacenter", 61, TASK_MS),
            ("two", "datacenter", 62, TASK_MS),
        ],
        &[],
    )
    .await;
    let one = shutoff_vms(&fed.truth("one").await);
    let two = shutoff_vms(&fed.truth("two").await);
    assert!(one.len() >= 3 && !two.is_empty(), "{one:?} {two:?}");
    let same = two_starts(&fed, format!("one/{}", one[0]), format!("one/{}", one[1])).await;
    let across = two_starts(&fed, format!("one/{}", one[2]), format!("two/{}", two[0])).await;
    eprintln!(
        "two starts on one cluster: {same:?}; on two clusters: {across:?} (task {TASK_MS} ms)"
    );
    // Serialised, the second task cannot finish before two task durations.
    assert!(
        same >= Duration::from_millis(2 * TASK_MS),
        "two actions on one cluster overlapped ({same:?})"
    );
    assert!(
        across < Duration::from_millis(2 * TASK_MS),
        "actions on two clusters ran one after the other ({across:?})"
    );
}

/// Soak: 16 concurrent MCP sessions through the hub for HYPERFED_SOAK_SECS (default 5; 60 on
/// demand) with zero errors and a flat hub RSS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_sixteen_sessions_through_the_hub() {
    let _serial = SERIAL.lock().await;
    let secs: u64 = std::env::var("HYPERFED_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let fed = Fed::start(
        &[("soak-a", "edge", 71, 300), ("soak-b", "edge", 72, 300)],
        &[],
    )
    .await;
    let mut sessions = Vec::new();
    for _ in 0..16 {
        sessions.push(fed.client().await);
    }
    // Warm up every session once before the first measurement.
    for s in &sessions {
        let r = call(
            s,
            "soak-a__cluster_info",
            json!({}),
            Duration::from_secs(20),
        )
        .await;
        assert!(matches!(r, Reply::Ok(_)), "warm-up: {r:?}");
    }
    let pid = fed.hub_pid();
    let rss_start = rss_kib(pid);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for (i, s) in sessions.iter().enumerate() {
        let peer = s.peer().clone();
        tasks.push(tokio::spawn(async move {
            let tools = [
                "soak-a__cluster_info",
                "soak-b__vm_list",
                "fleet_status",
                "soak-b__condition_list",
            ];
            let (mut calls, mut errors) = (0usize, Vec::new());
            let mut k = i;
            while Instant::now() < deadline {
                let name = tools[k % tools.len()];
                k += 1;
                calls += 1;
                match call_peer(&peer, name, json!({}), Duration::from_secs(20)).await {
                    Reply::Ok(_) => {}
                    other => errors.push(format!("{name}: {}", other.text())),
                }
            }
            (calls, errors)
        }));
    }
    let (mut calls, mut errors) = (0, Vec::new());
    for t in tasks {
        let (c, e) = t.await.expect("soak task");
        calls += c;
        errors.extend(e);
    }
    let rss_end = rss_kib(pid);
    for s in sessions {
        let _ = s.cancel().await;
    }
    eprintln!(
        "soak: {secs} s, 16 sessions, {calls} calls, {} errors, hub RSS {rss_start} KiB -> {rss_end} KiB",
        errors.len()
    );
    assert!(
        errors.is_empty(),
        "soak errors: {:?}",
        &errors[..errors.len().min(5)]
    );
    assert!(calls > 16, "the soak made only {calls} calls");
    assert!(rss_start > 0 && rss_end > 0, "could not read the hub's RSS");
    assert!(
        rss_end.saturating_sub(rss_start) < 30 * 1024,
        "hub RSS grew from {rss_start} KiB to {rss_end} KiB"
    );
}
