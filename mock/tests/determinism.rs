//! Seeded generation is reproducible (same archetype and seed give byte-identical JSON,
//! different seeds differ) and the ground truth matches what the REST API serves.

mod common;

use std::collections::BTreeMap;

use common::{Api, client, fast_config, start};
use hypercore_sim::{Archetype, generate, generate_with_vm_count};
use serde_json::Value;

fn full_json(archetype: Archetype, seed: u64) -> String {
    let c = generate(archetype, seed);
    let mut out = serde_json::to_string(&c.truth()).unwrap();
    for part in [
        serde_json::to_string(&c.cluster).unwrap(),
        serde_json::to_string(&c.nodes).unwrap(),
        serde_json::to_string(&c.vms).unwrap(),
        serde_json::to_string(&c.stats).unwrap(),
        serde_json::to_string(&c.snapshots).unwrap(),
        serde_json::to_string(&c.conditions).unwrap(),
        serde_json::to_string(&c.isos).unwrap(),
        serde_json::to_string(&c.virtual_disks).unwrap(),
        serde_json::to_string(&c.users).unwrap(),
        serde_json::to_string(&c.roles).unwrap(),
        serde_json::to_string(&c.schedules).unwrap(),
        serde_json::to_string(&c.settings).unwrap(),
    ] {
        out.push_str(&part);
    }
    out
}

#[test]
fn same_seed_is_byte_identical_and_seeds_differ() {
    for archetype in Archetype::ALL {
        for seed in [0, 1, 42, u64::MAX] {
            assert_eq!(
                full_json(archetype, seed),
                full_json(archetype, seed),
                "{archetype} {seed}"
            );
        }
        assert_ne!(
            generate(archetype, 1).truth(),
            generate(archetype, 2).truth(),
            "{archetype}: different seeds differ"
        );
    }
    // The VM-count override is deterministic too.
    let a = generate_with_vm_count(Archetype::Datacenter, 9, Some(2000));
    let b = generate_with_vm_count(Archetype::Datacenter, 9, Some(2000));
    assert_eq!(a.vms.len(), 2000);
    assert_eq!(a, b);
}

#[tokio::test]
async fn truth_matches_the_rest_api() {
    for (archetype, seed) in [
        (Archetype::Datacenter, 31),
        (Archetype::Dr, 32),
        (Archetype::Lab, 33),
    ] {
        let sim = start(fast_config(archetype, seed)).await;
        let truth = sim.truth();
        assert_eq!(
            truth,
            generate(archetype, seed).truth(),
            "served truth is the generated one"
        );
        let over_http: Value = client()
            .get(format!("{}/_sim/truth", sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(over_http, truth);

        let api = Api::login(&sim).await;
        let cluster = &api.list("/Cluster").await[0];
        assert_eq!(cluster["uuid"], truth["cluster"]["uuid"]);
        assert_eq!(cluster["clusterName"], truth["cluster"]["name"]);
        assert_eq!(cluster["icosVersion"], truth["cluster"]["icos_version"]);

        let nodes = api.list("/Node").await;
        let truth_nodes = truth["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), truth_nodes.len());
        for (n, t) in nodes.iter().zip(truth_nodes) {
            assert_eq!(n["uuid"], t["uuid"]);
            assert_eq!(n["lanIP"], t["lan_ip"]);
            assert_eq!(n["networkStatus"], t["network_status"]);
            assert_eq!(
                n["drives"].as_array().unwrap().len() as u64,
                t["drives"].as_u64().unwrap()
            );
        }

        let vms: BTreeMap<String, Value> = api
            .list("/VirDomain")
            .await
            .into_iter()
            .map(|v| (v["uuid"].as_str().unwrap().to_owned(), v))
            .collect();
        let truth_vms = truth["vms"].as_array().unwrap();
        assert_eq!(vms.len(), truth_vms.len());
        for t in truth_vms {
            let v = &vms[t["uuid"].as_str().unwrap()];
            assert_eq!(v["name"], t["name"]);
            assert_eq!(v["state"], t["state"]);
            assert_eq!(v["nodeUUID"], t["node"]);
            assert_eq!(v["mem"], t["mem"]);
            assert_eq!(v["numVCPU"], t["num_vcpu"]);
            assert_eq!(v["sourceVirDomainUUID"], t["replication_source"]);
            assert_eq!(v["snapUUIDs"], t["snapshots"]);
            let tags: Vec<&str> = v["tags"]
                .as_str()
                .unwrap()
                .split(',')
                .filter(|s| !s.is_empty())
                .collect();
            let truth_tags: Vec<&str> = t["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap())
                .collect();
            assert_eq!(tags, truth_tags);
        }
        let snaps = api.list("/VirDomainSnapshot").await;
        assert_eq!(snaps.len(), truth["snapshots"].as_array().unwrap().len());
        let conditions = api.list("/Condition").await;
        let raised = conditions.iter().filter(|c| c["value"] == true).count();
        assert_eq!(
            raised as u64,
            truth["totals"]["conditions_raised"].as_u64().unwrap()
        );

        // After a mutation the truth follows the cluster.
        let on = api.vm_in_state("RUNNING").await;
        let uuid = on["uuid"].as_str().unwrap();
        let (tag, _) = api
            .mutate(
                "POST",
                "/VirDomain/action",
                serde_json::json!([{"virDomainUUID": uuid, "actionType": "STOP"}]),
            )
            .await;
        api.wait_task(&tag).await;
        let truth = sim.truth();
        let t = truth["vms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["uuid"] == uuid)
            .unwrap();
        assert_eq!(t["state"], "SHUTOFF");
        sim.shutdown().await;
    }
}
