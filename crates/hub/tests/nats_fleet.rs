//! Issue #11 end to end on a real nats-server: three simulated clusters served over NATS by
//! workers with no listening port (one process, one shared connection) and two hub replicas.
//! Both replicas list the same tools, fleet totals equal the simulators' truths, a routed
//! action sent through either replica changes only its VM and is audited in the fleet's stream
//! (both replicas show it), a registration forged without the
//! secret is refused, and a worker leaving disappears from both replicas.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{SECRET, TempDir, call, client, eventually};
use hypercore_sim::Archetype;
use hyperfed_hub::auth::{REVOKED_FILE, append_line};
use hyperfed_hub::{
    ClientClaims, Health, HubConfig, HubHandle, HubKey, NatsMode, Scope, ToolsMode, issue_token,
};
use hyperfed_nats::testing::NatsServer;
use hyperfed_nats::{
    ClusterIdentity, FleetName, NatsConnection, NatsOptions, Registrar, RegistryConfig, WorkerKeys,
};
use hyperfed_protocol::Secret;
use hyperfed_worker::WorkerConfig;
use hyperfed_worker::nats::{HeadlessWorker, NatsAttachment, attach};
use serde_json::{Value, json};

async fn replica(nats: &str, fleet: &FleetName) -> HubHandle {
    let mut cfg = HubConfig::new("127.0.0.1:0".parse().unwrap(), Secret::new(SECRET));
    // Namespaced explicitly: the test compares per-cluster tool sets (auto may go compact).
    cfg.tools_mode = ToolsMode::Namespaced;
    cfg.heartbeat_interval = Duration::from_millis(200);
    cfg.fanout_timeout = Duration::from_secs(5);
    cfg.nats = Some(NatsMode {
        options: NatsOptions::new([nats]),
        fleet: fleet.clone(),
    });
    hyperfed_hub::start(cfg).await.expect("replica starts")
}

async fn headless(archetype: Archetype, seed: u64) -> HeadlessWorker {
    let mut config = WorkerConfig::mock(Some(archetype), seed);
    if let hyperfed_worker::ClusterSource::Mock(sim) = &mut config.cluster {
        sim.task_duration = Duration::from_millis(50);
        sim.shutdown_duration = Duration::from_millis(50);
    }
    config.poll_interval = Duration::from_millis(20);
    HeadlessWorker::start(&config).await.expect("worker starts")
}

fn truth_of(w: &HeadlessWorker) -> Value {
    w.sim().expect("mock worker").truth()
}

fn vm_states(truths: &[Value]) -> Vec<(String, String)> {
    truths
        .iter()
        .flat_map(|t| t["vms"].as_array().unwrap().iter())
        .map(|v| {
            (
                v["uuid"].as_str().unwrap().into(),
                v["state"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn all_up(hub: &HubHandle, n: usize) -> bool {
    let c = hub.clusters();
    c.len() == n && c.iter().all(|c| c.state == Health::Up)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_three_portless_workers_over_nats() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let fleet = FleetName::new("it").unwrap();
    let secret = Secret::new(SECRET);
    let hubs = [
        replica(&server.url(), &fleet).await,
        replica(&server.url(), &fleet).await,
    ];
    let conn = NatsConnection::connect(&NatsOptions::new([server.url()]))
        .await
        .unwrap();
    let aliases = ["edge", "dc", "dr"];
    let mut workers = Vec::new();
    let mut attached: Vec<NatsAttachment> = Vec::new();
    for (i, (arch, alias)) in [Archetype::Edge, Archetype::Datacenter, Archetype::Dr]
        .into_iter()
        .zip(aliases)
        .enumerate()
    {
        let w = headless(arch, 21 + i as u64).await;
        let a = attach(
            &conn,
            &fleet,
            &secret,
            alias,
            w.state(),
            RegistryConfig::default(),
        )
        .await
        .unwrap();
        workers.push(w);
        attached.push(a);
    }
    for hub in &hubs {
        eventually("three clusters up on the replica", || all_up(hub, 3)).await;
    }

    // Both replicas export the same tools: every alias with the same worker tool set.
    let mut clients = Vec::new();
    let mut lists = Vec::new();
    for hub in &hubs {
        let (c, _) = client(&hub.mcp_url(), None).await;
        let names: BTreeSet<String> = c
            .list_all_tools()
            .await
            .unwrap()
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        lists.push(names);
        clients.push(c);
    }
    assert_eq!(lists[0], lists[1]);
    let per_alias: Vec<BTreeSet<&str>> = aliases
        .iter()
        .map(|a| {
            lists[0]
                .iter()
                .filter_map(|n| n.strip_prefix(&format!("{a}__")))
                .collect()
        })
        .collect();
    assert!(per_alias[0].len() >= 20, "{:?}", per_alias[0]);
    assert!(per_alias.iter().all(|s| *s == per_alias[0]));
    assert!(per_alias[0].contains("vm_start") && per_alias[0].contains("cluster_info"));

    // Fleet totals equal the simulators' truths, through either replica.
    let truths: Vec<Value> = workers.iter().map(truth_of).collect();
    let sum = |key: &str| -> u64 {
        truths
            .iter()
            .map(|t| t["totals"][key].as_u64().unwrap())
            .sum()
    };
    for c in &clients {
        let (status, err) = call(c, "fleet_status", json!({})).await;
        assert!(!err, "{status}");
        let totals = &status["totals"];
        assert_eq!(totals["answered"], 3, "{status}");
        assert_eq!(totals["vms"]["total"].as_u64().unwrap(), sum("vms"));
        assert_eq!(totals["nodes"]["total"].as_u64().unwrap(), sum("nodes"));
        assert_eq!(
            totals["conditions"]["raised"].as_u64().unwrap(),
            sum("conditions_raised")
        );
    }

    // A routed action through the second replica starts exactly one VM.
    let before = vm_states(&truths);
    let target = truths
        .iter()
        .flat_map(|t| t["vms"].as_array().unwrap().iter())
        .find(|v| {
            v["state"] == "SHUTOFF" && v["replication_source"].as_str().unwrap_or("").is_empty()
        })
        .expect("a stopped VM that is not a replication target")
        .clone();
    let uuid = target["uuid"].as_str().unwrap();
    let (r, err) = call(&clients[1], "vm_start", json!({"vm": uuid, "wait": true})).await;
    assert!(!err, "{r}");
    let after = vm_states(&workers.iter().map(truth_of).collect::<Vec<_>>());
    for ((u, s0), (u1, s1)) in before.iter().zip(&after) {
        assert_eq!(u, u1);
        if u == uuid {
            assert_eq!(s1, "RUNNING");
        } else {
            assert_eq!(s0, s1, "VM {u} changed");
        }
    }

    // Its audit record is in the fleet's JetStream stream: both replicas show the same one,
    // completed, under the same id.
    let http = reqwest::Client::new();
    let mut seen = Vec::new();
    for hub in &hubs {
        let v: Value = http
            .get(format!("{}/v1/audit", hub.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let records: Vec<&Value> = v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["tool"] == "vm_start" && e["arguments"]["vm"] == uuid)
            .collect();
        assert_eq!(records.len(), 1, "{v}");
        assert_eq!(records[0]["outcome"], "ok", "{v}");
        seen.push(records[0]["id"].clone());
    }
    assert_eq!(seen[0], seen[1]);

    // A registration made without the secret is refused by both replicas.
    let forged_keys = WorkerKeys::new(&Secret::new("not-the-secret"), &fleet, "forged").unwrap();
    let forged = Registrar::register(
        &conn,
        &forged_keys,
        ClusterIdentity {
            cluster_uuid: "00000000-0000-0000-0000-000000000666".into(),
            cluster_name: "forged".into(),
        },
        "0",
        RegistryConfig::default(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for hub in &hubs {
        assert!(hub.clusters().iter().all(|c| c.alias != "forged"));
        assert_eq!(hub.cluster_count(), 3);
    }
    let _ = forged.leave().await;

    // A worker leaving is gone from both replicas.
    let dr = attached.pop().unwrap();
    dr.leave().await;
    for hub in &hubs {
        eventually("the leaving cluster is gone", || all_up(hub, 2)).await;
    }

    for c in clients {
        c.cancel().await.unwrap();
    }
    for a in attached {
        a.leave().await;
    }
    for w in workers {
        w.shutdown().await;
    }
    for hub in hubs {
        hub.shutdown().await;
    }
    drop(conn);
    drop(server);
}

/// Waits up to 30 s for `f` (a registration expires only after the bucket's 6 s max age).
async fn within_30s(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..600 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn state_of(hub: &HubHandle, alias: &str) -> Option<Health> {
    hub.clusters()
        .into_iter()
        .find(|c| c.alias == alias)
        .map(|c| c.state)
}

/// An edge site whose uplink drops (no leave: the worker just stops answering and heartbeating)
/// stays in the fleet, marked down, once its registration expires; calls to it say it is down;
/// when it registers again it is up with the same alias.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_registration_marks_the_site_down_and_it_comes_back() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let fleet = FleetName::new("uplink").unwrap();
    let secret = Secret::new(SECRET);
    let hub = replica(&server.url(), &fleet).await;
    let conn = NatsConnection::connect(&NatsOptions::new([server.url()]))
        .await
        .unwrap();
    let stays = headless(Archetype::Edge, 31).await;
    let drops = headless(Archetype::Edge, 32).await;
    let attach_as = |alias: &'static str, w: &HeadlessWorker| {
        let (conn, fleet, secret, state) = (&conn, &fleet, &secret, w.state());
        async move {
            attach(conn, fleet, secret, alias, state, RegistryConfig::default())
                .await
                .unwrap()
        }
    };
    let a = attach_as("store-a", &stays).await;
    let b = attach_as("store-b", &drops).await;
    eventually("both sites up", || all_up(&hub, 2)).await;

    // The uplink drops: no leave, no more heartbeats, no more answers.
    drop(b);
    within_30s("store-b marked down after its registration expired", || {
        state_of(&hub, "store-b") == Some(Health::Down)
    })
    .await;
    assert_eq!(state_of(&hub, "store-a"), Some(Health::Up));
    assert_eq!(hub.cluster_count(), 2, "a site that went dark stays listed");
    let (c, _) = client(&hub.mcp_url(), None).await;
    let (out, is_error) = call(&c, "store-b__cluster_info", json!({})).await;
    assert!(is_error, "{out}");
    assert!(
        out.to_string().contains("down"),
        "the refusal says the cluster is down: {out}"
    );

    // The uplink returns: the site registers again under its alias and is up.
    let b = attach_as("store-b", &drops).await;
    within_30s("store-b up again", || all_up(&hub, 2)).await;
    let (out, is_error) = call(&c, "store-b__cluster_info", json!({})).await;
    assert!(!is_error, "{out}");

    c.cancel().await.unwrap();
    a.leave().await;
    b.leave().await;
    stays.shutdown().await;
    drops.shutdown().await;
    hub.shutdown().await;
    drop(conn);
    drop(server);
}

async fn status_with(http: &reqwest::Client, hub: &HubHandle, token: &str) -> u16 {
    http.get(format!("{}/v1/clusters", hub.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A scoped token issued for the fleet (replicas sharing one hub key) is accepted by every
/// replica, and revoking it in one replica's data directory refuses it on every replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_on_one_replica_is_refused_by_every_replica() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let fleet = FleetName::new("tokens").unwrap();
    let (dir_a, dir_b) = (TempDir::new("replica-a"), TempDir::new("replica-b"));
    let token = issue_token(
        &dir_a.0,
        Scope::Read,
        Duration::from_secs(600),
        "fleet-reader",
    )
    .expect("token issued");
    // The fleet's replicas share one hub key (README: copy hub.key into each --data).
    std::fs::copy(HubKey::path(&dir_a.0), HubKey::path(&dir_b.0)).unwrap();
    let start = |dir: &TempDir| {
        let mut cfg = HubConfig::new("127.0.0.1:0".parse().unwrap(), Secret::new(SECRET));
        cfg.token = Some(Secret::new("static-admin-token"));
        cfg.data_dir = Some(dir.0.clone());
        cfg.nats = Some(NatsMode {
            options: NatsOptions::new([server.url()]),
            fleet: fleet.clone(),
        });
        hyperfed_hub::start(cfg)
    };
    let hubs = [start(&dir_a).await.unwrap(), start(&dir_b).await.unwrap()];
    let http = reqwest::Client::new();
    for hub in &hubs {
        assert_eq!(status_with(&http, hub, &token).await, 200);
    }

    // Revoked in replica A's directory (what `hyperfed token revoke --data A` writes).
    let jti = ClientClaims::verify(&HubKey::load_or_create(&dir_a.0).unwrap(), &token)
        .unwrap()
        .jti;
    append_line(&dir_a.0.join(REVOKED_FILE), &jti).unwrap();
    assert_eq!(status_with(&http, &hubs[0], &token).await, 401);
    let mut refused = false;
    for _ in 0..300 {
        if status_with(&http, &hubs[1], &token).await == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "replica B refuses the token revoked on replica A");
    // Other tokens are unaffected.
    assert_eq!(
        status_with(&http, &hubs[1], "static-admin-token").await,
        200
    );
    for hub in hubs {
        hub.shutdown().await;
    }
    drop(server);
}
