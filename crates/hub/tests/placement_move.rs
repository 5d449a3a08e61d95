//! Moving a VM between simulated clusters that share an SMB directory (#16): the VM ends on
//! the target and, after a confirmed delete, is gone from the source; every stage is audited
//! under one operation id with progress; a move whose import fails leaves the source
//! untouched. And trust: a worker that overstates its capacity is selected, fails the create,
//! ranks lower afterwards, and the hub remembers it across a restart.

mod common;

use std::time::Duration;

use common::liar::{Liar, keep_alive, tool};
use common::sims::{hub, named, ranking, truth, wait_up, worker};
use common::{TempDir, call, client, eventually};
use hypercore_sim::Archetype;
use rmcp::model::{CallToolRequestParams, NumberOrString, ProgressToken, RequestParamsMeta as _};
use serde_json::{Value, json};

const GIB: u64 = 1 << 30;

/// A SHUTOFF VM of a truth that is not a replication target, other than `not`.
fn shutoff_vm(t: &Value, not: &[&str]) -> Value {
    t["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| {
            v["state"] == "SHUTOFF"
                && v["replication_source"] == ""
                && !not.contains(&v["uuid"].as_str().unwrap())
        })
        .cloned()
        .expect("a SHUTOFF VM")
}

fn vm_in(t: &Value, uuid: &str) -> Option<Value> {
    t["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["uuid"] == uuid)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_move_through_a_shared_smb_directory_and_a_failed_import_leaves_the_source() {
    let shared = TempDir::new("smb-shared");
    let other = TempDir::new("smb-other");
    let hub = hub(None).await;
    let src = worker(&hub, "src", Archetype::Lab, 31, Some(&shared.0)).await;
    let dst = worker(&hub, "dst", Archetype::Edge, 32, Some(&shared.0)).await;
    let far = worker(&hub, "far", Archetype::Edge, 33, Some(&other.0)).await;
    wait_up(&hub, 3).await;
    let (mcp, rec) = client(&hub.mcp_url(), None).await;

    let vm = shutoff_vm(&truth(&src), &[]);
    let (uuid, name) = (vm["uuid"].as_str().unwrap(), vm["name"].as_str().unwrap());
    let on_dst_before = named(&truth(&dst), name).len();
    let share = format!("smb://CORP;mover:s3cret-pw@nas/share/moves/{uuid}");
    let mut p = CallToolRequestParams::new("vm_move").with_arguments(
        json!({"vm": uuid, "to_cluster": "dst", "share_uri": share, "delete_source": true})
            .as_object()
            .cloned()
            .unwrap(),
    );
    p.set_progress_token(ProgressToken(NumberOrString::String("mv".into())));
    let r = mcp.call_tool(p).await.expect("tools/call answers");
    let moved = r.structured_content.clone().expect("structured answer");
    assert_ne!(r.is_error, Some(true), "{moved}");
    assert_eq!(
        moved["stages"],
        json!({"export": "ok", "import": "ok", "verify": "ok", "delete_source": "confirmation_required"}),
        "{moved}"
    );
    assert!(!moved.to_string().contains("s3cret-pw"), "{moved}");
    let copy = moved["copy_uuid"].as_str().unwrap().to_owned();
    let t_dst = truth(&dst);
    let copied = vm_in(&t_dst, &copy).expect("the copy is on the target");
    assert_eq!(copied["name"], vm["name"]);
    assert_eq!(named(&t_dst, name).len(), on_dst_before + 1);
    assert!(
        vm_in(&truth(&src), uuid).is_some(),
        "not deleted before confirmation"
    );
    eventually("progress through the stages", || {
        let got = rec.progress.lock().unwrap();
        ["export", "import", "verify", "delete_source"]
            .iter()
            .all(|s| {
                got.iter().any(|p| {
                    p.message
                        .as_deref()
                        .is_some_and(|m| m.contains(&format!(": {s}:")))
                })
            })
    })
    .await;

    // The confirmed delete, under the same operation.
    let op = moved["operation"].as_str().unwrap().to_owned();
    let (done, err) = call(
        &mcp,
        "vm_move",
        json!({"operation": op, "confirm_token": moved["confirm_token"]}),
    )
    .await;
    assert!(!err, "{done}");
    assert_eq!(done["source_deleted"], true, "{done}");
    assert!(vm_in(&truth(&src), uuid).is_none(), "gone from the source");
    assert!(vm_in(&truth(&dst), &copy).is_some(), "still on the target");
    let (again, err) = call(
        &mcp,
        "vm_move",
        json!({"operation": op, "confirm_token": moved["confirm_token"]}),
    )
    .await;
    assert!(err && again.to_string().contains("'operation'"), "{again}");

    // One audit record per stage, all under the operation id, no password.
    let audit: Value = reqwest::get(format!("{}/v1/audit?limit=1000", hub.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!audit.to_string().contains("s3cret-pw"));
    let stages: Vec<(String, String, String)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["operation"] == json!(op))
        .map(|e| {
            (
                e["tool"].as_str().unwrap().to_owned(),
                e["cluster"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("vm_export", "src", "ok"),
        ("vm_import", "dst", "ok"),
        ("verify", "dst", "ok"),
        ("vm_delete", "src", "confirmation_required"),
        ("vm_delete", "src", "ok"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(stages, want);

    // A move whose import fails (the target does not see the share): the source is untouched.
    let vm2 = shutoff_vm(&truth(&src), &[uuid]);
    let uuid2 = vm2["uuid"].as_str().unwrap().to_owned();
    let uuid2 = uuid2.as_str();
    let (failed, err) = call(
        &mcp,
        "vm_move",
        json!({"vm": uuid2, "to_cluster": "far", "share_uri": format!("smb://nas/share/moves/{uuid2}"), "delete_source": true}),
    )
    .await;
    assert!(err, "{failed}");
    let text = failed.to_string();
    assert!(
        text.contains("failed at stage import") && text.contains("untouched"),
        "{text}"
    );
    assert_eq!(
        vm_in(&truth(&src), uuid2),
        Some(vm2.clone()),
        "the source VM is unchanged"
    );
    let (bad, err) = call(
        &mcp,
        "vm_move",
        json!({"vm": uuid2, "to_cluster": "far", "share_uri": "/tmp/x"}),
    )
    .await;
    assert!(err && bad.to_string().contains("'share_uri'"), "{bad}");

    mcp.cancel().await.unwrap();
    for w in [src, dst, far] {
        w.shutdown().await;
    }
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overstating_worker_is_selected_fails_the_create_and_ranks_lower_after_restart_too() {
    let data = TempDir::new("trust");
    let hub1 = hub(Some(&data.0)).await;
    let honest = worker(&hub1, "edge", Archetype::Edge, 41, None).await;
    let liar = Liar::serve(vec![
        tool("capacity", true, false, false),
        tool("vm_list", true, false, false),
        tool("cluster_info", true, false, false),
        tool("vm_create", false, false, false),
    ])
    .await;
    let huge = 1u64 << 50;
    liar.set_answer(
        "capacity",
        json!({
            "nodes": [{"uuid": "n1", "can_run_vms": true, "cpu_threads": 512, "memory": {"total_bytes": huge, "free_bytes": huge}}],
            "cluster": {"memory": {"total_bytes": huge, "allocated_bytes": 0}, "storage": {"free_bytes": huge}},
            "vms": {"total": 0}, "conditions": [], "fits": true, "reasons": []
        }),
        false,
    );
    liar.set_answer(
        "cluster_info",
        json!({"cluster": {"name": "Liar"}, "health": "ok"}),
        false,
    );
    liar.set_answer("vm_list", json!({"total": 0, "count": 0, "vms": []}), false);
    liar.set_answer(
        "vm_create",
        json!(
            "cluster 'liar' lacks the room for VM 'lie-test': not enough free memory on any node"
        ),
        true,
    );
    let (status, joined) = liar
        .join(&hub1.base_url(), "liar", "uuid-of-the-liar")
        .await;
    assert_eq!(status, 200, "{joined}");
    let beat = keep_alive(&hub1.base_url(), &joined, Duration::from_millis(150));
    wait_up(&hub1, 2).await;
    let (mcp, _) = client(&hub1.mcp_url(), None).await;
    let req = json!({"vcpus": 1, "memory_bytes": GIB, "disk_bytes": 10 * GIB});

    let (sel, err) = call(&mcp, "placement_select", req.clone()).await;
    assert!(!err, "{sel}");
    assert_eq!(
        ranking(&sel),
        ["liar", "edge"],
        "its claim wins at first: {sel}"
    );

    let mut place = req.clone();
    place["name"] = json!("lie-test");
    let (failed, err) = call(&mcp, "vm_place", place).await;
    assert!(err, "{failed}");
    let text = failed.to_string();
    assert!(
        text.contains("'liar'") && text.contains("stage create") && text.contains("trust"),
        "{text}"
    );
    assert!(liar.calls().iter().any(|(t, _)| t == "vm_create"));
    assert!(named(&truth(&honest), "lie-test").is_empty());

    let (after, _) = call(&mcp, "placement_select", req.clone()).await;
    assert_eq!(ranking(&after), ["edge", "liar"], "{after}");
    let liar_row = &after["ranked"][1];
    assert!(
        liar_row["reason"]
            .as_str()
            .unwrap()
            .contains("ranked after trusted clusters"),
        "{liar_row}"
    );
    assert_eq!(liar_row["trust"]["broken"], 1);
    let (status, _) = call(&mcp, "fleet_status", json!({})).await;
    let row = status["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cluster"] == "liar")
        .cloned();
    assert_eq!(
        row.map(|r| r["trust"]["broken"].clone()),
        Some(json!(1)),
        "{status}"
    );

    // The record survives a restart of the hub.
    mcp.cancel().await.unwrap();
    beat.cancel();
    honest.shutdown().await;
    liar.stop().await;
    hub1.shutdown().await;
    let hub2 = hub(Some(&data.0)).await;
    let (mcp, _) = client(&hub2.mcp_url(), None).await;
    let (status, _) = call(&mcp, "fleet_status", json!({})).await;
    let row = status["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cluster"] == "liar")
        .cloned();
    assert_eq!(
        row.map(|r| r["trust"]["trusted"].clone()),
        Some(json!(false)),
        "{status}"
    );
    mcp.cancel().await.unwrap();
    hub2.shutdown().await;
}
