//! The `hyperfed` binary as an operator runs it: `mock truth` and `mock archetypes`, a
//! simulator process answering cURL-style requests, and a standalone worker process whose
//! VM list equals the simulator's ground truth.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Proc, bin, free_port, wait_http_ok};
use serde_json::{Value, json};

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
        .expect("run mock truth");
    assert!(
        out.status.success(),
        "mock truth failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("truth is JSON")
}

#[test]
fn mock_truth_is_deterministic_and_seed_dependent() {
    let a = Command::new(bin())
        .args(["mock", "truth", "--archetype", "datacenter", "--seed", "7"])
        .output()
        .unwrap();
    let b = Command::new(bin())
        .args(["mock", "truth", "--archetype", "datacenter", "--seed", "7"])
        .output()
        .unwrap();
    assert!(a.status.success());
    assert_eq!(
        a.stdout, b.stdout,
        "same archetype and seed must give identical bytes"
    );
    let c = truth("datacenter", 8);
    assert_ne!(serde_json::from_slice::<Value>(&a.stdout).unwrap(), c);
}

#[test]
fn mock_archetypes_lists_the_documented_names() {
    let out = Command::new(bin())
        .args(["mock", "archetypes"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in ["edge", "datacenter", "dr"] {
        assert!(
            text.contains(name),
            "archetype {name} missing from:\n{text}"
        );
    }
}

#[test]
fn bad_arguments_are_refused_clearly() {
    let out = Command::new(bin())
        .args(["mock", "truth", "--archetype", "moon-base", "--seed", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("moon-base"),
        "error should name the bad archetype: {err}"
    );

    let out = Command::new(bin())
        .args(["hub", "--listen", "0.0.0.0:0"])
        .env("HYPERFED_SECRET", "s")
        .env_remove("HYPERFED_TOKEN")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a hub on a public address without a token must refuse"
    );
}

#[tokio::test]
async fn mock_process_answers_like_hypercore() {
    common::init();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _sim = Proc::start(
        "mock",
        &[
            "mock",
            "--listen",
            &listen,
            "--archetype",
            "datacenter",
            "--seed",
            "7",
            "--task-ms",
            "200",
        ],
        &[],
    );
    let base = format!("http://{listen}/rest/v1");
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if http.get(format!("{base}/ping")).send().await.is_ok() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "mock never answered");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // No session: 401.
    let r = http.get(format!("{base}/VirDomain")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // Login gives a sessionID cookie and body.
    let r = http
        .post(format!("{base}/login"))
        .json(&json!({"username": "admin", "password": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(cookie.starts_with("sessionID="), "cookie: {cookie}");
    let session = cookie
        .trim_start_matches("sessionID=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let get = |path: String| {
        let http = http.clone();
        let session = session.clone();
        async move {
            http.get(path)
                .header("Cookie", format!("sessionID={session}"))
                .send()
                .await
                .unwrap()
        }
    };
    let vms: Value = get(format!("{base}/VirDomain")).await.json().await.unwrap();
    let vms = vms.as_array().expect("GET returns an array");
    let expected = truth("datacenter", 7);
    assert_eq!(vms.len(), expected["vms"].as_array().unwrap().len());
    for field in [
        "uuid",
        "name",
        "state",
        "mem",
        "numVCPU",
        "nodeUUID",
        "tags",
        "snapUUIDs",
        "blockDevs",
        "netDevs",
    ] {
        assert!(vms[0].get(field).is_some(), "VM lacks {field}");
    }
    // START on a SHUTOFF VM completes and leaves it RUNNING; RESET on SHUTOFF is a 500.
    let off = vms
        .iter()
        .find(|v| {
            v["state"] == "SHUTOFF" && v["sourceVirDomainUUID"].as_str().unwrap_or("").is_empty()
        })
        .expect("a SHUTOFF VM that is not a replication target");
    let uuid = off["uuid"].as_str().unwrap();
    let action = |kind: &'static str| {
        let http = http.clone();
        let session = session.clone();
        let body = json!([{"virDomainUUID": uuid, "actionType": kind}]);
        let url = format!("{base}/VirDomain/action");
        async move {
            http.post(url)
                .header("Cookie", format!("sessionID={session}"))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let r = action("RESET").await;
    assert_eq!(r.status(), 500);
    let r = action("START").await;
    assert_eq!(r.status(), 200);
    let task: Value = r.json().await.unwrap();
    let tag = task["taskTag"]
        .as_str()
        .expect("taskTag is a string")
        .to_owned();
    assert!(!tag.is_empty());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let t: Value = get(format!("{base}/TaskTag/{tag}"))
            .await
            .json()
            .await
            .unwrap();
        if t[0]["state"] == "COMPLETE" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "task never completed: {t}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let vm: Value = get(format!("{base}/VirDomain/{uuid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(vm[0]["state"], "RUNNING");
    // Missing id: [].
    let none: Value = get(format!(
        "{base}/VirDomain/00000000-0000-0000-0000-000000000000"
    ))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(none, json!([]));
}

#[tokio::test]
async fn standalone_worker_serves_truth_and_refuses_unconfirmed_destruction() {
    common::init();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _worker = Proc::start(
        "worker",
        &[
            "worker",
            "--mock",
            "datacenter",
            "--seed",
            "7",
            "--listen",
            &listen,
        ],
        &[("HYPERFED_TOKEN", "worker-token")],
    );
    let base = format!("http://{listen}");
    assert!(wait_http_ok(&format!("{base}/health"), Duration::from_secs(20)).await);
    let http = reqwest::Client::new();
    // No token, wrong token: refused.
    assert_eq!(
        http.get(format!("{base}/v1/status"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(format!("{base}/v1/status"))
            .bearer_auth("nope")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let status: Value = http
        .get(format!("{base}/v1/status"))
        .bearer_auth("worker-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected = truth("datacenter", 7);
    assert_eq!(
        status.pointer("/cluster/name"),
        expected.pointer("/cluster/name"),
        "{status}"
    );

    // The VM list over MCP equals the simulator's truth.
    let transport = rmcp::transport::StreamableHttpClientTransport::from_config(
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            format!("{base}/mcp"),
        )
        .auth_header("worker-token"),
    );
    use rmcp::ServiceExt as _;
    let client = ().serve(transport).await.expect("MCP session");
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.len() >= 20, "only {} tools", tools.len());
    for t in &tools {
        let n = t.name.as_ref();
        assert!(
            !n.is_empty()
                && n.len() <= 30
                && n.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'),
            "tool name {n:?} breaks ^[a-z0-9_]{{1,30}}$"
        );
        assert!(
            t.description.as_deref().is_some_and(|d| d.len() > 20),
            "{n} lacks a description"
        );
        assert!(t.output_schema.is_some(), "{n} lacks an outputSchema");
        assert!(t.annotations.is_some(), "{n} lacks annotations");
    }
    let call = |name: &'static str, args: Value| {
        let peer = client.peer().clone();
        async move {
            peer.call_tool(
                rmcp::model::CallToolRequestParams::new(name)
                    .with_arguments(args.as_object().cloned().unwrap_or_default()),
            )
            .await
            .unwrap()
        }
    };
    let list = call("vm_list", json!({"limit": 1000})).await;
    let listed = list.structured_content.expect("structured VM list");
    let mut got: Vec<(String, String)> = listed["vms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["uuid"].as_str().unwrap().to_owned(),
                v["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut want: Vec<(String, String)> = expected["vms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["uuid"].as_str().unwrap().to_owned(),
                v["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);

    // A destructive action without confirmation changes nothing.
    let running = expected["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["state"] == "RUNNING")
        .unwrap();
    let uuid = running["uuid"].as_str().unwrap();
    let preview = call("vm_stop", json!({"vm": uuid})).await;
    let p = preview.structured_content.expect("structured preview");
    assert_eq!(p["confirmation_required"], true, "{p}");
    assert!(p["confirm_token"].as_str().is_some_and(|t| !t.is_empty()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = call("vm_get", json!({"vm": uuid})).await;
    let vm = after.structured_content.unwrap();
    let state = vm.pointer("/vm/state").or_else(|| vm.get("state")).cloned();
    assert_eq!(state, Some(json!("RUNNING")), "{vm}");
    let _ = client.cancel().await;
}

/// Waits (bounded) until the process's stderr contains `needle`.
fn wait_stderr(p: &Proc, needle: &str, timeout: Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if p.log_text().contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[tokio::test]
async fn worker_count_shows_plain_progress_lines_when_not_on_a_terminal() {
    let port = free_port();
    let hub_url = format!("http://127.0.0.1:{port}");
    let secret = "progress-test-secret-0123456789";
    let hub = Proc::start(
        "progress-hub",
        &["hub", "--listen", &format!("127.0.0.1:{port}")],
        &[("HYPERFED_SECRET", secret)],
    );
    assert!(wait_http_ok(&format!("{hub_url}/health"), Duration::from_secs(20)).await);
    let workers = Proc::start(
        "progress-workers",
        &[
            "worker",
            "--mock",
            "--count",
            "3",
            "--listen",
            "127.0.0.1:0",
            "--join",
            &hub_url,
            "--name",
            "p",
        ],
        &[("HYPERFED_SECRET", secret)],
    );
    // stderr is a file here, so the progress comes as plain lines, not a bar.
    assert!(
        wait_stderr(
            &workers,
            "hyperfed worker: 3/3 clusters joined",
            Duration::from_secs(30)
        ),
        "{}",
        workers.log_text()
    );
    let log = workers.log_text();
    for line in [
        "hyperfed worker: 1/3 clusters started",
        "hyperfed worker: 3/3 clusters started",
    ] {
        assert!(log.contains(line), "{line}: {log}");
    }
    assert!(
        !log.contains('\u{1b}'),
        "no terminal escapes in plain lines"
    );
    drop(workers);
    drop(hub);
}
