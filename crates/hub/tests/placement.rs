//! Placement across three simulated clusters of different archetypes (#16), through the hub's
//! MCP endpoint and REST: placement_ask agrees with each simulator's truth, a VM that fits
//! nowhere is told why per cluster, every policy ranks deterministically, vm_place creates
//! exactly one VM on the selected cluster (truths agree, audited, trust shown in
//! fleet_status), POST /v1/placement answers cURL, and policy model asks a client that
//! answers MCP sampling or falls back (saying so) for one that does not.

#![allow(deprecated)] // MCP sampling types are deprecated by the 2026-07-28 spec, still served.

mod common;

use std::sync::{Arc, Mutex};

use common::sims::{expected, hub, named, ranking, truth, wait_up, worker};
use common::{call, client};
use hypercore_sim::Archetype;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, CreateMessageRequestParams,
    CreateMessageResult, ProtocolVersion, SamplingMessage,
};
use rmcp::service::{RequestContext, RoleClient};
use rmcp::{ClientHandler, ErrorData, ServiceExt};
use serde_json::{Value, json};

const GIB: u64 = 1 << 30;

fn by_cluster<'a>(answer: &'a Value, key: &str, alias: &str) -> &'a Value {
    answer[key]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cluster"] == alias)
        .unwrap_or_else(|| panic!("{alias} missing from {key}: {answer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placement_agrees_with_the_truth_ranks_by_policy_and_places_one_vm() {
    let hub = hub(None).await;
    let sims = [
        ("edge", Archetype::Edge, 11),
        ("dc", Archetype::Datacenter, 12),
        ("lab", Archetype::Lab, 13),
    ];
    let mut workers = Vec::new();
    for (alias, kind, seed) in sims {
        workers.push((alias, worker(&hub, alias, kind, seed, None).await));
    }
    wait_up(&hub, 3).await;
    let (mcp, _) = client(&hub.mcp_url(), None).await;

    // placement_ask: every figure equals the one computed from the simulator's truth.
    let (vcpus, memory, disk) = (2u64, 2 * GIB, 20 * GIB);
    let req = json!({"vcpus": vcpus, "memory_bytes": memory, "disk_bytes": [disk]});
    let (ask, err) = call(&mcp, "placement_ask", req.clone()).await;
    assert!(!err, "{ask}");
    assert_eq!(ask["complete"], true, "{ask}");
    for (alias, w) in &workers {
        let row = by_cluster(&ask, "clusters", alias);
        let (fits, mem_after, storage_after, load, vms) = expected(&truth(w), vcpus, memory, disk);
        assert_eq!(row["fits"], fits, "{alias}: {row}");
        assert_eq!(
            row["headroom"]["memory_free_after_bytes"]
                .as_i64()
                .map(i128::from),
            Some(mem_after),
            "{alias}: {row}"
        );
        assert_eq!(
            row["headroom"]["storage_free_after_bytes"]
                .as_i64()
                .map(i128::from),
            Some(storage_after),
            "{alias}: {row}"
        );
        assert_eq!(
            row["load"]["memory_allocated_ratio"].as_f64(),
            Some(load),
            "{alias}"
        );
        assert_eq!(row["load"]["vms"], vms, "{alias}");
        let raised = truth(w)["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["raised"] == true)
            .count();
        assert_eq!(row["conditions"]["raised"], raised, "{alias}");
        assert_eq!(row["trust"]["score"], 1.0, "{alias}");
    }

    // A VM that fits nowhere: each cluster says why.
    let (none, err) = call(
        &mcp,
        "placement_ask",
        json!({"vcpus": 1, "memory_bytes": 1u64 << 50, "disk_bytes": 1u64 << 60}),
    )
    .await;
    assert!(!err, "{none}");
    assert_eq!(none["fits"], json!([]), "{none}");
    for (alias, _) in &workers {
        let why = by_cluster(&none, "clusters", alias)["why_not"].to_string();
        assert!(
            why.contains("memory") && why.contains("storage"),
            "{alias}: {why}"
        );
    }
    let (sel, err) = call(
        &mcp,
        "placement_select",
        json!({"vcpus": 1, "memory_bytes": 1u64 << 50, "disk_bytes": 1u64 << 60}),
    )
    .await;
    assert!(!err && sel["selected"].is_null(), "{sel}");
    assert_eq!(sel["not_fitting"].as_array().unwrap().len(), 3, "{sel}");

    // Bad arguments name the argument.
    let (e, err) = call(
        &mcp,
        "placement_select",
        json!({"vcpus": 1, "memory_bytes": "lots", "disk_bytes": 1}),
    )
    .await;
    assert!(err && e.to_string().contains("memory_bytes"), "{e}");
    let (e, err) = call(
        &mcp,
        "placement_select",
        json!({"vcpus": 1, "memory_bytes": 1, "disk_bytes": 1, "policy": "cheapest"}),
    )
    .await;
    assert!(err && e.to_string().contains("'policy'"), "{e}");

    // Each policy ranks deterministically, as its rule says over the asked figures.
    let fit: Vec<&Value> = ask["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["fits"] == true)
        .collect();
    assert!(
        fit.len() >= 2,
        "two clusters must fit for ranking to mean anything: {ask}"
    );
    let name = |r: &&Value| r["cluster"].as_str().unwrap().to_owned();
    let mem = |r: &Value| r["headroom"]["memory_free_after_bytes"].as_i64().unwrap();
    let mut most = fit.clone();
    most.sort_by_key(|r| std::cmp::Reverse(mem(r)));
    let mut least = fit.clone();
    least.sort_by(|a, b| {
        let l = |r: &Value| r["load"]["memory_allocated_ratio"].as_f64().unwrap();
        l(a).partial_cmp(&l(b)).unwrap().then(mem(b).cmp(&mem(a)))
    });
    // spread: a tag some VMs of the datacenter carry.
    let dc_truth = truth(&workers[1].1);
    let tag = dc_truth["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|v| {
            v["tags"]
                .as_array()
                .and_then(|t| t.first())
                .and_then(Value::as_str)
        })
        .expect("a tagged VM on the datacenter")
        .to_owned();
    let tagged = |alias: &str| {
        let w = &workers.iter().find(|(a, _)| *a == alias).unwrap().1;
        truth(w)["vms"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| {
                v["tags"].as_array().is_some_and(|t| {
                    t.iter()
                        .any(|x| x.as_str().is_some_and(|x| x.eq_ignore_ascii_case(&tag)))
                })
            })
            .count()
    };
    let mut spread = fit.clone();
    spread.sort_by(|a, b| {
        tagged(a["cluster"].as_str().unwrap())
            .cmp(&tagged(b["cluster"].as_str().unwrap()))
            .then(mem(b).cmp(&mem(a)))
    });
    let firsts: Vec<String> = fit.iter().map(name).collect();
    for (policy, want) in [
        ("most-headroom", most.iter().map(name).collect::<Vec<_>>()),
        ("least-loaded", least.iter().map(name).collect()),
        ("spread", spread.iter().map(name).collect()),
        ("first-fit", firsts.clone()),
    ] {
        let mut args = req.clone();
        args["policy"] = json!(policy);
        args["tag"] = json!(tag);
        let (a, err) = call(&mcp, "placement_select", args.clone()).await;
        assert!(!err, "{policy}: {a}");
        assert_eq!(ranking(&a), want, "{policy}: {a}");
        assert_eq!(a["selected"], json!(want[0]), "{policy}");
        assert!(
            a["ranked"][0]["reason"]
                .as_str()
                .is_some_and(|r| !r.is_empty())
        );
        let (again, _) = call(&mcp, "placement_select", args).await;
        assert_eq!(ranking(&again), want, "{policy} twice");
    }
    let mut seeded = req.clone();
    seeded["policy"] = json!("random");
    seeded["seed"] = json!(42);
    let (r1, _) = call(&mcp, "placement_select", seeded.clone()).await;
    let (r2, _) = call(&mcp, "placement_select", seeded).await;
    assert_eq!(ranking(&r1), ranking(&r2), "random is seeded");
    let mut sorted = ranking(&r1);
    sorted.sort();
    let mut all = firsts.clone();
    all.sort();
    assert_eq!(sorted, all, "random ranks the same clusters");

    // vm_place: exactly one VM, on the selected cluster; the truths agree.
    let chosen = most[0]["cluster"].as_str().unwrap().to_owned();
    let mut place = req.clone();
    place["name"] = json!("placed-web-1");
    place["tag"] = json!("placed");
    let (p, err) = call(&mcp, "vm_place", place).await;
    assert!(!err, "{p}");
    assert_eq!(p["cluster"], json!(chosen), "{p}");
    let uuid = p["created_uuid"].as_str().expect("created uuid").to_owned();
    for (alias, w) in &workers {
        let t = truth(w);
        let found = named(&t, "placed-web-1");
        if *alias == chosen {
            assert_eq!(found.len(), 1, "{alias}");
            assert_eq!(found[0]["uuid"], json!(uuid));
            assert_eq!(found[0]["num_vcpu"], vcpus);
            assert_eq!(found[0]["mem"], memory);
            assert!(
                found[0]["tags"].to_string().contains("placed"),
                "{}",
                found[0]
            );
        } else {
            assert!(found.is_empty(), "{alias} got a VM it was not chosen for");
        }
    }

    // Audited under one operation id; trust shown in fleet_status.
    let http = reqwest::Client::new();
    let audit: Value = http
        .get(format!("{}/v1/audit?limit=1000", hub.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rec = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["tool"] == "vm_create")
        .unwrap_or_else(|| panic!("no vm_create audit record: {audit}"));
    assert_eq!(rec["exported_tool"], "vm_place");
    assert_eq!(rec["cluster"], json!(chosen));
    assert_eq!(rec["outcome"], "ok");
    assert_eq!(rec["operation"], p["operation"]);
    let (status, _) = call(&mcp, "fleet_status", json!({})).await;
    let row = by_cluster(&status, "clusters", &chosen);
    assert_eq!(row["trust"]["honoured"], 1, "{row}");

    // REST: POST /v1/placement ranks, and with dispatch creates the VM.
    let r = http
        .post(format!("{}/v1/placement", hub.base_url()))
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["policy"], "most-headroom", "{v}");
    assert!(!ranking(&v).is_empty(), "{v}");
    let mut d = req.clone();
    d["dispatch"] = json!(true);
    d["name"] = json!("rest-placed");
    let r = http
        .post(format!("{}/v1/placement", hub.base_url()))
        .json(&d)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let on = v["cluster"].as_str().unwrap();
    let w = &workers.iter().find(|(a, _)| *a == on).unwrap().1;
    assert_eq!(named(&truth(w), "rest-placed").len(), 1, "{v}");
    let r = http
        .post(format!("{}/v1/placement", hub.base_url()))
        .json(&json!({"vcpus": 0, "memory_bytes": 1, "disk_bytes": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("vcpus"));

    mcp.cancel().await.unwrap();
    for (_, w) in workers {
        w.shutdown().await;
    }
    hub.shutdown().await;
}

/// A client whose "model" (sampling) answers with the cluster it was told to choose.
#[derive(Clone)]
struct Sampler {
    choose: String,
    prompts: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for Sampler {
    fn get_info(&self) -> ClientConfig {
        let mut c = ClientConfig::default();
        c.capabilities = ClientCapabilities::builder().enable_sampling().build();
        // Sampling is a server-to-client request: a session protocol, not 2026-07-28.
        c.protocol_version = ProtocolVersion::V_2025_11_25;
        c
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _ctx: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let text = params
            .messages
            .iter()
            .filter_map(|m| {
                m.content
                    .first()
                    .and_then(|c| c.as_text())
                    .map(|t| t.text.clone())
            })
            .collect::<Vec<_>>()
            .join("\n");
        self.prompts.lock().unwrap().push(text);
        let answer = json!({"cluster": self.choose, "reason": "the intent asks for the lab"});
        Ok(CreateMessageResult::new(
            SamplingMessage::assistant_text(answer.to_string()),
            "test-model-1".into(),
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_model_asks_a_sampling_client_and_falls_back_without_one() {
    let hub = hub(None).await;
    let a = worker(&hub, "edge", Archetype::Edge, 21, None).await;
    let b = worker(&hub, "lab", Archetype::Lab, 22, None).await;
    wait_up(&hub, 2).await;
    let req = json!({"vcpus": 1, "memory_bytes": GIB, "disk_bytes": 10 * GIB, "policy": "model", "intent": "a lab experiment, keep it off the edge"});

    // Without sampling: the default ranking, and a note that says so.
    let (plain, _) = client(&hub.mcp_url(), None).await;
    let (fallback, err) = call(&plain, "placement_select", req.clone()).await;
    assert!(!err, "{fallback}");
    let note = fallback["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("sampling") && note.contains("most-headroom"),
        "{fallback}"
    );
    let mut default = req.clone();
    default["policy"] = json!("most-headroom");
    let (by_headroom, _) = call(&plain, "placement_select", default).await;
    let order = ranking(&by_headroom);
    assert_eq!(ranking(&fallback), order);
    assert_eq!(order.len(), 2, "both clusters fit: {by_headroom}");

    // With sampling: the model's choice (the last by headroom) comes first, with its reason.
    let pick = order[1].clone();
    let sampler = Sampler {
        choose: pick.clone(),
        prompts: Arc::default(),
    };
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(hub.mcp_url());
    let smart = sampler
        .clone()
        .serve(transport)
        .await
        .expect("sampling client connects");
    let p = CallToolRequestParams::new("placement_select")
        .with_arguments(req.as_object().cloned().unwrap());
    let r = smart.call_tool(p).await.expect("tools/call answers");
    let chosen = r.structured_content.expect("structured answer");
    assert_eq!(chosen["selected"], json!(pick), "{chosen}");
    assert_eq!(chosen["model"]["model"], "test-model-1", "{chosen}");
    assert!(
        chosen["ranked"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("the intent asks for the lab"),
        "{chosen}"
    );
    assert!(chosen.get("note").is_none(), "{chosen}");
    let prompts = sampler.prompts.lock().unwrap().clone();
    assert_eq!(prompts.len(), 1);
    assert!(
        prompts[0].contains("keep it off the edge") && prompts[0].contains(&pick),
        "{}",
        prompts[0]
    );

    smart.cancel().await.unwrap();
    plain.cancel().await.unwrap();
    a.shutdown().await;
    b.shutdown().await;
    hub.shutdown().await;
}
