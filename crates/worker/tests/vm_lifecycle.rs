//! `capacity`, `vm_create`, `vm_import` and `vm_delete` against the simulator, with the truth
//! checked after each change (#16's worker tools).

mod common;

use common::*;
use hyperfed_worker::ClusterSource;
use serde_json::{Value, json};

fn tmp(tag: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("hyperfed-worker-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn by_name<'a>(t: &'a Value, name: &str) -> Vec<&'a Value> {
    t["vms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["name"] == name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_matches_the_truth() {
    let worker = start().await;
    let client = mcp(&worker, TOKEN).await;
    let c = ok(&client, "capacity", json!({})).await;
    let t = truth(&worker);
    let cap = &t["capacity"];
    assert_eq!(c["cluster"]["memory"], cap["cluster"]["memory"], "{c}");
    assert_eq!(c["cluster"]["storage"], cap["cluster"]["storage"], "{c}");
    assert_eq!(
        c["cluster"]["cpu_cores"], cap["cluster"]["cpu_cores"],
        "{c}"
    );
    for (mine, truth) in c["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .zip(cap["nodes"].as_array().unwrap())
    {
        assert_eq!(mine["uuid"], truth["uuid"]);
        assert_eq!(mine["memory"], truth["memory"], "{mine}");
        for k in [
            "can_run_vms",
            "cpu_cores",
            "cpu_threads",
            "vcpus_allocated",
            "vms_holding_memory",
        ] {
            assert_eq!(mine[k], truth[k], "{k}: {mine}");
        }
    }
    assert_eq!(c["vms"]["total"], t["vms"].as_array().unwrap().len());
    let raised = t["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["raised"] == true)
        .count();
    assert_eq!(c["conditions"].as_array().unwrap().len(), raised);

    let small = ok(
        &client,
        "capacity",
        json!({"requirements": {"vcpus": 1, "memory_bytes": 1u64 << 30, "disk_bytes": 1u64 << 30}}),
    )
    .await;
    assert_eq!(small["fits"], true, "{small}");
    let huge = ok(
        &client,
        "capacity",
        json!({"requirements": {"vcpus": 1, "memory_bytes": 1u64 << 50, "disk_bytes": 1u64 << 60}}),
    )
    .await;
    assert_eq!(huge["fits"], false, "{huge}");
    assert_eq!(huge["reasons"].as_array().unwrap().len(), 2, "{huge}");
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vms_are_created_imported_and_deleted() {
    let smb = tmp("smb");
    let mut config = config();
    if let ClusterSource::Mock(sim) = &mut config.cluster {
        sim.smb_root = Some(smb.clone());
    }
    let worker = hyperfed_worker::start(config).await.unwrap();
    let client = mcp(&worker, TOKEN).await;
    let t0 = truth(&worker);

    // Created, started, with its disks charged to storage.
    let disks = [10u64 << 30, 20u64 << 30];
    let r = ok(&client, "vm_create", json!({"name": "new-web", "vcpus": 2, "memory_bytes": 1u64 << 30, "disk_bytes": disks, "network_vlan": 10, "tags": ["web"], "start": true})).await;
    let uuid = r["created_uuid"].as_str().unwrap().to_owned();
    let t1 = truth(&worker);
    let v = truth_vm(&t1, &uuid);
    assert_eq!(
        (
            v["name"].as_str(),
            v["state"].as_str(),
            v["num_vcpu"].as_u64()
        ),
        (Some("new-web"), Some("RUNNING"), Some(2))
    );
    assert_eq!(v["tags"], json!(["web"]));
    let used = |t: &Value| {
        t["capacity"]["cluster"]["storage"]["used_bytes"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(used(&t1), used(&t0) + disks.iter().sum::<u64>());

    // A taken name, and a cluster without the room, are refused; nothing is created.
    let e = err(
        &client,
        "vm_create",
        json!({"name": "new-web", "vcpus": 1, "memory_bytes": 1u64 << 30, "disk_bytes": []}),
    )
    .await;
    assert!(e.contains("already exists") && e.contains(&uuid), "{e}");
    let e = err(&client, "vm_create", json!({"name": "too-big", "vcpus": 1, "memory_bytes": 1u64 << 30, "disk_bytes": [1u64 << 60]})).await;
    assert!(e.contains("lacks the room") && e.contains("storage"), "{e}");
    assert_eq!(by_name(&truth(&worker), "new-web").len(), 1);
    assert!(by_name(&truth(&worker), "too-big").is_empty());

    // Delete: refused while running, then previewed, then confirmed.
    let e = err(&client, "vm_delete", json!({"vm": uuid})).await;
    assert!(e.contains("SHUTOFF"), "{e}");
    let stop = ok(&client, "vm_stop", json!({"vm": uuid})).await;
    ok(
        &client,
        "vm_stop",
        json!({"vm": uuid, "confirm_token": stop["confirm_token"]}),
    )
    .await;

    // Export to the share, import under a new name (credentials never shown).
    let uri = "smb://CORP;bob:hunter2@nas/share/new-web";
    ok(&client, "vm_export", json!({"vm": uuid, "uri": uri})).await;
    let r = ok(
        &client,
        "vm_import",
        json!({"uri": uri, "name": "new-web-copy", "tags": ["copy"]}),
    )
    .await;
    assert!(!r.to_string().contains("hunter2"), "{r}");
    let copy = r["created_uuid"].as_str().unwrap().to_owned();
    let t2 = truth(&worker);
    assert_eq!(truth_vm(&t2, &copy)["name"], "new-web-copy");
    assert_eq!(truth_vm(&t2, &copy)["num_vcpu"], 2);
    let e = err(
        &client,
        "vm_import",
        json!({"uri": "smb://bob:hunter2@nas/share/nothing-here"}),
    )
    .await;
    assert!(!e.contains("hunter2") && e.contains("ERROR"), "{e}");
    let e = err(&client, "vm_import", json!({"uri": uri, "name": "new-web"})).await;
    assert!(e.contains("already exists"), "{e}");

    let p = ok(&client, "vm_delete", json!({"vm": uuid})).await;
    assert_eq!(p["confirmation_required"], true, "{p}");
    assert_eq!(by_name(&truth(&worker), "new-web").len(), 1);
    let r = ok(
        &client,
        "vm_delete",
        json!({"vm": uuid, "confirm_token": p["confirm_token"]}),
    )
    .await;
    assert_eq!(r["deleted"], true, "{r}");
    let t3 = truth(&worker);
    assert!(by_name(&t3, "new-web").is_empty());
    assert!(used(&t3) < used(&t2));
    worker.shutdown().await;
    let _ = std::fs::remove_dir_all(&smb);
}
