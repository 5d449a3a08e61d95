//! Issue #15: each test performs one attack found against the hub (a lying worker holding the
//! join secret, a read token, a replayed join, a session flood) and asserts it fails.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::liar::{self, Liar};
use common::*;
use hyperfed_hub::{HubConfig, Scope, ToolsMode, issue_token};
use hyperfed_protocol::Secret;
use serde_json::{Value, json};

const STATIC: &str = "hardening-static-token-0123456789";

fn config() -> HubConfig {
    let mut c = HubConfig::new("127.0.0.1:0".parse().unwrap(), Secret::new(SECRET));
    c.heartbeat_interval = Duration::from_millis(250);
    c.fanout_timeout = Duration::from_secs(2);
    c.call_timeout = Duration::from_secs(5);
    c
}

async fn audit(base: &str, token: &str) -> Vec<Value> {
    let v: Value = reqwest::Client::new()
        .get(format!("{base}/v1/audit?limit=1000"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["entries"].as_array().cloned().unwrap_or_default()
}

async fn names(
    client: &rmcp::service::RunningService<rmcp::RoleClient, Recorder>,
) -> BTreeSet<String> {
    client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect()
}

/// Item 1: in compact mode a worker whose alias sorts first claims `vm_start`, `vm_stop` and
/// `power_cycle` are read-only. A read token still cannot see or call them on any cluster, an
/// admin's actions on the honest clusters are audited, and the lie changes nothing for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item1_a_lying_manifest_decides_nothing_for_other_clusters() {
    let dir = TempDir::new("item1");
    let mut c = config();
    c.tools_mode = ToolsMode::Compact;
    c.token = Some(Secret::new(STATIC));
    c.data_dir = Some(dir.0.clone());
    let hub = hyperfed_hub::start(c).await.unwrap();
    let read = issue_token(&dir.0, Scope::Read, Duration::from_secs(600), "reader").unwrap();

    // The liar sorts first ("a0") and lies about three actions.
    let lies = Liar::serve(vec![
        liar::tool("vm_start", true, false, true),
        liar::tool("vm_stop", true, false, true),
        liar::tool("power_cycle", true, false, false),
        liar::tool("vm_list", true, false, false),
    ])
    .await;
    let (status, joined) = lies.join(&hub.base_url(), "a0", "liar-uuid").await;
    assert_eq!(status, 200, "{joined}");
    let _beat = liar::keep_alive(&hub.base_url(), &joined, Duration::from_millis(100));
    // An honest worker that offers power_cycle as the action it is.
    let honest = Liar::serve(vec![liar::tool("power_cycle", false, true, false)]).await;
    let (status, joined_h) = honest.join(&hub.base_url(), "h1", "honest-uuid").await;
    assert_eq!(status, 200, "{joined_h}");
    let _beat_h = liar::keep_alive(&hub.base_url(), &joined_h, Duration::from_millis(100));
    let worker =
        FakeWorker::start(FakeCluster::archetype("dr", 1), &hub.base_url(), Some("c1")).await;
    worker.wait_joins(1).await;
    let off = worker
        .cluster
        .vms()
        .into_iter()
        .find(|v| v.state == "SHUTOFF")
        .unwrap();
    let on = worker
        .cluster
        .vms()
        .into_iter()
        .find(|v| v.state == "RUNNING")
        .unwrap();

    let (reader, _) = client(&hub.mcp_url(), Some(&read)).await;
    let visible = names(&reader).await;
    for n in ["vm_start", "vm_stop", "power_cycle"] {
        assert!(!visible.contains(n), "read sees {n}: {visible:?}");
    }
    assert!(visible.contains("vm_list"), "{visible:?}");
    // Calling them anyway: refused, nothing runs.
    let (v, err) = call(
        &reader,
        "vm_start",
        json!({"vm": off.uuid, "cluster": "c1"}),
    )
    .await;
    assert!(err, "read started a VM: {v}");
    let (v, err) = call(
        &reader,
        "vm_stop",
        json!({"vm": on.uuid, "cluster": "c1", "confirm_token": "confirm-stop"}),
    )
    .await;
    assert!(err, "read stopped a VM: {v}");
    let (v, err) = call(&reader, "power_cycle", json!({"cluster": "h1"})).await;
    assert!(err, "read power-cycled: {v}");
    let now = worker.cluster.vms();
    assert_eq!(
        now.iter().find(|v| v.uuid == off.uuid).unwrap().state,
        "SHUTOFF"
    );
    assert_eq!(
        now.iter().find(|v| v.uuid == on.uuid).unwrap().state,
        "RUNNING"
    );
    assert!(honest.calls().is_empty(), "{:?}", honest.calls());
    let _ = reader.cancel().await;

    // An admin's actions on the honest clusters are audited.
    let (admin, _) = client(&hub.mcp_url(), Some(STATIC)).await;
    let (v, err) = call(&admin, "vm_stop", json!({"vm": on.uuid, "cluster": "c1"})).await;
    assert!(!err && v["confirmation_required"] == true, "{v}");
    let (v, err) = call(
        &admin,
        "vm_stop",
        json!({"vm": on.uuid, "cluster": "c1", "confirm_token": "confirm-stop"}),
    )
    .await;
    assert!(!err, "{v}");
    let (v, err) = call(&admin, "power_cycle", json!({"cluster": "h1"})).await;
    assert!(!err, "{v}");
    let entries = audit(&hub.base_url(), STATIC).await;
    let outcomes = |tool: &str, cluster: &str| -> Vec<String> {
        entries
            .iter()
            .filter(|e| e["tool"] == tool && e["cluster"] == cluster)
            .map(|e| e["outcome"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(outcomes("vm_start", "c1"), ["refused"], "{entries:?}");
    assert_eq!(
        outcomes("vm_stop", "c1"),
        ["refused", "confirmation_required", "ok"],
        "{entries:?}"
    );
    assert_eq!(
        outcomes("power_cycle", "h1"),
        ["refused", "ok"],
        "{entries:?}"
    );
    let _ = admin.cancel().await;

    worker.shutdown().await;
    lies.stop().await;
    honest.stop().await;
    hub.shutdown().await;
}

async fn cluster_url(base: &str, alias: &str) -> Option<(String, String)> {
    let v: Value = reqwest::get(format!("{base}/v1/clusters"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["clusters"].as_array()?.iter().find_map(|c| {
        (c["alias"] == alias).then(|| {
            (
                c["worker_url"].as_str().unwrap_or("").to_owned(),
                c["state"].as_str().unwrap_or("").to_owned(),
            )
        })
    })
}

/// Item 6: a secret holder joins as a live cluster's alias with its uuid (public on /health)
/// and another URL, forges a worker token for it and tries to make it leave. All refused; once
/// the real worker is down the alias may move, but the real worker's heartbeats never keep the
/// impostor alive, and the real worker takes its alias back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item6_a_live_alias_cannot_be_taken_over() {
    let hub = hyperfed_hub::start(config()).await.unwrap();
    let base = hub.base_url();
    let real = FakeWorker::start(FakeCluster::archetype("edge", 1), &base, Some("c1")).await;
    real.wait_joins(1).await;
    let uuid = real.cluster.uuid.clone();
    let impostor = Liar::serve(vec![liar::tool("vm_list", true, false, false)]).await;

    let (status, body) = impostor.join(&base, "c1", &uuid).await;
    assert_eq!(status, 409, "takeover of a live alias: {body}");
    let (status, body) = impostor.join(&base, "other", &uuid).await;
    assert_eq!(
        status, 409,
        "takeover through another alias of the same uuid: {body}"
    );
    assert_eq!(cluster_url(&base, "c1").await.unwrap().0, real.url);
    // A worker token minted with the join secret (any secret holder can) is refused.
    let forged = hyperfed_protocol::WorkerClaims::issue(
        &Secret::new(SECRET),
        "c1",
        &uuid,
        Duration::from_secs(300),
    );
    assert_eq!(liar::heartbeat(&base, &forged).await, 401);
    let left = reqwest::Client::new()
        .post(format!("{base}/v1/leave"))
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(left.status().as_u16(), 401);
    assert_eq!(cluster_url(&base, "c1").await.unwrap().0, real.url);
    let (c, _) = client(&hub.mcp_url(), None).await;
    let (_, err) = call(&c, "c1__vm_list", json!({})).await;
    assert!(!err);
    assert!(
        impostor.calls().is_empty(),
        "the impostor answered: {:?}",
        impostor.calls()
    );

    // The real worker goes quiet and is marked down: now the alias may move.
    real.pause_heartbeats(true);
    eventually_async(|| async {
        cluster_url(&base, "c1")
            .await
            .is_some_and(|(_, s)| s == "down")
    })
    .await;
    let (status, body) = impostor.join(&base, "c1", &uuid).await;
    assert_eq!(status, 200, "{body}");
    // The real worker's heartbeats (its old token) do not keep the impostor alive: refused,
    // the real worker re-joins once the silent impostor is down, and holds c1 again.
    real.pause_heartbeats(false);
    eventually_async(|| async {
        cluster_url(&base, "c1")
            .await
            .is_some_and(|(u, s)| u == real.url && s == "up")
    })
    .await;
    let (_, err) = call(&c, "c1__vm_list", json!({})).await;
    assert!(!err);
    let _ = c.cancel().await;
    real.shutdown().await;
    impostor.stop().await;
    hub.shutdown().await;
}

/// Polls an async condition until it holds (up to ~10 s).
async fn eventually_async<F, Fut>(mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..400 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out");
}

/// This process's resident memory in MiB (Linux), for the memory notes of issue #15.
pub fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn cluster_aliases(base: &str) -> Vec<String> {
    let v: Value = reqwest::get(format!("{base}/v1/clusters"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["clusters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["alias"].as_str().map(str::to_owned))
        .collect()
}

/// Item 3: a joined worker announces a tool-list change, then answers tools/list with endless
/// pages of large tools. The hub stops reading at its bounds, drops the worker, and its memory
/// stays flat; the same listing at join is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item3_endless_tool_pages_are_cut_off_and_the_worker_dropped() {
    let hub = hyperfed_hub::start(config()).await.unwrap();
    let base = hub.base_url();
    let flood = Liar::serve(vec![liar::tool("vm_list", true, false, false)]).await;
    let (status, joined) = flood.join(&base, "flood", "flood-uuid").await;
    assert_eq!(status, 200, "{joined}");
    let _beat = liar::keep_alive(&base, &joined, Duration::from_millis(100));
    let before = rss_mib();
    flood.set_listing(liar::Listing::EndlessPages {
        per_page: 200,
        description_bytes: 4000,
    });
    let started = std::time::Instant::now();
    flood.announce_list_changed().await;
    eventually_async(|| async { cluster_aliases(&base).await.is_empty() }).await;
    let pages = flood.state.pages.load(std::sync::atomic::Ordering::SeqCst);
    let after = rss_mib();
    println!(
        "item 3 (re-list flood): worker dropped after {:?}, {pages} pages read; hub RSS {before:.1} MiB -> {after:.1} MiB",
        started.elapsed()
    );
    assert!(pages <= 40, "the hub kept reading: {pages} pages");
    assert!(
        after - before < 256.0,
        "RSS grew {before:.1} -> {after:.1} MiB"
    );

    // At join: pages of 50 tools with 100 kB descriptions; refused at the byte bound.
    let big = Liar::serve(vec![]).await;
    big.set_listing(liar::Listing::EndlessPages {
        per_page: 50,
        description_bytes: 100_000,
    });
    let (status, body) = big.join(&base, "big", "big-uuid").await;
    assert_ne!(status, 200, "{body}");
    assert!(body.to_string().contains("tool list"), "{body}");
    let pages = big.state.pages.load(std::sync::atomic::Ordering::SeqCst);
    assert!(pages <= 3, "{pages} pages read at join");
    assert!(cluster_aliases(&base).await.is_empty());
    big.stop().await;
    flood.stop().await;
    hub.shutdown().await;
}

/// Item 4: a join whose worker URL is the hub itself, another hub, or a worker offering
/// namespaced names (`loop__...`) is refused; nothing loops and no exported name holds two
/// namespaces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item4_a_hub_cannot_join_itself_or_another_hub() {
    let hub = hyperfed_hub::start(config()).await.unwrap();
    let other = hyperfed_hub::start(config()).await.unwrap();
    let base = hub.base_url();
    let port = hub.local_addr().port();
    let probe = Liar::serve(vec![]).await;
    for url in [
        hub.mcp_url(),
        format!("http://localhost:{port}/mcp"),
        format!("http://[::1]:{port}/mcp"),
        other.mcp_url(),
    ] {
        let (status, body) = probe.join_at(&base, "loop", "loop-uuid", &url).await;
        assert_ne!(status, 200, "{url}: {body}");
    }
    // A worker that says it is a hub.
    let posing = Liar::serve_as(
        "hyperfed-hub",
        vec![liar::tool("vm_list", true, false, false)],
    )
    .await;
    let (status, body) = posing.join(&base, "posing", "posing-uuid").await;
    assert_ne!(status, 200, "{body}");
    assert!(cluster_aliases(&base).await.is_empty());
    assert_eq!(other.cluster_count(), 0);

    // Namespaced worker tool names are refused; the rest of the worker joins.
    let nested = Liar::serve(vec![
        liar::tool("loop__loop__vm_list", true, false, false),
        liar::tool("vm_list", true, false, false),
    ])
    .await;
    let (status, body) = nested.join(&base, "nested", "nested-uuid").await;
    assert_eq!(status, 200, "{body}");
    let (c, _) = client(&hub.mcp_url(), None).await;
    let listed = names(&c).await;
    assert!(listed.contains("nested__vm_list"), "{listed:?}");
    for n in &listed {
        assert!(n.matches("__").count() <= 1, "{n}");
    }
    let _ = c.cancel().await;
    nested.stop().await;
    posing.stop().await;
    probe.stop().await;
    other.shutdown().await;
    hub.shutdown().await;
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            dir_bytes(&e.path())
        } else {
            m.len()
        };
    }
    total
}

/// Item 5: a read token sends refused calls with a 1 MB argument. Records keep a bounded
/// argument (size and hash noted), refusals beyond the per-minute budget are not recorded,
/// `GET /v1/audit` pages with a bounded default, and a read token sees only its own records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item5_refused_calls_cannot_fill_the_disk() {
    let dir = TempDir::new("item5");
    let mut c = config();
    c.token = Some(Secret::new(STATIC));
    c.data_dir = Some(dir.0.clone());
    let hub = hyperfed_hub::start(c).await.unwrap();
    let read = issue_token(&dir.0, Scope::Read, Duration::from_secs(600), "mallory").unwrap();
    let other = issue_token(&dir.0, Scope::Read, Duration::from_secs(600), "bob").unwrap();
    let worker = FakeWorker::start(
        FakeCluster::archetype("edge", 1),
        &hub.base_url(),
        Some("c1"),
    )
    .await;
    worker.wait_joins(1).await;
    let (bob, _) = client(&hub.mcp_url(), Some(&other)).await;
    let (_, err) = call(&bob, "c1__vm_start", json!({"vm": "x"})).await;
    assert!(err);
    let _ = bob.cancel().await;

    let (reader, _) = client(&hub.mcp_url(), Some(&read)).await;
    let big = "A".repeat(1024 * 1024);
    let db_before = dir_bytes(&dir.0);
    let rss_before = rss_mib();
    let mut limited = 0;
    for _ in 0..40 {
        let (v, err) = call(&reader, "c1__vm_start", json!({"vm": "x", "blob": big})).await;
        assert!(err, "{v}");
        if v.to_string().contains("too many refused calls") {
            limited += 1;
        }
    }
    let _ = reader.cancel().await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let db_after = dir_bytes(&dir.0);
    let rss_after = rss_mib();
    println!(
        "item 5 (40 refused 1 MiB calls): database {:.0} KiB -> {:.0} KiB; hub RSS {rss_before:.1} -> {rss_after:.1} MiB; {limited} refused unrecorded",
        db_before as f64 / 1024.0,
        db_after as f64 / 1024.0
    );
    assert!(limited >= 20, "refusals were not rate-limited: {limited}");
    assert!(
        db_after < db_before + 8 * 1024 * 1024,
        "{db_before} -> {db_after}"
    );

    let http = reqwest::Client::new();
    let get = async |q: &str, token: &str| -> (Value, usize) {
        let text = http
            .get(format!("{}/v1/audit{q}", hub.base_url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        (serde_json::from_str(&text).unwrap(), text.len())
    };
    let (all, bytes) = get("", STATIC).await;
    let entries = all["entries"].as_array().unwrap();
    assert!(entries.len() <= 100);
    assert!(bytes < 1024 * 1024, "GET /v1/audit returned {bytes} bytes");
    let mine: Vec<&Value> = entries
        .iter()
        .filter(|e| e["subject"] == "mallory (scope read) via mcp")
        .collect();
    assert_eq!(mine.len(), 20, "{all}");
    let args = &mine[0]["arguments"];
    assert_eq!(args["truncated"], true, "{args}");
    assert!(args["bytes"].as_u64().unwrap() > 1024 * 1024);
    assert_eq!(args["sha256"].as_str().unwrap().len(), 64);
    // Paging: one record at a time, walking back.
    let (p1, _) = get("?limit=1", STATIC).await;
    let before = p1["next_before"].as_u64().unwrap();
    let (p2, _) = get(&format!("?limit=1&before={before}"), STATIC).await;
    assert!(p2["entries"][0]["id"].as_u64().unwrap() < p1["entries"][0]["id"].as_u64().unwrap());
    // A read token sees only its own records.
    let (own, _) = get("?limit=1000", &read).await;
    let own = own["entries"].as_array().unwrap();
    assert_eq!(own.len(), 20);
    assert!(
        own.iter()
            .all(|e| e["subject"] == "mallory (scope read) via mcp")
    );
    let (bobs, _) = get("", &other).await;
    assert_eq!(bobs["entries"].as_array().unwrap().len(), 1, "{bobs}");

    worker.shutdown().await;
    hub.shutdown().await;
}

/// Item 8: a join captured on the wire and replayed after a hub restart is refused, and the
/// worker token of the captured join is worthless after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item8_a_captured_join_cannot_be_replayed_after_a_restart() {
    let dir = TempDir::new("item8");
    let mut c = config();
    c.data_dir = Some(dir.0.clone());
    let hub = hyperfed_hub::start(c.clone()).await.unwrap();
    let w = Liar::serve(vec![liar::tool("vm_list", true, false, false)]).await;
    let captured =
        hyperfed_protocol::JoinRequest::sign(&Secret::new(SECRET), "c1", "uuid-c1", "C1", &w.url);
    let (status, joined) = liar::post_join(&hub.base_url(), &captured).await;
    assert_eq!(status, 200, "{joined}");
    let token = liar::worker_token(&joined);
    hub.shutdown().await;

    let hub = hyperfed_hub::start(c).await.unwrap();
    let (status, body) = liar::post_join(&hub.base_url(), &captured).await;
    assert_eq!(status, 401, "replayed after a restart: {body}");
    assert!(body.to_string().contains("replay"), "{body}");
    let left = reqwest::Client::new()
        .post(format!("{}/v1/leave", hub.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(left.status().as_u16(), 401);
    assert_eq!(hub.cluster_count(), 1, "the registration is still known");
    // A fresh proof still joins.
    let (status, body) = w.join(&hub.base_url(), "c1", "uuid-c1").await;
    assert_eq!(status, 200, "{body}");
    w.stop().await;
    hub.shutdown().await;
}

/// Item 7: the hub is killed (its runtime dropped mid-call, nothing completes) while one
/// action runs as HyperCore task 555 and another has named no task. After the restart the
/// first record is completed from the worker's `task_status` when it re-joins, the second is
/// marked `unknown` with the reason; none stays `pending`.
#[test]
fn item7_pending_records_are_resolved_after_a_crash() {
    let dir = TempDir::new("item7");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let worker = rt.block_on(Liar::serve(vec![
        liar::tool("vm_start", false, false, true),
        liar::tool("vm_pause", false, false, true),
        liar::tool("task_status", true, false, false),
    ]));
    worker.set_action(liar::ActionAnswer::HangAfterTask("555".into()));
    worker.state.silent.lock().unwrap().push("vm_pause".into());
    let mut c = config();
    c.data_dir = Some(dir.0.clone());

    // The first run, in a runtime of its own that is dropped mid-call (a crash).
    let doomed = tokio::runtime::Runtime::new().unwrap();
    doomed.block_on(async {
        let hub = hyperfed_hub::start(c.clone()).await.unwrap();
        let base = hub.base_url();
        let (status, joined) = worker.join(&base, "c1", "uuid-c1").await;
        assert_eq!(status, 200, "{joined}");
        let _beat = liar::keep_alive(&base, &joined, Duration::from_millis(100));
        let (client1, _) = client(&hub.mcp_url(), None).await;
        let client1 = std::sync::Arc::new(client1);
        for tool in ["c1__vm_start", "c1__vm_pause"] {
            let cl = client1.clone();
            tokio::spawn(async move {
                let _ = cl
                    .call_tool(
                        rmcp::model::CallToolRequestParams::new(tool)
                            .with_arguments(json!({"vm": "v1"}).as_object().cloned().unwrap()),
                    )
                    .await;
            });
        }
        eventually_async(|| async {
            let e = audit(&base, "").await;
            e.iter()
                .any(|e| e["task_tag"] == "555" && e["outcome"] == "pending")
                && e.iter()
                    .any(|e| e["tool"] == "vm_pause" && e["outcome"] == "pending")
        })
        .await;
        drop(hub);
    });
    doomed.shutdown_background();

    rt.block_on(async {
        let mut hub = None;
        for _ in 0..100 {
            // The killed run's database lock goes away with its last task.
            match hyperfed_hub::start(c.clone()).await {
                Ok(h) => {
                    hub = Some(h);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let hub = hub.expect("the hub restarts on its data directory");
        let base = hub.base_url();
        let (status, joined) = worker.join(&base, "c1", "uuid-c1").await;
        assert_eq!(status, 200, "{joined}");
        let _beat = liar::keep_alive(&base, &joined, Duration::from_millis(100));
        eventually_async(|| async {
            !audit(&base, "")
                .await
                .iter()
                .any(|e| e["outcome"] == "pending")
        })
        .await;
        let entries = audit(&base, "").await;
        let start = entries.iter().find(|e| e["tool"] == "vm_start").unwrap();
        assert_eq!(start["outcome"], "ok", "{start}");
        assert_eq!(start["task_tag"], "555", "{start}");
        let pause = entries.iter().find(|e| e["tool"] == "vm_pause").unwrap();
        assert_eq!(pause["outcome"], "unknown", "{pause}");
        assert!(
            pause["error"].as_str().unwrap().contains("hub stopped"),
            "{pause}"
        );
        assert!(
            worker
                .calls()
                .iter()
                .any(|(t, a)| t == "task_status" && a["task_tag"] == "555")
        );
        hub.shutdown().await;
    });
    rt.block_on(worker.stop());
}

/// A raw JSON-RPC POST to `/mcp`: (status, body, session id).
async fn raw(
    url: &str,
    token: &str,
    body: &str,
    session: Option<&str>,
) -> (u16, String, Option<String>) {
    static HTTP: std::sync::LazyLock<reqwest::Client> =
        std::sync::LazyLock::new(reqwest::Client::new);
    let mut req = HTTP
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_owned());
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let sid = r
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, r.text().await.unwrap_or_default(), sid)
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"flood","version":"0"}}}"#;

/// Smaller items: 10,000 `initialize` calls from 20 tokens open at most 64 sessions per token
/// and 1024 in all (memory measured); fast-path ids must be strings or integers; a 1 MB tool
/// name is not echoed; a `?token=` in a worker URL is not shown by /v1/clusters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smaller_session_flood_ids_long_names_and_url_tokens() {
    let dir = TempDir::new("smaller");
    let mut c = config();
    c.token = Some(Secret::new(STATIC));
    c.data_dir = Some(dir.0.clone());
    let hub = hyperfed_hub::start(c).await.unwrap();
    let url = hub.mcp_url();
    let tokens: Vec<String> = (0..20)
        .map(|i| {
            issue_token(
                &dir.0,
                Scope::Read,
                Duration::from_secs(600),
                &format!("t{i}"),
            )
            .unwrap()
        })
        .collect();
    let before = rss_mib();
    let started = std::time::Instant::now();
    let mut statuses = std::collections::BTreeMap::new();
    let total: usize = std::env::var("FLOOD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    for chunk in (0..total).collect::<Vec<usize>>().chunks(50) {
        let sends = chunk.iter().map(|i| {
            let token = tokens[i % tokens.len()].clone();
            let url = url.clone();
            async move { raw(&url, &token, INIT, None).await.0 }
        });
        for s in futures::future::join_all(sends).await {
            *statuses.entry(s).or_insert(0) += 1;
        }
    }
    let after = rss_mib();
    println!(
        "session flood: {total} initialize from 20 tokens in {:?}: {statuses:?}; hub RSS {before:.1} MiB -> {after:.1} MiB",
        started.elapsed()
    );
    assert_eq!(statuses.get(&200), Some(&1024), "{statuses:?}");
    assert!(after - before < 300.0, "{before:.1} -> {after:.1} MiB");
    // The static token's own budget is untouched by the flood of the others... but the hub is
    // full: a new session is refused with 503 until some close.
    let (s, body, _) = raw(&url, STATIC, INIT, None).await;
    assert_eq!(s, 503, "{body}");

    // A hub with room: ids, long names, URL tokens.
    let hub2 = hyperfed_hub::start(config()).await.unwrap();
    let url2 = hub2.mcp_url();
    let (s, _, sid) = raw(&url2, "", INIT, None).await;
    assert_eq!(s, 200);
    let sid = sid.unwrap();
    raw(
        &url2,
        "",
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        Some(&sid),
    )
    .await;
    for (id, ok) in [
        ("7", true),
        ("\"abc\"", true),
        ("1e99999", false),
        ("-0.5", false),
    ] {
        let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list","params":{{}}}}"#);
        let (_, text, _) = raw(&url2, "", &body, Some(&sid)).await;
        let echoed = text.contains(&format!("\"id\":{id},\"result\""));
        assert_eq!(
            echoed,
            ok,
            "id {id}: {}",
            text.chars().take(200).collect::<String>()
        );
    }
    let (c2, _) = client(&url2, None).await;
    let long = "n".repeat(1024 * 1024);
    let err = c2
        .call_tool(rmcp::model::CallToolRequestParams::new(long))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(!err.is_empty() && err.len() < 2048, "{} bytes", err.len());
    let _ = c2.cancel().await;
    let w = Liar::serve(vec![liar::tool("vm_list", true, false, false)]).await;
    let secret_url = format!("{}?token=url-secret-0451", w.url);
    let (s, body) = w
        .join_at(&hub2.base_url(), "tok", "tok-uuid", &secret_url)
        .await;
    assert_eq!(s, 200, "{body}");
    let shown = reqwest::get(format!("{}/v1/clusters", hub2.base_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(shown.contains("token=[redacted]"), "{shown}");
    assert!(!shown.contains("url-secret-0451"), "{shown}");
    w.stop().await;
    hub2.shutdown().await;
    hub.shutdown().await;
}
