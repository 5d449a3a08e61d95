//! Fault injection over real HTTP: latency, error rate, session expiry, "down" and dropped
//! connections, set at start and changed at run time (handle and `PUT /_sim/faults`).

mod common;

use std::time::{Duration, Instant};

use common::{Api, client, fast_config, start};
use hypercore_sim::{Archetype, Faults};
use serde_json::{Value, json};

#[tokio::test]
async fn latency_is_added_to_rest_calls_only() {
    let mut config = fast_config(Archetype::Edge, 1);
    config.faults.latency_ms = 300;
    let sim = start(config).await;
    let api = Api::login(&sim).await;
    let started = Instant::now();
    api.list("/Cluster").await;
    // A lower bound only: the fault must delay the answer at least this long.
    assert!(started.elapsed() >= Duration::from_millis(300));
    // Control routes are never delayed or faulted.
    let resp = client()
        .get(format!("{}/_sim/faults", sim.base_url()))
        .send()
        .await
        .unwrap();
    let faults: Faults = resp.json().await.unwrap();
    assert_eq!(faults.latency_ms, 300);
    sim.shutdown().await;
}

#[tokio::test]
async fn error_rate_one_answers_500_or_503_and_zero_recovers() {
    let sim = start(fast_config(Archetype::Edge, 2)).await;
    let api = Api::login(&sim).await;
    sim.faults().update(|f| f.error_rate = 1.0);
    for _ in 0..10 {
        let (status, body) = api.get("/VirDomain").await;
        assert!(status == 500 || status == 503, "{status}");
        assert!(body["error"].is_string());
        assert!(!body["error"].as_str().unwrap().contains("session"));
    }
    sim.faults().clear();
    assert_eq!(api.get("/VirDomain").await.0, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn sessions_expire_after_ttl() {
    let mut config = fast_config(Archetype::Edge, 3);
    config.faults.session_ttl_ms = Some(100);
    let sim = start(config).await;
    let api = Api::login(&sim).await;
    assert_eq!(api.get("/Cluster").await.0, 200);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let (status, body) = api.get("/Cluster").await;
    assert_eq!(status, 401);
    assert!(body["error"].as_str().unwrap().contains("session"));
    // A fresh login works again.
    let again = Api::login(&sim).await;
    assert_eq!(again.get("/Cluster").await.0, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn down_closes_connections_and_put_faults_brings_it_back() {
    let sim = start(fast_config(Archetype::Edge, 4)).await;
    let http = client();
    let base = sim.base_url();
    let resp = http
        .put(format!("{base}/_sim/faults"))
        .json(&json!({"down": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(sim.faults().get().down);
    let err = http
        .post(format!("{base}/rest/v1/login"))
        .json(&json!({"username": "admin", "password": "admin"}))
        .send()
        .await;
    assert!(err.is_err(), "a down cluster answers nothing");
    // Bad fault documents are refused with a reason.
    let resp = http
        .put(format!("{base}/_sim/faults"))
        .json(&json!({"error_rate": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("error_rate"));
    let resp = http
        .put(format!("{base}/_sim/faults"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(sim.faults().get(), Faults::default());
    let api = Api::login(&sim).await;
    assert_eq!(api.get("/Cluster").await.0, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn drop_rate_one_drops_every_rest_request() {
    let sim = start(fast_config(Archetype::Edge, 5)).await;
    let api = Api::login(&sim).await;
    sim.faults().set(Faults {
        drop_connections_rate: 1.0,
        ..Faults::default()
    });
    let resp = api
        .http
        .get(format!("{}/rest/v1/Cluster", api.base))
        .header("Cookie", format!("sessionID={}", api.session))
        .send()
        .await;
    assert!(resp.is_err(), "connection closed without an answer");
    sim.faults().clear();
    assert_eq!(api.get("/Cluster").await.0, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn guests_can_ignore_acpi_shutdown() {
    let sim = start(fast_config(Archetype::Datacenter, 6)).await;
    let api = Api::login(&sim).await;
    sim.faults().update(|f| f.ignore_acpi = true);
    let vm = api.vm_in_state("RUNNING").await;
    let uuid = vm["uuid"].as_str().unwrap();
    let (status, body) = api.action(uuid, "SHUTDOWN").await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["taskTag"], "");
    // Well past the configured shutdown time, the guest still runs; STOP is the way out.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(api.vm(uuid).await["state"], "RUNNING");
    let (tag, _) = api
        .mutate(
            "POST",
            "/VirDomain/action",
            json!([{"virDomainUUID": uuid, "actionType": "STOP"}]),
        )
        .await;
    api.wait_task(&tag).await;
    assert_eq!(api.vm(uuid).await["state"], "SHUTOFF");
    // The forced stop releases the guest's memory on its node.
    let node = vm["nodeUUID"].as_str().unwrap();
    let truth = sim.truth();
    let entry = truth["capacity"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["uuid"] == node)
        .unwrap()
        .clone();
    let holding: i64 = truth["vms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| {
            v["node"] == node
                && ["RUNNING", "PAUSED", "BLOCKED", "SHUTDOWN"]
                    .contains(&v["state"].as_str().unwrap())
        })
        .map(|v| v["mem"].as_i64().unwrap())
        .sum();
    assert_eq!(entry["memory"]["allocated_bytes"].as_i64(), Some(holding));
    sim.shutdown().await;
}
