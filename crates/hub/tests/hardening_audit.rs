//! Issue #15, audit and limits: each test performs one attack (a read token filling the audit,
//! a crash mid-action, a replayed join, a session flood) and asserts it fails (items 5, 7, 8
//! and the smaller ones).

mod common;

use std::time::Duration;

use common::liar::{self, Liar, eventually_async, rss_mib};
use common::*;
use hyperfed_hub::{HubConfig, Scope, issue_token};
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
