//! Pins the worker's observable output byte for byte: `tools/list` in the three catalog modes
//! (default, read-only, raw writes), the server instructions, and the results (structured
//! content or error text) of the read tools and destructive previews on a seeded simulator.
//! Fixtures live in `tests/golden/`; regenerate them with `GOLDEN_UPDATE=1` only when a change
//! of output is intended.

mod common;

use common::*;
use serde_json::{Value, json};

/// Keys whose values change from run to run (timings, random tokens).
const VOLATILE: [&str; 3] = ["latency_ms", "waited_ms", "confirm_token"];

fn scrub(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if VOLATILE.contains(&k.as_str()) {
                    *x = json!("<volatile>");
                } else {
                    scrub(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(scrub),
        _ => {}
    }
}

fn compare(name: &str, actual: &str) {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("GOLDEN_UPDATE").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from its golden file at line {}:\n expected: {:?}\n actual:   {:?}",
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

async fn tools_list(read_only: bool, raw_writes: bool) -> (String, String) {
    let mut cfg = config();
    cfg.read_only = read_only;
    cfg.allow_raw_writes = raw_writes;
    let worker = hyperfed_worker::start(cfg).await.unwrap();
    let client = mcp(&worker, TOKEN).await;
    let tools = client.list_all_tools().await.unwrap();
    let listed = serde_json::to_string_pretty(&json!({ "tools": tools })).unwrap();
    let instructions = client
        .peer_info()
        .and_then(|i| i.instructions.clone())
        .unwrap_or_default();
    client.cancel().await.unwrap();
    worker.shutdown().await;
    (listed, instructions)
}

#[tokio::test]
async fn tools_list_and_instructions_are_unchanged() {
    let (default, instructions) = tools_list(false, false).await;
    compare("tools_list.json", &default);
    compare("instructions.txt", &instructions);
    let (read_only, ro_instructions) = tools_list(true, false).await;
    compare("tools_list_read_only.json", &read_only);
    assert_eq!(ro_instructions, instructions);
    let (raw, raw_instructions) = tools_list(false, true).await;
    compare("tools_list_raw_writes.json", &raw);
    assert_eq!(raw_instructions, instructions);
}

#[tokio::test]
async fn read_results_are_unchanged() {
    let mut cfg = config();
    cfg.allow_raw_writes = true;
    let worker = hyperfed_worker::start(cfg).await.unwrap();
    let client = mcp(&worker, TOKEN).await;
    let truth = truth(&worker);
    let vms = truth["vms"].as_array().unwrap();
    let first = &vms[0];
    let uuid = first["uuid"].as_str().unwrap();
    let name = first["name"].as_str().unwrap();
    let running = vm_in_state(&truth, "RUNNING");
    let running = running["uuid"].as_str().unwrap();
    let snapshots = ok(&client, "snapshot_list", json!({})).await;
    let snapshot = snapshots["snapshots"][0]["uuid"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let node = truth["nodes"][0]["uuid"].as_str().unwrap_or("").to_owned();
    let calls: Vec<(&str, Value)> = vec![
        ("cluster_info", json!({})),
        ("node_list", json!({})),
        ("vm_list", json!({})),
        ("vm_list", json!({"details": true})),
        ("vm_list", json!({"state": "SHUTOFF"})),
        ("vm_list", json!({"name": "a", "tag": "prod"})),
        ("vm_get", json!({"vm": uuid})),
        ("vm_get", json!({"vm": name})),
        ("vm_get", json!({"vm": "no-such-vm"})),
        (
            "vm_get",
            json!({"vm": "00000000-0000-0000-0000-00000000000z"}),
        ),
        (
            "vm_get",
            json!({"vm": "00000000-0000-0000-0000-000000000000"}),
        ),
        ("snapshot_list", json!({})),
        ("snapshot_list", json!({"vm": uuid})),
        ("condition_list", json!({})),
        ("condition_list", json!({"all": true})),
        (
            "condition_list",
            json!({"all": true, "severity": "WARNING"}),
        ),
        ("drive_list", json!({})),
        ("drive_list", json!({"unhealthy": true})),
        ("drive_list", json!({"node": node})),
        ("virtual_disk_list", json!({})),
        ("iso_list", json!({})),
        ("user_list", json!({})),
        ("network_device_list", json!({})),
        ("network_device_list", json!({"vm": uuid})),
        ("block_device_list", json!({})),
        ("block_device_list", json!({"vm": uuid})),
        ("task_status", json!({"task_tag": "999999"})),
        ("task_status", json!({"task_tag": "../x"})),
        ("ping", json!({})),
        (
            "api_search",
            json!({"query": "snapshot schedule", "limit": 5}),
        ),
        ("api_request", json!({"path": "/Cluster"})),
        (
            "api_request",
            json!({"method": "DELETE", "path": "/VirDomainSnapshot/x"}),
        ),
        ("vm_stop", json!({"vm": running})),
        ("vm_reset", json!({"vm": running})),
        ("vm_nmi", json!({"vm": running})),
        ("vm_start", json!({"vm": running})),
        ("vm_migrate", json!({"vm": running, "node": "nope"})),
        ("snapshot_delete", json!({"snapshot": snapshot})),
        ("snapshot_delete", json!({"snapshot": "not-a-uuid"})),
        ("vm_export", json!({"vm": uuid, "uri": "ftp://u:pw@h/x"})),
        ("vm_list", json!({"bogus": 1})),
    ];
    let mut record = Vec::new();
    for (tool, args) in calls {
        let r = call(&client, tool, args.clone()).await;
        let mut outcome = if r.is_error == Some(true) {
            json!({"error": text(&r)})
        } else {
            json!({"ok": r.structured_content.clone().unwrap_or(Value::Null)})
        };
        scrub(&mut outcome);
        record.push(json!({"tool": tool, "args": args, "outcome": outcome}));
    }
    compare(
        "read_results.json",
        &serde_json::to_string_pretty(&record).unwrap(),
    );
    client.cancel().await.unwrap();
    worker.shutdown().await;
}

#[tokio::test]
async fn exactly_the_destructive_tools_ask_for_confirmation() {
    let mut cfg = config();
    cfg.allow_raw_writes = true;
    let worker = hyperfed_worker::start(cfg).await.unwrap();
    let client = mcp(&worker, TOKEN).await;
    let truth = truth(&worker);
    let running = vm_in_state(&truth, "RUNNING")["uuid"].clone();
    let snapshots = ok(&client, "snapshot_list", json!({})).await;
    let snapshot = snapshots["snapshots"][0]["uuid"].clone();
    let destructive: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.annotations.as_ref().and_then(|a| a.destructive_hint) == Some(true))
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(
        destructive,
        [
            "api_request",
            "vm_stop",
            "vm_reset",
            "vm_nmi",
            "snapshot_delete",
            "vm_delete"
        ]
    );
    for tool in &destructive {
        let args = match tool.as_str() {
            "api_request" => json!({"method": "POST", "path": "/VirDomain/action", "body": []}),
            "snapshot_delete" => json!({"snapshot": snapshot}),
            "vm_delete" => json!({"vm": vm_in_state(&truth, "SHUTOFF")["uuid"]}),
            _ => json!({"vm": running}),
        };
        let preview = ok(&client, tool, args).await;
        assert_eq!(preview["confirmation_required"], true, "{tool}: {preview}");
        assert_eq!(preview["preview"]["tool"], tool.as_str());
    }
    // A non-destructive action runs at once.
    let shutoff = vm_in_state(&truth, "SHUTOFF")["uuid"].clone();
    let started = ok(&client, "vm_start", json!({"vm": shutoff, "wait": false})).await;
    assert!(started.get("confirmation_required").is_none(), "{started}");
    client.cancel().await.unwrap();
    worker.shutdown().await;
}
