//! Simulated clusters behind real in-process workers joined to an in-process hub, for the
//! placement tests: start them, read their ground truth, compute what placement should say.

use std::path::Path;
use std::time::Duration;

use hypercore_sim::Archetype;
use hyperfed_hub::{Health, HubConfig, HubHandle};
use hyperfed_protocol::Secret;
use hyperfed_worker::{ClusterSource, JoinConfig, WorkerConfig, WorkerHandle};
use serde_json::Value;

use super::{SECRET, eventually};

/// A hub for placement tests (`data` keeps its database, e.g. across a restart).
pub async fn hub(data: Option<&Path>) -> HubHandle {
    let mut cfg = HubConfig::new("127.0.0.1:0".parse().unwrap(), Secret::new(SECRET));
    cfg.heartbeat_interval = Duration::from_millis(200);
    cfg.call_timeout = Duration::from_secs(30);
    cfg.fanout_timeout = Duration::from_secs(20);
    cfg.data_dir = data.map(Path::to_path_buf);
    hyperfed_hub::start(cfg).await.unwrap()
}

/// A worker over a simulated cluster of `archetype`, joined to `hub` as `alias`.
pub async fn worker(
    hub: &HubHandle,
    alias: &str,
    archetype: Archetype,
    seed: u64,
    smb_root: Option<&Path>,
) -> WorkerHandle {
    let mut config = WorkerConfig::mock(Some(archetype), seed);
    if let ClusterSource::Mock(sim) = &mut config.cluster {
        sim.task_duration = Duration::from_millis(30);
        sim.shutdown_duration = Duration::from_millis(30);
        sim.smb_root = smb_root.map(Path::to_path_buf);
        if archetype == Archetype::Datacenter {
            sim.vm_count = Some(40);
        }
    }
    config.poll_interval = Duration::from_millis(20);
    config.join = Some(JoinConfig {
        hub_url: hub.base_url(),
        secret: Secret::new(SECRET),
        name: Some(alias.to_owned()),
        advertise: None,
    });
    hyperfed_worker::start(config).await.expect("worker starts")
}

/// Waits until `n` clusters are up.
pub async fn wait_up(hub: &HubHandle, n: usize) {
    eventually("clusters up", || {
        let c = hub.clusters();
        c.len() == n && c.iter().all(|c| c.state == Health::Up)
    })
    .await;
}

/// The simulator's ground truth behind `worker`.
pub fn truth(worker: &WorkerHandle) -> Value {
    worker.sim().expect("a simulated cluster").truth()
}

/// VMs of a truth with this name.
pub fn named<'a>(t: &'a Value, name: &str) -> Vec<&'a Value> {
    t["vms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["name"] == name)
        .collect()
}

/// What placement should answer for a VM of (vcpus, memory, disk) from a cluster's truth:
/// (fits, memory left on the best node, storage left, memory allocated ratio, VMs).
pub fn expected(t: &Value, vcpus: u64, memory: u64, disk: u64) -> (bool, i128, i128, f64, u64) {
    let cap = &t["capacity"];
    let usable: Vec<&Value> = cap["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["can_run_vms"] == true)
        .collect();
    let best = usable
        .iter()
        .map(|n| n["memory"]["free_bytes"].as_u64().unwrap())
        .max()
        .unwrap_or(0);
    let threads = usable
        .iter()
        .map(|n| n["cpu_threads"].as_u64().unwrap())
        .max()
        .unwrap_or(0);
    let storage = cap["cluster"]["storage"]["free_bytes"].as_u64().unwrap();
    let total = cap["cluster"]["memory"]["total_bytes"].as_u64().unwrap();
    let allocated = cap["cluster"]["memory"]["allocated_bytes"]
        .as_u64()
        .unwrap();
    let load = if total == 0 {
        0.0
    } else {
        (allocated as f64 / total as f64 * 10_000.0).round() / 10_000.0
    };
    (
        best >= memory && storage >= disk && threads >= vcpus,
        i128::from(best) - i128::from(memory),
        i128::from(storage) - i128::from(disk),
        load,
        t["vms"].as_array().unwrap().len() as u64,
    )
}

/// The cluster order of a placement_select answer.
pub fn ranking(answer: &Value) -> Vec<String> {
    answer["ranked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cluster"].as_str().unwrap().to_owned())
        .collect()
}
