//! A real rmcp client (streamable HTTP) and reqwest against a worker on a simulator: the
//! catalog, every tool checked against the simulator's truth, actions, confirmation,
//! bad arguments, REST and auth.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use common::*;
use rmcp::ClientHandler;
use rmcp::ServiceExt as _;
use rmcp::model::{
    CallToolRequestParams, NumberOrString, ProgressNotificationParam, ProgressToken,
    RequestParamsMeta as _,
};
use rmcp::service::{NotificationContext, RoleClient};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

fn vm_states(truth: &Value) -> Vec<(String, String, String)> {
    truth["vms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["uuid"].as_str().unwrap().to_owned(),
                v["state"].as_str().unwrap().to_owned(),
                v["node"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn catalog_and_resources_over_mcp() {
    let worker = start().await;
    let client = mcp(&worker, TOKEN).await;
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.len() >= 20, "only {} tools", tools.len());
    let mut names = HashSet::new();
    for t in &tools {
        let name = t.name.as_ref();
        assert!(
            !name.is_empty()
                && name.len() <= 30
                && name
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'),
            "bad name {name}"
        );
        assert!(names.insert(name.to_owned()));
        assert!(
            t.description.as_ref().is_some_and(|d| d.len() > 40),
            "{name}"
        );
        assert!(t.title.is_some(), "{name} has no title");
        assert_eq!(t.input_schema.get("type"), Some(&json!("object")), "{name}");
        assert!(t.output_schema.is_some(), "{name} has no outputSchema");
        let a = t.annotations.as_ref().expect("annotations");
        assert!(
            a.read_only_hint.is_some()
                && a.destructive_hint.is_some()
                && a.idempotent_hint.is_some()
                && a.open_world_hint.is_some(),
            "{name} lacks an annotation"
        );
    }
    for destructive in ["vm_stop", "vm_reset", "vm_nmi", "snapshot_delete"] {
        let t = tools.iter().find(|t| t.name == destructive).unwrap();
        assert_eq!(t.annotations.as_ref().unwrap().destructive_hint, Some(true));
    }
    let vm_list = tools.iter().find(|t| t.name == "vm_list").unwrap();
    assert_eq!(
        vm_list.annotations.as_ref().unwrap().read_only_hint,
        Some(true)
    );

    // Unknown tool: a JSON-RPC error, not a tool result.
    let e = client
        .call_tool(CallToolRequestParams::new("no_such_tool"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no_such_tool"), "{e}");

    // Resources.
    let resources = client.list_all_resources().await.unwrap();
    assert_eq!(resources.len(), 3);
    let truth = truth(&worker);
    let r = client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            "hypercore://vms",
        ))
        .await
        .unwrap();
    let text = match &r.contents[0] {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        _ => panic!("not text"),
    };
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["total"], truth["vms"].as_array().unwrap().len());
    client.cancel().await.unwrap();
    worker.shutdown().await;
}

#[tokio::test]
async fn reads_match_the_simulators_truth() {
    let worker = start().await;
    let client = mcp(&worker, TOKEN).await;
    let truth = truth(&worker);
    let totals = &truth["totals"];

    let info = ok(&client, "cluster_info", json!({})).await;
    assert_eq!(info["cluster"]["uuid"], truth["cluster"]["uuid"]);
    assert_eq!(info["cluster"]["name"], truth["cluster"]["name"]);
    assert_eq!(
        info["cluster"]["icos_version"],
        truth["cluster"]["icos_version"]
    );
    assert_eq!(info["nodes"]["total"], totals["nodes"]);
    assert_eq!(info["nodes"]["online"], totals["nodes_online"]);
    assert_eq!(info["vms"]["total"], totals["vms"]);
    assert_eq!(
        info["vms"]["running"],
        totals["vms_by_state"]["RUNNING"].as_u64().unwrap_or(0)
    );
    assert_eq!(info["storage"], totals["storage"]);
    assert_eq!(info["conditions"]["raised"], totals["conditions_raised"]);
    assert_eq!(
        info["conditions"]["by_severity"],
        totals["conditions_by_severity"]
    );
    assert_eq!(
        Some(worker.cluster_uuid().unwrap().as_str()),
        truth["cluster"]["uuid"].as_str()
    );

    let nodes = ok(&client, "node_list", json!({})).await;
    assert_eq!(nodes["count"], totals["nodes"]);

    // The VM list equals the truth (uuid, name, state, node, tags).
    let list = ok(&client, "vm_list", json!({"limit": 1000})).await;
    let tv = truth["vms"].as_array().unwrap();
    assert_eq!(list["count"], tv.len());
    let rows = list["vms"].as_array().unwrap();
    for (row, t) in rows.iter().zip(tv) {
        assert_eq!(row["uuid"], t["uuid"]);
        assert_eq!(row["name"], t["name"]);
        assert_eq!(row["state"], t["state"]);
        assert_eq!(row["node_uuid"], t["node"]);
        assert_eq!(row["tags"], t["tags"]);
    }
    // Filters.
    let running = ok(&client, "vm_list", json!({"state": "RUNNING"})).await;
    assert_eq!(
        running["total"],
        tv.iter().filter(|v| v["state"] == "RUNNING").count()
    );
    let first = &tv[0];
    let name = first["name"].as_str().unwrap();
    let part: String = name.chars().take(3).collect::<String>().to_uppercase();
    let by_name = ok(&client, "vm_list", json!({"name": part})).await;
    assert_eq!(
        by_name["total"],
        tv.iter()
            .filter(|v| v["name"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains(&part.to_lowercase()))
            .count()
    );
    if let Some(tag) = tv
        .iter()
        .find_map(|v| v["tags"].as_array().and_then(|t| t.first()).cloned())
    {
        let by_tag = ok(&client, "vm_list", json!({"tag": tag})).await;
        assert_eq!(
            by_tag["total"],
            tv.iter()
                .filter(|v| v["tags"].as_array().unwrap().contains(&tag))
                .count()
        );
        assert!(by_tag["total"].as_u64().unwrap() > 0);
    }
    let detailed = ok(&client, "vm_list", json!({"details": true})).await;
    assert!(detailed["vms"][0].get("disks").is_some());

    // One VM by uuid and by exact name.
    let by_uuid = ok(&client, "vm_get", json!({"vm": first["uuid"]})).await;
    assert_eq!(by_uuid["vm"]["name"], first["name"]);
    assert_eq!(by_uuid["vm"]["vcpus"], first["num_vcpu"]);
    assert_eq!(by_uuid["vm"]["mem_bytes"], first["mem"]);
    assert_eq!(
        by_uuid["vm"]["disks"].as_array().unwrap().len(),
        first["block_devs"].as_array().unwrap().len()
    );
    let by_name = ok(&client, "vm_get", json!({"vm": name})).await;
    assert_eq!(by_name["vm"]["uuid"], first["uuid"]);

    let stats = ok(&client, "vm_stats", json!({})).await;
    assert!(stats["total"].as_u64().unwrap() > 0);
    let one = ok(&client, "vm_stats", json!({"vm": first["uuid"]})).await;
    assert_eq!(one["total"], 1);
    assert_eq!(one["stats"][0]["uuid"], first["uuid"]);

    let snaps = ok(&client, "snapshot_list", json!({})).await;
    assert_eq!(snaps["total"], totals["snapshots"]);
    if let Some(with_snaps) = tv
        .iter()
        .find(|v| !v["snapshots"].as_array().unwrap().is_empty())
    {
        let per_vm = ok(&client, "snapshot_list", json!({"vm": with_snaps["uuid"]})).await;
        assert_eq!(
            per_vm["total"],
            with_snaps["snapshots"].as_array().unwrap().len()
        );
    }

    let conds = ok(&client, "condition_list", json!({})).await;
    assert_eq!(conds["total"], totals["conditions_raised"]);
    let all = ok(&client, "condition_list", json!({"all": true})).await;
    assert_eq!(all["total"], truth["conditions"].as_array().unwrap().len());
    let serious = ok(&client, "condition_list", json!({"severity": "ERROR"})).await;
    let expected_serious = truth["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["raised"] == true
                && ["EMERGENCY", "ALERT", "CRITICAL", "ERROR"]
                    .contains(&c["severity"].as_str().unwrap())
        })
        .count();
    assert_eq!(serious["total"], expected_serious);

    let drives = ok(&client, "drive_list", json!({})).await;
    let drive_total: u64 = truth["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["drives"].as_u64().unwrap())
        .sum();
    assert_eq!(drives["total"], drive_total);
    let bad: u64 = truth["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["unhealthy_drives"].as_u64().unwrap())
        .sum();
    let unhealthy = ok(&client, "drive_list", json!({"unhealthy": true})).await;
    assert_eq!(unhealthy["total"], bad);

    let vd = ok(&client, "virtual_disk_list", json!({})).await;
    assert_eq!(vd["total"], totals["virtual_disks"]);
    let isos = ok(&client, "iso_list", json!({})).await;
    assert_eq!(isos["total"], totals["isos"]);
    let users = ok(&client, "user_list", json!({})).await;
    assert_eq!(users["total"], totals["users"]);
    assert!(!users.to_string().to_lowercase().contains("password"));

    let nics = ok(&client, "network_device_list", json!({"vm": first["uuid"]})).await;
    assert_eq!(nics["total"], first["net_devs"].as_array().unwrap().len());
    let disks = ok(&client, "block_device_list", json!({"vm": first["uuid"]})).await;
    assert_eq!(
        disks["total"],
        first["block_devs"].as_array().unwrap().len()
    );
    let all_disks = ok(&client, "block_device_list", json!({})).await;
    let disk_total: usize = tv
        .iter()
        .map(|v| v["block_devs"].as_array().unwrap().len())
        .sum();
    assert_eq!(all_disks["total"], disk_total);
    let all_nics = ok(&client, "network_device_list", json!({})).await;
    let nic_total: usize = tv
        .iter()
        .map(|v| v["net_devs"].as_array().unwrap().len())
        .sum();
    assert_eq!(all_nics["total"], nic_total);

    let ping = ok(&client, "ping", json!({})).await;
    assert_eq!(ping["cluster_reachable"], true);

    let search = ok(&client, "api_search", json!({"query": "snapshot"})).await;
    assert!(search["count"].as_u64().unwrap() > 0);
    assert!(
        search["results"][0]["path"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("snapshot")
    );

    let raw = ok(
        &client,
        "api_request",
        json!({"path": "/Node", "limit": 1000}),
    )
    .await;
    assert_eq!(raw["status"], 200);
    assert_eq!(
        raw["body"].as_array().unwrap().len() as u64,
        totals["nodes"].as_u64().unwrap()
    );
    let paged = ok(&client, "api_request", json!({"path": "/Node"})).await;
    assert_eq!(paged["total"], totals["nodes"]);
    let refused = err(
        &client,
        "api_request",
        json!({"method": "DELETE", "path": "/VirDomain/x"}),
    )
    .await;
    assert!(refused.contains("'method'"), "{refused}");

    let task = ok(&client, "task_status", json!({"task_tag": "999999"})).await;
    assert_eq!(task["found"], false);

    client.cancel().await.unwrap();
    worker.shutdown().await;
}

#[tokio::test]
async fn actions_change_the_cluster() {
    let worker = start().await;
    let client = mcp(&worker, TOKEN).await;
    let truth0 = truth(&worker);
    let off = vm_in_state(&truth0, "SHUTOFF");
    let uuid = off["uuid"].as_str().unwrap().to_owned();

    let started = ok(&client, "vm_start", json!({"vm": uuid})).await;
    assert_eq!(started["state"], "COMPLETE");
    assert_eq!(started["vm"]["state"], "RUNNING");
    assert!(!started["task_tag"].as_str().unwrap().is_empty());
    assert_eq!(truth_vm(&truth(&worker), &uuid)["state"], "RUNNING");

    let paused = ok(&client, "vm_pause", json!({"vm": uuid})).await;
    assert_eq!(paused["vm"]["state"], "PAUSED");
    assert_eq!(truth_vm(&truth(&worker), &uuid)["state"], "PAUSED");
    ok(&client, "vm_start", json!({"vm": uuid})).await;
    assert_eq!(truth_vm(&truth(&worker), &uuid)["state"], "RUNNING");

    ok(&client, "vm_reboot", json!({"vm": uuid})).await;
    assert_eq!(truth_vm(&truth(&worker), &uuid)["state"], "RUNNING");

    // Live migration to another online node.
    let node = truth_vm(&truth(&worker), &uuid)["node"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = truth0["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["uuid"] != node.as_str() && n["network_status"] == "ONLINE")
        .expect("a second online node")["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let moved = ok(&client, "vm_migrate", json!({"vm": uuid, "node": other})).await;
    assert_eq!(moved["vm"]["node_uuid"], other.as_str());
    assert_eq!(truth_vm(&truth(&worker), &uuid)["node"], other.as_str());

    // wait=false returns the tag at once; task_status reports it.
    let quick = ok(&client, "vm_shutdown", json!({"vm": uuid, "wait": false})).await;
    let tag = quick["task_tag"].as_str().unwrap().to_owned();
    if !tag.is_empty() {
        let st = ok(&client, "task_status", json!({"task_tag": tag})).await;
        assert_eq!(st["found"], true);
    }
    // Waiting for SHUTOFF through polling the VM state.
    for _ in 0..200 {
        if truth_vm(&truth(&worker), &uuid)["state"] == "SHUTOFF" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(truth_vm(&truth(&worker), &uuid)["state"], "SHUTOFF");

    // Snapshot, clone from it, export.
    let snap = ok(
        &client,
        "snapshot_create",
        json!({"vm": uuid, "label": "before-upgrade"}),
    )
    .await;
    let snap_uuid = snap["created_uuid"].as_str().unwrap().to_owned();
    assert_eq!(snap["state"], "COMPLETE");
    let t = truth(&worker);
    let s = t["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["uuid"] == snap_uuid.as_str())
        .expect("snapshot in truth");
    assert_eq!(s["label"], "before-upgrade");
    assert_eq!(s["vm"], uuid.as_str());

    let clone = ok(
        &client,
        "vm_clone",
        json!({"vm": uuid, "name": "clone-of-it", "snapshot": snap_uuid}),
    )
    .await;
    let clone_uuid = clone["created_uuid"].as_str().unwrap().to_owned();
    let c = truth_vm(&truth(&worker), &clone_uuid).clone();
    assert_eq!(c["name"], "clone-of-it");
    assert_eq!(c["state"], "SHUTOFF");

    let r = call(
        &client,
        "vm_export",
        json!({"vm": uuid, "uri": "smb://CORP;bob:hunter2@nas.example/share/exports"}),
    )
    .await;
    let all_text = format!("{} {:?}", text(&r), r.structured_content);
    assert!(!all_text.contains("hunter2"), "password leaked: {all_text}");
    assert_ne!(r.is_error, Some(true), "{all_text}");
    let out = r.structured_content.unwrap();
    assert_eq!(out["state"], "COMPLETE");
    assert_eq!(
        out["uri"],
        "smb://CORP;bob:[redacted]@nas.example/share/exports"
    );
    // An unreachable share fails as a task; the error names it without the password.
    let failed = err(
        &client,
        "vm_export",
        json!({"vm": uuid, "uri": "smb://bob:hunter2@nas.invalid/share/x"}),
    )
    .await;
    assert!(
        failed.contains("ERROR") && !failed.contains("hunter2"),
        "{failed}"
    );
    let bad_uri = err(
        &client,
        "vm_export",
        json!({"vm": uuid, "uri": "ftp://x:secretpw@h/s"}),
    )
    .await;
    assert!(
        bad_uri.contains("smb://") && !bad_uri.contains("secretpw"),
        "{bad_uri}"
    );

    // A waiting ACPI shutdown returns once the VM is really SHUTOFF (HyperCore's task may
    // finish, or have no tag at all, before the guest is off).
    let other = vm_in_state(&truth(&worker), "RUNNING");
    let down = ok(&client, "vm_shutdown", json!({"vm": other["uuid"]})).await;
    assert_eq!(down["vm"]["state"], "SHUTOFF", "{down}");
    assert_eq!(
        truth_vm(&truth(&worker), other["uuid"].as_str().unwrap())["state"],
        "SHUTOFF"
    );

    client.cancel().await.unwrap();
    worker.shutdown().await;
}

#[tokio::test]
async fn destructive_actions_need_a_matching_confirmation() {
    let worker = start().await;
    let client = mcp(&worker, TOKEN).await;
    let t0 = truth(&worker);
    let running: Vec<Value> = t0["vms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["state"] == "RUNNING")
        .take(2)
        .cloned()
        .collect();
    assert_eq!(running.len(), 2, "need two running VMs");
    let (a, b) = (
        running[0]["uuid"].as_str().unwrap(),
        running[1]["uuid"].as_str().unwrap(),
    );

    // Without a token: a preview, nothing changes.
    let preview = ok(&client, "vm_stop", json!({"vm": a})).await;
    assert_eq!(preview["confirmation_required"], true);
    assert_eq!(preview["preview"]["vm"]["uuid"], a);
    assert_eq!(preview["preview"]["current_state"], "RUNNING");
    assert_eq!(preview["preview"]["cluster"]["uuid"], t0["cluster"]["uuid"]);
    let token = preview["confirm_token"].as_str().unwrap().to_owned();
    assert_eq!(vm_states(&truth(&worker)), vm_states(&t0));

    // The token does not confirm another VM or another action.
    let other_vm = err(&client, "vm_stop", json!({"vm": b, "confirm_token": token})).await;
    assert!(other_vm.contains("issued for"), "{other_vm}");
    let other_action = err(
        &client,
        "vm_reset",
        json!({"vm": a, "confirm_token": token}),
    )
    .await;
    assert!(other_action.contains("issued for"), "{other_action}");
    let bogus = err(
        &client,
        "vm_stop",
        json!({"vm": a, "confirm_token": "ct_nope"}),
    )
    .await;
    assert!(bogus.contains("unknown"), "{bogus}");
    assert_eq!(vm_states(&truth(&worker)), vm_states(&t0));

    // The right call with the token executes, once.
    let done = ok(&client, "vm_stop", json!({"vm": a, "confirm_token": token})).await;
    assert_eq!(done["vm"]["state"], "SHUTOFF");
    assert_eq!(truth_vm(&truth(&worker), a)["state"], "SHUTOFF");
    let again = err(&client, "vm_stop", json!({"vm": b, "confirm_token": token})).await;
    assert!(again.contains("unknown or was already used"), "{again}");

    // NMI and reset: previews only.
    let nmi = ok(&client, "vm_nmi", json!({"vm": b})).await;
    assert_eq!(nmi["confirmation_required"], true);
    let reset = ok(&client, "vm_reset", json!({"vm": b})).await;
    assert_eq!(reset["confirmation_required"], true);
    assert_eq!(truth_vm(&truth(&worker), b)["state"], "RUNNING");

    // Snapshot delete.
    let snap = t0["snapshots"]
        .as_array()
        .unwrap()
        .first()
        .expect("a snapshot")
        .clone();
    let sid = snap["uuid"].as_str().unwrap();
    let p = ok(&client, "snapshot_delete", json!({"snapshot": sid})).await;
    assert_eq!(p["preview"]["snapshot"]["uuid"], sid);
    assert!(
        truth(&worker)["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["uuid"] == sid)
    );
    let tok = p["confirm_token"].as_str().unwrap();
    ok(
        &client,
        "snapshot_delete",
        json!({"snapshot": sid, "confirm_token": tok}),
    )
    .await;
    for _ in 0..100 {
        if !truth(&worker)["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["uuid"] == sid)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        !truth(&worker)["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["uuid"] == sid)
    );

    client.cancel().await.unwrap();
    worker.shutdown().await;
}

#[tokio::test]
async fn bad_arguments_give_specific_errors_and_change_nothing() {
    let worker = start().await;
    let client = mcp(&worker, TOKEN).await;
    let t0 = truth(&worker);
    let off = vm_in_state(&t0, "SHUTOFF");
    let on = vm_in_state(&t0, "RUNNING");

    let missing = err(&client, "vm_start", json!({})).await;
    assert!(
        missing.contains("missing required argument 'vm'"),
        "{missing}"
    );
    let wrong_type = err(&client, "vm_start", json!({"vm": 42})).await;
    assert!(wrong_type.contains("'vm' must be a string"), "{wrong_type}");
    let wrong_bool = err(
        &client,
        "vm_start",
        json!({"vm": off["uuid"], "wait": "yes"}),
    )
    .await;
    assert!(
        wrong_bool.contains("'wait' must be a boolean"),
        "{wrong_bool}"
    );
    let unknown_arg = err(&client, "vm_get", json!({"vm": off["uuid"], "force": true})).await;
    assert!(
        unknown_arg.contains("unknown argument 'force'"),
        "{unknown_arg}"
    );
    let unknown = err(&client, "vm_start", json!({"vm": "no-such-vm-anywhere"})).await;
    assert!(
        unknown.contains("no VM named 'no-such-vm-anywhere'"),
        "{unknown}"
    );
    let invalid = err(
        &client,
        "vm_get",
        json!({"vm": "123e4567-e89b-12d3-a456-42661417zzzz"}),
    )
    .await;
    assert!(invalid.contains("not a valid uuid"), "{invalid}");
    let absent = err(
        &client,
        "vm_get",
        json!({"vm": "123e4567-e89b-12d3-a456-426614174000"}),
    )
    .await;
    assert!(absent.contains("no VM with uuid"), "{absent}");
    let bad_state = err(&client, "vm_list", json!({"state": "ON"})).await;
    assert!(bad_state.contains("expected one of"), "{bad_state}");
    let bad_snap = err(&client, "snapshot_delete", json!({"snapshot": "nope"})).await;
    assert!(bad_snap.contains("not a valid snapshot uuid"), "{bad_snap}");

    // Actions that make no sense in the VM's state are explained, not passed to HyperCore.
    let reset_off = err(&client, "vm_reset", json!({"vm": off["uuid"]})).await;
    assert!(
        reset_off.contains("SHUTOFF") && reset_off.contains("vm_start"),
        "{reset_off}"
    );
    // Starting a running VM is no error (a real cluster completes such a START at once).
    let before = truth_vm(&truth(&worker), on["uuid"].as_str().unwrap()).clone();
    let start_on = ok(&client, "vm_start", json!({"vm": on["uuid"]})).await;
    assert!(
        start_on["note"]
            .as_str()
            .unwrap()
            .contains("already running"),
        "{start_on}"
    );
    assert_eq!(start_on["vm"]["state"], "RUNNING", "{start_on}");
    assert_eq!(
        truth_vm(&truth(&worker), on["uuid"].as_str().unwrap()),
        &before,
        "nothing changed"
    );
    let same_node = err(
        &client,
        "vm_migrate",
        json!({"vm": on["uuid"], "node": on["node"]}),
    )
    .await;
    assert!(same_node.contains("already runs on node"), "{same_node}");
    let no_node = err(
        &client,
        "vm_migrate",
        json!({"vm": on["uuid"], "node": "nowhere"}),
    )
    .await;
    assert!(no_node.contains("no node with uuid"), "{no_node}");
    if let Some(target) = t0["vms"].as_array().unwrap().iter().find(|v| {
        !v["replication_source"].as_str().unwrap_or("").is_empty() && v["state"] != "RUNNING"
    }) {
        let rt = err(&client, "vm_start", json!({"vm": target["uuid"]})).await;
        assert!(
            rt.contains("replication target") && rt.contains("vm_clone"),
            "{rt}"
        );
    }
    assert_eq!(vm_states(&truth(&worker)), vm_states(&t0));

    // An ambiguous name lists the candidates.
    let name = off["name"].as_str().unwrap();
    ok(
        &client,
        "vm_clone",
        json!({"vm": off["uuid"], "name": name}),
    )
    .await;
    let t1 = truth(&worker);
    let ambiguous = err(&client, "vm_start", json!({"vm": name})).await;
    assert!(
        ambiguous.contains("ambiguous") && ambiguous.contains(off["uuid"].as_str().unwrap()),
        "{ambiguous}"
    );
    assert_eq!(vm_states(&truth(&worker)), vm_states(&t1));

    client.cancel().await.unwrap();
    worker.shutdown().await;
}

#[tokio::test]
async fn rest_api_and_authentication() {
    let worker = start().await;
    let http = http();
    let base = worker.base_url();
    let truth = truth(&worker);

    let health: Value = http
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "up");
    assert_eq!(health["cluster_reachable"], true);
    assert_eq!(health["cluster"]["uuid"], truth["cluster"]["uuid"]);

    let none = http.get(format!("{base}/v1/status")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let wrong = http
        .get(format!("{base}/v1/status"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let mcp_none = http
        .post(worker.mcp_url())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(mcp_none.status(), 401);
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(worker.mcp_url()).auth_header("wrong"),
    );
    assert!(
        ().serve(transport).await.is_err(),
        "a wrong token must not get an MCP session"
    );

    let status: Value = http
        .get(format!("{base}/v1/status"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["cluster"]["uuid"], truth["cluster"]["uuid"]);
    assert_eq!(status["vms"]["total"], truth["totals"]["vms"]);

    let vms: Value = http
        .get(format!("{base}/v1/vms?state=running"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected = truth["vms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["state"] == "RUNNING")
        .count();
    assert_eq!(vms["count"], expected);
    let first = &truth["vms"][0];
    let one: Value = http
        .get(format!("{base}/v1/vms/{}", first["name"].as_str().unwrap()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["vm"]["uuid"], first["uuid"]);
    let missing = http
        .get(format!("{base}/v1/vms/nope-nope"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let tools: Value = http
        .get(format!("{base}/v1/tools"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(tools["count"].as_u64().unwrap() >= 20);
    let listed: Value = http
        .post(format!("{base}/v1/tools/vm_list"))
        .bearer_auth(TOKEN)
        .json(&json!({"state": "SHUTOFF"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["count"],
        truth["vms"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["state"] == "SHUTOFF")
            .count()
    );
    let running = vm_in_state(&truth, "RUNNING");
    let preview = http
        .post(format!("{base}/v1/tools/vm_stop"))
        .bearer_auth(TOKEN)
        .json(&json!({"vm": running["uuid"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status(), 200);
    let preview: Value = preview.json().await.unwrap();
    assert_eq!(preview["confirmation_required"], true);
    assert_eq!(
        truth_vm(
            &worker.sim().unwrap().truth(),
            running["uuid"].as_str().unwrap()
        )["state"],
        "RUNNING"
    );
    let bad = http
        .post(format!("{base}/v1/tools/vm_get"))
        .bearer_auth(TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let body: Value = bad.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("missing required argument 'vm'")
    );
    let unknown = http
        .post(format!("{base}/v1/tools/nope"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // DNS-rebinding protection: a foreign Host header is refused.
    let foreign = http
        .get(format!("{base}/v1/status"))
        .bearer_auth(TOKEN)
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    worker.shutdown().await;
}

#[derive(Clone, Default)]
struct ProgressRecorder {
    seen: Arc<Mutex<Vec<f64>>>,
}

impl ClientHandler for ProgressRecorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        if let Ok(mut g) = self.seen.lock() {
            g.push(params.progress);
        }
    }
}

#[tokio::test]
async fn waiting_actions_send_progress_notifications() {
    let worker = start().await;
    let recorder = ProgressRecorder::default();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(worker.mcp_url()).auth_header(TOKEN),
    );
    let client = recorder.clone().serve(transport).await.unwrap();
    let off = vm_in_state(&truth(&worker), "SHUTOFF");
    let mut params =
        CallToolRequestParams::new("vm_start").with_arguments(obj(json!({"vm": off["uuid"]})));
    params.set_progress_token(ProgressToken(NumberOrString::Number(7)));
    let r = client.call_tool(params).await.unwrap();
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    // Notifications may trail the response slightly.
    for _ in 0..50 {
        if recorder.seen.lock().unwrap().contains(&100.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let seen = recorder.seen.lock().unwrap().clone();
    assert!(!seen.is_empty(), "no progress notifications");
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "progress must not go back: {seen:?}"
    );
    assert_eq!(seen.last(), Some(&100.0));
    client.cancel().await.unwrap();
    worker.shutdown().await;
}

/// Mutations on one cluster run one at a time: a second action is submitted only after the
/// first one's task has ended (checked by watching the cluster's task list, not the clock).
#[tokio::test]
async fn actions_on_one_cluster_never_overlap() {
    let worker = start().await;
    let client = mcp(&worker, TOKEN).await;
    let t0 = truth(&worker);
    let off: Vec<String> = t0["vms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| {
            v["state"] == "SHUTOFF" && v["replication_source"].as_str().unwrap_or("").is_empty()
        })
        .take(3)
        .map(|v| v["uuid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(off.len(), 3, "need three SHUTOFF VMs");

    let sim_tasks = format!("{}/rest/v1/TaskTag", worker.sim().unwrap().base_url());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut max_active = 0;
            let mut seen = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let tasks: Value = http
                    .get(&sim_tasks)
                    .basic_auth("admin", Some("admin"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let active = tasks
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|t| t["state"] == "QUEUED" || t["state"] == "RUNNING")
                    .count();
                max_active = max_active.max(active);
                seen += 1;
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            (max_active, seen)
        })
    };
    let calls: Vec<_> = off
        .iter()
        .map(|uuid| {
            let peer = client.peer().clone();
            let uuid = uuid.clone();
            tokio::spawn(async move {
                peer.call_tool(
                    CallToolRequestParams::new("vm_start").with_arguments(obj(json!({"vm": uuid}))),
                )
                .await
                .unwrap()
            })
        })
        .collect();
    for c in calls {
        let r = c.await.unwrap();
        assert_ne!(r.is_error, Some(true), "{}", text(&r));
        assert_eq!(r.structured_content.unwrap()["vm"]["state"], "RUNNING");
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (max_active, seen) = watcher.await.unwrap();
    assert!(seen > 3, "the watcher did not observe the task list");
    assert_eq!(
        max_active, 1,
        "two actions ran on the cluster at the same time"
    );
    for uuid in &off {
        assert_eq!(truth_vm(&truth(&worker), uuid)["state"], "RUNNING");
    }
    client.cancel().await.unwrap();
    worker.shutdown().await;
}
