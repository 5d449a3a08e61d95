//! Worker modes: read-only, stdio (in-process duplex pipes), joining a hub (a stub hub that
//! checks the real join proof), hub call tokens, confirmation expiry and startup refusals.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::*;
use hyperfed_protocol::{CallClaims, HeartbeatResponse, JoinRequest, JoinResponse, Secret};
use hyperfed_worker::{JoinConfig, WorkerError};
use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

#[tokio::test]
async fn read_only_mode_lists_and_accepts_only_reads() {
    let mut cfg = config();
    cfg.read_only = true;
    cfg.allow_raw_writes = true;
    let worker = hyperfed_worker::start(cfg).await.unwrap();
    let client = mcp(&worker, TOKEN).await;
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.len() >= 15);
    for t in &tools {
        let a = t.annotations.as_ref().unwrap();
        assert_eq!(
            a.read_only_hint,
            Some(true),
            "{} listed in read-only mode",
            t.name
        );
    }
    let t0 = truth(&worker);
    let running = vm_in_state(&t0, "RUNNING");
    let e = client
        .call_tool(
            CallToolRequestParams::new("vm_stop")
                .with_arguments(obj(json!({"vm": running["uuid"]}))),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("vm_stop"), "{e}");
    // Raw writes stay off in read-only mode even with --allow-raw-writes.
    let raw = err(
        &client,
        "api_request",
        json!({"method": "POST", "path": "/VirDomain/action"}),
    )
    .await;
    assert!(raw.contains("'method'"), "{raw}");
    ok(&client, "vm_list", json!({})).await;
    let rest = http()
        .post(format!("{}/v1/tools/vm_start", worker.base_url()))
        .bearer_auth(TOKEN)
        .json(&json!({"vm": running["uuid"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 404);
    assert_eq!(
        truth_vm(&truth(&worker), running["uuid"].as_str().unwrap())["state"],
        "RUNNING"
    );
    client.cancel().await.unwrap();
    worker.shutdown().await;
}

#[tokio::test]
async fn stdio_mode_lists_and_calls_tools() {
    let (client_io, server_io) = tokio::io::duplex(1 << 16);
    let (server_read, server_write) = tokio::io::split(server_io);
    let server = tokio::spawn(hyperfed_worker::serve_io(
        config(),
        server_read,
        server_write,
    ));
    let (client_read, client_write) = tokio::io::split(client_io);
    let client = ().serve((client_read, client_write)).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.len() >= 20);
    let list = ok(&client, "vm_list", json!({})).await;
    let truth = hypercore_sim::generate(hypercore_sim::Archetype::Datacenter, 7).truth();
    assert_eq!(list["total"], truth["vms"].as_array().unwrap().len());
    let info = ok(&client, "cluster_info", json!({})).await;
    assert_eq!(info["cluster"]["uuid"], truth["cluster"]["uuid"]);
    client.cancel().await.unwrap();
    // The server ends (and stops its simulator) once the client is gone.
    let ended = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("stdio server ends after the client leaves")
        .unwrap();
    assert!(ended.is_ok() || matches!(ended, Err(WorkerError::Transport(_))));
}

#[derive(Default)]
struct Hub {
    secret: Secret,
    joins: AtomicUsize,
    heartbeats: AtomicUsize,
    last_join: Mutex<Option<JoinRequest>>,
    bad_proofs: AtomicUsize,
}

async fn join(
    State(hub): State<Arc<Hub>>,
    Json(req): Json<JoinRequest>,
) -> (StatusCode, Json<Value>) {
    if req
        .verify(&hub.secret, hyperfed_protocol::join::unix_now())
        .is_err()
    {
        hub.bad_proofs.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "bad proof"})),
        );
    }
    hub.joins.fetch_add(1, Ordering::SeqCst);
    let alias = req.alias.clone();
    *hub.last_join.lock().unwrap() = Some(req);
    let resp = JoinResponse {
        alias,
        worker_token: format!("wt-{}", hub.joins.load(Ordering::SeqCst)),
        heartbeat_interval_ms: 100,
    };
    (StatusCode::OK, Json(serde_json::to_value(resp).unwrap()))
}

async fn heartbeat(State(hub): State<Arc<Hub>>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
    let n = hub.heartbeats.fetch_add(1, Ordering::SeqCst);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !auth.starts_with("Bearer wt-") {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "no token"})));
    }
    // The second heartbeat is refused: the worker must re-join.
    if n == 1 {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "unknown worker"})),
        );
    }
    let resp = HeartbeatResponse {
        worker_token: auth.trim_start_matches("Bearer ").to_owned(),
    };
    (StatusCode::OK, Json(serde_json::to_value(resp).unwrap()))
}

async fn start_hub(secret: &str) -> (Arc<Hub>, SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let hub = Arc::new(Hub {
        secret: Secret::new(secret),
        ..Hub::default()
    });
    let app = axum::Router::new()
        .route("/v1/join", post(join))
        .route("/v1/heartbeat", post(heartbeat))
        .with_state(hub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (hub, addr, tx)
}

async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..300 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn joins_a_hub_heartbeats_rejoins_and_accepts_hub_call_tokens() {
    let secret = "join-secret-for-tests";
    let (hub, hub_addr, stop_hub) = start_hub(secret).await;
    let mut cfg = config();
    cfg.token = None;
    // No read cache: the outage below must show in the very next read.
    cfg.read_cache_ttl = Duration::ZERO;
    cfg.join = Some(JoinConfig {
        hub_url: format!("http://{hub_addr}"),
        secret: Secret::new(secret),
        name: Some("Test DC #1".into()),
        advertise: None,
    });
    let worker = hyperfed_worker::start(cfg).await.unwrap();
    let truth = truth(&worker);

    assert!(
        eventually(|| worker.joined_alias().is_some()).await,
        "never joined"
    );
    assert_eq!(worker.joined_alias().as_deref(), Some("test-dc-1"));
    let req = hub.last_join.lock().unwrap().clone().unwrap();
    assert_eq!(req.alias, "test-dc-1");
    assert_eq!(req.cluster_uuid, truth["cluster"]["uuid"].as_str().unwrap());
    assert_eq!(req.cluster_name, truth["cluster"]["name"].as_str().unwrap());
    assert_eq!(req.worker_url, worker.mcp_url());
    // The secret itself never crosses the wire.
    assert!(!serde_json::to_string(&req).unwrap().contains(secret));

    // A refused heartbeat makes the worker join again.
    assert!(
        eventually(|| hub.joins.load(Ordering::SeqCst) >= 2).await,
        "did not re-join after a 401 heartbeat"
    );
    assert!(eventually(|| hub.heartbeats.load(Ordering::SeqCst) >= 3).await);
    assert_eq!(hub.bad_proofs.load(Ordering::SeqCst), 0);

    // Hub call tokens: accepted for this cluster, refused for another or another secret.
    let uuid = worker.cluster_uuid().unwrap();
    let good = CallClaims::issue(&Secret::new(secret), &uuid, Duration::from_secs(60));
    let wrong_aud = CallClaims::issue(
        &Secret::new(secret),
        "other-cluster",
        Duration::from_secs(60),
    );
    let wrong_key = CallClaims::issue(&Secret::new("other-secret"), &uuid, Duration::from_secs(60));
    let url = format!("{}/v1/status", worker.base_url());
    let http = http();
    assert_eq!(
        http.get(&url)
            .bearer_auth(&good)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(&url)
            .bearer_auth(&wrong_aud)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(&url)
            .bearer_auth(&wrong_key)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let client = mcp(&worker, &good).await;
    let info = ok(&client, "cluster_info", json!({})).await;
    assert_eq!(info["cluster"]["uuid"], uuid.as_str());
    // While joined, cluster failures name the hub alias.
    worker.sim().unwrap().faults().update(|f| f.down = true);
    let down = err(&client, "vm_list", json!({})).await;
    assert!(down.contains("'test-dc-1'"), "{down}");
    worker.sim().unwrap().faults().clear();
    client.cancel().await.unwrap();

    worker.shutdown().await;
    let _ = stop_hub.send(());
}

#[tokio::test]
async fn wrong_join_secret_is_refused_and_retried() {
    let (hub, hub_addr, stop_hub) = start_hub("the-real-secret").await;
    let mut cfg = config();
    cfg.join = Some(JoinConfig {
        hub_url: format!("http://{hub_addr}"),
        secret: Secret::new("a-wrong-secret"),
        name: None,
        advertise: Some("http://worker.example:7777/mcp".into()),
    });
    let worker = hyperfed_worker::start(cfg).await.unwrap();
    assert!(
        eventually(|| hub.bad_proofs.load(Ordering::SeqCst) >= 2).await,
        "no retry after 401"
    );
    assert_eq!(hub.joins.load(Ordering::SeqCst), 0);
    assert_eq!(worker.joined_alias(), None);
    // The advertised host is accepted in Host headers.
    let r = http()
        .get(format!("{}/v1/status", worker.base_url()))
        .bearer_auth(TOKEN)
        .header("host", "worker.example:7777")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // rmcp applies the same allowlist to /mcp.
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    for (host, status) in [("worker.example:7777", 200), ("evil.example", 403)] {
        let r = http()
            .post(worker.mcp_url())
            .bearer_auth(TOKEN)
            .header("host", host)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(init)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "Host {host}");
    }
    worker.shutdown().await;
    let _ = stop_hub.send(());
}

#[tokio::test]
async fn expired_confirmation_tokens_are_refused() {
    let mut cfg = config();
    cfg.confirm_ttl = Duration::ZERO;
    let worker = hyperfed_worker::start(cfg).await.unwrap();
    let client = mcp(&worker, TOKEN).await;
    let running = vm_in_state(&truth(&worker), "RUNNING");
    let preview = ok(&client, "vm_stop", json!({"vm": running["uuid"]})).await;
    let token = preview["confirm_token"].as_str().unwrap();
    let e = err(
        &client,
        "vm_stop",
        json!({"vm": running["uuid"], "confirm_token": token}),
    )
    .await;
    assert!(e.contains("expired"), "{e}");
    assert_eq!(
        truth_vm(&truth(&worker), running["uuid"].as_str().unwrap())["state"],
        "RUNNING"
    );
    client.cancel().await.unwrap();
    worker.shutdown().await;
}

#[tokio::test]
async fn startup_refusals_are_specific() {
    let mut open = config();
    open.token = None;
    open.listen = "0.0.0.0:0".parse().unwrap();
    match hyperfed_worker::start(open).await {
        Err(WorkerError::Config(m)) => {
            assert!(m.contains("non-loopback") && m.contains("--token"), "{m}")
        }
        other => panic!(
            "expected a config error, got {:?}",
            other.map(|w| w.local_addr())
        ),
    }
    // A "real" cluster (the simulator reached as an external URL) with a wrong password.
    let sim = hypercore_sim::Simulator::start(sim_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let wrong = hypercore::ClusterConfig::new(
        sim.base_url(),
        hypercore::Credentials::new("admin", "not-the-password"),
    );
    let mut bad_creds = config();
    bad_creds.cluster = hyperfed_worker::ClusterSource::Real(wrong);
    match hyperfed_worker::start(bad_creds).await {
        Err(WorkerError::Unavailable(m)) => {
            assert!(m.contains("rejected the credentials"), "{m}");
            assert!(!m.contains("not-the-password"), "{m}");
        }
        other => panic!(
            "expected a credentials error, got {:?}",
            other.map(|w| w.local_addr())
        ),
    }
    // The same cluster with the right password works through the same client code.
    let right = hypercore::ClusterConfig::new(
        sim.base_url(),
        hypercore::Credentials::new("admin", "admin"),
    );
    let mut real = config();
    real.cluster = hyperfed_worker::ClusterSource::Real(right);
    let w = hyperfed_worker::start(real).await.unwrap();
    assert!(w.sim().is_none());
    let client = mcp(&w, TOKEN).await;
    let list = ok(&client, "vm_list", json!({})).await;
    assert_eq!(list["total"], sim.truth()["vms"].as_array().unwrap().len());
    client.cancel().await.unwrap();
    w.shutdown().await;
    sim.shutdown().await;

    let busy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut taken = config();
    taken.listen = busy.local_addr().unwrap();
    match hyperfed_worker::start(taken).await {
        Err(WorkerError::Bind { addr, .. }) => assert_eq!(addr, busy.local_addr().unwrap()),
        other => panic!(
            "expected a bind error, got {:?}",
            other.map(|w| w.local_addr())
        ),
    }
}

#[tokio::test]
async fn raw_writes_need_the_switch_and_a_confirmation() {
    let mut cfg = config();
    cfg.allow_raw_writes = true;
    let worker = hyperfed_worker::start(cfg).await.unwrap();
    let client = mcp(&worker, TOKEN).await;
    let tools = client.list_all_tools().await.unwrap();
    let raw = tools.iter().find(|t| t.name == "api_request").unwrap();
    let a = raw.annotations.as_ref().unwrap();
    assert_eq!(
        (a.read_only_hint, a.destructive_hint),
        (Some(false), Some(true))
    );

    let off = vm_in_state(&truth(&worker), "SHUTOFF");
    let uuid = off["uuid"].as_str().unwrap();
    let args = json!({
        "method": "POST",
        "path": "/VirDomain/action",
        "body": [{"virDomainUUID": uuid, "actionType": "START"}],
    });
    let preview = ok(&client, "api_request", args.clone()).await;
    assert_eq!(preview["confirmation_required"], true);
    assert_eq!(preview["preview"]["request"]["path"], "/VirDomain/action");
    assert_eq!(truth_vm(&truth(&worker), uuid)["state"], "SHUTOFF");
    // A token for this request does not confirm a different body.
    let token = preview["confirm_token"].as_str().unwrap().to_owned();
    let mut other = args.clone();
    other["body"][0]["actionType"] = json!("STOP");
    other["confirm_token"] = json!(token);
    let refused = err(&client, "api_request", other).await;
    assert!(refused.contains("other arguments"), "{refused}");
    let mut confirmed = args.clone();
    confirmed["confirm_token"] = json!(token);
    let sent = ok(&client, "api_request", confirmed).await;
    assert_eq!(sent["status"], 200);
    assert!(
        eventually(|| truth_vm(&worker.sim().unwrap().truth(), uuid)["state"] == "RUNNING").await,
        "the raw START did not run"
    );
    // GET stays unconfirmed.
    let get = ok(&client, "api_request", json!({"path": "/Cluster"})).await;
    assert_eq!(get["status"], 200);
    client.cancel().await.unwrap();
    worker.shutdown().await;
}

#[tokio::test]
async fn expired_sessions_are_renewed_and_outages_are_tool_errors() {
    // No read cache: each outage below must show in the very next read.
    let mut cfg = config();
    cfg.read_cache_ttl = Duration::ZERO;
    let worker = hyperfed_worker::start(cfg).await.unwrap();
    let client = mcp(&worker, TOKEN).await;
    let faults = worker.sim().unwrap().faults();
    // Sessions idle for 300 ms expire; the next call must log in again transparently.
    faults.update(|f| f.session_ttl_ms = Some(300));
    ok(&client, "ping", json!({})).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let list = ok(&client, "vm_list", json!({})).await;
    assert!(list["count"].as_u64().unwrap() > 0);

    faults.update(|f| f.down = true);
    let down = err(&client, "vm_list", json!({})).await;
    let name = truth(&worker)["cluster"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        down.contains("unavailable") && down.contains(&name),
        "{down}"
    );
    let health: Value = http()
        .get(format!("{}/health", worker.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "up");
    assert_eq!(health["cluster_reachable"], false);
    let status = http()
        .get(format!("{}/v1/status", worker.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 502);

    // Every request answered 500 (beyond the client's read retries): a tool error naming the cluster.
    faults.update(|f| {
        f.down = false;
        f.error_rate = 1.0;
    });
    let failing = err(&client, "vm_list", json!({})).await;
    assert!(
        failing.contains(&name) && failing.contains("HTTP 5"),
        "{failing}"
    );

    faults.clear();
    ok(&client, "ping", json!({})).await;
    client.cancel().await.unwrap();
    worker.shutdown().await;
}

#[tokio::test]
async fn https_simulator_is_reached_through_its_certificate() {
    let mut cfg = config();
    if let hyperfed_worker::ClusterSource::Mock(sim) = &mut cfg.cluster {
        sim.tls = true;
    }
    let worker = hyperfed_worker::start(cfg).await.unwrap();
    assert!(worker.sim().unwrap().base_url().starts_with("https://"));
    let client = mcp(&worker, TOKEN).await;
    let info = ok(&client, "cluster_info", json!({})).await;
    assert_eq!(info["cluster"]["uuid"], truth(&worker)["cluster"]["uuid"]);
    client.cancel().await.unwrap();
    worker.shutdown().await;
}

#[tokio::test]
async fn a_cluster_down_at_startup_is_picked_up_later() {
    let mut cfg = config();
    if let hyperfed_worker::ClusterSource::Mock(sim) = &mut cfg.cluster {
        sim.faults.down = true;
    }
    let worker = hyperfed_worker::start(cfg).await.unwrap();
    assert_eq!(worker.cluster_uuid(), None);
    let client = mcp(&worker, TOKEN).await;
    let down = err(&client, "cluster_info", json!({})).await;
    assert!(down.contains("unavailable"), "{down}");
    worker.sim().unwrap().faults().clear();
    let info = ok(&client, "cluster_info", json!({})).await;
    let uuid = truth(&worker)["cluster"]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(info["cluster"]["uuid"], uuid.as_str());
    assert_eq!(worker.cluster_uuid(), Some(uuid));
    client.cancel().await.unwrap();
    worker.shutdown().await;
}
