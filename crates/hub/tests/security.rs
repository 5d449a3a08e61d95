//! Hub security over loopback: scoped client tokens (read / operate / admin) on MCP and REST,
//! the static token, refused-call auditing, TLS on the hub listener, https workers verified
//! with --worker-ca, and Origin validation on /mcp.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use hyperfed_hub::{ClientClaims, HubConfig, HubKey, Scope, TlsFiles, ToolsMode, issue_token};
use hyperfed_protocol::{JoinRequest, Secret};
use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

const STATIC: &str = "static-client-token-0123456789";

fn config() -> HubConfig {
    let mut c = HubConfig::new("127.0.0.1:0".parse().unwrap(), Secret::new(SECRET));
    // These tests read the namespaced names.
    c.tools_mode = ToolsMode::Namespaced;
    c.heartbeat_interval = Duration::from_millis(250);
    c.fanout_timeout = Duration::from_secs(2);
    c.call_timeout = Duration::from_secs(5);
    c
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_tokens_filter_lists_refuse_calls_and_are_audited() {
    let dir = TempDir::new("scopes");
    // Issued before the hub ever ran: the key is created.
    let read = issue_token(&dir.0, Scope::Read, Duration::from_secs(3600), "reader").unwrap();
    let mut c = config();
    c.token = Some(Secret::new(STATIC));
    c.data_dir = Some(dir.0.clone());
    let hub = hyperfed_hub::start(c).await.unwrap();
    // Issued while the hub runs (sled holds its lock; the key file is separate).
    let operate = issue_token(&dir.0, Scope::Operate, Duration::from_secs(3600), "alice").unwrap();
    let admin = issue_token(&dir.0, Scope::Admin, Duration::from_secs(3600), "root").unwrap();

    let cluster = FakeCluster::archetype("datacenter", 1);
    cluster.raw_api.store(true, Ordering::SeqCst);
    let worker = FakeWorker::start(cluster, &hub.base_url(), Some("dc1")).await;
    worker.wait_joins(1).await;
    let off = worker
        .cluster
        .vms()
        .into_iter()
        .find(|v| v.state == "SHUTOFF")
        .unwrap();

    // read: only read-only tools are listed; actions are refused and change nothing.
    let (reader, _) = client(&hub.mcp_url(), Some(&read)).await;
    let names: BTreeSet<String> = reader
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    for n in [
        "fleet_status",
        "vm_search",
        "dc1__vm_list",
        "dc1__cluster_info",
    ] {
        assert!(names.contains(n), "{n} missing for read: {names:?}");
    }
    for n in [
        "vm_start",
        "dc1__vm_start",
        "dc1__vm_stop",
        "dc1__api_request",
    ] {
        assert!(!names.contains(n), "{n} listed for read");
    }
    let calls_before = worker.cluster.calls.load(Ordering::SeqCst);
    let (r, err) = call(&reader, "dc1__vm_start", json!({"vm": off.uuid})).await;
    let msg = text_of(&r);
    assert!(err, "read token ran an action: {r}");
    assert!(
        msg.contains("scope 'read'") && msg.contains("'operate'"),
        "{msg}"
    );
    assert_eq!(worker.cluster.calls.load(Ordering::SeqCst), calls_before);
    assert_eq!(
        worker
            .cluster
            .vms()
            .iter()
            .find(|v| v.uuid == off.uuid)
            .unwrap()
            .state,
        "SHUTOFF"
    );
    let (r, err) = call(&reader, "fleet_status", json!({})).await;
    assert!(!err, "{r}");

    // operate: actions run; raw writes are refused, raw GETs are not.
    let (op, _) = client(&hub.mcp_url(), Some(&operate)).await;
    let (r, err) = call(&op, "vm_start", json!({"vm": off.uuid})).await;
    assert!(!err, "{r}");
    assert_eq!(
        worker
            .cluster
            .vms()
            .iter()
            .find(|v| v.uuid == off.uuid)
            .unwrap()
            .state,
        "RUNNING"
    );
    let (r, err) = call(&op, "dc1__api_request", json!({"path": "/VirDomain"})).await;
    assert!(!err, "{r}");
    let calls_before = worker.cluster.calls.load(Ordering::SeqCst);
    let (r, err) = call(
        &op,
        "dc1__api_request",
        json!({"method": "delete", "path": "/VirDomain/x"}),
    )
    .await;
    let msg = text_of(&r);
    assert!(err, "operate token sent a raw write: {r}");
    assert!(
        msg.contains("'operate'") && msg.contains("'admin'") && msg.contains("DELETE"),
        "{msg}"
    );
    assert_eq!(worker.cluster.calls.load(Ordering::SeqCst), calls_before);

    // admin (scoped) and the static token may do everything.
    let (ad, _) = client(&hub.mcp_url(), Some(&admin)).await;
    let (r, err) = call(
        &ad,
        "dc1__api_request",
        json!({"method": "POST", "path": "/VirDomain"}),
    )
    .await;
    assert!(!err, "{r}");
    assert_eq!(r["method"], "POST");
    let (st, _) = client(&hub.mcp_url(), Some(STATIC)).await;
    let all = st.list_all_tools().await.unwrap();
    assert!(all.iter().any(|t| t.name == "dc1__api_request"));
    assert!(all.len() > names.len());

    // REST applies the same scopes.
    let http = reqwest::Client::new();
    let list: Value = http
        .get(format!("{}/v1/tools", hub.base_url()))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["count"], json!(names.len()));
    let resp = http
        .post(format!("{}/v1/tools/vm_stop", hub.base_url()))
        .bearer_auth(&read)
        .json(&json!({"vm": off.uuid}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    assert!(text_of(&body["error"]).contains("scope 'read'"), "{body}");
    let resp = http
        .post(format!("{}/v1/tools/dc1__api_request", hub.base_url()))
        .bearer_auth(&operate)
        .json(&json!({"method": "PUT", "path": "/x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = http
        .post(format!("{}/v1/tools/dc1__api_request", hub.base_url()))
        .bearer_auth(STATIC)
        .json(&json!({"method": "PUT", "path": "/x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Expired tokens and tokens signed with another key get 401, on REST and /mcp.
    let mut old = ClientClaims::new("late", Scope::Admin, Duration::from_secs(60));
    old.exp = old.iat - 3600;
    let expired = old.sign(&HubKey::load_or_create(&dir.0).unwrap());
    let foreign = ClientClaims::new("mallory", Scope::Admin, Duration::from_secs(3600))
        .sign(&HubKey::generate());
    for (token, why) in [(&expired, "expired"), (&foreign, "not valid")] {
        let resp = http
            .get(format!("{}/v1/tools", hub.base_url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        let body = resp.text().await.unwrap();
        assert!(body.contains(why), "{body}");
        assert!(!body.contains(token.as_str()));
        let resp = http
            .post(hub.mcp_url())
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
    }

    // The audit trail names each subject and scope, including refused calls.
    let audit: Value = http
        .get(format!("{}/v1/audit", hub.base_url()))
        .bearer_auth(STATIC)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = audit["entries"].as_array().unwrap();
    let find = |subject: &str, outcome: &str| {
        entries
            .iter()
            .any(|e| e["subject"] == subject && e["outcome"] == outcome)
    };
    assert!(find("reader (scope read) via mcp", "refused"), "{audit}");
    assert!(find("reader (scope read) via rest", "refused"), "{audit}");
    assert!(find("alice (scope operate) via mcp", "ok"), "{audit}");
    assert!(find("alice (scope operate) via mcp", "refused"), "{audit}");
    assert!(find("root (scope admin) via mcp", "ok"), "{audit}");
    assert!(find("bearer-token via rest", "ok"), "{audit}");
    let refused = entries
        .iter()
        .find(|e| e["outcome"] == "refused" && e["tool"] == "api_request")
        .unwrap();
    assert_eq!(refused["cluster"], "dc1");
    assert!(text_of(&refused["error"]).contains("'admin'"));

    for s in [reader, op, ad, st] {
        let _ = s.cancel().await;
    }
    worker.shutdown().await;
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_token_without_static_token_accepts_only_scoped_tokens() {
    let dir = TempDir::new("require");
    let mut c = config();
    c.require_token = true;
    c.data_dir = Some(dir.0.clone());
    let hub = hyperfed_hub::start(c).await.unwrap();
    let read = issue_token(&dir.0, Scope::Read, Duration::from_secs(60), "ci").unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/v1/tools", hub.base_url());
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    // A foreign page is refused before authentication is even looked at.
    let resp = http
        .get(&url)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = http.get(&url).bearer_auth(&read).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // Health and the worker endpoints stay open.
    let health = http
        .get(format!("{}/health", hub.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    hub.shutdown().await;
}

fn write_pem(dir: &TempDir, name: &str, pem: &str) -> std::path::PathBuf {
    let p = dir.0.join(name);
    std::fs::write(&p, pem).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_hub_is_reachable_only_by_clients_trusting_its_certificate() {
    let dir = TempDir::new("tls");
    let (_, cert_pem, key_pem) = self_signed();
    let mut c = config();
    c.tls = Some(TlsFiles {
        cert: write_pem(&dir, "hub.pem", &cert_pem),
        key: write_pem(&dir, "hub-key.pem", &key_pem),
    });
    let hub = hyperfed_hub::start(c).await.unwrap();
    assert!(hub.base_url().starts_with("https://"));
    let base = format!("https://localhost:{}", hub.local_addr().port());

    let trusting = reqwest::Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let health: Value = trusting
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");

    // A whole MCP session over https.
    let transport = StreamableHttpClientTransport::with_client(
        trusting.clone(),
        StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")),
    );
    let session = Recorder::default().serve(transport).await.unwrap();
    let tools = session.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "fleet_status"));
    let _ = session.cancel().await;

    // A client that does not trust the certificate is refused; plain HTTP gets nothing.
    let other = self_signed().1;
    let distrusting = reqwest::Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(other.as_bytes()).unwrap())
        .build()
        .unwrap();
    assert!(
        distrusting
            .get(format!("{base}/health"))
            .send()
            .await
            .is_err()
    );
    let plain = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{}/health",
            hub.local_addr().port()
        ))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_workers_are_verified_with_the_worker_ca() {
    let dir = TempDir::new("worker-ca");
    let (worker_tls, cert_pem, _) = self_signed();
    let mut c = config();
    c.worker_ca = Some(write_pem(&dir, "ca.pem", &cert_pem));
    let hub = hyperfed_hub::start(c).await.unwrap();
    let worker = FakeWorker::start_with(
        FakeCluster::archetype("edge", 1),
        &hub.base_url(),
        Some("secure"),
        Some(worker_tls.clone()),
    )
    .await;
    assert!(worker.url.starts_with("https://"));
    worker.wait_joins(1).await;
    let (client, _) = client(&hub.mcp_url(), None).await;
    let (r, err) = call(&client, "secure__cluster_info", json!({})).await;
    assert!(!err, "{r}");
    assert_eq!(r["cluster"]["uuid"], worker.cluster.uuid);
    let _ = client.cancel().await;

    // A hub trusting another CA refuses to register the same https worker.
    let mut c = config();
    c.worker_ca = Some(write_pem(&dir, "other.pem", &self_signed().1));
    let strict = hyperfed_hub::start(c).await.unwrap();
    let req = JoinRequest::sign(
        &Secret::new(SECRET),
        "secure",
        &worker.cluster.uuid,
        &worker.cluster.name,
        &worker.url,
    );
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/join", strict.base_url()))
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502, "{}", resp.text().await.unwrap());
    assert_eq!(strict.cluster_count(), 0);

    worker.shutdown().await;
    strict.shutdown().await;
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_origins_are_refused_on_mcp() {
    let mut c = config();
    c.allowed_hosts = vec!["hub.example.com:8443".into()];
    let hub = hyperfed_hub::start(c).await.unwrap();
    let http = reqwest::Client::new();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}}});
    let post = |origin: Option<&str>| {
        let mut r = http
            .post(hub.mcp_url())
            .header("accept", "application/json, text/event-stream")
            .json(&init);
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    // Issue #15: the port counts too (another local web server is another origin).
    let own = format!("http://127.0.0.1:{}", hub.local_addr().port());
    let own_name = format!("http://localhost:{}", hub.local_addr().port());
    let bad: Vec<&str> = vec![
        "http://evil.example",
        "https://hub.example.com.evil.example",
        "null",
        "http://localhost.evil.example:80",
        "http://127.0.0.1:80",
        "http://127.0.0.1",
        "http://localhost:3000",
        "https://hub.example.com",
    ];
    for bad in bad {
        let resp = post(Some(bad)).await.unwrap();
        assert_eq!(resp.status(), 403, "{bad}");
        assert!(resp.text().await.unwrap().contains("Origin"));
    }
    for good in [
        None,
        Some(own.as_str()),
        Some(own_name.as_str()),
        Some("https://hub.example.com:8443"),
    ] {
        let resp = post(good).await.unwrap();
        assert_eq!(resp.status(), 200, "{good:?}");
    }
    // The Host check (DNS rebinding without an Origin) still applies.
    let resp = http
        .post(hub.mcp_url())
        .header("host", "evil.example")
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);

    // The REST API is no cross-site target either: foreign Origin or Host -> 403, and the
    // tool is not run.
    for (header, value) in [
        ("origin", "http://evil.example"),
        ("host", "evil.example:80"),
    ] {
        let resp = http
            .post(format!("{}/v1/tools/fleet_status", hub.base_url()))
            .header(header, value)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{header}: {value}");
    }
    let resp = http
        .post(format!("{}/v1/tools/fleet_status", hub.base_url()))
        .header("origin", own.as_str())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A cross-site form or text/plain POST (no CORS preflight) is refused even from an
    // allowed origin: state-changing REST calls must be JSON.
    for ctype in ["text/plain", "application/x-www-form-urlencoded"] {
        let resp = http
            .post(format!("{}/v1/tools/fleet_status", hub.base_url()))
            .header("content-type", ctype)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 415, "{ctype}");
    }
    hub.shutdown().await;
}
