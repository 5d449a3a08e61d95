//! The worker's read cache: concurrent identical collection reads share one upstream GET
//! (counted by a loopback proxy in front of the simulator), reads are reused for the TTL and
//! then see changes made behind the worker's back, the worker's own actions show at once
//! (also when the action did not wait), and a zero TTL reads the cluster every time.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use common::*;
use hyperfed_worker::{ClusterSource, WorkerConfig, WorkerHandle};
use serde_json::{Value, json};
use tokio::sync::watch;

/// A counting proxy in front of a simulator; GETs of `/rest/v1/VirDomain` wait for the gate.
#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    gate: watch::Receiver<bool>,
}

impl Proxy {
    fn count(&self, key: &str) -> usize {
        self.counts.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

async fn forward(State(p): State<Proxy>, req: Request) -> Response {
    let method = req.method().clone();
    let path_q = req
        .uri()
        .path_and_query()
        .map(|x| x.as_str().to_owned())
        .unwrap_or_default();
    let key = format!("{method} {}", req.uri().path());
    *p.counts.lock().unwrap().entry(key.clone()).or_default() += 1;
    if key == "GET /rest/v1/VirDomain" {
        let mut gate = p.gate.clone();
        let _ = gate.wait_for(|open| *open).await;
    }
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let mut up = p
        .http
        .request(method, format!("{}{path_q}", p.upstream))
        .body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            up = up.header(name, value);
        }
    }
    let Ok(resp) = up.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = resp.status();
    let mut out_headers = HeaderMap::new();
    for (name, value) in resp.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            out_headers.append(name, value.clone());
        }
    }
    let bytes: Bytes = resp.bytes().await.unwrap_or_default();
    (status, out_headers, bytes).into_response()
}

struct Proxied {
    worker: WorkerHandle,
    sim: hypercore_sim::SimHandle,
    proxy: Proxy,
    open: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

/// A simulator, a counting proxy in front of it and a worker that reaches the cluster only
/// through the proxy (as a "real" cluster), with read cache TTL `ttl`.
async fn proxied(ttl: Duration) -> Proxied {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = hypercore_sim::Simulator::start(sim_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (open, gate) = watch::channel(true);
    let proxy = Proxy {
        upstream: sim.base_url().trim_end_matches('/').to_owned(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        counts: Arc::default(),
        gate,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(proxy.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let creds = hypercore::Credentials::new("admin", "admin");
    let mut cfg = WorkerConfig::new(ClusterSource::Real(hypercore::ClusterConfig::new(
        format!("http://{addr}"),
        creds,
    )));
    cfg.token = Some(hyperfed_protocol::Secret::new(TOKEN));
    cfg.read_cache_ttl = ttl;
    let worker = hyperfed_worker::start(cfg).await.unwrap();
    Proxied {
        worker,
        sim,
        proxy,
        open,
        server,
    }
}

impl Proxied {
    async fn stop(self) {
        self.worker.shutdown().await;
        self.server.abort();
        let _ = self.server.await;
        self.sim.shutdown().await;
    }
}

async fn rest_vms(worker: &WorkerHandle) -> Value {
    let r = http()
        .get(format!("{}/v1/vms", worker.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn state_in(list: &Value, uuid: &str) -> String {
    list["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["uuid"] == uuid)
        .unwrap_or_else(|| panic!("vm {uuid} not listed"))["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn cached_worker_config(ttl: Duration) -> WorkerConfig {
    let mut c = config();
    c.read_cache_ttl = ttl;
    c
}

/// Powers a VM off behind the worker's back (its own REST session on the simulator) and
/// waits until the simulator's truth shows it SHUTOFF.
async fn stop_behind_the_back(worker: &WorkerHandle, uuid: &str) {
    let sim = worker.sim().unwrap();
    let client = hypercore::Client::new(hypercore::ClusterConfig::new(
        sim.base_url(),
        hypercore::Credentials::new("admin", "admin"),
    ))
    .unwrap();
    let task = client
        .vm_action(uuid, hypercore::VmAction::Stop)
        .await
        .unwrap();
    client
        .wait_task(
            &task.task_tag,
            hypercore::WaitOptions::new(Duration::from_secs(20))
                .with_poll_interval(Duration::from_millis(20)),
            |_| {},
        )
        .await
        .unwrap();
    for _ in 0..500 {
        if truth_vm(&sim.truth(), uuid)["state"] == "SHUTOFF" {
            let _ = client.logout().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("vm {uuid} never reached SHUTOFF in the simulator");
}

#[tokio::test]
async fn concurrent_identical_reads_share_one_upstream_get() {
    // TTL 0: only coalescing can merge these reads.
    let p = proxied(Duration::ZERO).await;
    let key = "GET /rest/v1/VirDomain";
    p.open.send(false).unwrap();
    let base = p.worker.base_url();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let url = format!("{base}/v1/vms");
            tokio::spawn(async move {
                let r = http().get(url).bearer_auth(TOKEN).send().await.unwrap();
                assert_eq!(r.status(), 200);
                r.json::<Value>().await.unwrap()
            })
        })
        .collect();
    // Hold the first upstream read until every call has had ample time to join it.
    for _ in 0..500 {
        if p.proxy.count(key) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    p.open.send(true).unwrap();
    let mut bodies = Vec::new();
    for c in calls {
        bodies.push(c.await.unwrap());
    }
    assert_eq!(p.proxy.count(key), 1, "8 concurrent vm_list reads");
    assert!(bodies[0]["count"].as_u64().unwrap() > 0);
    assert!(bodies.iter().all(|b| *b == bodies[0]));
    // With TTL 0 the next read asks the cluster again.
    rest_vms(&p.worker).await;
    assert_eq!(p.proxy.count(key), 2);
    p.stop().await;
}

#[tokio::test]
async fn cluster_info_reads_each_collection_once_while_fresh() {
    let p = proxied(Duration::from_secs(60)).await;
    let client = mcp(&p.worker, TOKEN).await;
    let first = ok(&client, "cluster_info", json!({})).await;
    for _ in 0..5 {
        assert_eq!(ok(&client, "cluster_info", json!({})).await, first);
    }
    ok(&client, "vm_list", json!({})).await;
    ok(&client, "node_list", json!({})).await;
    for c in ["Node", "VirDomain", "Condition", "Drive"] {
        assert_eq!(p.proxy.count(&format!("GET /rest/v1/{c}")), 1, "{c}");
    }
    client.cancel().await.unwrap();
    p.stop().await;
}

#[tokio::test]
async fn reads_are_reused_within_the_ttl_and_refreshed_after_it() {
    // A long TTL: a change behind the worker's back stays invisible.
    let worker = hyperfed_worker::start(cached_worker_config(Duration::from_secs(60)))
        .await
        .unwrap();
    let vm = vm_in_state(&truth(&worker), "RUNNING");
    let uuid = vm["uuid"].as_str().unwrap();
    assert_eq!(state_in(&rest_vms(&worker).await, uuid), "RUNNING");
    stop_behind_the_back(&worker, uuid).await;
    assert_eq!(state_in(&rest_vms(&worker).await, uuid), "RUNNING");
    worker.shutdown().await;

    // A short TTL: once it has passed, the change shows.
    let ttl = Duration::from_millis(300);
    let worker = hyperfed_worker::start(cached_worker_config(ttl))
        .await
        .unwrap();
    let vm = vm_in_state(&truth(&worker), "RUNNING");
    let uuid = vm["uuid"].as_str().unwrap();
    assert_eq!(state_in(&rest_vms(&worker).await, uuid), "RUNNING");
    stop_behind_the_back(&worker, uuid).await;
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert_eq!(state_in(&rest_vms(&worker).await, uuid), "SHUTOFF");
    worker.shutdown().await;
}

#[tokio::test]
async fn zero_ttl_reads_the_cluster_every_time() {
    let worker = hyperfed_worker::start(cached_worker_config(Duration::ZERO))
        .await
        .unwrap();
    let vm = vm_in_state(&truth(&worker), "RUNNING");
    let uuid = vm["uuid"].as_str().unwrap();
    assert_eq!(state_in(&rest_vms(&worker).await, uuid), "RUNNING");
    stop_behind_the_back(&worker, uuid).await;
    assert_eq!(state_in(&rest_vms(&worker).await, uuid), "SHUTOFF");
    worker.shutdown().await;
}

#[tokio::test]
async fn own_actions_invalidate_the_cache() {
    let worker = hyperfed_worker::start(cached_worker_config(Duration::from_secs(600)))
        .await
        .unwrap();
    let client = mcp(&worker, TOKEN).await;
    let t = truth(&worker);
    let off = vm_in_state(&t, "SHUTOFF");
    let uuid = off["uuid"].as_str().unwrap();

    // Waiting action: the very next read shows the new state.
    let list = ok(&client, "vm_list", json!({})).await;
    assert_eq!(state_in(&list, uuid), "SHUTOFF");
    let info = ok(&client, "cluster_info", json!({})).await;
    let running_before = info["vms"]["running"].as_u64().unwrap();
    ok(&client, "vm_start", json!({"vm": uuid})).await;
    assert_eq!(truth_vm(&truth(&worker), uuid)["state"], "RUNNING");
    let list = ok(&client, "vm_list", json!({})).await;
    assert_eq!(state_in(&list, uuid), "RUNNING");
    let info = ok(&client, "cluster_info", json!({})).await;
    assert_eq!(info["vms"]["running"].as_u64().unwrap(), running_before + 1);

    // Snapshot: the list shows it right away.
    let before = ok(&client, "snapshot_list", json!({"vm": uuid})).await["count"]
        .as_u64()
        .unwrap();
    let snap = ok(
        &client,
        "snapshot_create",
        json!({"vm": uuid, "label": "cache"}),
    )
    .await;
    let after = ok(&client, "snapshot_list", json!({"vm": uuid})).await;
    assert_eq!(after["count"].as_u64().unwrap(), before + 1);
    assert!(
        after["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["uuid"] == snap["created_uuid"])
    );

    // Not waiting: the change shows once the worker has seen its task end.
    let pause = ok(&client, "vm_pause", json!({"vm": uuid, "wait": false})).await;
    assert_eq!(pause["state"], "QUEUED");
    let mut seen = String::new();
    for _ in 0..400 {
        let list = ok(&client, "vm_list", json!({})).await;
        seen = state_in(&list, uuid);
        if seen == "PAUSED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(seen, "PAUSED", "a wait=false action's result never showed");
    client.cancel().await.unwrap();
    worker.shutdown().await;
}

#[tokio::test]
async fn an_unchanged_collection_is_not_parsed_again() {
    // Even with caching off, a collection whose bytes did not change is not parsed again
    // (the same shared records come back); a change is parsed and shows.
    let worker = hyperfed_worker::start(cached_worker_config(Duration::ZERO))
        .await
        .unwrap();
    let sim = worker.sim().unwrap();
    let cluster = hyperfed_worker::cluster::Cluster::with_read_cache_ttl(
        hypercore::Client::new(hypercore::ClusterConfig::new(
            sim.base_url(),
            hypercore::Credentials::new("admin", "admin"),
        ))
        .unwrap(),
        Duration::ZERO,
    );
    let first = cluster.list::<hypercore::model::VirDomain>().await.unwrap();
    let again = cluster.list::<hypercore::model::VirDomain>().await.unwrap();
    assert!(Arc::ptr_eq(&first, &again), "same bytes, same parse");
    let vm = vm_in_state(&truth(&worker), "RUNNING");
    let uuid = vm["uuid"].as_str().unwrap();
    stop_behind_the_back(&worker, uuid).await;
    let after = cluster.list::<hypercore::model::VirDomain>().await.unwrap();
    assert!(
        !Arc::ptr_eq(&first, &after),
        "changed bytes are parsed again"
    );
    let state = after
        .iter()
        .find(|v| v.uuid == uuid)
        .unwrap()
        .state
        .as_str();
    assert_eq!(state, "SHUTOFF");
    worker.shutdown().await;
}
