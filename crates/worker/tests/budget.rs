//! The context budget: every read tool (and every destructive preview) called with its
//! default arguments answers at most 16 KiB of JSON, on the largest archetype (datacenter)
//! and on a generated 2,000-VM cluster; the worker's tools/list stays within 64 KiB; and a
//! `vm_list` cursor walks every VM exactly once.

mod common;

use std::collections::HashSet;

use common::*;
use hyperfed_worker::ClusterSource;
use serde_json::{Value, json};

const RESULT_BUDGET: usize = 16 * 1024;
const LIST_BUDGET: usize = 64 * 1024;

/// The least arguments `tool` needs, taken from the cluster's truth.
fn default_args(required: &[&str], truth: &Value) -> Value {
    let mut args = serde_json::Map::new();
    for key in required {
        let v = match *key {
            "vm" => truth["vms"][0]["uuid"].clone(),
            "snapshot" => truth["snapshots"][0]["uuid"].clone(),
            "node" => truth["nodes"][0]["uuid"].clone(),
            "task_tag" => json!("1"),
            "query" => json!("vm"),
            "path" => json!("/VirDomain"),
            "uri" => json!("smb://server/share"),
            _ => json!("budget"),
        };
        args.insert((*key).to_owned(), v);
    }
    Value::Object(args)
}

/// Walks every read tool and destructive preview of a worker; returns (tool, bytes) pairs.
async fn walk(worker: &hyperfed_worker::WorkerHandle) -> Vec<(String, usize)> {
    let client = mcp(worker, TOKEN).await;
    let truth = truth(worker);
    let tools = client.list_all_tools().await.unwrap();
    let listed = serde_json::to_vec(&tools).unwrap().len();
    assert!(listed <= LIST_BUDGET, "tools/list is {listed} bytes");
    let mut sizes = vec![("tools/list".to_owned(), listed)];
    for tool in &tools {
        let ann = tool.annotations.clone().unwrap_or_default();
        let read = ann.read_only_hint == Some(true);
        let destructive = ann.destructive_hint == Some(true);
        if !read && !destructive {
            continue; // actions change the cluster; their result is one small record
        }
        let required: Vec<&str> = tool
            .input_schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let args = default_args(&required, &truth);
        let r = call(&client, &tool.name, args.clone()).await;
        let out = r
            .structured_content
            .clone()
            .unwrap_or_else(|| json!(text(&r)));
        let bytes = serde_json::to_vec(&out).unwrap().len();
        assert!(
            bytes <= RESULT_BUDGET,
            "{} {args} answered {bytes} bytes",
            tool.name
        );
        if out.get("next_cursor").is_some_and(|c| !c.is_null()) {
            assert_eq!(out["truncated"], true, "{}: a cut page says so", tool.name);
            assert!(out["hint"].as_str().is_some_and(|h| h.contains("cursor")));
            assert!(out["total"].as_u64() > out["count"].as_u64());
        }
        sizes.push((tool.name.to_string(), bytes));
    }
    // A cursor walks every VM exactly once, each page within the budget.
    let mut seen = HashSet::new();
    let mut args = json!({});
    loop {
        let page = ok(&client, "vm_list", args.clone()).await;
        assert!(serde_json::to_vec(&page).unwrap().len() <= RESULT_BUDGET);
        assert_eq!(page["total"], truth["vms"].as_array().unwrap().len());
        for vm in page["vms"].as_array().unwrap() {
            assert!(seen.insert(vm["uuid"].as_str().unwrap().to_owned()), "{vm}");
        }
        match page["next_cursor"].as_str() {
            Some(c) => args = json!({"cursor": c}),
            None => break,
        }
    }
    let truth_uuids: HashSet<String> = truth["vms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["uuid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, truth_uuids);
    // fields narrows the columns; an explicit limit is honoured.
    let narrow = ok(&client, "vm_list", json!({"fields": ["name"], "limit": 3})).await;
    assert_eq!(narrow["vms"][0], json!({"name": truth["vms"][0]["name"]}));
    assert_eq!(narrow["count"], 3);
    let e = err(&client, "vm_list", json!({"fields": ["password"]})).await;
    assert!(e.contains("fields"), "{e}");
    let e = err(&client, "vm_list", json!({"cursor": "bogus"})).await;
    assert!(e.contains("cursor"), "{e}");
    client.cancel().await.unwrap();
    sizes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_default_result_fits_the_budget() {
    let worker = start().await;
    let sizes = walk(&worker).await;
    worker.shutdown().await;

    let mut big = config();
    if let ClusterSource::Mock(sim) = &mut big.cluster {
        sim.vm_count = Some(2000);
    }
    let worker = hyperfed_worker::start(big).await.unwrap();
    assert_eq!(truth(&worker)["vms"].as_array().unwrap().len(), 2000);
    let big_sizes = walk(&worker).await;
    worker.shutdown().await;
    if std::env::var_os("BUDGET_TABLE").is_some() {
        for ((tool, a), (_, b)) in sizes.iter().zip(&big_sizes) {
            println!("| `{tool}` | {a} | {b} |");
        }
    }
}
