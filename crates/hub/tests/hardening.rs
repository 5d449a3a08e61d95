//! Issue #15, the lying worker: each test performs one attack a worker holding the join secret
//! made against the hub (items 1, 3, 4, 6) and asserts it fails.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::liar::{self, Liar, cluster_aliases, eventually_async, rss_mib};
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
