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

#[test]
fn user_errors_are_one_line_without_a_backtrace() {
    for args in [
        &["worker", "--mock", "moon"][..],
        &["hub", "--listen", "0.0.0.0:0", "--secret", "s"][..],
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

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hyperfed-first-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn token_issue_refuses_a_directory_that_holds_no_hub() {
    let dir = temp_dir("typo");
    let d = dir.to_str().unwrap();
    let (ok, out, err) = run(&["token", "issue", "--data", d, "--scope", "read"], &[]);
    assert!(!ok && out.is_empty(), "{out}");
    assert!(
        err.contains("holds no hub") && err.contains("--data"),
        "{err}"
    );
    assert!(!dir.exists(), "a typo must not create a directory");
    let (ok, out, err) = run(
        &["token", "issue", "--data", d, "--scope", "read", "--init"],
        &[],
    );
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 1);
    let (ok, _, err) = run(&["token", "issue", "--data", d, "--scope", "read"], &[]);
    assert!(ok, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn issue(dir: &str, ttl: &str, subject: &str) -> String {
    let (ok, out, err) = run(
        &[
            "token",
            "issue",
            "--data",
            dir,
            "--scope",
            "read",
            "--ttl",
            ttl,
            "--subject",
            subject,
        ],
        &[],
    );
    assert!(ok, "{err}");
    out.trim().to_owned()
}

async fn status_of(http: &reqwest::Client, base: &str, token: &str) -> (u16, String) {
    let r = http
        .get(format!("{base}/v1/status"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// A hub with a data directory that requires tokens.
fn hub_with_data(dir: &str, port: u16) -> Proc {
    Proc::start(
        "hub",
        &[
            "hub",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data",
            dir,
            "--require-token",
        ],
        &[("HYPERFED_SECRET", SECRET)],
    )
}

#[tokio::test]
async fn one_revoked_token_is_refused_by_the_running_hub() {
    common::init();
    let dir = temp_dir("revoke");
    let d = dir.to_str().unwrap().to_owned();
    let port = free_port();
    let _hub = hub_with_data(&d, port);
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_http_ok(&format!("{base}/health"), Duration::from_secs(20)).await);
    let alice = issue(&d, "1h", "alice");
    let bob = issue(&d, "1h", "bob");
    let http = reqwest::Client::new();
    assert_eq!(status_of(&http, &base, &alice).await.0, 200);
    let (ok, list, err) = run(&["token", "list", "--data", &d], &[]);
    assert!(ok, "{err}");
    let line = list
        .lines()
        .find(|l| l.contains("alice"))
        .expect("alice listed");
    assert!(line.ends_with("active"), "{list}");
    assert!(!list.contains(&alice), "the list never shows a token");
    let id = line.split_whitespace().next().unwrap();
    let (ok, _, err) = run(&["token", "revoke", "--data", &d, &id[..10]], &[]);
    assert!(ok && err.contains("revoked token"), "{err}");
    let (code, body) = status_of(&http, &base, &alice).await;
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("revoked"), "{body}");
    assert_eq!(status_of(&http, &base, &bob).await.0, 200);
    let (_, list, _) = run(&["token", "list", "--data", &d], &[]);
    assert!(
        list.lines()
            .any(|l| l.contains("alice") && l.ends_with("revoked")),
        "{list}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_expired_token_is_refused_after_the_leeway_on_rest_and_in_an_open_session() {
    common::init();
    let dir = temp_dir("leeway");
    let d = dir.to_str().unwrap().to_owned();
    let port = free_port();
    let _hub = hub_with_data(&d, port);
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_http_ok(&format!("{base}/health"), Duration::from_secs(20)).await);
    let token = issue(&d, "1s", "short");
    let key = hyperfed_hub::HubKey::load_or_create(&dir).unwrap();
    let exp = hyperfed_hub::ClientClaims::read_any(&key, &token)
        .unwrap()
        .exp;
    let http = reqwest::Client::new();
    // Open an MCP session while the token is valid.
    let transport = rmcp::transport::StreamableHttpClientTransport::from_config(
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            format!("{base}/mcp"),
        )
        .auth_header(token.clone()),
    );
    let client = rmcp::ServiceExt::serve((), transport)
        .await
        .expect("session opens");
    client.list_all_tools().await.expect("tools while valid");
    // Past expiry but inside the leeway: still accepted.
    let now = hyperfed_protocol::join::unix_now();
    if now <= exp + hyperfed_hub::auth::TOKEN_LEEWAY.as_secs() - 2 {
        assert_eq!(status_of(&http, &base, &token).await.0, 200);
    }
    while hyperfed_protocol::join::unix_now() <= exp + hyperfed_hub::auth::TOKEN_LEEWAY.as_secs() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (code, body) = status_of(&http, &base, &token).await;
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("expired"), "{body}");
    assert!(
        client.list_all_tools().await.is_err(),
        "an open session must refuse the expired token too"
    );
    let _ = client.cancel().await;
    let _ = std::fs::remove_dir_all(&dir);
}

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
    let cases: [(&str, &[(&str, &str)], &str); 5] = [
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

#[tokio::test]
async fn refused_routed_calls_are_audited_with_their_cluster_and_audit_filters_work() {
    common::init();
    let dir = temp_dir("audit");
    let d = dir.to_str().unwrap().to_owned();
    let port = free_port();
    let mut hub = hub_with_data(&d, port);
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_http_ok(&format!("{base}/health"), Duration::from_secs(20)).await);
    let w = Proc::start(
        "dc1",
        &[
            "worker",
            "--mock",
            "datacenter",
            "--seed",
            "7",
            "--listen",
            "127.0.0.1:0",
            "--join",
            &base,
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
    let reader = issue(&d, "1h", "reader");
    let (ok, admin, err) = run(
        &[
            "token",
            "issue",
            "--data",
            &d,
            "--scope",
            "admin",
            "--subject",
            "boss",
        ],
        &[],
    );
    assert!(ok, "{err}");
    let admin = admin.trim();
    let http = reqwest::Client::new();
    for vm in ["dc1/file-01", "sql-01"] {
        let r = http
            .post(format!("{base}/v1/tools/vm_start"))
            .bearer_auth(&reader)
            .json(&json!({"vm": vm}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{vm}");
    }
    let audit = |q: &'static str| {
        let http = http.clone();
        let url = format!("{base}/v1/audit{q}");
        let admin = admin.to_owned();
        async move {
            let r = http.get(url).bearer_auth(admin).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (code, refused) = audit("?outcome=refused&subject=reader").await;
    assert_eq!(code, 200);
    assert_eq!(refused["count"], 2, "{refused}");
    for e in refused["entries"].as_array().unwrap() {
        assert_eq!(
            e["cluster"], "dc1",
            "a refused routed call names its cluster: {e}"
        );
    }
    assert_eq!(audit("?cluster=dc9").await.1["count"], 0);
    assert_eq!(audit("?since=1h&cluster=dc1").await.1["count"], 2);
    assert_eq!(audit("?subject=boss").await.1["count"], 0);
    let (code, bad) = audit("?since=yesterday").await;
    assert_eq!(code, 400);
    assert!(
        bad["error"].as_str().unwrap_or("").starts_with("since"),
        "{bad}"
    );
    drop(w);
    hub.terminate(Duration::from_secs(10));
    let (ok, out, err) = run(
        &[
            "audit",
            "--data",
            &d,
            "--outcome",
            "refused",
            "--cluster",
            "dc1",
            "--since",
            "1h",
        ],
        &[],
    );
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
