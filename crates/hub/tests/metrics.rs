//! `GET /metrics` on the hub and on real workers over simulated clusters, all on loopback:
//! after a few calls the named series carry the right values, the text passes
//! `promtool check metrics`, a real Prometheus server scrapes a hub and two workers and
//! answers a value through its query API, `/metrics` on the main listener needs the token,
//! and a token-free metrics listener off loopback is refused.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{SECRET, TempDir, call, client, eventually};
use hypercore_sim::Archetype;
use hyperfed_hub::{Health, HubConfig, HubHandle, ToolsMode};
use hyperfed_protocol::{JoinRequest, Secret};
use hyperfed_worker::{JoinConfig, WorkerConfig, WorkerHandle};
use serde_json::{Value, json};

const TOKEN: &str = "metrics-test-client-token";

fn loopback0() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn hub() -> HubHandle {
    let mut cfg = HubConfig::new(loopback0(), Secret::new(SECRET));
    cfg.tools_mode = ToolsMode::Namespaced;
    cfg.token = Some(Secret::new(TOKEN));
    cfg.heartbeat_interval = Duration::from_millis(250);
    cfg.metrics_listen = Some(loopback0());
    hyperfed_hub::start(cfg).await.expect("hub starts")
}

async fn worker(hub: &str, archetype: Archetype, seed: u64, name: &str) -> WorkerHandle {
    let mut config = WorkerConfig::mock(Some(archetype), seed);
    if let hyperfed_worker::ClusterSource::Mock(sim) = &mut config.cluster {
        sim.task_duration = Duration::from_millis(50);
    }
    config.poll_interval = Duration::from_millis(20);
    config.metrics_listen = Some(loopback0());
    config.join = Some(JoinConfig {
        hub_url: hub.to_owned(),
        secret: Secret::new(SECRET),
        name: Some(name.to_owned()),
        advertise: None,
    });
    hyperfed_worker::start(config).await.expect("worker starts")
}

/// A hub with two joined workers (`edge`, `dc`), both up.
async fn federation() -> (HubHandle, Vec<WorkerHandle>) {
    let hub = hub().await;
    let base = hub.base_url();
    let workers = vec![
        worker(&base, Archetype::Edge, 21, "edge").await,
        worker(&base, Archetype::Datacenter, 22, "dc").await,
    ];
    eventually("two clusters up", || {
        let c = hub.clusters();
        c.len() == 2 && c.iter().all(|c| c.state == Health::Up)
    })
    .await;
    (hub, workers)
}

async fn get(url: &str, token: Option<&str>) -> (u16, String, String) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("GET answers");
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, kind, r.text().await.unwrap_or_default())
}

/// The value of the sample written exactly as `series` (name and labels), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

/// An external tool from `env` or PATH; under CI it must be there, elsewhere the test skips.
fn tool(env: &str, name: &str) -> Option<PathBuf> {
    let found = std::env::var_os(env)
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        });
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "{name} is missing under CI=true: run scripts/install-prometheus.sh and export {env}"
            );
        }
        eprintln!(
            "SKIP: {name} not found (set {env} or run scripts/install-prometheus.sh); this part is not checked"
        );
    }
    found
}

/// Runs `promtool check metrics` on `text`; panics with its findings if it objects.
fn promtool_check(promtool: &Path, what: &str, text: &str) {
    use std::io::Write as _;
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics objects to the {what}'s metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_after_calls_have_their_values_and_pass_promtool() {
    let (hub, workers) = federation().await;
    let (mcp, _) = client(&hub.mcp_url(), Some(TOKEN)).await;

    // Two read calls on edge (the fast path), one fan-out, one unknown tool, one action.
    for _ in 0..2 {
        let (_, is_error) = call(&mcp, "edge__cluster_info", json!({})).await;
        assert!(!is_error);
    }
    let (status, is_error) = call(&mcp, "fleet_status", json!({})).await;
    assert!(!is_error, "{status}");
    let unknown = mcp
        .call_tool(rmcp::model::CallToolRequestParams::new("no_such_tool"))
        .await;
    assert!(unknown.is_err(), "an unknown tool is a protocol error");
    let truth = workers[0].sim().unwrap().truth();
    let stopped = truth["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["state"] == "SHUTOFF")
        .expect("the edge cluster has a stopped VM")["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (started, is_error) = call(&mcp, "edge__vm_start", json!({"vm": stopped})).await;
    assert!(!is_error, "{started}");
    let (_, is_error) = call(&mcp, "edge__vm_start", json!({"vm": "no-such-vm"})).await;
    assert!(is_error);
    // One refused join (wrong secret).
    let bad = JoinRequest::sign(
        &Secret::new("wrong-secret"),
        "intruder",
        "u-x",
        "X",
        "http://127.0.0.1:9/mcp",
    );
    let refused = reqwest::Client::new()
        .post(format!("{}/v1/join", hub.base_url()))
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);

    // The main listener's /metrics needs the token; the loopback listener does not.
    let url = format!("{}/metrics", hub.base_url());
    let (code, _, body) = get(&url, None).await;
    assert_eq!(code, 401, "{body}");
    let (code, _, _) = get(&url, Some("wrong-token")).await;
    assert_eq!(code, 401);
    let (code, kind, text) = get(&url, Some(TOKEN)).await;
    assert_eq!(code, 200);
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let (code, _, open) = get(&hub.metrics_url().unwrap(), None).await;
    assert_eq!(code, 200);
    assert!(open.contains("hyperfed_hub_joins_total 2"), "{open}");

    let ok = r#"hyperfed_hub_tool_calls_total{tool="cluster_info",cluster="edge",outcome="ok"}"#;
    assert_eq!(value(&text, ok), 2.0);
    assert_eq!(
        value(
            &text,
            r#"hyperfed_hub_tool_call_duration_seconds_count{tool="cluster_info",outcome="ok"}"#
        ),
        2.0
    );
    assert_eq!(
        value(
            &text,
            r#"hyperfed_hub_tool_calls_total{tool="fleet_status",cluster="fleet",outcome="ok"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"hyperfed_hub_tool_calls_total{tool="other",cluster="other",outcome="refused"}"#
        ),
        1.0,
        "an unknown tool name is folded into `other`"
    );
    assert!(
        !text.contains("no_such_tool"),
        "client input is never a label"
    );
    assert_eq!(
        value(
            &text,
            r#"hyperfed_hub_tool_calls_total{tool="vm_start",cluster="edge",outcome="ok"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"hyperfed_hub_tool_calls_total{tool="vm_start",cluster="edge",outcome="tool_error"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"hyperfed_hub_fan_out_duration_seconds_count{tool="cluster_info"}"#
        ),
        1.0
    );
    assert_eq!(value(&text, "hyperfed_hub_joins_total"), 2.0);
    assert_eq!(value(&text, "hyperfed_hub_leaves_total"), 0.0);
    assert_eq!(
        value(
            &text,
            r#"hyperfed_hub_join_refusals_total{reason="unauthorized"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"hyperfed_hub_audit_records_total{outcome="pending"}"#
        ),
        2.0
    );
    assert_eq!(
        value(&text, r#"hyperfed_hub_audit_records_total{outcome="ok"}"#),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"hyperfed_hub_audit_records_total{outcome="error"}"#
        ),
        1.0
    );
    assert_eq!(value(&text, "hyperfed_hub_clusters"), 2.0);
    for alias in ["edge", "dc"] {
        assert_eq!(
            value(
                &text,
                &format!(r#"hyperfed_hub_cluster_up{{cluster="{alias}"}}"#)
            ),
            1.0
        );
        let age = value(
            &text,
            &format!(r#"hyperfed_hub_cluster_heartbeat_age_seconds{{cluster="{alias}"}}"#),
        );
        assert!((0.0..60.0).contains(&age), "{alias}: {age}");
    }
    assert!(!text.contains(TOKEN) && !text.contains(SECRET));

    // The edge worker: its tool calls, HyperCore requests, read cache and the task wait.
    let (code, _, edge) = get(&workers[0].metrics_url().unwrap(), None).await;
    assert_eq!(code, 200);
    assert!(
        value(
            &edge,
            r#"hyperfed_worker_tool_calls_total{tool="cluster_info",outcome="ok"}"#
        ) >= 3.0,
        "two direct calls and the fan-out's: {edge}"
    );
    assert_eq!(
        value(
            &edge,
            r#"hyperfed_worker_tool_calls_total{tool="vm_start",outcome="ok"}"#
        ),
        1.0
    );
    assert!(
        value(
            &edge,
            r#"hyperfed_worker_hypercore_requests_total{endpoint="VirDomain",method="POST",status="2xx"}"#
        ) >= 1.0
    );
    assert!(
        value(
            &edge,
            r#"hyperfed_worker_hypercore_requests_total{endpoint="login",method="POST",status="2xx"}"#
        ) >= 1.0
    );
    assert!(
        value(
            &edge,
            r#"hyperfed_worker_hypercore_request_duration_seconds_count{endpoint="Cluster",method="GET"}"#
        ) >= 1.0
    );
    assert!(
        value(
            &edge,
            r#"hyperfed_worker_read_cache_requests_total{result="miss"}"#
        ) >= 1.0
    );
    assert_eq!(
        value(&edge, r#"hyperfed_worker_task_waits_total{outcome="done"}"#),
        1.0
    );
    assert_eq!(
        value(&edge, "hyperfed_worker_task_wait_duration_seconds_count"),
        1.0
    );
    assert!(!edge.contains(&stopped), "no VM uuid is a label");
    // The worker's main listener keeps /metrics behind its REST auth (a joined worker takes
    // only hub call tokens or its own token there).
    let (code, _, _) = get(&format!("{}/metrics", workers[1].base_url()), None).await;
    assert_eq!(code, 401);

    if let Some(promtool) = tool("HYPERFED_PROMTOOL", "promtool") {
        promtool_check(&promtool, "hub", &text);
        promtool_check(&promtool, "worker", &edge);
    }

    drop(mcp);
    for w in workers {
        w.shutdown().await;
    }
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_listener_off_loopback_is_refused() {
    let mut cfg = HubConfig::new(loopback0(), Secret::new(SECRET));
    cfg.metrics_listen = Some("0.0.0.0:0".parse().unwrap());
    let e = hyperfed_hub::start(cfg).await.err().expect("refused");
    assert!(
        e.to_string()
            .contains("--metrics-listen 0.0.0.0:0 is refused: the token-free metrics listener must be on a loopback address"),
        "{e}"
    );
    let mut config = WorkerConfig::mock(Some(Archetype::Edge), 1);
    config.metrics_listen = Some("0.0.0.0:0".parse().unwrap());
    let e = hyperfed_worker::start(config).await.err().expect("refused");
    assert!(
        e.to_string()
            .contains("--metrics-listen 0.0.0.0:0 is refused"),
        "{e}"
    );
}

/// A Prometheus server on loopback, stopped (and its temp dir removed) when dropped.
struct Prometheus {
    child: Child,
    url: String,
    _dir: TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn host_of(url: &str) -> String {
    url.trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

/// Starts Prometheus scraping `open` (token-free listeners) and `hub` (the main listener,
/// with the bearer token read from a file in the temp dir, never written in the config).
fn start_prometheus(binary: &Path, open: &[String], hub: &str) -> Prometheus {
    let dir = TempDir::new("prometheus");
    let token_file = dir.0.join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let targets: Vec<String> = open.iter().map(|u| format!("'{}'", host_of(u))).collect();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: hyperfed-open\n    static_configs:\n      - targets: [{}]\n  - job_name: hyperfed-hub-token\n    authorization:\n      credentials_file: {}\n    static_configs:\n      - targets: ['{}']\n",
        targets.join(", "),
        token_file.display(),
        host_of(hub),
    );
    let config_file = dir.0.join("prometheus.yml");
    std::fs::write(&config_file, &config).unwrap();
    assert!(!config.contains(TOKEN), "the token stays out of the config");
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.0.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus starts");
    Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    }
}

/// `q` percent-encoded for a query string.
fn percent_encoded(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The first result value of an instant query, once Prometheus has one (up to ~60 s).
async fn query(prom: &Prometheus, q: &str) -> Vec<Value> {
    let http = reqwest::Client::new();
    for _ in 0..240 {
        if let Ok(r) = http
            .get(format!(
                "{}/api/v1/query?query={}",
                prom.url,
                percent_encoded(q)
            ))
            .send()
            .await
            && let Ok(v) = r.json::<Value>().await
            && v["status"] == "success"
            && let Some(rows) = v["data"]["result"].as_array()
            && !rows.is_empty()
        {
            return rows.clone();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("Prometheus never answered {q}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_hub_and_two_workers() {
    let Some(binary) = tool("HYPERFED_PROMETHEUS", "prometheus") else {
        return;
    };
    let (hub, workers) = federation().await;
    let (mcp, _) = client(&hub.mcp_url(), Some(TOKEN)).await;
    let (_, is_error) = call(&mcp, "dc__cluster_info", json!({})).await;
    assert!(!is_error);
    let mut open = vec![hub.metrics_url().unwrap()];
    open.extend(workers.iter().map(|w| w.metrics_url().unwrap()));
    let prom = start_prometheus(&binary, &open, &hub.base_url());

    // Every target is scraped: the two workers and the hub twice (token-free and with the token).
    let up = query(&prom, "sum(up) == 4").await;
    assert_eq!(up[0]["value"][1], "4", "{up:?}");
    let joins = query(
        &prom,
        r#"hyperfed_hub_joins_total{job="hyperfed-hub-token"}"#,
    )
    .await;
    assert_eq!(joins[0]["value"][1], "2", "{joins:?}");
    let calls = query(
        &prom,
        r#"hyperfed_hub_tool_calls_total{job="hyperfed-open",tool="cluster_info",cluster="dc",outcome="ok"}"#,
    )
    .await;
    assert_eq!(calls[0]["value"][1], "1", "{calls:?}");
    let requests = query(
        &prom,
        r#"count(count by (instance) (hyperfed_worker_hypercore_requests_total))"#,
    )
    .await;
    assert_eq!(
        requests[0]["value"][1], "2",
        "both workers report: {requests:?}"
    );
    drop(prom);

    drop(mcp);
    for w in workers {
        w.shutdown().await;
    }
    hub.shutdown().await;
}
