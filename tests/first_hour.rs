//! The first hour of a new operator: the everyday mistakes, each run against the real binary
//! on 127.0.0.1, asserting the exact guidance its message gives (issue #14). The README's
//! own command blocks are walked in `readme.rs`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Proc, bin, free_port, wait_http_ok};
use serde_json::{Value, json};

const SECRET: &str = "first-hour-join-secret-0123456789";

/// Waits until the process's stderr contains `needle`.
fn wait_log(p: &Proc, needle: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if p.log_text().contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn hub(port: u16, secret: &str) -> Proc {
    let listen = format!("127.0.0.1:{port}");
    Proc::start(
        "hub",
        &["hub", "--listen", &listen],
        &[("HYPERFED_SECRET", secret)],
    )
}

fn worker(name: &str, seed: &str, join: &str, secret: &str) -> Proc {
    Proc::start(
        name,
        &[
            "worker",
            "--mock",
            "edge",
            "--seed",
            seed,
            "--listen",
            "127.0.0.1:0",
            "--join",
            join,
            "--name",
            name,
        ],
        &[("HYPERFED_SECRET", secret)],
    )
}

#[tokio::test]
async fn join_problems_say_what_to_change() {
    common::init();
    let port = free_port();
    let _hub = hub(port, SECRET);
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_http_ok(&format!("{base}/health"), Duration::from_secs(20)).await);

    // The MCP URL printed everywhere is accepted as the hub URL.
    let via_mcp = worker("dc1", "1", &format!("{base}/mcp"), SECRET);
    assert!(
        wait_log(&via_mcp, "joined the hub", Duration::from_secs(20)),
        "{}",
        via_mcp.log_text()
    );
    assert!(
        via_mcp
            .log_text()
            .contains("workers join the hub's base URL")
    );

    // Wrong secret: says to give the worker the hub's secret.
    let wrong = worker("dc2", "2", &base, "not-the-hub-secret-at-all-000000");
    assert!(
        wait_log(
            &wrong,
            "this worker's join secret is not the hub's",
            Duration::from_secs(20)
        ),
        "{}",
        wrong.log_text()
    );
    assert!(wrong.log_text().contains("HYPERFED_SECRET"));

    // Alias taken by another cluster: says to pick another --name.
    let taken = worker("dc1", "3", &base, SECRET);
    assert!(
        wait_log(
            &taken,
            "Pick another alias with --name",
            Duration::from_secs(20)
        ),
        "{}",
        taken.log_text()
    );

    // A path the hub does not serve: names the base URL to use instead.
    let path = worker("dc4", "4", &format!("{base}/api"), SECRET);
    assert!(
        wait_log(
            &path,
            &format!("Give the hub's base URL: --join {base}"),
            Duration::from_secs(20)
        ),
        "{}",
        path.log_text()
    );

    // Pointed at a worker: says it is a worker, not a hub.
    let wport = free_port();
    let wlisten = format!("127.0.0.1:{wport}");
    let target = Proc::start(
        "standalone",
        &[
            "worker", "--mock", "lab", "--listen", &wlisten, "--token", "T",
        ],
        &[],
    );
    assert!(wait_http_ok(&format!("http://{wlisten}/health"), Duration::from_secs(20)).await);
    let at_worker = worker("dc5", "5", &format!("http://{wlisten}"), SECRET);
    assert!(
        wait_log(
            &at_worker,
            "is a HyperFed worker, not a hub",
            Duration::from_secs(20)
        ),
        "{}",
        at_worker.log_text()
    );
    drop(target);

    // Nothing listening: asks whether the hub runs there.
    let gone = worker(
        "dc6",
        "6",
        &format!("http://127.0.0.1:{}", free_port()),
        SECRET,
    );
    assert!(
        wait_log(
            &gone,
            "is `hyperfed hub` running there",
            Duration::from_secs(20)
        ),
        "{}",
        gone.log_text()
    );
}

/// `POST /v1/tools/{name}` answers in one shape on hub and worker: the result object, or a
/// fitting status with `{"error": ...}`.
#[tokio::test]
async fn hub_and_worker_rest_tool_calls_have_one_shape() {
    common::init();
    let port = free_port();
    let _hub = Proc::start(
        "hub",
        &[
            "hub",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--token",
            "HT",
        ],
        &[("HYPERFED_SECRET", SECRET)],
    );
    let hub_base = format!("http://127.0.0.1:{port}");
    assert!(wait_http_ok(&format!("{hub_base}/health"), Duration::from_secs(20)).await);
    let wport = free_port();
    let wlisten = format!("127.0.0.1:{wport}");
    let w = Proc::start(
        "dc1",
        &[
            "worker",
            "--mock",
            "datacenter",
            "--seed",
            "7",
            "--listen",
            &wlisten,
            "--token",
            "WT",
            "--join",
            &hub_base,
            "--name",
            "dc1",
        ],
        &[("HYPERFED_SECRET", SECRET)],
    );
    assert!(
        wait_log(&w, "joined the hub", Duration::from_secs(20)),
        "{}",
        w.log_text()
    );
    let worker_base = format!("http://{wlisten}");
    let http = reqwest::Client::new();
    let call = |base: &str, token: &str, tool: &str, body: Value| {
        http.post(format!("{base}/v1/tools/{tool}"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    // Success: the same result object from both.
    let direct = call(&worker_base, "WT", "vm_get", json!({"vm": "file-01"}))
        .await
        .unwrap();
    assert_eq!(direct.status(), 200);
    let direct: Value = direct.json().await.unwrap();
    let via_hub = call(&hub_base, "HT", "dc1__vm_get", json!({"vm": "file-01"}))
        .await
        .unwrap();
    assert_eq!(via_hub.status(), 200);
    let via_hub: Value = via_hub.json().await.unwrap();
    assert_eq!(direct, via_hub);
    assert!(
        via_hub.get("content").is_none(),
        "no MCP envelope: {via_hub}"
    );
    // A missing VM: 404 and {"error": ...} from both.
    for (base, token, tool) in [
        (&worker_base, "WT", "vm_get"),
        (&hub_base, "HT", "dc1__vm_get"),
        (&hub_base, "HT", "vm_start"),
    ] {
        let r = call(base, token, tool, json!({"vm": "no-such-vm"}))
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 404, "{tool}: {body}");
        assert!(body["error"].is_string(), "{tool}: {body}");
        assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
    }
    // A bad argument: 422 from both; an unknown tool: 404 from both.
    for (base, token, tool) in [
        (&worker_base, "WT", "vm_get"),
        (&hub_base, "HT", "dc1__vm_get"),
    ] {
        let r = call(base, token, tool, json!({"vm": 3})).await.unwrap();
        assert_eq!(r.status(), 422, "{tool}");
        let r = call(base, token, "nope", json!({})).await.unwrap();
        assert_eq!(r.status(), 404);
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"]
                .as_str()
                .unwrap_or("")
                .contains("GET /v1/tools"),
            "{body}"
        );
    }
    // A cluster that does not exist: "no cluster named dc9".
    let r = call(&hub_base, "HT", "vm_start", json!({"vm": "dc9/web-01"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("no cluster named dc9"),
        "{body}"
    );
}

/// Runs `hyperfed ARGS` to completion with `envs`, returning (success, stdout, stderr).
fn run(args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("HYPERFED_TOKEN")
        .env_remove("HYPERFED_SECRET");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run hyperfed");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
