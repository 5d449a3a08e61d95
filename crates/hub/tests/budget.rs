//! The context budget with real workers on simulated clusters (archetypes rotating like
//! `hyperfed demo`), all in this process on loopback: at 12 and 100 clusters the default
//! (`auto`) tools/list stays within 128 tools and 64 KiB, every read tool answers at most
//! 16 KiB with its default arguments, totals are complete and a `vm_search` cursor walks
//! every VM exactly once; `auto` switches modes as clusters join and leave, with
//! `list_changed`. `BUDGET_TABLE=1` prints the BENCHMARKS.md rows (bytes and o200k tokens).

mod common;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{FakeCluster, FakeWorker, SECRET, call, client};
use hypercore_sim::Archetype;
use hyperfed_hub::{Health, HubConfig, HubHandle, ToolsMode};
use hyperfed_protocol::Secret;
use hyperfed_worker::{JoinConfig, WorkerConfig, WorkerHandle};
use serde_json::{Value, json};

const RESULT_BUDGET: usize = 16 * 1024;
const LIST_BYTES: usize = 64 * 1024;
const LIST_TOOLS: usize = 128;
const ARCHETYPES: [Archetype; 4] = [
    Archetype::Edge,
    Archetype::Datacenter,
    Archetype::Dr,
    Archetype::Lab,
];

struct Fleet {
    hub: HubHandle,
    workers: Vec<WorkerHandle>,
    aliases: Vec<String>,
}

async fn worker(hub: &str, i: usize) -> (WorkerHandle, String) {
    let archetype = ARCHETYPES[i % ARCHETYPES.len()];
    let name = format!("{}-{}", archetype.name(), i + 1);
    let mut config = WorkerConfig::mock(Some(archetype), 7 + i as u64);
    config.join = Some(JoinConfig {
        hub_url: hub.to_owned(),
        secret: Secret::new(SECRET),
        name: Some(name.clone()),
        advertise: None,
    });
    (hyperfed_worker::start(config).await.unwrap(), name)
}

async fn fleet(n: usize, mode: ToolsMode) -> Fleet {
    let mut cfg = HubConfig::new("127.0.0.1:0".parse().unwrap(), Secret::new(SECRET));
    cfg.tools_mode = mode;
    cfg.fanout_timeout = Duration::from_secs(30);
    let hub = hyperfed_hub::start(cfg).await.unwrap();
    let mut fleet = Fleet {
        hub,
        workers: Vec::new(),
        aliases: Vec::new(),
    };
    for i in 0..n {
        let (w, name) = worker(&fleet.hub.base_url(), i).await;
        fleet.workers.push(w);
        fleet.aliases.push(name);
    }
    wait_up(&fleet.hub, n).await;
    fleet
}

async fn wait_up(hub: &HubHandle, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let c = hub.clusters();
        if c.len() == n && c.iter().all(|c| c.state == Health::Up) {
            return;
        }
        assert!(Instant::now() < deadline, "{n} clusters did not join");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Fleet {
    async fn stop(self) {
        for w in self.workers {
            w.shutdown().await;
        }
        self.hub.shutdown().await;
    }

    fn truths(&self) -> Vec<Value> {
        self.workers
            .iter()
            .map(|w| w.sim().expect("mock worker").truth())
            .collect()
    }
}

fn tokens(text: &str) -> usize {
    use std::sync::OnceLock;
    static BPE: OnceLock<tiktoken_rs::CoreBPE> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().expect("o200k_base loads"))
        .encode_ordinary(text)
        .len()
}

fn bytes_of(v: &Value) -> usize {
    serde_json::to_vec(v).unwrap().len()
}

/// A table row: what, bytes, tokens.
fn row(what: &str, v: &Value) -> String {
    let text = serde_json::to_string(v).unwrap();
    format!("| {what} | {} | {} |", text.len(), tokens(&text))
}

/// The least arguments a compact tool needs, from the cluster's truth.
fn default_args(tool: &rmcp::model::Tool, alias: &str, truth: &Value) -> Value {
    let mut args = json!({"cluster": alias});
    let required = tool
        .input_schema
        .get("required")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for key in required.iter().filter_map(Value::as_str) {
        args[key] = match key {
            "cluster" => json!(alias),
            "vm" => truth["vms"][0]["uuid"].clone(),
            "snapshot" => truth["snapshots"][0]["uuid"].clone(),
            "node" => truth["nodes"][0]["uuid"].clone(),
            "task_tag" => json!("1"),
            "query" => json!("vm"),
            "path" => json!("/VirDomain"),
            _ => json!("budget"),
        };
    }
    args
}

/// Asserts the budgets at `n` clusters (auto mode) and returns the table rows.
async fn check_fleet(n: usize) -> Vec<String> {
    let started = Instant::now();
    let fleet = fleet(n, ToolsMode::Auto).await;
    let joined = started.elapsed();
    let truths = fleet.truths();
    let (hub_client, _) = client(&fleet.hub.mcp_url(), None).await;
    let mut rows = Vec::new();

    // tools/list within the budget; the instructions say which mode and why.
    let tools = hub_client.list_all_tools().await.unwrap();
    let listed = json!({ "tools": tools });
    assert!(tools.len() <= LIST_TOOLS, "{} tools", tools.len());
    assert!(
        bytes_of(&listed) <= LIST_BYTES,
        "{} bytes",
        bytes_of(&listed)
    );
    let instructions = hub_client
        .peer_info()
        .and_then(|i| i.instructions.clone())
        .unwrap_or_default();
    assert!(
        instructions.contains("Tools mode compact (--tools auto"),
        "{instructions}"
    );
    rows.push(row(&format!("tools/list, auto, {n} clusters"), &listed));

    // The fleet tools' default results: within the budget, totals complete.
    let vm_total: usize = truths
        .iter()
        .map(|t| t["vms"].as_array().unwrap().len())
        .sum();
    let (status, err) = call(&hub_client, "fleet_status", json!({})).await;
    assert!(!err, "{status}");
    assert!(bytes_of(&status) <= RESULT_BUDGET);
    assert_eq!(status["totals"]["vms"]["total"], vm_total);
    assert_eq!(status["totals"]["answered"], n);
    assert_eq!(status["tools_mode"]["active"], "compact");
    rows.push(row(&format!("`fleet_status {{}}`, {n} clusters"), &status));
    let (conds, err) = call(&hub_client, "fleet_conditions", json!({})).await;
    assert!(!err, "{conds}");
    assert!(bytes_of(&conds) <= RESULT_BUDGET);
    let raised: u64 = truths
        .iter()
        .map(|t| t["totals"]["conditions_raised"].as_u64().unwrap())
        .sum();
    assert_eq!(conds["total"], raised);
    rows.push(row(
        &format!("`fleet_conditions {{}}`, {n} clusters"),
        &conds,
    ));

    // vm_search {}: a summary and a first page; the cursor walks every VM exactly once.
    let (first, err) = call(&hub_client, "vm_search", json!({})).await;
    assert!(!err, "{first}");
    rows.push(row(&format!("`vm_search {{}}`, {n} clusters"), &first));
    assert_eq!(first["total"], vm_total);
    let by_state: u64 = first["summary"]["by_state"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_state as usize, vm_total);
    let mut seen = HashSet::new();
    let mut page = first;
    let mut pages = 0;
    let walk = Instant::now();
    loop {
        pages += 1;
        assert!(bytes_of(&page) <= RESULT_BUDGET, "page {pages}");
        assert_eq!(page["total"], vm_total);
        for vm in page["vms"].as_array().unwrap() {
            let key = format!("{}/{}", vm["cluster"].as_str().unwrap(), vm["uuid"]);
            assert!(seen.insert(key), "{vm} twice");
        }
        let Some(cursor) = page["next_cursor"].as_str() else {
            break;
        };
        let (next, err) = call(&hub_client, "vm_search", json!({"cursor": cursor})).await;
        assert!(!err, "{next}");
        page = next;
    }
    let walked = walk.elapsed();
    let expected: HashSet<String> = truths
        .iter()
        .zip(&fleet.aliases)
        .flat_map(|(t, a)| {
            t["vms"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |v| format!("{a}/{}", v["uuid"]))
        })
        .collect();
    assert_eq!(seen, expected);
    println!(
        "{n} clusters: joined in {joined:?}; vm_search walked {vm_total} VMs in {pages} pages in {walked:?}"
    );

    // Every other read tool with its default arguments, on the biggest cluster.
    let (big, truth) = fleet
        .aliases
        .iter()
        .zip(&truths)
        .max_by_key(|(_, t)| t["vms"].as_array().unwrap().len())
        .unwrap();
    for tool in &tools {
        let read = tool
            .annotations
            .as_ref()
            .and_then(|a| a.read_only_hint)
            .unwrap_or(false);
        if !read || tool.name.starts_with("fleet_") || tool.name == "vm_search" {
            continue;
        }
        let args = default_args(tool, big, truth);
        let (out, _) = call(&hub_client, &tool.name, args.clone()).await;
        assert!(
            bytes_of(&out) <= RESULT_BUDGET,
            "{} {args}: {} bytes",
            tool.name,
            bytes_of(&out)
        );
    }
    hub_client.cancel().await.unwrap();
    fleet.stop().await;
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_and_a_hundred_clusters_fit_the_budget() {
    let mut rows = check_fleet(12).await;
    rows.extend(check_fleet(100).await);
    if std::env::var_os("BUDGET_TABLE").is_some() {
        println!("{}", rows.join("\n"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_mode_follows_the_fleet_with_list_changed() {
    let mut cfg = HubConfig::new("127.0.0.1:0".parse().unwrap(), Secret::new(SECRET));
    cfg.heartbeat_interval = Duration::from_millis(250);
    let hub = hyperfed_hub::start(cfg).await.unwrap();
    let a = FakeWorker::start(
        FakeCluster::archetype("edge", 1),
        &hub.base_url(),
        Some("a"),
    )
    .await;
    a.wait_joins(1).await;
    let (hub_client, rec) = client(&hub.mcp_url(), None).await;
    let names = |tools: &[rmcp::model::Tool]| -> Vec<String> {
        tools.iter().map(|t| t.name.to_string()).collect()
    };
    let one = hub_client.list_all_tools().await.unwrap();
    assert!(
        names(&one).iter().any(|n| n == "a__vm_list"),
        "a small fleet fits namespaced: {:?}",
        names(&one)
    );
    let info = hub_client.peer_info().and_then(|i| i.instructions.clone());
    assert!(
        info.as_deref()
            .is_some_and(|i| i.contains("Tools mode namespaced (--tools auto")),
        "{info:?}"
    );

    // A cluster with many tools makes the namespaced list too big: compact, clients told.
    let before = rec.list_changed.load(Ordering::SeqCst);
    let big = FakeCluster::archetype("datacenter", 2);
    *big.extra_tools.lock().unwrap() = (0..130).map(|i| format!("extra_{i}")).collect();
    let b = FakeWorker::start(big, &hub.base_url(), Some("b")).await;
    b.wait_joins(1).await;
    common::eventually("list_changed after the join", || {
        rec.list_changed.load(Ordering::SeqCst) > before
    })
    .await;
    let two = hub_client.list_all_tools().await.unwrap();
    assert!(
        !names(&two).iter().any(|n| n.contains("__")),
        "{:?}",
        names(&two)
    );
    assert!(names(&two).iter().any(|n| n == "vm_list"));
    let (status, _) = call(&hub_client, "fleet_status", json!({})).await;
    assert_eq!(status["tools_mode"]["active"], "compact", "{status}");
    assert!(
        status["tools_mode"]["why"]
            .as_str()
            .unwrap()
            .contains("over the budget"),
        "{status}"
    );

    // It leaves: back to namespaced, and clients are told again.
    let before = rec.list_changed.load(Ordering::SeqCst);
    assert_eq!(b.leave().await, 204);
    common::eventually("list_changed after the leave", || {
        rec.list_changed.load(Ordering::SeqCst) > before
    })
    .await;
    let back = hub_client.list_all_tools().await.unwrap();
    assert!(names(&back).iter().any(|n| n == "a__vm_list"));
    hub_client.cancel().await.unwrap();
    b.shutdown().await;
    a.shutdown().await;
    hub.shutdown().await;
}

/// The BENCHMARKS.md table of tools/list sizes per mode and fleet size (slow: a fleet per
/// mode; run with `cargo test -p hyperfed-hub --release --test budget -- --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement for BENCHMARKS.md; run explicitly"]
async fn tools_list_per_mode_and_fleet_size() {
    let sizes: Vec<usize> = std::env::var("BUDGET_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 12, 100]);
    for n in sizes {
        for mode in [
            ToolsMode::Auto,
            ToolsMode::Namespaced,
            ToolsMode::Compact,
            ToolsMode::Both,
        ] {
            let fleet = fleet(n, mode).await;
            let (hub_client, _) = client(&fleet.hub.mcp_url(), None).await;
            let tools = hub_client.list_all_tools().await.unwrap();
            let listed = serde_json::to_string(&json!({ "tools": tools })).unwrap();
            let (status, _) = call(&hub_client, "fleet_status", json!({})).await;
            println!(
                "| {n} | {mode} ({}) | {} | {} | {} |",
                status["tools_mode"]["active"].as_str().unwrap_or("?"),
                tools.len(),
                listed.len(),
                tokens(&listed)
            );
            hub_client.cancel().await.unwrap();
            fleet.stop().await;
        }
    }
}

/// The BENCHMARKS.md table of each worker tool's default result (datacenter seed 7, and the
/// same archetype generated with 2,000 VMs), in bytes and tokens; run like the one above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement for BENCHMARKS.md; run explicitly"]
async fn worker_default_results() {
    use rmcp::ServiceExt as _;
    use rmcp::transport::StreamableHttpClientTransport;
    let mut tables = Vec::new();
    for vms in [None, Some(2000)] {
        let mut config = WorkerConfig::mock(Some(Archetype::Datacenter), 7);
        if let hyperfed_worker::ClusterSource::Mock(sim) = &mut config.cluster {
            sim.vm_count = vms;
        }
        let w = hyperfed_worker::start(config).await.unwrap();
        let truth = w.sim().expect("mock").truth();
        let c = ().serve(StreamableHttpClientTransport::from_uri(w.mcp_url())).await.unwrap();
        let tools = c.list_all_tools().await.unwrap();
        let mut rows = vec![row("tools/list", &json!({ "tools": tools }))];
        for tool in &tools {
            let ann = tool.annotations.clone().unwrap_or_default();
            if ann.read_only_hint != Some(true) && ann.destructive_hint != Some(true) {
                continue;
            }
            let mut args = default_args(tool, "", &truth);
            if let Some(m) = args.as_object_mut() {
                m.remove("cluster");
            }
            let p = rmcp::model::CallToolRequestParams::new(tool.name.to_string())
                .with_arguments(args.as_object().cloned().unwrap_or_default());
            let r = c.call_tool(p).await.unwrap();
            let out = r.structured_content.unwrap_or(Value::Null);
            rows.push(row(&format!("`{}`", tool.name), &out));
        }
        tables.push(rows);
        c.cancel().await.unwrap();
        w.shutdown().await;
    }
    for (a, b) in tables[0].iter().zip(&tables[1]) {
        let b: Vec<&str> = b.split('|').collect();
        println!("{a} {} | {} |", b[2].trim(), b[3].trim());
    }
}
