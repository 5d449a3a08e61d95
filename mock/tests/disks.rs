//! Block devices over real HTTP: `POST /VirDomainBlockDevice` (slot assignment, storage
//! checked) and `PATCH /VirDomainBlockDevice/{uuid}` (grow only), reflected in reads and truth.

mod common;

use common::{Api, fast_config, start};
use hypercore_sim::{Archetype, SimHandle};
use serde_json::json;

const GIB: i64 = 1 << 30;

fn storage(sim: &SimHandle, key: &str) -> i64 {
    sim.truth()["capacity"]["cluster"]["storage"][key]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn a_disk_is_added_grown_and_never_shrunk() {
    let sim = start(fast_config(Archetype::Edge, 7)).await;
    let api = Api::login(&sim).await;
    let vm = api.vm_in_state("SHUTOFF").await;
    let uuid = vm["uuid"].as_str().unwrap();
    let virtio_slots: Vec<i64> = vm["blockDevs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["type"] == "VIRTIO_DISK")
        .map(|d| d["slot"].as_i64().unwrap())
        .collect();
    let used = storage(&sim, "used_bytes");

    // `type` and `capacity` are required, as the schema says.
    let (status, text) = api
        .send(
            "POST",
            "/VirDomainBlockDevice",
            json!({"virDomainUUID": uuid, "capacity": GIB}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(text.contains("Missing required property: type"), "{text}");
    // An unknown VM is a 500.
    let (status, _) = api
        .send(
            "POST",
            "/VirDomainBlockDevice",
            json!({"virDomainUUID": "nope", "type": "VIRTIO_DISK", "capacity": GIB}),
        )
        .await;
    assert_eq!(status, 500);

    let (tag, disk) = api
        .mutate(
            "POST",
            "/VirDomainBlockDevice",
            json!({"virDomainUUID": uuid, "type": "VIRTIO_DISK", "capacity": 10 * GIB}),
        )
        .await;
    assert!(!disk.is_empty());
    assert_eq!(api.wait_task(&tag).await["state"], "COMPLETE");
    let dev = api.list(&format!("/VirDomainBlockDevice/{disk}")).await[0].clone();
    let next_slot = (0..).find(|s| !virtio_slots.contains(s)).unwrap();
    assert_eq!(
        (dev["slot"].as_i64(), dev["capacity"].as_i64()),
        (Some(next_slot), Some(10 * GIB))
    );
    assert_eq!(dev["virDomainUUID"], uuid);
    assert!(
        api.vm(uuid).await["blockDevs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["uuid"] == disk.as_str())
    );
    assert_eq!(storage(&sim, "used_bytes"), used + 10 * GIB);
    let in_truth = sim.truth()["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["uuid"] == uuid)
        .unwrap()["block_devs"]
        .as_array()
        .unwrap()
        .contains(&json!(disk));
    assert!(in_truth);

    // An explicit slot that is taken is refused.
    let (status, text) = api
        .send(
            "POST",
            "/VirDomainBlockDevice",
            json!({"virDomainUUID": uuid, "type": "VIRTIO_DISK", "capacity": GIB, "slot": next_slot}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(text.contains("already in use"), "{text}");

    // Grow.
    let path = format!("/VirDomainBlockDevice/{disk}");
    let (tag, _) = api
        .mutate("PATCH", &path, json!({"capacity": 25 * GIB}))
        .await;
    api.wait_task(&tag).await;
    assert_eq!(api.list(&path).await[0]["capacity"], 25 * GIB);
    assert_eq!(storage(&sim, "used_bytes"), used + 25 * GIB);

    // Shrink: refused with both sizes in the message, nothing changes.
    let (status, text) = api.send("PATCH", &path, json!({"capacity": 5 * GIB})).await;
    assert_eq!(status, 400);
    let expected = format!(
        "capacity can only grow: {} bytes requested, the block device has {} bytes",
        5 * GIB,
        25 * GIB
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["error"],
        expected.as_str()
    );
    assert_eq!(api.list(&path).await[0]["capacity"], 25 * GIB);

    // Growth beyond the free storage: the task fails.
    let too_much = 25 * GIB + storage(&sim, "free_bytes") + GIB;
    let (tag, _) = api
        .mutate("PATCH", &path, json!({"capacity": too_much}))
        .await;
    let task = api.wait_task(&tag).await;
    assert_eq!(task["state"], "ERROR");
    assert!(
        task["messageParameters"][2]
            .as_str()
            .unwrap()
            .starts_with("not enough free storage")
    );
    assert_eq!(api.list(&path).await[0]["capacity"], 25 * GIB);

    // An unknown device is a 500.
    assert_eq!(
        api.send(
            "PATCH",
            "/VirDomainBlockDevice/nope",
            json!({"capacity": GIB})
        )
        .await
        .0,
        500
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_disk_larger_than_the_free_storage_is_refused() {
    let sim = start(fast_config(Archetype::Lab, 42)).await;
    let api = Api::login(&sim).await;
    let vm = api.vm_in_state("RUNNING").await;
    let uuid = vm["uuid"].as_str().unwrap();
    let free = storage(&sim, "free_bytes");
    let (tag, disk) = api
        .mutate(
            "POST",
            "/VirDomainBlockDevice",
            json!({"virDomainUUID": uuid, "type": "VIRTIO_DISK", "capacity": free + 1}),
        )
        .await;
    let task = api.wait_task(&tag).await;
    assert_eq!(task["state"], "ERROR");
    assert_eq!(
        task["formattedMessage"],
        "Unable to create block device for Virtual Machine %@: %@"
    );
    assert!(
        api.list(&format!("/VirDomainBlockDevice/{disk}"))
            .await
            .is_empty()
    );
    assert_eq!(storage(&sim, "free_bytes"), free);
    sim.shutdown().await;
}
