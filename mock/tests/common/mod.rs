//! Helpers shared by the simulator's integration tests: start a simulator on loopback, log
//! in over real HTTP, read JSON, and wait for task tags.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use hypercore_sim::{Archetype, SimConfig, SimHandle, Simulator};
use serde_json::{Value, json};

/// Installs the ring provider reqwest needs (once per process; later calls are no-ops).
pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A fast config: short tasks so tests finish quickly.
pub fn fast_config(archetype: Archetype, seed: u64) -> SimConfig {
    let mut c = SimConfig::new(Some(archetype), seed);
    c.task_duration = Duration::from_millis(150);
    c.shutdown_duration = Duration::from_millis(200);
    c
}

/// Starts a simulator on an ephemeral loopback port.
pub async fn start(config: SimConfig) -> SimHandle {
    init();
    Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts")
}

/// A plain HTTP client (no proxy).
pub fn client() -> reqwest::Client {
    init();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A logged-in REST session against one simulator.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub session: String,
}

impl Api {
    /// Logs in with admin/admin.
    pub async fn login(sim: &SimHandle) -> Api {
        Api::login_with(client(), &sim.base_url(), "admin", "admin").await
    }

    /// Logs in with the given client and credentials.
    pub async fn login_with(http: reqwest::Client, base: &str, user: &str, pass: &str) -> Api {
        let resp = http
            .post(format!("{base}/rest/v1/login"))
            .json(&json!({"username": user, "password": pass}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "login succeeds");
        let body: Value = resp.json().await.unwrap();
        let session = body["sessionID"].as_str().unwrap().to_owned();
        Api {
            http,
            base: base.to_owned(),
            session,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/rest/v1{}", self.base, path)
    }

    /// GET with the session cookie; returns status and parsed JSON (Null if not JSON).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .header("Cookie", format!("sessionID={}", self.session))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// GET that must succeed with a JSON array.
    pub async fn list(&self, path: &str) -> Vec<Value> {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}");
        body.as_array()
            .unwrap_or_else(|| panic!("GET {path} returns an array, got {body}"))
            .clone()
    }

    /// Sends `method` with a JSON body; returns status and the raw body text.
    pub async fn send(&self, method: &str, path: &str, body: Value) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = self
            .http
            .request(method, self.url(path))
            .header("Cookie", format!("sessionID={}", self.session))
            .json(&body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// Sends a mutation that must answer 200 with a Result; returns (taskTag, createdUUID).
    pub async fn mutate(&self, method: &str, path: &str, body: Value) -> (String, String) {
        let (status, text) = self.send(method, path, body).await;
        assert_eq!(status, 200, "{method} {path}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        (
            v["taskTag"].as_str().unwrap().to_owned(),
            v["createdUUID"].as_str().unwrap().to_owned(),
        )
    }

    /// Polls a task tag until COMPLETE or ERROR and returns the final status.
    pub async fn wait_task(&self, tag: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let list = self.list(&format!("/TaskTag/{tag}")).await;
            assert_eq!(list.len(), 1, "task {tag} is known");
            let state = list[0]["state"].as_str().unwrap().to_owned();
            if state == "COMPLETE" || state == "ERROR" {
                return list[0].clone();
            }
            assert!(Instant::now() < deadline, "task {tag} never finished");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Reads one VM.
    pub async fn vm(&self, uuid: &str) -> Value {
        let list = self.list(&format!("/VirDomain/{uuid}")).await;
        assert_eq!(list.len(), 1, "VM {uuid} exists");
        list[0].clone()
    }

    /// Runs one power action and returns its task tag.
    pub async fn action(&self, vm: &str, action: &str) -> (u16, String) {
        self.send(
            "POST",
            "/VirDomain/action",
            json!([{"virDomainUUID": vm, "actionType": action, "cause": "INTERNAL"}]),
        )
        .await
    }

    /// First VM in `state` that is not a replication target.
    pub async fn vm_in_state(&self, state: &str) -> Value {
        self.list("/VirDomain")
            .await
            .into_iter()
            .find(|v| v["state"] == state && v["sourceVirDomainUUID"] == "")
            .unwrap_or_else(|| panic!("a VM in state {state}"))
    }
}
