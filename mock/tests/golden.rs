//! Golden bytes: pins the exact output of a few seeded clusters so that a refactoring of the
//! generator, the live state or the HTTP front provably changes nothing a client can see.
//!
//! For each (archetype, seed) the test hashes (SHA-256) the raw body of every main REST read,
//! the ground truth as `ClusterState::truth()` serializes it and as `/_sim/truth` serves it,
//! and the generator's own collections. A fixed sequence of mutations (START, clone, snapshot)
//! pins the live state's random draws too. The hashes live in `tests/golden/hashes.txt`;
//! after an intended change of output, regenerate it with `GOLDEN_UPDATE=1 cargo test -p
//! hypercore-sim --test golden` and say why in the commit.

mod common;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use common::{Api, client, start};
use hypercore_sim::{Archetype, SimConfig, generate_with_vm_count};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Reads whose exact bodies are pinned (the mutable ones are read before any mutation).
const READ_PATHS: &[&str] = &[
    "/Cluster",
    "/Node",
    "/Drive",
    "/VirDomain",
    "/VirDomainStats",
    "/VirDomainSnapshot",
    "/VirDomainSnapshotSchedule",
    "/VirDomainBlockDevice",
    "/VirDomainNetDevice",
    "/Condition",
    "/Condition/filter?includeSet=true",
    "/VirtualDisk",
    "/ISO",
    "/User",
    "/Role",
    "/TaskTag",
    "/DNSConfig",
    "/TimeSource",
    "/TimeZone",
    "/GPU",
];

/// The pinned clusters: every archetype with two seeds, plus one VM-count override.
const CASES: &[(Archetype, u64, Option<usize>)] = &[
    (Archetype::Edge, 7, None),
    (Archetype::Edge, 42, None),
    (Archetype::Datacenter, 7, None),
    (Archetype::Datacenter, 42, None),
    (Archetype::Dr, 7, None),
    (Archetype::Dr, 42, None),
    (Archetype::Lab, 7, None),
    (Archetype::Lab, 42, None),
    (Archetype::Datacenter, 9, Some(500)),
];

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn case_label(archetype: Archetype, seed: u64, vm_count: Option<usize>) -> String {
    match vm_count {
        Some(n) => format!("{archetype}-{seed}-vms{n}"),
        None => format!("{archetype}-{seed}"),
    }
}

fn config(archetype: Archetype, seed: u64, vm_count: Option<usize>) -> SimConfig {
    let mut c = SimConfig::new(Some(archetype), seed);
    c.vm_count = vm_count;
    // Tasks complete at once, so the mutation sequence needs no polling.
    c.task_duration = Duration::ZERO;
    c.shutdown_duration = Duration::ZERO;
    c
}

/// GET with the session cookie, returning the raw body (must be 200).
async fn raw(api: &Api, path: &str) -> Vec<u8> {
    let resp = api
        .http
        .get(format!("{}/rest/v1{path}", api.base))
        .header("Cookie", format!("sessionID={}", api.session))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "GET {path}");
    resp.bytes().await.unwrap().to_vec()
}

/// Hashes of one cluster as generated and as served, one `label name hash` line each.
async fn cluster_lines(archetype: Archetype, seed: u64, vm_count: Option<usize>) -> String {
    let label = case_label(archetype, seed, vm_count);
    let mut out = String::new();
    let mut line = |name: &str, bytes: &[u8]| {
        let _ = writeln!(out, "{label} {name} {}", sha256(bytes));
    };

    let generated = generate_with_vm_count(archetype, seed, vm_count);
    line("truth", &serde_json::to_vec(&generated.truth()).unwrap());
    let collections = [
        serde_json::to_vec(&generated.cluster).unwrap(),
        serde_json::to_vec(&generated.nodes).unwrap(),
        serde_json::to_vec(&generated.vms).unwrap(),
        serde_json::to_vec(&generated.stats).unwrap(),
        serde_json::to_vec(&generated.snapshots).unwrap(),
        serde_json::to_vec(&generated.conditions).unwrap(),
        serde_json::to_vec(&generated.isos).unwrap(),
        serde_json::to_vec(&generated.virtual_disks).unwrap(),
        serde_json::to_vec(&generated.users).unwrap(),
        serde_json::to_vec(&generated.roles).unwrap(),
        serde_json::to_vec(&generated.schedules).unwrap(),
        serde_json::to_vec(&generated.settings).unwrap(),
    ]
    .concat();
    line("generated", &collections);

    let sim = start(config(archetype, seed, vm_count)).await;
    let served_truth = client()
        .get(format!("{}/_sim/truth", sim.base_url()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    line("_sim/truth", &served_truth);
    let api = Api::login(&sim).await;
    for path in READ_PATHS {
        line(path.trim_start_matches('/'), &raw(&api, path).await);
    }
    line("mutations", &mutation_digest(&api).await);
    sim.shutdown().await;
    out
}

/// Runs START, a clone and a snapshot, and returns what of their results does not depend on
/// the wall clock: created uuids, task tags, the clone's devices and MACs, the started VM's
/// usage (all drawn from the live state's own seeded stream).
async fn mutation_digest(api: &Api) -> Vec<u8> {
    let vms = api.list("/VirDomain").await;
    let off = vms
        .iter()
        .find(|v| v["state"] == "SHUTOFF" && v["sourceVirDomainUUID"] == "")
        .map(|v| v["uuid"].as_str().unwrap().to_owned());
    let mut record = Vec::new();
    if let Some(uuid) = &off {
        let (tag, _) = api
            .mutate(
                "POST",
                "/VirDomain/action",
                json!([{"virDomainUUID": uuid, "actionType": "START"}]),
            )
            .await;
        let task = api.wait_task(&tag).await;
        let stats = &api.list(&format!("/VirDomainStats/{uuid}")).await[0];
        let vm = api.vm(uuid).await;
        record.push(json!({
            "start": tag,
            "task_state": task["state"],
            "state": vm["state"],
            "node": vm["nodeUUID"],
            "cpuUsage": stats["cpuUsage"],
            "rxBitRate": stats["rxBitRate"],
            "txBitRate": stats["txBitRate"],
        }));
    }
    let source = vms[0]["uuid"].as_str().unwrap().to_owned();
    let (tag, created) = api
        .mutate(
            "POST",
            &format!("/VirDomain/{source}/clone"),
            json!({"template": {}}),
        )
        .await;
    api.wait_task(&tag).await;
    let clone = api.vm(&created).await;
    let devices = |key: &str, fields: &[&str]| -> Vec<Value> {
        clone[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| fields.iter().map(|f| d[*f].clone()).collect())
            .collect()
    };
    record.push(json!({
        "clone": tag,
        "uuid": created,
        "name": clone["name"],
        "blockDevs": devices("blockDevs", &["uuid", "path", "type", "capacity"]),
        "netDevs": devices("netDevs", &["uuid", "macAddress", "vlan", "type"]),
        "bootDevices": clone["bootDevices"],
    }));
    let (tag, snapshot) = api
        .mutate(
            "POST",
            "/VirDomainSnapshot",
            json!({"domainUUID": source, "label": "golden"}),
        )
        .await;
    let task = api.wait_task(&tag).await;
    record.push(json!({"snapshot": tag, "uuid": snapshot, "task_state": task["state"]}));
    let tags: Vec<Value> = api
        .list("/TaskTag")
        .await
        .iter()
        .map(|t| {
            json!([
                t["taskTag"],
                t["state"],
                t["objectUUID"],
                t["formattedDescription"]
            ])
        })
        .collect();
    record.push(json!({ "tasks": tags }));
    serde_json::to_vec(&record).unwrap()
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/hashes.txt")
}

#[tokio::test]
async fn generated_and_served_bytes_match_the_golden_hashes() {
    let mut actual = String::from(
        "# SHA-256 of seeded simulator output; see mock/tests/golden.rs (GOLDEN_UPDATE=1 rewrites).\n",
    );
    for &(archetype, seed, vm_count) in CASES {
        actual.push_str(&cluster_lines(archetype, seed, vm_count).await);
    }
    let path = fixture();
    if std::env::var_os("GOLDEN_UPDATE").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e} (GOLDEN_UPDATE=1 creates it)", path.display()));
    let differing: Vec<String> = expected
        .lines()
        .zip(actual.lines())
        .filter(|(e, a)| e != a)
        .map(|(e, a)| format!("  expected {e}\n  actual   {a}"))
        .collect();
    assert!(
        differing.is_empty() && expected.lines().count() == actual.lines().count(),
        "simulator output changed:\n{}\n({} expected lines, {} actual)",
        differing.join("\n"),
        expected.lines().count(),
        actual.lines().count()
    );
}
