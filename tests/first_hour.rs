//! The first hour of a new operator: the everyday mistakes, each run against the real binary
//! on 127.0.0.1, asserting the exact guidance its message gives (issue #14). Tokens and the
//! audit trail are in `first_hour_tokens.rs`; the README's own blocks in `readme.rs`.

mod common;
mod operator;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Proc, bin, free_port, wait_http_ok};
use operator::{SECRET, hub, run, status_of, wait_log, worker};
use serde_json::{Value, json};

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
            // The test names dc1__vm_get: namespaced explicitly, whatever auto would pick.
            "--tools",
            "namespaced",
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

#[test]
fn user_errors_are_one_line_without_a_backtrace() {
    for args in [
        &["worker", "--mock", "moon"][..],
        &["hub", "--listen", "0.0.0.0:0", "--secret", SECRET][..],
        &["token", "list", "--data", "/nonexistent/hyperfed-data"][..],
    ] {
        let (ok, _, err) = run(args, &[("RUST_BACKTRACE", "1")]);
        assert!(!ok, "{args:?}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.contains(" INFO ")).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {err}");
        assert!(lines[0].starts_with("error: "), "{err}");
        assert!(
            !err.contains("backtrace") && !err.contains("Stack"),
            "{err}"
        );
    }
}

/// A URL, the environment and what the answer must say.
type ConnectCase<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

/// Runs `hyperfed connect ARGS`, sends `initialize`, returns (stdout, stderr).
fn connect(args: &[&str], envs: &[(&str, &str)]) -> (String, String) {
    use std::io::Write as _;
    let mut cmd = Command::new(bin());
    cmd.arg("connect")
        .args(args)
        .env_remove("HYPERFED_TOKEN")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn connect");
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"desktop","version":"1"}}}"#;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "{init}");
    }
    let out = child.wait_with_output().expect("connect exits");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn connect_answers_initialize_with_what_is_wrong() {
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
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_http_ok(&format!("{base}/health"), Duration::from_secs(20)).await);
    let mcp = format!("{base}/mcp");
    let no_scheme = format!("127.0.0.1:{port}/mcp");
    let nothing = format!("http://127.0.0.1:{}/mcp", free_port());
    let cases: [ConnectCase; 5] = [
        (
            &mcp,
            &[("HYPERFED_TOKEN", "wrong")],
            "refused the token (HTTP 401)",
        ),
        (&mcp, &[], "needs a token (HTTP 401): set HYPERFED_TOKEN"),
        (
            &base,
            &[("HYPERFED_TOKEN", "HT")],
            "the MCP endpoint of a hub or worker is",
        ),
        (
            &no_scheme,
            &[("HYPERFED_TOKEN", "HT")],
            "has no scheme: write it as http://",
        ),
        (
            &nothing,
            &[("HYPERFED_TOKEN", "HT")],
            "is the hub (or worker) running at",
        ),
    ];
    for (url, envs, says) in cases {
        let (out, err) = connect(&[url], envs);
        let reply: Value = serde_json::from_str(out.lines().next().unwrap_or("")).expect(&out);
        assert_eq!(reply["id"], 1, "{reply}");
        let message = reply["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{url}: {message}");
        assert_eq!(err.lines().count(), 1, "one plain stderr line: {err}");
        assert!(err.contains(says) && !err.contains("reqwest"), "{err}");
    }
}

#[tokio::test]
async fn ctrl_c_stops_the_demo_without_errors_or_session_ids() {
    common::init();
    let port = free_port();
    let mut demo = Proc::start(
        "demo",
        &[
            "demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--token",
            "DT",
        ],
        &[],
    );
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_http_ok(&format!("{base}/health"), Duration::from_secs(30)).await);
    assert!(wait_log(&demo, "alias=dr-3", Duration::from_secs(30)));
    let http = reqwest::Client::new();
    // Calls through the hub open its sessions with the workers.
    assert_eq!(status_of(&http, &base, "DT").await.0, 200);
    demo.signal("INT");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Ok(Some(s)) = demo.child.try_wait() {
            break s;
        }
        assert!(Instant::now() < deadline, "the demo did not stop on Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let log = demo.log_text();
    assert!(!log.contains("ERROR") && !log.contains("WARN"), "{log}");
    // Not on a terminal: the start-up progress comes as plain lines.
    assert!(
        log.contains("hyperfed demo: 3/3 clusters started (dr-3)"),
        "{log}"
    );
    assert!(log.contains("hyperfed demo: 3/3 clusters joined"), "{log}");
    assert!(!log.contains("session_id"), "{log}");
}

#[tokio::test]
async fn log_format_json_writes_one_object_per_line() {
    common::init();
    let listen = format!("127.0.0.1:{}", free_port());
    let w = Proc::start(
        "json",
        &[
            "--log-format",
            "json",
            "worker",
            "--mock",
            "edge",
            "--listen",
            &listen,
        ],
        &[],
    );
    assert!(wait_http_ok(&format!("http://{listen}/health"), Duration::from_secs(20)).await);
    assert!(wait_log(&w, "worker listening", Duration::from_secs(10)));
    let log = w.log_text();
    let objects: Vec<Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect(l))
        .collect();
    let listening = objects
        .iter()
        .find(|o| o["message"] == "worker listening")
        .expect("the listening line is JSON");
    assert_eq!(listening["level"], "INFO");
    assert!(
        listening["fields"]["mcp"]
            .as_str()
            .unwrap_or("")
            .ends_with("/mcp")
    );
}

#[test]
fn parsing_and_help_name_the_flag_and_the_defaults() {
    let (ok, _, err) = run(
        &["hub", "--listen", "127.0.0.1:0", "--fanout-timeout", "0s"],
        &[("HYPERFED_SECRET", SECRET)],
    );
    assert!(!ok);
    assert!(
        err.contains("--fanout-timeout") && err.contains("above zero"),
        "{err}"
    );
    let (_, worker_help, _) = run(&["worker", "--help"], &[]);
    for needle in [
        "[default: 120s]",
        "[default: 1s]",
        "http://127.0.0.1:8000",
        "--token-file",
        "the REST API",
    ] {
        assert!(worker_help.contains(needle), "worker --help lacks {needle}");
    }
    assert!(!worker_help.contains("7700"));
    let (_, hub_help, _) = run(&["hub", "--help"], &[]);
    for needle in [
        "--token-file",
        "/mcp and the REST API",
        "a bare number is seconds",
    ] {
        assert!(hub_help.contains(needle), "hub --help lacks {needle}");
    }
    let (ok, default_seed, err) = run(&["mock", "truth", "--archetype", "edge"], &[]);
    assert!(ok, "mock truth needs no --seed, like mock: {err}");
    let (_, seed0, _) = run(
        &["mock", "truth", "--archetype", "edge", "--seed", "0"],
        &[],
    );
    assert_eq!(default_seed, seed0);
}

#[test]
fn a_short_join_secret_is_warned_about() {
    let listen = format!("127.0.0.1:{}", free_port());
    let h = Proc::start(
        "hub",
        &["hub", "--listen", &listen],
        &[("HYPERFED_SECRET", "x")],
    );
    assert!(
        wait_log(
            &h,
            "the join secret is only 1 character: use at least 16",
            Duration::from_secs(20)
        ),
        "{}",
        h.log_text()
    );
}

/// A worker whose cluster does not answer is alive (`/health`) but not ready (`/ready` 503),
/// joins anyway and shows as unreachable in `fleet_status`; once the cluster answers it
/// re-joins with the cluster's identity.
#[tokio::test]
async fn a_worker_with_an_unreachable_cluster_joins_and_shows_as_unreachable() {
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
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_http_ok(&format!("{base}/health"), Duration::from_secs(20)).await);
    let cluster_port = free_port();
    let wlisten = format!("127.0.0.1:{}", free_port());
    let w = Proc::start(
        "dc1",
        &[
            "worker",
            "--hypercore-url",
            &format!("http://127.0.0.1:{cluster_port}"),
            "--username",
            "admin",
            "--listen",
            &wlisten,
            "--join",
            &base,
            "--name",
            "dc1",
        ],
        &[("HYPERFED_SECRET", SECRET), ("HYPERCORE_PASSWORD", "admin")],
    );
    assert!(
        wait_log(&w, "joined the hub", Duration::from_secs(30)),
        "{}",
        w.log_text()
    );
    let http = reqwest::Client::new();
    let health = http
        .get(format!("http://{wlisten}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "liveness stays up");
    let ready = http
        .get(format!("http://{wlisten}/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert!(
        ready["error"]
            .as_str()
            .unwrap_or("")
            .contains("the cluster does not answer"),
        "{ready}"
    );
    let fleet = |http: reqwest::Client, base: String| async move {
        http.post(format!("{base}/v1/tools/fleet_status"))
            .bearer_auth("HT")
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let status = fleet(http.clone(), base.clone()).await;
    assert_eq!(status["clusters"][0]["cluster"], "dc1", "{status}");
    assert_eq!(status["clusters"][0]["status"], "unreachable", "{status}");
    // The cluster comes up: the worker re-joins with its identity and the hub shows it up.
    let _cluster = Proc::start(
        "cluster",
        &[
            "mock",
            "--listen",
            &format!("127.0.0.1:{cluster_port}"),
            "--archetype",
            "edge",
            "--seed",
            "3",
        ],
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = fleet(http.clone(), base.clone()).await;
        if status["clusters"][0]["status"] == "up"
            && status["clusters"].as_array().map(Vec::len) == Some(1)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster never showed up: {status}\n{}",
            w.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ready = http
        .get(format!("http://{wlisten}/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}
