//! SMB shares as a directory: an export on one simulator writes a VM definition under the
//! shared SMB root, an import on another reads it back; without a root, imports find nothing.
//! The URI (and its password) never appears in any answer.

mod common;

use std::path::PathBuf;

use common::{Api, fast_config, start};
use hypercore_sim::{Archetype, SimConfig};
use serde_json::{Value, json};

/// A fresh, empty directory under the system's temp dir (removed by the test).
fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "hypercore-sim-{tag}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn with_root(mut config: SimConfig, root: &std::path::Path) -> SimConfig {
    config.smb_root = Some(root.to_path_buf());
    config
}

const URI: &str = "smb://CORP;backup:S3cretPw@nas.example.com/exports/moves/vm1";

#[tokio::test]
async fn export_on_one_simulator_imports_on_another() {
    let root = temp_dir("move");
    let a = start(with_root(fast_config(Archetype::Edge, 7), &root)).await;
    let b = start(with_root(fast_config(Archetype::Lab, 42), &root)).await;
    let api_a = Api::login(&a).await;
    let api_b = Api::login(&b).await;

    let source = api_a.vm_in_state("RUNNING").await;
    let uuid = source["uuid"].as_str().unwrap();
    let name = source["name"].as_str().unwrap();
    let (tag, _) = api_a
        .mutate(
            "POST",
            &format!("/VirDomain/{uuid}/export"),
            json!({"target": {"pathURI": URI}}),
        )
        .await;
    assert_eq!(api_a.wait_task(&tag).await["state"], "COMPLETE");
    let file = root.join(format!("nas.example.com/exports/moves/vm1/{name}.json"));
    let written: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(written["name"], name);
    assert_eq!(written["mem"], source["mem"]);
    assert!(
        !String::from_utf8(std::fs::read(&file).unwrap())
            .unwrap()
            .contains("S3cretPw")
    );

    let vms_before = b.truth()["totals"]["vms"].as_u64().unwrap();
    let used_before = b.truth()["capacity"]["cluster"]["storage"]["used_bytes"]
        .as_i64()
        .unwrap();
    let (tag, created) = api_b
        .mutate(
            "POST",
            "/VirDomain/import",
            json!({"source": {"pathURI": URI}, "template": {"tags": "moved"}}),
        )
        .await;
    assert!(!created.is_empty());
    assert_eq!(api_b.wait_task(&tag).await["state"], "COMPLETE");
    let vm = api_b.vm(&created).await;
    assert_eq!(vm["state"], "SHUTOFF");
    for key in ["name", "mem", "numVCPU", "description", "machineType"] {
        assert_eq!(vm[key], source[key], "{key}");
    }
    assert_eq!(vm["tags"], "moved");
    let sizes = |v: &Value| -> Vec<(Value, Value)> {
        v["blockDevs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["type"].clone(), d["capacity"].clone()))
            .collect()
    };
    assert_eq!(sizes(&vm), sizes(&source));
    assert_eq!(
        vm["netDevs"][0]["macAddress"],
        source["netDevs"][0]["macAddress"]
    );
    let truth = b.truth();
    assert_eq!(truth["totals"]["vms"].as_u64(), Some(vms_before + 1));
    let disk_bytes: i64 = vm["blockDevs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["capacity"].as_i64().unwrap())
        .sum();
    assert_eq!(
        truth["capacity"]["cluster"]["storage"]["used_bytes"]
            .as_i64()
            .unwrap(),
        used_before + disk_bytes
    );

    // Nothing at the path: the import task fails, and no answer carries the URI.
    let missing = "smb://backup:S3cretPw@nas.example.com/exports/none";
    let (tag, _) = api_b
        .mutate(
            "POST",
            "/VirDomain/import",
            json!({"source": {"pathURI": missing}}),
        )
        .await;
    let task = api_b.wait_task(&tag).await;
    assert_eq!(task["state"], "ERROR");
    assert_eq!(
        task["messageParameters"][0],
        "no VM definition found at the SMB path"
    );
    // A path that climbs out of the share is refused the same way.
    let (tag, _) = api_b
        .mutate(
            "POST",
            "/VirDomain/import",
            json!({"source": {"pathURI": "smb://nas.example.com/exports/../../etc"}}),
        )
        .await;
    assert_eq!(api_b.wait_task(&tag).await["state"], "ERROR");
    for api in [&api_a, &api_b] {
        let (_, tasks) = api.get("/TaskTag").await;
        assert!(!tasks.to_string().contains("S3cretPw"));
    }
    a.shutdown().await;
    b.shutdown().await;
    std::fs::remove_dir_all(&root).unwrap();
}

#[tokio::test]
async fn without_an_smb_root_exports_succeed_and_imports_fail() {
    let sim = start(fast_config(Archetype::Edge, 42)).await;
    let api = Api::login(&sim).await;
    let vm = api.vm_in_state("RUNNING").await;
    let uuid = vm["uuid"].as_str().unwrap();
    let (tag, _) = api
        .mutate(
            "POST",
            &format!("/VirDomain/{uuid}/export"),
            json!({"target": {"pathURI": URI}}),
        )
        .await;
    assert_eq!(api.wait_task(&tag).await["state"], "COMPLETE");
    let (tag, created) = api
        .mutate(
            "POST",
            "/VirDomain/import",
            json!({"source": {"pathURI": URI}}),
        )
        .await;
    assert_eq!(created, "");
    let task = api.wait_task(&tag).await;
    assert_eq!(task["state"], "ERROR");
    assert_eq!(
        task["formattedMessage"],
        "Import of Virtual Machine failed: %@"
    );
    assert!(!task.to_string().contains("S3cretPw"));
    // Malformed bodies are 400s.
    assert_eq!(
        api.send("POST", "/VirDomain/import", json!({"source": {}}))
            .await
            .0,
        400
    );
    assert_eq!(
        api.send("POST", "/VirDomain/import", json!({"template": {}}))
            .await
            .0,
        400
    );
    sim.shutdown().await;
}
