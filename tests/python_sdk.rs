//! An independent MCP client, the official Python SDK, against a worker process and a hub
//! process, in the legacy handshake mode (2025-era clients) and in the stateless 2026-07-28 mode,
//! including destructive calls confirmed by the SDK's elicitation callback.
//! The SDK is found through $HYPERFED_PYTHON (set by .ci/run to a venv with `mcp` installed);
//! without it the test is skipped loudly, except under CI=true, where that is a failure.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{Proc, free_port, wait_http_ok};
use serde_json::Value;

fn python() -> Option<String> {
    match std::env::var("HYPERFED_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "CI=true but HYPERFED_PYTHON is not set: .ci/run must install the MCP Python SDK"
                );
            }
            eprintln!("SKIP python_sdk: set HYPERFED_PYTHON to a Python with `pip install mcp`");
            None
        }
    }
}

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/python_client.py")
}

/// Runs the example with `extra` arguments; returns (stdout, stderr), asserting success.
fn run_example(py: &str, url: &str, token: &str, mode: &str, extra: &[&str]) -> (String, String) {
    let out = Command::new(py)
        .arg(example())
        .arg(url)
        .args(["--token", token, "--mode", mode])
        .args(extra)
        .output()
        .expect("run python client");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "python client ({mode} {extra:?}) failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

fn run_client(py: &str, url: &str, token: &str, mode: &str, call: Option<(&str, &str)>) -> String {
    run_answering(py, url, token, mode, call, None)
}

/// Like [`run_client`], answering confirmation questions (elicitation) with `confirm`.
fn run_answering(
    py: &str,
    url: &str,
    token: &str,
    mode: &str,
    call: Option<(&str, &str)>,
    confirm: Option<&str>,
) -> String {
    let mut cmd = Command::new(py);
    cmd.arg(example())
        .arg(url)
        .args(["--token", token, "--mode", mode]);
    if let Some(answer) = confirm {
        cmd.args(["--confirm", answer]);
    }
    if let Some((tool, args)) = call {
        cmd.args(["--call", tool, "--args", args]);
    }
    let out = cmd.output().expect("run python client");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python client ({mode}) failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn python_sdk_against_worker_and_hub() {
    common::init();
    let Some(py) = python() else { return };
    let wport = free_port();
    let hport = free_port();
    let hub_listen = format!("127.0.0.1:{hport}");
    let _hub = Proc::start(
        "hub",
        &["hub", "--listen", &hub_listen],
        &[
            ("HYPERFED_SECRET", "py-secret"),
            ("HYPERFED_TOKEN", "hub-token"),
        ],
    );
    assert!(
        wait_http_ok(
            &format!("http://{hub_listen}/health"),
            Duration::from_secs(20)
        )
        .await
    );
    let worker_listen = format!("127.0.0.1:{wport}");
    let hub_url = format!("http://{hub_listen}");
    let _worker = Proc::start(
        "worker",
        &[
            "worker",
            "--mock",
            "edge",
            "--seed",
            "3",
            "--listen",
            &worker_listen,
            "--join",
            &hub_url,
            "--name",
            "edge-py",
        ],
        &[
            ("HYPERFED_SECRET", "py-secret"),
            ("HYPERFED_TOKEN", "worker-token"),
        ],
    );
    assert!(
        wait_http_ok(
            &format!("http://{worker_listen}/health"),
            Duration::from_secs(20)
        )
        .await
    );
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let v: Value = http
            .get(format!("{hub_url}/v1/clusters"))
            .bearer_auth("hub-token")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or_default();
        if v.to_string().contains("\"up\"") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "worker never joined: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let worker_mcp = format!("http://{worker_listen}/mcp");
    let hub_mcp = format!("{hub_url}/mcp");
    for mode in ["legacy", "2026-07-28"] {
        let listing = run_client(&py, &worker_mcp, "worker-token", mode, None);
        assert!(
            listing.contains("vm_list") && listing.contains("cluster_info"),
            "{mode}: {listing}"
        );
        let out = run_client(
            &py,
            &worker_mcp,
            "worker-token",
            mode,
            Some(("cluster_info", "{}")),
        );
        let v: Value = serde_json::from_str(&out).expect("JSON from the client");
        assert_eq!(v["is_error"], false, "{mode}: {v}");

        // The hub runs in its default `--tools auto` mode: one edge cluster's namespaced list is
        // over the 64 KiB budget, so it lists the compact tools (one per operation, with a
        // `cluster` argument); either way `vm_list` and `fleet_status` are there.
        let listing = run_client(&py, &hub_mcp, "hub-token", mode, None);
        assert!(listing.contains("vm_list"), "{mode}: {listing}");
        assert!(listing.contains("fleet_status"), "{mode}: {listing}");
        let out = run_client(
            &py,
            &hub_mcp,
            "hub-token",
            mode,
            Some(("vm_list", r#"{"cluster":"edge-py","limit":2}"#)),
        );
        let v: Value = serde_json::from_str(&out).expect("JSON from the client");
        assert_eq!(v["is_error"], false, "{mode}: {v}");
        let out = run_client(
            &py,
            &hub_mcp,
            "hub-token",
            mode,
            Some(("fleet_status", "{}")),
        );
        let v: Value = serde_json::from_str(&out).expect("JSON from the client");
        assert_eq!(v["is_error"], false, "{mode}: {v}");
        assert!(v.to_string().contains("edge-py"), "{mode}: {v}");
    }

    // Confirmation by asking the person: the SDK declares elicitation and answers with
    // --confirm; no/cancel change nothing, yes stops the VM (worker, and hub in both modes).
    let cases = [
        (
            &worker_mcp,
            "worker-token",
            "legacy",
            r#"{"vm":"nvr-02"}"#,
            "no",
        ),
        (
            &hub_mcp,
            "hub-token",
            "legacy",
            r#"{"cluster":"edge-py","vm":"file-01"}"#,
            "cancel",
        ),
        (
            &hub_mcp,
            "hub-token",
            "2026-07-28",
            r#"{"cluster":"edge-py","vm":"pos-01"}"#,
            "no",
        ),
    ];
    for (url, token, mode, args, refusal) in cases {
        for answer in [refusal, "yes"] {
            let out = run_answering(&py, url, token, mode, Some(("vm_stop", args)), Some(answer));
            let v: Value = serde_json::from_str(&out).expect("JSON from the client");
            assert_eq!(v["is_error"], false, "{mode} {answer}: {v}");
            if answer == "yes" {
                assert_eq!(v["result"]["state"], "COMPLETE", "{mode} {answer}: {v}");
                assert_eq!(
                    v["result"]["vm"]["state"], "SHUTOFF",
                    "{mode} {answer}: {v}"
                );
            } else {
                assert_eq!(v["result"]["declined"], true, "{mode} {answer}: {v}");
                assert!(v.get("confirm_token").is_none(), "{v}");
            }
        }
    }
}

/// Prompts, completions, resources (read, subscribe and an update when a VM stops) and
/// logging, through the SDK against a worker and the hub it joined.
#[tokio::test]
async fn python_sdk_prompts_completions_resources_and_logging() {
    common::init();
    let Some(py) = python() else { return };
    let (hport, wport) = (free_port(), free_port());
    let hub_listen = format!("127.0.0.1:{hport}");
    let hub_url = format!("http://{hub_listen}");
    let _hub = Proc::start(
        "hub",
        &["hub", "--listen", &hub_listen],
        &[
            ("HYPERFED_SECRET", "py-secret"),
            ("HYPERFED_TOKEN", "hub-token"),
        ],
    );
    assert!(wait_http_ok(&format!("{hub_url}/health"), Duration::from_secs(20)).await);
    let worker_listen = format!("127.0.0.1:{wport}");
    let _worker = Proc::start(
        "worker",
        &[
            "worker",
            "--mock",
            "edge",
            "--seed",
            "3",
            "--listen",
            &worker_listen,
            "--join",
            &hub_url,
            "--name",
            "edge-py",
        ],
        &[
            ("HYPERFED_SECRET", "py-secret"),
            ("HYPERFED_TOKEN", "worker-token"),
        ],
    );
    assert!(
        wait_http_ok(
            &format!("http://{worker_listen}/health"),
            Duration::from_secs(20)
        )
        .await
    );
    let hub_mcp = format!("{hub_url}/mcp");
    let worker_mcp = format!("http://{worker_listen}/mcp");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (out, _) = run_example(&py, &hub_mcp, "hub-token", "legacy", &["--resources"]);
        if out.contains("hyperfed://cluster/edge-py/vms") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "worker never joined: {out}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for mode in ["legacy", "2026-07-28"] {
        // Prompts and their arguments' completions, on the hub.
        let (out, _) = run_example(&py, &hub_mcp, "hub-token", mode, &["--prompts"]);
        for p in [
            "triage_conditions",
            "maintenance_check",
            "snapshot_gaps",
            "rolling_restart",
        ] {
            assert!(out.contains(p), "{mode}: {out}");
        }
        let (out, _) = run_example(
            &py,
            &hub_mcp,
            "hub-token",
            mode,
            &[
                "--prompt",
                "maintenance_check",
                "--args",
                r#"{"cluster":"edge-py"}"#,
            ],
        );
        assert!(
            out.contains("cluster \"edge-py\"") && out.contains("node_list"),
            "{mode}: {out}"
        );
        let (out, _) = run_example(
            &py,
            &hub_mcp,
            "hub-token",
            mode,
            &["--complete", "rolling_restart", "cluster", "edge"],
        );
        let v: Value = serde_json::from_str(out.trim()).expect("completion JSON");
        assert_eq!(v["values"], serde_json::json!(["edge-py"]), "{mode}: {v}");
        let (out, _) = run_example(
            &py,
            &hub_mcp,
            "hub-token",
            mode,
            &[
                "--complete",
                "rolling_restart",
                "tag",
                "",
                "--args",
                r#"{"cluster":"edge-py"}"#,
            ],
        );
        let v: Value = serde_json::from_str(out.trim()).expect("completion JSON");
        assert!(
            !v["values"].as_array().unwrap().is_empty(),
            "{mode}: tags {v}"
        );

        // Resources: the cluster's VM list through the hub.
        let (out, _) = run_example(
            &py,
            &hub_mcp,
            "hub-token",
            mode,
            &["--read", "hyperfed://cluster/edge-py/vms"],
        );
        let v: Value = serde_json::from_str(&out).expect("resource JSON");
        assert!(!v["vms"].as_array().unwrap().is_empty(), "{mode}: {v}");

        // Logging: the hub's fan-out, at info, on stderr.
        let (_, err) = run_example(
            &py,
            &hub_mcp,
            "hub-token",
            mode,
            &["--log-level", "info", "--call", "fleet_status"],
        );
        assert!(
            err.contains(r#""event": "fan-out""#) && err.contains("fan-out done"),
            "{mode}: {err}"
        );
        assert!(
            !err.contains("log debug"),
            "{mode}: nothing below info: {err}"
        );
    }

    // Subscribe (2025-era sessions) to the worker's VM list; stop a VM; the SDK hears it.
    let mut watcher = Command::new(&py)
        .arg(example())
        .arg(&worker_mcp)
        .args([
            "--token",
            "worker-token",
            "--mode",
            "legacy",
            "--watch",
            "hypercore://vms",
            "--seconds",
            "60",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run python watcher");
    let stdout = watcher.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let first = tokio::task::spawn_blocking(move || {
        let first = lines.next();
        (first, lines)
    });
    let (first, lines) = first.await.unwrap();
    assert_eq!(first.unwrap().unwrap(), "subscribed hypercore://vms");
    tokio::time::sleep(Duration::from_millis(1500)).await; // the watch's baseline read
    let running = run_client(
        &py,
        &worker_mcp,
        "worker-token",
        "legacy",
        Some(("vm_list", r#"{"state":"RUNNING","limit":1}"#)),
    );
    let running: Value = serde_json::from_str(&running).unwrap();
    let uuid = running["result"]["vms"][0]["uuid"]
        .as_str()
        .expect("a running VM")
        .to_owned();
    let stop = |args: String| {
        run_client(
            &py,
            &worker_mcp,
            "worker-token",
            "legacy",
            Some(("vm_stop", args.as_str())),
        )
    };
    let preview: Value = serde_json::from_str(&stop(format!(r#"{{"vm":"{uuid}"}}"#))).unwrap();
    let token = preview["result"]["confirm_token"]
        .as_str()
        .expect("confirm token")
        .to_owned();
    stop(format!(r#"{{"vm":"{uuid}","confirm_token":"{token}"}}"#));
    let status = tokio::task::spawn_blocking(move || watcher.wait())
        .await
        .unwrap()
        .unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(status.success(), "the watcher heard no update: {rest:?}");
    assert!(
        rest.iter().any(|l| l == "updated hypercore://vms"),
        "{rest:?}"
    );
}
