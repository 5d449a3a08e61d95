//! The VM configuration tools (#17) through the hub, on a real worker over a simulator: routed
//! by `alias/vm-name` with an operate token (truth checked), refused for a read token.

mod common;

use std::time::Duration;

use common::{SECRET, TempDir, call, client, eventually};
use hypercore_sim::Archetype;
use hyperfed_hub::{Health, HubConfig, Scope, issue_token};
use hyperfed_protocol::Secret;
use hyperfed_worker::{JoinConfig, WorkerConfig};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_config_tools_route_by_alias_and_respect_scopes() {
    let dir = TempDir::new("vmcfg");
    let read = issue_token(&dir.0, Scope::Read, Duration::from_secs(600), "reader").unwrap();
    let operate = issue_token(&dir.0, Scope::Operate, Duration::from_secs(600), "op").unwrap();
    let mut cfg = HubConfig::new("127.0.0.1:0".parse().unwrap(), Secret::new(SECRET));
    cfg.heartbeat_interval = Duration::from_millis(200);
    cfg.call_timeout = Duration::from_secs(20);
    cfg.data_dir = Some(dir.0.clone());
    let hub = hyperfed_hub::start(cfg).await.unwrap();

    let mut config = WorkerConfig::mock(Some(Archetype::Datacenter), 12);
    if let hyperfed_worker::ClusterSource::Mock(sim) = &mut config.cluster {
        sim.task_duration = Duration::from_millis(50);
        sim.shutdown_duration = Duration::from_millis(50);
    }
    config.poll_interval = Duration::from_millis(20);
    config.join = Some(JoinConfig {
        hub_url: hub.base_url(),
        secret: Secret::new(SECRET),
        name: Some("dc".to_owned()),
        advertise: None,
    });
    let worker = hyperfed_worker::start(config).await.expect("worker starts");
    eventually("cluster up", || {
        let c = hub.clusters();
        c.len() == 1 && c[0].state == Health::Up
    })
    .await;
    let truth = || worker.sim().expect("mock worker").truth();
    let vm_of = |t: &Value, uuid: &str| -> Value {
        t["vms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["uuid"] == uuid)
            .unwrap()
            .clone()
    };
    let t0 = truth();
    let on = t0["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["state"] == "RUNNING" && v["replication_source"] == "")
        .unwrap()
        .clone();
    let off = t0["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["state"] == "SHUTOFF" && v["replication_source"] == "")
        .unwrap()
        .clone();
    let (on_uuid, off_uuid) = (on["uuid"].as_str().unwrap(), off["uuid"].as_str().unwrap());
    let on_ref = format!("dc/{}", on["name"].as_str().unwrap());
    let off_ref = format!("dc/{}", off["name"].as_str().unwrap());

    // A read token is refused on each, and nothing changes.
    let (reader, _) = client(&hub.mcp_url(), Some(&read)).await;
    for (tool, args) in [
        ("vm_update", json!({"vm": off_ref, "vcpus": 3})),
        ("disk_add", json!({"vm": off_ref, "size_bytes": 1u64 << 30})),
        (
            "disk_resize",
            json!({"vm": off_ref, "disk": 0, "size_bytes": 1u64 << 40}),
        ),
        ("vm_shutdown", json!({"vm": on_ref, "force_after_s": 1})),
    ] {
        let (r, err) = call(&reader, tool, args).await;
        assert!(err, "{tool}: {r}");
        assert!(r.to_string().contains("'read'"), "{tool}: {r}");
    }
    assert_eq!(truth()["capacity"], t0["capacity"]);
    assert_eq!(vm_of(&truth(), off_uuid), vm_of(&t0, off_uuid));

    // Operate: routed by alias/vm-name.
    let (op, _) = client(&hub.mcp_url(), Some(&operate)).await;
    let (r, err) = call(
        &op,
        "vm_update",
        json!({"vm": off_ref, "vcpus": 3, "memory_bytes": 1u64 << 31}),
    )
    .await;
    assert!(!err, "{r}");
    let v = vm_of(&truth(), off_uuid);
    assert_eq!(
        (v["num_vcpu"].as_u64(), v["mem"].as_u64()),
        (Some(3), Some(1 << 31))
    );

    let (r, err) = call(
        &op,
        "disk_add",
        json!({"vm": off_ref, "size_bytes": 1u64 << 30}),
    )
    .await;
    assert!(!err, "{r}");
    let disk = r["created_uuid"].as_str().unwrap().to_owned();
    assert!(
        vm_of(&truth(), off_uuid)["block_devs"]
            .as_array()
            .unwrap()
            .contains(&json!(disk))
    );
    let (r, err) = call(
        &op,
        "disk_resize",
        json!({"vm": off_ref, "disk": disk, "size_bytes": 1u64 << 31}),
    )
    .await;
    assert!(!err, "{r}");
    assert_eq!(r["after"]["capacity_bytes"], 1u64 << 31, "{r}");

    // The confirmed forms pass through the hub: preview, then the token.
    worker
        .sim()
        .unwrap()
        .faults()
        .update(|f| f.ignore_acpi = true);
    let args = json!({"vm": on_ref, "force_after_s": 1});
    let (p, err) = call(&op, "vm_shutdown", args.clone()).await;
    assert!(!err && p["confirmation_required"] == true, "{p}");
    assert_eq!(vm_of(&truth(), on_uuid)["state"], "RUNNING");
    let mut confirmed = args;
    confirmed["confirm_token"] = p["confirm_token"].clone();
    let (r, err) = call(&op, "vm_shutdown", confirmed).await;
    assert!(!err, "{r}");
    assert_eq!(r["forced"], true, "{r}");
    assert_eq!(vm_of(&truth(), on_uuid)["state"], "SHUTOFF");

    reader.cancel().await.unwrap();
    op.cancel().await.unwrap();
    worker.shutdown().await;
    hub.shutdown().await;
}
