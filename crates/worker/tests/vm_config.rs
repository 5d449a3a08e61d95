//! VM configuration tools against the simulator, with the truth checked after each change:
//! `vm_update` (stopped, refused while running, the confirmed shutdown-change-start cycle),
//! `disk_add` and `disk_resize` (grow; a shrink refused), `vm_shutdown` with `force_after_s`.

mod common;

use common::*;
use serde_json::{Value, json};

fn storage_used(t: &Value) -> u64 {
    t["capacity"]["cluster"]["storage"]["used_bytes"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_update_changes_cpu_and_memory() {
    let worker = start().await;
    let client = mcp(&worker, TOKEN).await;
    let t0 = truth(&worker);

    // A stopped VM: applied at once, no confirmation.
    let off = vm_in_state(&t0, "SHUTOFF");
    let uuid = off["uuid"].as_str().unwrap().to_owned();
    let vcpus = off["num_vcpu"].as_u64().unwrap() + 1;
    let mem = 2u64 << 30;
    let r = ok(
        &client,
        "vm_update",
        json!({"vm": uuid, "vcpus": vcpus, "memory_bytes": mem, "tags": ["a", "b"]}),
    )
    .await;
    assert_eq!(r["after"]["vcpus"], vcpus, "{r}");
    assert_eq!(r["after"]["memory_bytes"], mem, "{r}");
    assert_eq!(r["before"]["vcpus"], off["num_vcpu"], "{r}");
    let v = truth_vm(&truth(&worker), &uuid).clone();
    assert_eq!(v["num_vcpu"], vcpus);
    assert_eq!(v["mem"], mem);
    assert_eq!(v["tags"], json!(["a", "b"]));
    assert_eq!(v["state"], "SHUTOFF");

    // A running VM: refused without shutdown_first, nothing changes.
    let on = vm_in_state(&t0, "RUNNING");
    let uuid = on["uuid"].as_str().unwrap().to_owned();
    let vcpus = on["num_vcpu"].as_u64().unwrap() + 1;
    let mem = (on["mem"].as_u64().unwrap() / 2).max(1 << 30);
    let e = err(&client, "vm_update", json!({"vm": uuid, "vcpus": vcpus})).await;
    assert!(e.contains("shutdown_first") && e.contains("off"), "{e}");
    assert_eq!(truth_vm(&truth(&worker), &uuid)["num_vcpu"], on["num_vcpu"]);

    // A description alone needs no shutdown.
    ok(
        &client,
        "vm_update",
        json!({"vm": uuid, "description": "web tier"}),
    )
    .await;
    let v = truth_vm(&truth(&worker), &uuid).clone();
    assert_eq!(
        (v["description"].as_str(), v["state"].as_str()),
        (Some("web tier"), Some("RUNNING"))
    );

    // With shutdown_first: a preview first, then the confirmed cycle.
    let args = json!({"vm": uuid, "vcpus": vcpus, "memory_bytes": mem, "shutdown_first": true});
    let p = ok(&client, "vm_update", args.clone()).await;
    assert_eq!(p["confirmation_required"], true, "{p}");
    assert_eq!(p["preview"]["after"]["vcpus"], vcpus, "{p}");
    let v = truth_vm(&truth(&worker), &uuid).clone();
    assert_eq!(
        (v["num_vcpu"].clone(), v["state"].as_str()),
        (on["num_vcpu"].clone(), Some("RUNNING"))
    );
    let mut confirmed = args.clone();
    confirmed["confirm_token"] = p["confirm_token"].clone();
    let r = ok(&client, "vm_update", confirmed).await;
    let steps: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["shutdown", "powered_off", "apply", "start"], "{r}");
    assert_eq!(r["after"]["memory_bytes"], mem, "{r}");
    let v = truth_vm(&truth(&worker), &uuid).clone();
    assert_eq!(v["num_vcpu"], vcpus);
    assert_eq!(v["mem"], mem);
    assert_eq!(v["state"], "RUNNING");
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disks_are_added_and_grown_never_shrunk() {
    let worker = start().await;
    let client = mcp(&worker, TOKEN).await;
    let t0 = truth(&worker);
    let vm = vm_in_state(&t0, "SHUTOFF");
    let uuid = vm["uuid"].as_str().unwrap().to_owned();
    let size = 10u64 << 30;
    let r = ok(&client, "disk_add", json!({"vm": uuid, "size_bytes": size})).await;
    let disk = r["created_uuid"].as_str().unwrap().to_owned();
    assert_eq!(r["disk"]["type"], "VIRTIO_DISK", "{r}");
    assert_eq!(r["disk"]["capacity_bytes"], size, "{r}");
    assert!(r["slot"].as_i64().unwrap() >= 0, "{r}");
    let t1 = truth(&worker);
    assert!(
        truth_vm(&t1, &uuid)["block_devs"]
            .as_array()
            .unwrap()
            .contains(&json!(disk))
    );
    assert_eq!(storage_used(&t1), storage_used(&t0) + size);

    // Grow by slot number.
    let slot = r["slot"].as_i64().unwrap();
    let r = ok(
        &client,
        "disk_resize",
        json!({"vm": uuid, "disk": slot, "size_bytes": 2 * size}),
    )
    .await;
    assert_eq!(r["before"]["capacity_bytes"], size, "{r}");
    assert_eq!(r["after"]["capacity_bytes"], 2 * size, "{r}");
    let t2 = truth(&worker);
    assert_eq!(storage_used(&t2), storage_used(&t1) + size);

    // A shrink is refused with the current size, by uuid; nothing changes.
    let e = err(
        &client,
        "disk_resize",
        json!({"vm": uuid, "disk": disk, "size_bytes": size}),
    )
    .await;
    assert!(
        e.contains(&(2 * size).to_string()) && e.contains("only grows"),
        "{e}"
    );
    assert_eq!(storage_used(&truth(&worker)), storage_used(&t2));
    let e = err(
        &client,
        "disk_resize",
        json!({"vm": uuid, "disk": "99", "size_bytes": size}),
    )
    .await;
    assert!(e.contains("no disk '99'"), "{e}");
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_deadline_forces_a_guest_that_ignores_acpi() {
    let worker = start().await;
    let client = mcp(&worker, TOKEN).await;
    worker
        .sim()
        .unwrap()
        .faults()
        .update(|f| f.ignore_acpi = true);
    let on = vm_in_state(&truth(&worker), "RUNNING");
    let uuid = on["uuid"].as_str().unwrap().to_owned();
    let args = json!({"vm": uuid, "force_after_s": 1});
    let p = ok(&client, "vm_shutdown", args.clone()).await;
    assert_eq!(p["confirmation_required"], true, "{p}");
    assert_eq!(truth_vm(&truth(&worker), &uuid)["state"], "RUNNING");
    let mut confirmed = args.clone();
    confirmed["confirm_token"] = p["confirm_token"].clone();
    let r = ok(&client, "vm_shutdown", confirmed).await;
    assert_eq!(r["forced"], true, "{r}");
    assert!(r["waited_ms"].as_u64().unwrap() >= 1000, "{r}");
    assert_eq!(r["vm"]["state"], "SHUTOFF", "{r}");
    assert_eq!(truth_vm(&truth(&worker), &uuid)["state"], "SHUTOFF");

    // Without force_after_s, vm_shutdown stays a plain, unconfirmed action.
    worker.sim().unwrap().faults().clear();
    let on = vm_in_state(&truth(&worker), "RUNNING");
    let r = ok(&client, "vm_shutdown", json!({"vm": on["uuid"]})).await;
    assert_eq!(r["vm"]["state"], "SHUTOFF", "{r}");
    worker.shutdown().await;
}
