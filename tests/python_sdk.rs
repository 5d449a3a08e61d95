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
