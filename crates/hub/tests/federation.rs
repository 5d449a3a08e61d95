//! End-to-end hub tests over loopback: three fake workers of different archetypes join a hub
//! with the shared secret; an rmcp client talks to the hub's MCP endpoint; REST via reqwest.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use hyperfed_hub::{Health, HubConfig, ToolsMode};
use hyperfed_protocol::{JoinRequest, Secret};
use serde_json::{Value, json};

fn config() -> HubConfig {
    let mut c = HubConfig::new("127.0.0.1:0".parse().unwrap(), Secret::new(SECRET));
    // These tests read the namespaced names.
    c.tools_mode = ToolsMode::Namespaced;
    // Short, but with room for a loaded CI machine: down after ~750 ms of silence.
    c.heartbeat_interval = Duration::from_millis(250);
    c.fanout_timeout = Duration::from_secs(2);
    c.call_timeout = Duration::from_secs(5);
    c
}

async fn three_workers(base: &str) -> Vec<FakeWorker> {
    let mut workers = Vec::new();
    for (kind, name) in [
        ("edge", None),
        ("datacenter", Some("dc1")),
        ("dr", Some("dr")),
    ] {
        workers.push(FakeWorker::start(FakeCluster::archetype(kind, 1), base, name).await);
    }
    for w in &workers {
        w.wait_joins(1).await;
    }
    workers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaced_list_fleet_totals_routing_and_audit() {
    let hub = hyperfed_hub::start(config()).await.unwrap();
    let workers = three_workers(&hub.base_url()).await;
    let aliases: Vec<String> = workers
        .iter()
        .map(|w| w.alias.lock().unwrap().clone().unwrap())
        .collect();
    assert_eq!(aliases, ["edge-site-1", "dc1", "dr"]);
    let (client, _rec) = client(&hub.mcp_url(), None).await;

    // The namespaced list is exactly the union of the workers' (valid) tools, plus the
    // routed VM actions and the fleet tools.
    let tools = client.list_all_tools().await.unwrap();
    let names: BTreeSet<String> = tools.iter().map(|t| t.name.to_string()).collect();
    let namespaced: BTreeSet<String> = names.iter().filter(|n| n.contains("__")).cloned().collect();
    let mut expected = BTreeSet::new();
    for a in &aliases {
        for t in fake_tools(&[]).iter().filter(|t| t.name != "bad.name") {
            expected.insert(format!("{a}__{}", t.name));
        }
    }
    assert_eq!(namespaced, expected);
    let plain: BTreeSet<&str> = names
        .iter()
        .filter(|n| !n.contains("__"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        plain,
        BTreeSet::from([
            "fleet_status",
            "vm_search",
            "fleet_conditions",
            "placement_ask",
            "placement_select",
            "vm_place",
            "vm_move",
            "vm_start",
            "vm_stop",
            "vm_clone",
            "vm_export"
        ])
    );
    for t in &tools {
        assert!(
            hyperfed_protocol::is_valid_tool_name(&t.name, 48),
            "{}",
            t.name
        );
    }
    // Schemas and annotations unchanged, cluster named in the description.
    let dc_stop = tools.iter().find(|t| t.name == "dc1__vm_stop").unwrap();
    let orig = fake_tools(&[])
        .into_iter()
        .find(|t| t.name == "vm_stop")
        .unwrap();
    assert_eq!(dc_stop.input_schema, orig.input_schema);
    assert_eq!(dc_stop.annotations, orig.annotations);
    assert!(dc_stop.description.as_deref().unwrap().contains("dc1"));

    // Fleet totals equal the sum of the simulators' truths.
    let (status, err) = call(&client, "fleet_status", json!({})).await;
    assert!(!err, "{status}");
    let truth: Vec<Value> = workers.iter().map(|w| w.cluster.info()).collect();
    let sum = |path: &[&str]| -> u64 {
        truth
            .iter()
            .map(|t| path.iter().fold(t, |v, p| &v[p]).as_u64().unwrap())
            .sum()
    };
    let totals = &status["totals"];
    assert_eq!(totals["answered"], 3);
    assert_eq!(
        totals["vms"]["total"].as_u64().unwrap(),
        sum(&["vms", "total"])
    );
    assert_eq!(
        totals["vms"]["running"].as_u64().unwrap(),
        sum(&["vms", "running"])
    );
    assert_eq!(
        totals["nodes"]["online"].as_u64().unwrap(),
        sum(&["nodes", "online"])
    );
    assert_eq!(
        totals["storage"]["used_bytes"].as_u64().unwrap(),
        sum(&["storage", "used_bytes"])
    );
    assert_eq!(totals["conditions"]["raised"].as_u64().unwrap(), 5);
    assert_eq!(totals["conditions"]["by_severity"]["ERROR"], 2);
    assert_eq!(status["complete"], true);

    // VM search across clusters with filters.
    let (found, _) = call(&client, "vm_search", json!({"tag": "prod"})).await;
    let expected_prod: usize = workers
        .iter()
        .map(|w| {
            w.cluster
                .vms()
                .iter()
                .filter(|v| v.tags.iter().any(|t| t == "prod"))
                .count()
        })
        .sum();
    assert_eq!(found["count"].as_u64().unwrap() as usize, expected_prod);
    let (conds, _) = call(&client, "fleet_conditions", json!({})).await;
    assert_eq!(conds["count"], 5);

    // A routed action by uuid changes the right VM on the right cluster and nothing else.
    let before: Vec<Vec<Vm>> = workers.iter().map(|w| w.cluster.vms()).collect();
    let target = before[2]
        .iter()
        .find(|v| v.state == "SHUTOFF")
        .unwrap()
        .clone();
    let (r, err) = call(&client, "vm_start", json!({"vm": target.uuid})).await;
    assert!(!err, "{r}");
    assert_eq!(r["task_tag"], "42");
    for (i, w) in workers.iter().enumerate() {
        for (a, b) in w.cluster.vms().iter().zip(&before[i]) {
            if a.uuid == target.uuid {
                assert_eq!(a.state, "RUNNING");
            } else {
                assert_eq!(a.state, b.state, "{} changed", a.uuid);
            }
        }
    }

    // A name on several clusters is an error listing the matches; alias/name routes.
    let (r, err) = call(&client, "vm_stop", json!({"vm": "shared-name"})).await;
    assert!(err);
    let msg = r.as_str().unwrap();
    for a in &aliases {
        assert!(msg.contains(&format!("{a}/shared-name")), "{msg}");
    }
    // Confirmation flow end to end through the routed tool.
    let (r, err) = call(&client, "vm_stop", json!({"vm": "dc1/shared-name"})).await;
    assert!(!err, "{r}");
    assert_eq!(r["confirmation_required"], true);
    let token = r["confirm_token"].as_str().unwrap().to_owned();
    assert_eq!(workers[1].cluster.vms()[0].state, "RUNNING");
    let (r, err) = call(
        &client,
        "vm_stop",
        json!({"vm": "dc1/shared-name", "confirm_token": token}),
    )
    .await;
    assert!(!err, "{r}");
    assert_eq!(workers[1].cluster.vms()[0].state, "SHUTOFF");
    assert_eq!(workers[0].cluster.vms()[0].state, "RUNNING");

    // Audit: mutating calls recorded with outcome and task tag, secrets redacted.
    let (r, err) = call(
        &client,
        "dr__vm_export",
        json!({"vm": "dr1-vm1", "target": "smb://CORP;backup:hunter2@nas/share"}),
    )
    .await;
    assert!(!err, "{r}");
    let http = reqwest::Client::new();
    let audit: Value = http
        .get(format!("{}/v1/audit", hub.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = audit["entries"].as_array().unwrap();
    let outcomes: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["cluster"].as_str().unwrap(),
                e["tool"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("dr", "vm_start", "ok"),
            ("dc1", "vm_stop", "confirmation_required"),
            ("dc1", "vm_stop", "ok"),
            ("dr", "vm_export", "ok"),
        ]
    );
    assert_eq!(entries[0]["task_tag"], "42");
    assert!(!audit.to_string().contains("hunter2"));
    assert!(!audit.to_string().contains("confirm-stop"));
    assert_eq!(entries[0]["subject"], "anonymous via mcp");
    // The hub's calls carried credentials every worker accepted.
    for w in &workers {
        assert_eq!(w.cluster.rejected_auth.load(Ordering::SeqCst), 0);
    }

    client.cancel().await.unwrap();
    for w in workers {
        w.shutdown().await;
    }
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_stale_and_replayed_proofs_are_refused() {
    let hub = hyperfed_hub::start(config()).await.unwrap();
    let http = reqwest::Client::new();
    let join = format!("{}/v1/join", hub.base_url());
    let w = FakeWorker::start(
        FakeCluster::archetype("edge", 7),
        &hub.base_url(),
        Some("edge7"),
    )
    .await;
    w.wait_joins(1).await;
    assert_eq!(hub.cluster_count(), 1);

    let bad = JoinRequest::sign(&Secret::new("wrong"), "intruder", "u-x", "X", &w.url);
    let r = http.post(&join).json(&bad).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("does not match"));

    let mut stale = JoinRequest::sign(&Secret::new(SECRET), "stale", "u-s", "S", &w.url);
    stale.timestamp -= 3600;
    assert_eq!(
        http.post(&join).json(&stale).send().await.unwrap().status(),
        401
    );

    let good = JoinRequest::sign(&Secret::new(SECRET), "other", "u-o", "Other", &w.url);
    // The worker behind w.url only accepts call tokens for its own uuid, so this join cannot
    // complete; it must still consume the nonce, and the replay must be refused as a replay.
    let first = http.post(&join).json(&good).send().await.unwrap();
    assert_eq!(first.status(), 502);
    let replay = http.post(&join).json(&good).send().await.unwrap();
    assert_eq!(replay.status(), 401);
    let body: Value = replay.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("replay"));

    // A different cluster asking for a taken alias gets a clear 409.
    let clash = JoinRequest::sign(
        &Secret::new(SECRET),
        "edge7",
        "another-uuid",
        "Another",
        &w.url,
    );
    let r = http.post(&join).json(&clash).send().await.unwrap();
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("already used by cluster EDGE Site 7"),
        "{body}"
    );

    assert_eq!(hub.cluster_count(), 1);
    assert_eq!(hub.clusters()[0].alias, "edge7");
    // A bad heartbeat token is refused.
    let r = http
        .post(format!("{}/v1/heartbeat", hub.base_url()))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    w.shutdown().await;
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_or_killed_worker_leaves_a_fanout_answer_with_the_others() {
    let hub = hyperfed_hub::start(config()).await.unwrap();
    let workers = three_workers(&hub.base_url()).await;
    let (client, _rec) = client(&hub.mcp_url(), None).await;

    // One worker hangs far beyond the fan-out timeout.
    workers[1]
        .cluster
        .latency_ms
        .store(30_000, Ordering::SeqCst);
    let (status, err) = tokio::time::timeout(
        Duration::from_secs(20),
        call(&client, "fleet_status", json!({})),
    )
    .await
    .expect("the fan-out answers by its timeout");
    assert!(!err);
    assert_eq!(status["totals"]["answered"], 2);
    assert_eq!(status["complete"], false);
    let missing = &status["unanswered"][0];
    assert_eq!(missing["cluster"], "dc1");
    assert!(
        missing["error"]
            .as_str()
            .unwrap()
            .contains("fan-out timeout")
    );
    let expected: u64 = [&workers[0], &workers[2]]
        .iter()
        .map(|w| w.cluster.info()["vms"]["total"].as_u64().unwrap())
        .sum();
    assert_eq!(status["totals"]["vms"]["total"].as_u64().unwrap(), expected);
    workers[1].cluster.latency_ms.store(0, Ordering::SeqCst);

    // Killing a worker: it is marked down, calls to it fail at once naming the cluster,
    // and fan-outs report it while answering for the others.
    let mut workers = workers;
    let killed = workers.remove(0);
    killed.shutdown().await;
    eventually("edge cluster marked down", || {
        hub.clusters()
            .iter()
            .any(|c| c.alias == "edge-site-1" && c.state == Health::Down)
    })
    .await;
    let (r, err) = call(&client, "edge-site-1__vm_list", json!({})).await;
    assert!(err);
    assert!(
        r.as_str()
            .unwrap()
            .contains("cluster 'edge-site-1' is down"),
        "{r}"
    );
    let (status, _) = call(&client, "fleet_status", json!({})).await;
    assert_eq!(status["totals"]["answered"], 2);
    assert_eq!(status["unanswered"][0]["cluster"], "edge-site-1");
    let edge = status["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cluster"] == "edge-site-1")
        .unwrap();
    assert_eq!(edge["status"], "down");

    client.cancel().await.unwrap();
    for w in workers {
        w.shutdown().await;
    }
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_receive_list_changed_on_join_leave_down_and_tool_changes() {
    let hub = hyperfed_hub::start(config()).await.unwrap();
    let (client, rec) = client(&hub.mcp_url(), None).await;
    // Give the client's GET stream a moment to attach before the first change.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = || rec.list_changed.load(Ordering::SeqCst);

    let a = FakeWorker::start(
        FakeCluster::archetype("edge", 1),
        &hub.base_url(),
        Some("a"),
    )
    .await;
    a.wait_joins(1).await;
    eventually("list_changed after a join", || seen() >= 1).await;
    let n = client.list_all_tools().await.unwrap().len();
    assert!(n > 7);

    let after_join = seen();
    assert_eq!(a.leave().await, 204);
    eventually("list_changed after a leave", || seen() > after_join).await;
    assert_eq!(hub.cluster_count(), 0);
    // Only the hub's own tools remain (three fleet reads, four placement tools).
    assert_eq!(client.list_all_tools().await.unwrap().len(), 7);

    // No notification on a timer: heartbeats of a healthy cluster send nothing.
    let b = FakeWorker::start(FakeCluster::archetype("dr", 2), &hub.base_url(), Some("b")).await;
    b.wait_joins(1).await;
    eventually("list_changed after the second join", || {
        seen() > after_join + 1
    })
    .await;
    let quiet = seen();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        seen(),
        quiet,
        "list_changed must not be sent while nothing changes"
    );

    // Down, then up again at the next heartbeat.
    b.pause_heartbeats(true);
    eventually("cluster b down", || hub.clusters()[0].state == Health::Down).await;
    eventually("list_changed on down", || seen() > quiet).await;
    b.pause_heartbeats(false);
    eventually("cluster b up again", || {
        hub.clusters()[0].state == Health::Up
    })
    .await;

    client.cancel().await.unwrap();
    a.shutdown().await;
    b.shutdown().await;
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_rejoin_after_hub_restart_and_audit_survives() {
    let dir = TempDir::new("restart");
    let mut cfg = config();
    cfg.data_dir = Some(dir.0.clone());
    let hub = hyperfed_hub::start(cfg.clone()).await.unwrap();
    let addr = hub.local_addr();
    let workers = three_workers(&hub.base_url()).await;
    let http = reqwest::Client::new();
    let r: Value = http
        .post(format!("{}/v1/tools/dc1__vm_start", hub.base_url()))
        .json(&json!({"vm": "datacenter1-vm3"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["task_tag"], "42", "{r}");
    hub.shutdown().await;

    // The database is released: the reader sees the audit trail.
    let entries = hyperfed_hub::audit::read(&dir.0).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].outcome, "ok");
    assert_eq!(entries[0].subject, "anonymous via rest");

    cfg.listen = addr;
    let hub = hyperfed_hub::start(cfg).await.unwrap();
    let states: Vec<Health> = hub.clusters().iter().map(|c| c.state).collect();
    assert_eq!(
        states,
        [Health::Reconnecting; 3],
        "known clusters reconnect after a restart"
    );
    // Their persisted tools are listed; calls fail at once until the workers re-join.
    assert!(hub.tool_count() > 3 * 7);
    for w in &workers {
        w.wait_joins(2).await;
    }
    eventually("all clusters up again", || {
        hub.clusters().iter().all(|c| c.state == Health::Up)
    })
    .await;
    let audit: Value = http
        .get(format!("{}/v1/audit", hub.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(audit["count"], 1);
    assert_eq!(audit["entries"][0]["cluster"], "dc1");
    let (client, _) = client(&hub.mcp_url(), None).await;
    let (status, _) = call(&client, "fleet_status", json!({})).await;
    assert_eq!(status["totals"]["answered"], 3);
    client.cancel().await.unwrap();
    for w in workers {
        w.shutdown().await;
    }
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_requires_the_token_and_compact_mode_routes_by_cluster() {
    let mut cfg = config();
    cfg.token = Some(Secret::new("client-token"));
    cfg.tools_mode = ToolsMode::Compact;
    let hub = hyperfed_hub::start(cfg).await.unwrap();
    let workers = three_workers(&hub.base_url()).await;
    let http = reqwest::Client::new();
    let base = hub.base_url();

    assert_eq!(
        http.get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    for path in ["/v1/clusters", "/v1/status", "/v1/tools", "/v1/audit"] {
        assert_eq!(
            http.get(format!("{base}{path}"))
                .send()
                .await
                .unwrap()
                .status(),
            401,
            "{path}"
        );
        let r = http
            .get(format!("{base}{path}"))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    let r = http
        .post(format!("{base}/mcp"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let get = |path: &str| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let r = http
                .get(url)
                .bearer_auth("client-token")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let clusters = get("/v1/clusters").await;
    assert_eq!(clusters["clusters"].as_array().unwrap().len(), 3);
    let vms = get("/v1/vms?state=RUNNING&cluster=dc1").await;
    let truth = workers[1]
        .cluster
        .vms()
        .iter()
        .filter(|v| v.state == "RUNNING")
        .count();
    assert_eq!(vms["count"].as_u64().unwrap() as usize, truth);
    let tools = get("/v1/tools").await;
    let names: BTreeSet<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains("vm_list") && names.contains("cluster_info"));
    assert!(
        !names.iter().any(|n| n.contains("__")),
        "compact mode exports no namespaced names"
    );
    let list = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "vm_list")
        .unwrap();
    assert_eq!(
        list["inputSchema"]["properties"]["cluster"]["enum"],
        json!(["dc1", "dr", "edge-site-1"])
    );
    assert_eq!(list["inputSchema"]["required"], json!(["cluster"]));

    // MCP with the token, compact calls.
    let (client, _) = client(&hub.mcp_url(), Some("client-token")).await;
    let (r, err) = call(&client, "vm_list", json!({"cluster": "dr"})).await;
    assert!(!err, "{r}");
    assert_eq!(
        r["count"].as_u64().unwrap() as usize,
        workers[2].cluster.vms().len()
    );
    let (r, err) = call(&client, "vm_list", json!({})).await;
    assert!(err);
    assert!(r.as_str().unwrap().contains("'cluster' is required"));
    let (r, err) = call(&client, "vm_start", json!({"vm": "edge-site-1/edge1-vm2"})).await;
    assert!(!err, "{r}");
    let audit = get("/v1/audit").await;
    assert_eq!(audit["entries"][0]["subject"], "bearer-token via mcp");
    assert_eq!(audit["entries"][0]["exported_tool"], "vm_start");
    client.cancel().await.unwrap();
    for w in workers {
        w.shutdown().await;
    }
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_notifications_pass_through() {
    let hub = hyperfed_hub::start(config()).await.unwrap();
    let w = FakeWorker::start(
        FakeCluster::archetype("edge", 3),
        &hub.base_url(),
        Some("e3"),
    )
    .await;
    w.wait_joins(1).await;
    let (client, rec) = client(&hub.mcp_url(), None).await;
    let mut p = rmcp::model::CallToolRequestParams::new("e3__vm_export")
        .with_arguments(json!({"vm": "edge3-vm1"}).as_object().cloned().unwrap());
    use rmcp::model::RequestParamsMeta as _;
    p.set_progress_token(rmcp::model::ProgressToken(
        rmcp::model::NumberOrString::String("client-tok".into()),
    ));
    let r = client.call_tool(p).await.unwrap();
    assert_eq!(r.structured_content.unwrap()["task_tag"], "77");
    eventually("the final progress notification", || {
        rec.progress
            .lock()
            .unwrap()
            .iter()
            .any(|p| p.progress == 2.0)
    })
    .await;
    let got = rec.progress.lock().unwrap().clone();
    // rmcp stamps its own token on the client's request; the hub maps the worker's back to it.
    assert!(
        got.iter()
            .all(|p| p.progress_token == got[0].progress_token && p.total == Some(2.0))
    );
    client.cancel().await.unwrap();
    w.shutdown().await;
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_tool_changes_are_relisted_and_cancellation_reaches_the_worker() {
    let hub = hyperfed_hub::start(config()).await.unwrap();
    let w = FakeWorker::start(
        FakeCluster::archetype("lab", 4),
        &hub.base_url(),
        Some("lab"),
    )
    .await;
    w.wait_joins(1).await;
    let (client, rec) = client(&hub.mcp_url(), None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rec.list_changed.load(Ordering::SeqCst);

    // The worker announces new tools: the hub re-lists them and tells its clients once.
    w.cluster.set_extra_tools(&["node_list", "bad tool"]).await;
    eventually("list_changed after the worker's tools changed", || {
        rec.list_changed.load(Ordering::SeqCst) > before
    })
    .await;
    let names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(names.contains(&"lab__node_list".to_owned()), "{names:?}");
    assert!(
        !names.iter().any(|n| n.contains("bad")),
        "invalid worker tools are refused"
    );

    // Cancelling a call on the hub cancels it on the worker.
    let params = rmcp::model::CallToolRequestParams::new("lab__vm_clone")
        .with_arguments(json!({"vm": "lab4-vm1"}).as_object().cloned().unwrap());
    let handle = client
        .peer()
        .send_request_with_option(
            rmcp::model::ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(params)),
            rmcp::service::PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    eventually("the slow call reached the worker", || {
        w.cluster.calls.load(Ordering::SeqCst) >= 1
    })
    .await;
    handle
        .cancel(Some("user pressed stop".into()))
        .await
        .unwrap();
    eventually("the worker saw the cancellation", || {
        w.cluster.cancelled.load(Ordering::SeqCst) == 1
    })
    .await;
    // The audit records the cancelled mutating call.
    let audit: Value = reqwest::get(format!("{}/v1/audit", hub.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last = &audit["entries"][0];
    assert_eq!(last["tool"], "vm_clone");
    assert_eq!(last["outcome"], "cancelled", "{last}");
    client.cancel().await.unwrap();
    w.shutdown().await;
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_cluster_rejoining_replaces_its_registration() {
    // Long heartbeats: the fake worker's own loop must not re-join under its name mid-test.
    let mut cfg = config();
    cfg.heartbeat_interval = Duration::from_secs(30);
    let hub = hyperfed_hub::start(cfg).await.unwrap();
    let http = reqwest::Client::new();
    let join = format!("{}/v1/join", hub.base_url());
    let w = FakeWorker::start(
        FakeCluster::archetype("edge", 5),
        &hub.base_url(),
        Some("first"),
    )
    .await;
    w.wait_joins(1).await;
    let uuid = w.cluster.uuid.clone();

    // Same cluster, same alias: replaced in place (still one registration).
    let again = JoinRequest::sign(&Secret::new(SECRET), "first", &uuid, "EDGE Site 5", &w.url);
    let r = http.post(&join).json(&again).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(hub.cluster_count(), 1);

    // Same cluster under a new name: the old alias is gone, its tools too.
    let renamed = JoinRequest::sign(
        &Secret::new(SECRET),
        "Second Name!",
        &uuid,
        "EDGE Site 5",
        &w.url,
    );
    let r = http.post(&join).json(&renamed).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["alias"], "second-name");
    let aliases: Vec<String> = hub.clusters().into_iter().map(|c| c.alias).collect();
    assert_eq!(aliases, ["second-name"]);
    let (client, _) = client(&hub.mcp_url(), None).await;
    let names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(names.iter().any(|n| n == "second-name__vm_list"));
    assert!(!names.iter().any(|n| n.starts_with("first__")));
    let (r, err) = call(&client, "second-name__cluster_info", json!({})).await;
    assert!(!err, "{r}");

    // The MCP endpoint refuses Host headers it was not told about (DNS rebinding).
    let r = http
        .post(hub.mcp_url())
        .header("host", "evil.example")
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    client.cancel().await.unwrap();
    w.shutdown().await;
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_actions_are_unknown_with_their_task_and_failures_name_the_cluster() {
    let mut cfg = config();
    cfg.call_timeout = Duration::from_millis(1500);
    let hub = hyperfed_hub::start(cfg).await.unwrap();
    let w = FakeWorker::start(
        FakeCluster::archetype("edge", 8),
        &hub.base_url(),
        Some("e8"),
    )
    .await;
    w.wait_joins(1).await;
    let (client, _) = client(&hub.mcp_url(), None).await;

    // A worker's own error result reaches the caller naming the cluster.
    let (r, err) = call(&client, "e8__vm_start", json!({"vm": "no-such-vm"})).await;
    assert!(err);
    assert_eq!(r.as_str().unwrap(), "cluster 'e8': no VM 'no-such-vm'");

    // An accepted action whose worker goes silent: outcome unknown, with the task it reported.
    let (r, err) = call(&client, "e8__vm_clone", json!({"vm": "edge8-vm1"})).await;
    assert!(err);
    let text = r.as_str().unwrap();
    assert!(text.starts_with("cluster 'e8': no answer within"), "{text}");
    assert!(
        text.contains("outcome is unknown") && text.contains("task 555"),
        "{text}"
    );
    let audit: Value = reqwest::get(format!("{}/v1/audit", hub.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last = audit["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["outcome"], "unknown", "{last}");
    assert_eq!(last["task_tag"], "555", "{last}");
    // The worker was told to stop waiting.
    eventually("the timed-out call was cancelled on the worker", || {
        w.cluster.cancelled.load(Ordering::SeqCst) == 1
    })
    .await;

    // A call in flight when the hub stops gets an answer instead of hanging.
    let peer = client.peer().clone();
    let pending = tokio::spawn(async move {
        let p = rmcp::model::CallToolRequestParams::new("e8__vm_clone")
            .with_arguments(json!({"vm": "edge8-vm2"}).as_object().cloned().unwrap());
        peer.call_tool(p).await
    });
    eventually("the second slow call reached the worker", || {
        w.cluster.calls.load(Ordering::SeqCst) >= 3
    })
    .await;
    hub.shutdown().await;
    let answer = tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .expect("the in-flight call is answered")
        .unwrap()
        .expect("an MCP answer, not a transport failure");
    assert_eq!(answer.is_error, Some(true));
    let text = format!("{:?}", answer.content);
    assert!(text.contains("shutting down"), "{text}");
    let _ = client.cancel().await;
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_2026_07_28_clients_list_call_and_hear_list_changed() {
    use rmcp::model::{ProtocolVersion, ServerNotification, SubscriptionFilter};
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt as _};
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

    let hub = hyperfed_hub::start(config()).await.unwrap();
    let a = FakeWorker::start(
        FakeCluster::archetype("edge", 1),
        &hub.base_url(),
        Some("a"),
    )
    .await;
    a.wait_joins(1).await;

    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(hub.mcp_url()),
    );
    let client = ()
        .serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("a 2026-07-28 client connects without a session");
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name.starts_with("a__")));

    let mut filter = SubscriptionFilter::new();
    filter.tools_list_changed = Some(true);
    let mut sub = client
        .peer()
        .listen(filter)
        .await
        .expect("subscriptions/listen");
    assert_eq!(sub.acknowledged().tools_list_changed, Some(true));

    let b = FakeWorker::start(FakeCluster::archetype("dc", 2), &hub.base_url(), Some("b")).await;
    b.wait_joins(1).await;
    let note = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("a list_changed notification within 10 s")
        .expect("subscription open");
    assert!(
        matches!(
            note,
            Some(ServerNotification::ToolListChangedNotification(_))
        ),
        "{note:?}"
    );
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name.starts_with("b__")));
    drop(sub);
    let _ = client.cancel().await;
    a.shutdown().await;
    b.shutdown().await;
    hub.shutdown().await;
}
