//! VM create, delete and PATCH over real HTTP, with capacity enforced: every change shows in
//! the REST reads and in the ground truth (including its `capacity` figures).

mod common;

use common::{Api, fast_config, start};
use hypercore_sim::{Archetype, SimHandle};
use serde_json::{Value, json};

const GIB: i64 = 1 << 30;

/// The truth's capacity entry of `node`.
fn node_capacity(truth: &Value, node: &str) -> Value {
    truth["capacity"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["uuid"] == node)
        .cloned()
        .unwrap_or_else(|| panic!("node {node} in truth"))
}

fn storage_used(sim: &SimHandle) -> i64 {
    sim.truth()["capacity"]["cluster"]["storage"]["used_bytes"]
        .as_i64()
        .unwrap()
}

fn create_body(name: &str, mem: i64, disk: i64) -> Value {
    json!({
        "dom": {
            "name": name,
            "description": "created by a test",
            "mem": mem,
            "numVCPU": 2,
            "tags": "web,prod",
            "blockDevs": [{"type": "VIRTIO_DISK", "capacity": disk, "cacheMode": "WRITETHROUGH"}],
            "netDevs": [{"type": "VIRTIO", "vlan": 10}],
            "bootDevices": [],
        },
        "options": {"attachGuestToolsISO": false, "machineTypeKeyword": "uefi"},
    })
}

#[tokio::test]
async fn create_start_stop_delete_follow_in_reads_and_truth() {
    let sim = start(fast_config(Archetype::Lab, 42)).await;
    let api = Api::login(&sim).await;
    let used_before = storage_used(&sim);
    let vms_before = sim.truth()["totals"]["vms"].as_u64().unwrap();

    let (tag, uuid) = api
        .mutate(
            "POST",
            "/VirDomain",
            create_body("new-web", 4 * GIB, 20 * GIB),
        )
        .await;
    assert!(!tag.is_empty() && !uuid.is_empty());
    // The VM appears when its task completes.
    assert!(api.list(&format!("/VirDomain/{uuid}")).await.is_empty());
    assert_eq!(api.wait_task(&tag).await["state"], "COMPLETE");
    let vm = api.vm(&uuid).await;
    assert_eq!(vm["state"], "SHUTOFF");
    assert_eq!(
        (vm["mem"].as_i64(), vm["numVCPU"].as_i64()),
        (Some(4 * GIB), Some(2))
    );
    assert_eq!(
        (vm["tags"].as_str(), vm["machineTypeKeyword"].as_str()),
        (Some("web,prod"), Some("uefi"))
    );
    let disks = vm["blockDevs"].as_array().unwrap();
    let kinds: Vec<&str> = disks.iter().map(|d| d["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["VIRTIO_DISK", "NVRAM"],
        "UEFI adds its NVRAM device"
    );
    assert_eq!(
        (disks[0]["slot"].as_i64(), disks[1]["slot"].as_i64()),
        (Some(0), Some(-1))
    );
    assert_eq!(vm["netDevs"][0]["vlan"], 10);
    assert_eq!(vm["netDevs"][0]["macAddress"].as_str().unwrap().len(), 17);
    assert_eq!(api.list(&format!("/VirDomainStats/{uuid}")).await.len(), 1);
    let disk_bytes = 20 * GIB + disks[1]["capacity"].as_i64().unwrap();
    assert_eq!(storage_used(&sim), used_before + disk_bytes);
    let truth = sim.truth();
    assert_eq!(truth["totals"]["vms"].as_u64(), Some(vms_before + 1));
    assert!(
        truth["vms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["uuid"] == uuid.as_str())
    );

    // Duplicate names are accepted, as on HyperCore (clients check names themselves).
    let (tag, twin) = api
        .mutate("POST", "/VirDomain", create_body("new-web", GIB, GIB))
        .await;
    api.wait_task(&tag).await;
    assert_eq!(api.vm(&twin).await["name"], "new-web");

    // START: the node's memory figures follow.
    let (tag, _) = api
        .mutate(
            "POST",
            "/VirDomain/action",
            json!([{"virDomainUUID": uuid, "actionType": "START"}]),
        )
        .await;
    api.wait_task(&tag).await;
    let vm = api.vm(&uuid).await;
    assert_eq!(vm["state"], "RUNNING");
    let node = vm["nodeUUID"].as_str().unwrap().to_owned();
    let before = node_capacity(&truth, &node);
    let after = node_capacity(&sim.truth(), &node);
    let allocated = |n: &Value| n["memory"]["allocated_bytes"].as_i64().unwrap();
    assert_eq!(allocated(&after), allocated(&before) + 4 * GIB);
    assert_eq!(
        after["memory"]["free_bytes"].as_i64().unwrap(),
        before["memory"]["free_bytes"].as_i64().unwrap() - 4 * GIB
    );
    let served = api.list(&format!("/Node/{node}")).await[0].clone();
    assert_eq!(
        served["totalMemUsageBytes"].as_i64().unwrap(),
        after["memory"]["system_bytes"].as_i64().unwrap() + allocated(&after)
    );

    // A running VM cannot be deleted; a stopped one can, and its storage is freed.
    assert_eq!(
        api.send("DELETE", &format!("/VirDomain/{uuid}"), json!(null))
            .await
            .0,
        500
    );
    let (tag, _) = api
        .mutate(
            "POST",
            "/VirDomain/action",
            json!([{"virDomainUUID": uuid, "actionType": "STOP"}]),
        )
        .await;
    api.wait_task(&tag).await;
    assert_eq!(
        allocated(&node_capacity(&sim.truth(), &node)),
        allocated(&before)
    );
    let (tag, created) = api
        .mutate("DELETE", &format!("/VirDomain/{uuid}"), json!(null))
        .await;
    assert_eq!(created, "");
    assert_eq!(api.wait_task(&tag).await["state"], "COMPLETE");
    assert!(api.list(&format!("/VirDomain/{uuid}")).await.is_empty());
    assert!(
        api.list(&format!("/VirDomainStats/{uuid}"))
            .await
            .is_empty()
    );
    let twin_bytes: i64 = api.vm(&twin).await["blockDevs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["capacity"].as_i64().unwrap())
        .sum();
    assert_eq!(
        storage_used(&sim),
        used_before + twin_bytes,
        "only the twin's disks remain"
    );
    assert!(
        !sim.truth()["vms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["uuid"] == uuid.as_str())
    );
    // Deleting it again: unknown VM.
    assert_eq!(
        api.send("DELETE", &format!("/VirDomain/{uuid}"), json!(null))
            .await
            .0,
        500
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn create_bodies_are_validated_like_hypercore() {
    let sim = start(fast_config(Archetype::Edge, 7)).await;
    let api = Api::login(&sim).await;
    let (status, text) = api
        .send(
            "POST",
            "/VirDomain",
            json!({"dom": {"name": "x", "mem": GIB, "numVCPU": 1}}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        text.contains("Missing required property: options"),
        "{text}"
    );
    let mut body = create_body("x", GIB, GIB);
    body["dom"]["blockDevs"][0]["uuid"] = json!("primaryDrive");
    let (status, text) = api.send("POST", "/VirDomain", body).await;
    assert_eq!(status, 400);
    assert!(
        text.contains("Cannot write to a read only property"),
        "{text}"
    );
    let mut body = create_body("x", GIB, GIB);
    body["extra"] = json!(1);
    assert_eq!(api.send("POST", "/VirDomain", body).await.0, 400);
    let mut body = create_body("x", GIB, GIB);
    body["options"]["machineTypeKeyword"] = json!("bogus");
    assert_eq!(api.send("POST", "/VirDomain", body).await.0, 400);
    let (status, text) = api
        .send(
            "POST",
            "/VirDomain",
            json!({"dom": {"name": "x"}, "options": {}}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(text.contains("dom.mem is required"), "{text}");
    sim.shutdown().await;
}

#[tokio::test]
async fn memory_and_storage_that_do_not_fit_are_refused() {
    let sim = start(fast_config(Archetype::Lab, 42)).await;
    let api = Api::login(&sim).await;
    let truth = sim.truth();
    let largest = truth["capacity"]["cluster"]["memory"]["largest_node_free_bytes"]
        .as_i64()
        .unwrap();

    // Created (it is off), but it cannot start: no node has the memory.
    let huge = (largest / GIB + 1) * GIB;
    let (tag, uuid) = api
        .mutate("POST", "/VirDomain", create_body("too-big", huge, GIB))
        .await;
    api.wait_task(&tag).await;
    let (tag, _) = api
        .mutate(
            "POST",
            "/VirDomain/action",
            json!([{"virDomainUUID": uuid, "actionType": "START"}]),
        )
        .await;
    let task = api.wait_task(&tag).await;
    assert_eq!(task["state"], "ERROR");
    assert_eq!(
        task["formattedMessage"],
        "Unable to start Virtual Machine %@: %@"
    );
    let reason = task["messageParameters"][1].as_str().unwrap();
    assert!(
        reason.starts_with("not enough free memory on any node"),
        "{reason}"
    );
    let vm = api.vm(&uuid).await;
    assert_eq!(
        (vm["state"].as_str(), vm["uiState"].as_str()),
        (Some("SHUTOFF"), Some("SHUTOFF"))
    );
    assert_eq!(
        sim.truth()["capacity"]["cluster"]["memory"],
        truth["capacity"]["cluster"]["memory"]
    );

    // Disks larger than the free storage: the create task fails and no VM appears.
    let free = truth["capacity"]["cluster"]["storage"]["free_bytes"]
        .as_i64()
        .unwrap();
    let (tag, uuid) = api
        .mutate(
            "POST",
            "/VirDomain",
            create_body("too-much-disk", GIB, free + GIB),
        )
        .await;
    let task = api.wait_task(&tag).await;
    assert_eq!(task["state"], "ERROR");
    assert!(
        task["messageParameters"][1]
            .as_str()
            .unwrap()
            .starts_with("not enough free storage"),
        "{task}"
    );
    assert!(api.list(&format!("/VirDomain/{uuid}")).await.is_empty());

    // Two starts that each fit alone but not together: the second one fails.
    let node_free = largest;
    let half = (node_free / 2 / GIB + 1) * GIB;
    let mut tags = Vec::new();
    let mut uuids = Vec::new();
    for name in ["half-a", "half-b"] {
        let (tag, uuid) = api
            .mutate("POST", "/VirDomain", create_body(name, half, GIB))
            .await;
        api.wait_task(&tag).await;
        uuids.push(uuid);
    }
    for uuid in &uuids {
        let (tag, _) = api
            .mutate(
                "POST",
                "/VirDomain/action",
                json!([{"virDomainUUID": uuid, "actionType": "START"}]),
            )
            .await;
        tags.push(tag);
    }
    let states: Vec<Value> = {
        let mut out = Vec::new();
        for tag in &tags {
            out.push(api.wait_task(tag).await["state"].clone());
        }
        out
    };
    assert_eq!(states, [json!("COMPLETE"), json!("ERROR")]);
    sim.shutdown().await;
}

#[tokio::test]
async fn patch_changes_cpu_memory_description_and_tags() {
    let sim = start(fast_config(Archetype::Edge, 7)).await;
    let api = Api::login(&sim).await;
    let off = api.vm_in_state("SHUTOFF").await;
    let uuid = off["uuid"].as_str().unwrap();
    let (tag, _) = api
        .mutate(
            "PATCH",
            &format!("/VirDomain/{uuid}"),
            json!({"numVCPU": 6, "mem": 12 * GIB, "description": "resized", "tags": "a,b"}),
        )
        .await;
    api.wait_task(&tag).await;
    let vm = api.vm(uuid).await;
    assert_eq!(
        (vm["numVCPU"].as_i64(), vm["mem"].as_i64()),
        (Some(6), Some(12 * GIB))
    );
    assert_eq!(
        (vm["description"].as_str(), vm["tags"].as_str()),
        (Some("resized"), Some("a,b"))
    );
    let truth = sim.truth();
    let t = truth["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["uuid"] == uuid)
        .unwrap()
        .clone();
    assert_eq!(
        (t["num_vcpu"].as_i64(), t["mem"].as_i64()),
        (Some(6), Some(12 * GIB))
    );
    assert_eq!(
        (t["description"].clone(), t["tags"].clone()),
        (json!("resized"), json!(["a", "b"]))
    );

    // On a running VM: CPU and memory are refused (500, as for invalid transitions);
    // description and tags are fine.
    let running = api.vm_in_state("RUNNING").await;
    let r = running["uuid"].as_str().unwrap();
    for body in [json!({"numVCPU": 8}), json!({"mem": 64 * GIB})] {
        let (status, text) = api.send("PATCH", &format!("/VirDomain/{r}"), body).await;
        assert_eq!(
            (status, text.as_str()),
            (500, r#"{"error":"An internal error occurred"}"#)
        );
    }
    let (tag, _) = api
        .mutate(
            "PATCH",
            &format!("/VirDomain/{r}"),
            json!({"description": "still running"}),
        )
        .await;
    api.wait_task(&tag).await;
    assert_eq!(api.vm(r).await["description"], "still running");
    sim.shutdown().await;
}

#[tokio::test]
async fn start_on_a_running_vm_is_accepted_and_changes_nothing() {
    let sim = start(fast_config(Archetype::Datacenter, 7)).await;
    let api = Api::login(&sim).await;
    let vm = api.vm_in_state("RUNNING").await;
    let uuid = vm["uuid"].as_str().unwrap();
    let truth = sim.truth();
    let (tag, _) = api
        .mutate(
            "POST",
            "/VirDomain/action",
            json!([{"virDomainUUID": uuid, "actionType": "START", "cause": "INTERNAL"}]),
        )
        .await;
    assert_eq!(api.vm(uuid).await["uiState"], "RUNNING");
    assert_eq!(api.wait_task(&tag).await["state"], "COMPLETE");
    let again = api.vm(uuid).await;
    for key in ["state", "uiState", "nodeUUID", "mem"] {
        assert_eq!(again[key], vm[key], "{key}");
    }
    assert_eq!(sim.truth()["capacity"], truth["capacity"]);
    // Transitions a real cluster refuses stay 500 (RESET on a stopped VM).
    let off = api.vm_in_state("SHUTOFF").await;
    let (status, _) = api.action(off["uuid"].as_str().unwrap(), "RESET").await;
    assert_eq!(status, 500);
    sim.shutdown().await;
}

#[tokio::test]
async fn generated_vms_still_start_on_nodes_generation_overcommitted() {
    // Datacenter 21: generation left every node with more running memory than it has.
    let sim = start(fast_config(Archetype::Datacenter, 21)).await;
    let api = Api::login(&sim).await;
    let truth = sim.truth();
    assert_eq!(truth["capacity"]["cluster"]["memory"]["free_bytes"], 0);
    let off = api.vm_in_state("SHUTOFF").await;
    let uuid = off["uuid"].as_str().unwrap();
    let (tag, _) = api
        .mutate(
            "POST",
            "/VirDomain/action",
            json!([{"virDomainUUID": uuid, "actionType": "START"}]),
        )
        .await;
    assert_eq!(api.wait_task(&tag).await["state"], "COMPLETE");
    let vm = api.vm(uuid).await;
    assert_eq!(
        (&vm["state"], &vm["nodeUUID"]),
        (&json!("RUNNING"), &off["nodeUUID"])
    );
    // A VM created there is held to the free memory: it cannot start.
    let (tag, created) = api
        .mutate("POST", "/VirDomain", create_body("new", GIB, GIB))
        .await;
    api.wait_task(&tag).await;
    let (tag, _) = api
        .mutate(
            "POST",
            "/VirDomain/action",
            json!([{"virDomainUUID": created, "actionType": "START"}]),
        )
        .await;
    assert_eq!(api.wait_task(&tag).await["state"], "ERROR");
    sim.shutdown().await;
}
