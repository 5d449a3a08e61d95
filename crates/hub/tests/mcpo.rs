//! Open WebUI's way in: `mcpo` (the MCP-to-OpenAPI proxy, a real process from PyPI) in front of
//! the hub over streamable HTTP with the bearer header, as the README configures it. Its OpenAPI
//! document lists exactly the hub's tools, `fleet_status` through it returns the fleet
//! (`/v1/status`'s totals), a call with arguments (`vm_search`) is passed through, its own API
//! key is enforced, and the hub token appears nowhere in what it serves.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{SECRET, TempDir, eventually};
use hypercore_sim::Archetype;
use hyperfed_hub::{Health, HubConfig};
use hyperfed_protocol::Secret;
use hyperfed_worker::{JoinConfig, WorkerConfig, WorkerHandle};
use serde_json::{Value, json};

const TOKEN: &str = "mcpo-test-hub-token-0123456789";
const API_KEY: &str = "mcpo-test-api-key-abcdef";

/// mcpo: `HYPERFED_MCPO`, else scripts/install-mcpo.sh's venv. Panics under `CI=true` when
/// missing, else skips loudly.
fn mcpo_or_skip() -> Option<PathBuf> {
    let found = match std::env::var("HYPERFED_MCPO") {
        Ok(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/mcpo-venv/bin/mcpo"))
        }
    }
    .filter(|p| p.is_file());
    if found.is_some() {
        return found;
    }
    let msg = "mcpo not found (set HYPERFED_MCPO or run scripts/install-mcpo.sh)";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}; CI=true requires it");
    }
    eprintln!("SKIP mcpo: {msg}");
    None
}

async fn worker(hub: &str, archetype: Archetype, seed: u64, name: &str) -> WorkerHandle {
    let mut config = WorkerConfig::mock(Some(archetype), seed);
    config.join = Some(JoinConfig {
        hub_url: hub.to_owned(),
        secret: Secret::new(SECRET),
        name: Some(name.to_owned()),
        advertise: None,
    });
    hyperfed_worker::start(config).await.expect("worker starts")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcpo_serves_the_hubs_tools_as_openapi_and_fleet_status_returns_the_fleet() {
    let Some(mcpo) = mcpo_or_skip() else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut cfg = HubConfig::new("127.0.0.1:0".parse().unwrap(), Secret::new(SECRET));
    cfg.token = Some(Secret::new(TOKEN));
    let hub = hyperfed_hub::start(cfg).await.unwrap();
    let base = hub.base_url();
    let workers = vec![
        worker(&base, Archetype::Edge, 31, "edge").await,
        worker(&base, Archetype::Datacenter, 32, "dc").await,
    ];
    eventually("two clusters up", || {
        let c = hub.clusters();
        c.len() == 2 && c.iter().all(|c| c.state == Health::Up)
    })
    .await;

    // The README's configuration, with this hub's URL and token.
    let dir = TempDir::new("mcpo");
    let config = dir.0.join("mcpo.json");
    let servers = json!({"mcpServers": {"hyperfed": {
        "type": "streamable-http",
        "url": hub.mcp_url(),
        "headers": {"Authorization": format!("Bearer {TOKEN}")},
    }}});
    std::fs::write(&config, servers.to_string()).unwrap();
    let log = dir.0.join("mcpo.log");
    let port = free_port();
    let mut child = tokio::process::Command::new(&mcpo)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--api-key", API_KEY, "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.0.join("mcpo.err")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("mcpo starts");
    let proxy = format!("http://127.0.0.1:{port}/hyperfed");
    let http = reqwest::Client::new();
    let show_logs = || {
        format!(
            "{}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            std::fs::read_to_string(dir.0.join("mcpo.err")).unwrap_or_default()
        )
    };

    // mcpo connects to the hub at startup; its OpenAPI appears when it has the tool list.
    let mut openapi = None;
    for _ in 0..600 {
        if let Ok(r) = http.get(format!("{proxy}/openapi.json")).send().await
            && r.status().is_success()
        {
            openapi = Some(r.text().await.unwrap());
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("mcpo exited ({status}):\n{}", show_logs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let openapi =
        openapi.unwrap_or_else(|| panic!("mcpo never served its OpenAPI:\n{}", show_logs()));
    assert!(
        !openapi.contains(TOKEN),
        "the hub token leaks into mcpo's OpenAPI"
    );
    let doc: Value = serde_json::from_str(&openapi).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let paths: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(|p| p.trim_start_matches('/').to_owned())
        .collect();
    let tools: Value = http
        .get(format!("{base}/v1/tools"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hub_tools: BTreeSet<String> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paths, hub_tools, "one OpenAPI operation per hub tool");
    assert!(paths.contains("fleet_status") && paths.contains("vm_search"));

    // mcpo's own API key guards the tools.
    let refused = http
        .post(format!("{proxy}/fleet_status"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(
        matches!(refused.status().as_u16(), 401 | 403),
        "{}",
        refused.status()
    );

    // fleet_status through mcpo: the fleet, as /v1/status has it.
    let call = |tool: &str, args: Value| {
        let req = http
            .post(format!("{proxy}/{tool}"))
            .bearer_auth(API_KEY)
            .json(&args);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status();
            let text = resp.text().await.unwrap();
            assert!(status.is_success(), "{status}: {text}");
            serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text))
        }
    };
    let fleet = call("fleet_status", json!({})).await;
    let status: Value = http
        .get(format!("{base}/v1/status"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fleet["totals"]["clusters"], 2, "{fleet}");
    assert_eq!(fleet["totals"]["answered"], 2, "{fleet}");
    for key in ["nodes", "vms", "conditions", "storage"] {
        assert_eq!(
            fleet["totals"][key], status["totals"][key],
            "{key}: {fleet}"
        );
    }
    let mut aliases: Vec<&str> = fleet["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["cluster"].as_str())
        .collect();
    aliases.sort_unstable();
    assert_eq!(aliases, ["dc", "edge"]);

    // Arguments pass through: vm_search narrowed by state.
    let running = call("vm_search", json!({"state": "RUNNING", "limit": 5})).await;
    let direct: Value = http
        .get(format!("{base}/v1/vms?state=RUNNING&limit=5"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(running["total"], direct["total"], "{running}");
    assert_eq!(running["count"], 5, "{running}");
    assert!(
        running["vms"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["state"] == "RUNNING"),
        "{running}"
    );
    assert!(
        !show_logs().contains(TOKEN),
        "the hub token leaks into mcpo's log"
    );

    child.kill().await.expect("mcpo stops");
    for w in workers {
        w.shutdown().await;
    }
    hub.shutdown().await;
}
