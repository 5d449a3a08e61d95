//! REST behaviour of the simulator over real HTTP: authentication, every read endpoint,
//! the VM power state machine, snapshots, clone, export, PATCH and error shapes.

mod common;

use base64::Engine as _;
use common::{Api, client, fast_config, start};
use hypercore_sim::Archetype;
use serde_json::{Value, json};

const READ_PATHS: &[&str] = &[
    "/Cluster",
    "/Node",
    "/VirDomain",
    "/VirDomainStats",
    "/VirDomainSnapshot",
    "/VirDomainBlockDevice",
    "/VirDomainNetDevice",
    "/Condition",
    "/Drive",
    "/VirtualDisk",
    "/ISO",
    "/User",
    "/Role",
    "/TaskTag",
    "/VirDomainSnapshotSchedule",
];

#[tokio::test]
async fn login_cookie_basic_401_and_logout() {
    let sim = start(fast_config(Archetype::Edge, 1)).await;
    let http = client();
    let base = sim.base_url();

    // Bad credentials: 401 JSON.
    let resp = http
        .post(format!("{base}/rest/v1/login"))
        .json(&json!({"username": "admin", "password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"].is_string());

    // Good credentials: body and Set-Cookie carry the same session id.
    let resp = http
        .post(format!("{base}/rest/v1/login"))
        .json(&json!({"username": "admin", "password": "admin", "useOIDC": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    let id = body["sessionID"].as_str().unwrap();
    assert_eq!(cookie, format!("sessionID={id}; Path=/"));
    uuid::Uuid::parse_str(id).expect("session id is a uuid");

    // No credentials: 401 {"error"}.
    let resp = http
        .get(format!("{base}/rest/v1/VirDomain"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"].is_string());

    // Cookie works, also among other cookies.
    let resp = http
        .get(format!("{base}/rest/v1/Cluster"))
        .header("Cookie", format!("theme=dark; sessionID={id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Basic works; wrong Basic does not.
    let good = base64::engine::general_purpose::STANDARD.encode("admin:admin");
    let bad = base64::engine::general_purpose::STANDARD.encode("admin:nope");
    for (auth, want) in [(good, 200), (bad, 401)] {
        let resp = http
            .get(format!("{base}/rest/v1/Node"))
            .header("Authorization", format!("Basic {auth}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), want);
    }

    // Logout: 200 with an empty body, then the session is gone.
    let resp = http
        .post(format!("{base}/rest/v1/logout"))
        .header("Cookie", format!("sessionID={id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "");
    let resp = http
        .get(format!("{base}/rest/v1/Cluster"))
        .header("Cookie", format!("sessionID={id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // Malformed login body: 400.
    let resp = http
        .post(format!("{base}/rest/v1/login"))
        .json(&json!({"username": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn session_error_status_503_and_lru_limit() {
    let mut config = fast_config(Archetype::Edge, 2);
    config.session_error_status = 503;
    config.session_limit = 2;
    let sim = start(config).await;
    let first = Api::login(&sim).await;
    let second = Api::login(&sim).await;
    assert_eq!(first.get("/Cluster").await.0, 200);
    // A third login evicts the least recently used session (second).
    let third = Api::login(&sim).await;
    let (status, body) = second.get("/Cluster").await;
    assert_eq!(status, 503);
    assert_eq!(body["error"], "expired session or no session passed");
    assert_eq!(first.get("/Cluster").await.0, 200);
    assert_eq!(third.get("/Cluster").await.0, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn every_read_endpoint_returns_arrays_and_missing_ids_are_empty() {
    let sim = start(fast_config(Archetype::Lab, 5)).await;
    let api = Api::login(&sim).await;
    for path in READ_PATHS {
        let items = api.list(path).await;
        let missing = api
            .list(&format!("{path}/00000000-0000-4000-8000-000000000000"))
            .await;
        assert!(missing.is_empty(), "{path}/<missing> is []");
        if *path == "/TaskTag" {
            continue;
        }
        assert!(
            !items.is_empty() || *path == "/VirtualDisk",
            "{path} has data"
        );
        // GET by id returns the same record as a one-element list.
        if let Some(first) = items.first() {
            let key = if *path == "/Condition" {
                "name"
            } else {
                "uuid"
            };
            let id = first[key].as_str().unwrap();
            let one = api.list(&format!("{path}/{id}")).await;
            assert_eq!(one.len(), 1, "{path}/{{id}}");
            assert_eq!(one[0][key], first[key]);
        }
    }
    let (status, body) = api.get("/ping").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": "Active"}));
    assert!(api.list("/TaskTag/999999").await.is_empty());
    assert!(api.list("/TaskTag/not-a-number").await.is_empty());
    assert!(api.list("/VirDomain/action").await.is_empty());

    // Users never carry a password; VM tags are a string; condition tags an array.
    for user in api.list("/User").await {
        assert!(user.get("password").is_none());
    }
    let vm = &api.list("/VirDomain").await[0];
    assert!(vm["tags"].is_string());
    assert!(api.list("/Condition").await[0]["tags"].is_array());

    // Raised conditions through the filter endpoint.
    let raised = api.list("/Condition/filter?includeSet=true").await;
    assert!(raised.iter().all(|c| c["value"] == true));

    // Unknown routes are 404.
    assert_eq!(api.get("/NoSuchThing").await.0, 404);
    assert_eq!(api.get("/../../etc").await.0, 404);

    // The generated OpenAPI document describes what is implemented.
    let (status, doc) = api.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.0.0");
    assert!(doc["paths"]["/VirDomain/action"]["post"]["summary"].is_string());
    assert_eq!(
        doc["paths"]["/VirDomain/{virDomainUUID}"]["patch"]["tags"][0],
        "VirDomain"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn start_stop_shutdown_reset_and_replication_targets() {
    let sim = start(fast_config(Archetype::Datacenter, 7)).await;
    let api = Api::login(&sim).await;

    // START on SHUTOFF: a task that completes with the VM RUNNING, visible at once.
    let off = api.vm_in_state("SHUTOFF").await;
    let uuid = off["uuid"].as_str().unwrap();
    let (status, body) = api.action(uuid, "RESET").await;
    assert_eq!(status, 500, "RESET on SHUTOFF");
    assert_eq!(body, r#"{"error":"An internal error occurred"}"#);
    for bad in ["REBOOT", "SHUTDOWN", "STOP", "LIVEMIGRATE", "NMI", "PAUSE"] {
        assert_eq!(api.action(uuid, bad).await.0, 500, "{bad} on SHUTOFF");
    }
    let (status, body) = api.action(uuid, "START").await;
    assert_eq!(status, 200, "{body}");
    let tag = serde_json::from_str::<Value>(&body).unwrap()["taskTag"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(tag.parse::<u64>().is_ok(), "taskTag is a number string");
    let done = loop {
        let status = api.list(&format!("/TaskTag/{tag}")).await[0].clone();
        let state = status["state"].as_str().unwrap().to_owned();
        if state == "COMPLETE" {
            // The moment the task says COMPLETE, the VM is RUNNING.
            assert_eq!(api.vm(uuid).await["state"], "RUNNING");
            break status;
        }
        assert!(state == "QUEUED" || state == "RUNNING", "{state}");
        let pct = status["progressPercent"].as_i64().unwrap();
        assert!((0..100).contains(&pct));
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(done["progressPercent"], 100);
    assert_eq!(done["objectUUID"], uuid);
    let vm = api.vm(uuid).await;
    assert_eq!(vm["uiState"], "RUNNING");
    assert_eq!(vm["latestTaskTag"]["taskTag"], json!(tag));
    assert_eq!(vm["latestTaskTag"]["state"], "COMPLETE");
    assert_ne!(vm["nodeUUID"], "");

    // ACPI SHUTDOWN: empty tag, SHUTDOWN at once, SHUTOFF later; a repeat is a 500.
    let (status, body) = api.action(uuid, "SHUTDOWN").await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["taskTag"], "");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while api.vm(uuid).await["state"] != "SHUTOFF" {
        assert!(
            std::time::Instant::now() < deadline,
            "shutdown never finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }

    // STOP, PAUSE and START-from-PAUSED on a running VM.
    let running = api.vm_in_state("RUNNING").await;
    let r = running["uuid"].as_str().unwrap();
    let (_, body) = api.action(r, "PAUSE").await;
    let tag = serde_json::from_str::<Value>(&body).unwrap()["taskTag"]
        .as_str()
        .unwrap()
        .to_owned();
    api.wait_task(&tag).await;
    assert_eq!(api.vm(r).await["state"], "PAUSED");
    let (_, body) = api.action(r, "STOP").await;
    let tag = serde_json::from_str::<Value>(&body).unwrap()["taskTag"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(api.wait_task(&tag).await["state"], "COMPLETE");
    assert_eq!(api.vm(r).await["state"], "SHUTOFF");

    // START of a replication target is refused.
    let target = api
        .list("/VirDomain")
        .await
        .into_iter()
        .find(|v| v["sourceVirDomainUUID"] != "")
        .or(None);
    if let Some(target) = target {
        assert_eq!(
            api.action(target["uuid"].as_str().unwrap(), "START")
                .await
                .0,
            500
        );
    }

    // Malformed action bodies are 400 (plain text from the validator).
    let (status, text) = api
        .send("POST", "/VirDomain/action", json!({"virDomainUUID": uuid}))
        .await;
    assert_eq!(status, 400);
    assert!(text.starts_with("Request has one or more errors"), "{text}");
    let (status, _) = api
        .send(
            "POST",
            "/VirDomain/action",
            json!([{"virDomainUUID": uuid, "actionType": "EXPLODE"}]),
        )
        .await;
    assert_eq!(status, 400);
    // Unknown VM: 500 like an invalid transition.
    assert_eq!(
        api.action("00000000-0000-4000-8000-000000000000", "START")
            .await
            .0,
        500
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn dr_replication_target_cannot_start() {
    let sim = start(fast_config(Archetype::Dr, 3)).await;
    let api = Api::login(&sim).await;
    let target = api
        .list("/VirDomain")
        .await
        .into_iter()
        .find(|v| v["sourceVirDomainUUID"] != "")
        .expect("a DR site has replication targets");
    assert_eq!(target["state"], "SHUTOFF");
    let (status, body) = api.action(target["uuid"].as_str().unwrap(), "START").await;
    assert_eq!(status, 500);
    assert!(body.contains("An internal error occurred"));
    sim.shutdown().await;
}

#[tokio::test]
async fn live_migrate_moves_the_vm() {
    let sim = start(fast_config(Archetype::Datacenter, 11)).await;
    let api = Api::login(&sim).await;
    let vm = api.vm_in_state("RUNNING").await;
    let uuid = vm["uuid"].as_str().unwrap();
    let here = vm["nodeUUID"].as_str().unwrap();
    let other = api
        .list("/Node")
        .await
        .into_iter()
        .find(|n| n["uuid"] != here && n["networkStatus"] == "ONLINE")
        .unwrap();
    let other = other["uuid"].as_str().unwrap();
    // Without a node, or to the same node: 500.
    assert_eq!(api.action(uuid, "LIVEMIGRATE").await.0, 500);
    let (status, _) = api
        .send(
            "POST",
            "/VirDomain/action",
            json!([{"virDomainUUID": uuid, "actionType": "LIVEMIGRATE", "nodeUUID": here}]),
        )
        .await;
    assert_eq!(status, 500);
    let (tag, _) = api
        .mutate(
            "POST",
            "/VirDomain/action",
            json!([{"virDomainUUID": uuid, "actionType": "LIVEMIGRATE", "nodeUUID": other}]),
        )
        .await;
    api.wait_task(&tag).await;
    let moved = api.vm(uuid).await;
    assert_eq!(moved["nodeUUID"], other);
    assert_eq!(moved["uiState"], "RUNNING");
    sim.shutdown().await;
}

#[tokio::test]
async fn snapshots_create_and_delete_update_snap_uuids() {
    let sim = start(fast_config(Archetype::Edge, 4)).await;
    let api = Api::login(&sim).await;
    let vm = api.list("/VirDomain").await[0].clone();
    let uuid = vm["uuid"].as_str().unwrap();
    let before = vm["snapUUIDs"].as_array().unwrap().len();
    let (tag, snap) = api
        .mutate(
            "POST",
            "/VirDomainSnapshot",
            json!({"domainUUID": uuid, "label": "pre-upgrade", "type": "USER", "replication": true,
                   "localRetainUntilTimestamp": 1893456000.5, "remoteRetainUntilTimestamp": 0}),
        )
        .await;
    assert!(!snap.is_empty());
    assert_eq!(api.wait_task(&tag).await["state"], "COMPLETE");
    let vm = api.vm(uuid).await;
    let snaps = vm["snapUUIDs"].as_array().unwrap();
    assert_eq!(snaps.len(), before + 1);
    assert_eq!(snaps.last().unwrap(), &json!(snap));
    let record = api.list(&format!("/VirDomainSnapshot/{snap}")).await[0].clone();
    assert_eq!(record["state"], "CREATED");
    assert_eq!(record["label"], "pre-upgrade");
    assert_eq!(record["domain"]["name"], vm["name"]);
    assert!(record["deviceSnapshots"].is_array());

    // Unknown keys are rejected like HyperCore's validator does.
    let (status, _) = api
        .send(
            "POST",
            "/VirDomainSnapshot",
            json!({"domainUUID": uuid, "label": "x", "bogus": 1}),
        )
        .await;
    assert_eq!(status, 400);

    let (tag, created) = api
        .mutate("DELETE", &format!("/VirDomainSnapshot/{snap}"), json!({}))
        .await;
    assert_eq!(created, "");
    api.wait_task(&tag).await;
    assert!(
        api.list(&format!("/VirDomainSnapshot/{snap}"))
            .await
            .is_empty()
    );
    assert_eq!(
        api.vm(uuid).await["snapUUIDs"].as_array().unwrap().len(),
        before
    );
    // Deleting it again is a 500.
    assert_eq!(
        api.send("DELETE", &format!("/VirDomainSnapshot/{snap}"), json!({}))
            .await
            .0,
        500
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn clone_creates_a_shutoff_vm_with_new_devices() {
    let sim = start(fast_config(Archetype::Lab, 8)).await;
    let api = Api::login(&sim).await;
    let src = api
        .list("/VirDomain")
        .await
        .into_iter()
        .find(|v| !v["snapUUIDs"].as_array().unwrap().is_empty())
        .unwrap();
    let src_uuid = src["uuid"].as_str().unwrap();
    let snap = src["snapUUIDs"][0].as_str().unwrap();
    let (tag, clone) = api
        .mutate(
            "POST",
            &format!("/VirDomain/{src_uuid}/clone"),
            json!({"snapUUID": snap, "template": {"name": "restored-01", "description": "restore test", "tags": "restore,test"}}),
        )
        .await;
    assert!(!clone.is_empty());
    api.wait_task(&tag).await;
    let vm = api.vm(&clone).await;
    assert_eq!(vm["state"], "SHUTOFF");
    assert_eq!(vm["name"], "restored-01");
    assert_eq!(vm["tags"], "restore,test");
    assert_eq!(vm["snapUUIDs"], json!([]));
    let src_devs: Vec<&Value> = src["blockDevs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["uuid"])
        .collect();
    for dev in vm["blockDevs"].as_array().unwrap() {
        assert!(!src_devs.contains(&&dev["uuid"]), "new device uuids");
        assert_eq!(dev["virDomainUUID"], json!(clone));
    }
    for boot in vm["bootDevices"].as_array().unwrap() {
        assert!(
            vm["blockDevs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| &d["uuid"] == boot)
        );
    }
    // The clone's devices are listed by the device endpoints too.
    let nic = vm["netDevs"][0]["uuid"].as_str().unwrap();
    assert_eq!(
        api.list(&format!("/VirDomainNetDevice/{nic}")).await.len(),
        1
    );
    // A clone can be started.
    let (_, body) = api.action(&clone, "START").await;
    let tag = serde_json::from_str::<Value>(&body).unwrap()["taskTag"]
        .as_str()
        .unwrap()
        .to_owned();
    api.wait_task(&tag).await;
    assert_eq!(api.vm(&clone).await["state"], "RUNNING");

    // Read-only keys in the template and unknown snapshots are rejected.
    let (status, text) = api
        .send(
            "POST",
            &format!("/VirDomain/{src_uuid}/clone"),
            json!({"template": {"name": "x", "uuid": "y"}}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(text.contains("read only"), "{text}");
    let (status, _) = api
        .send(
            "POST",
            &format!("/VirDomain/{src_uuid}/clone"),
            json!({"snapUUID": "nope", "template": {"name": "x"}}),
        )
        .await;
    assert_eq!(status, 500);
    sim.shutdown().await;
}

#[tokio::test]
async fn export_completes_or_errors_without_leaking_the_uri() {
    let sim = start(fast_config(Archetype::Edge, 9)).await;
    let api = Api::login(&sim).await;
    let uuid = api.list("/VirDomain").await[0]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/VirDomain/{uuid}/export");
    let (tag, _) = api
        .mutate("POST", &path, json!({"target": {"pathURI": "smb://CORP;backup:S3cretPw@nas.example.com/exports/vm1", "format": ""}}))
        .await;
    assert_eq!(api.wait_task(&tag).await["state"], "COMPLETE");

    let (tag, _) = api
        .mutate(
            "POST",
            &path,
            json!({"target": {"pathURI": "smb://backup:S3cretPw@nas.invalid/exports/vm1"}}),
        )
        .await;
    let failed = api.wait_task(&tag).await;
    assert_eq!(failed["state"], "ERROR");
    assert!(
        failed["messageParameters"]
            .to_string()
            .contains("unreachable")
    );
    let everything = api.list("/TaskTag").await;
    assert!(
        !serde_json::to_string(&everything)
            .unwrap()
            .contains("S3cretPw")
    );

    let (tag, _) = api
        .mutate(
            "POST",
            &path,
            json!({"target": {"pathURI": "ftp://nas/exports"}}),
        )
        .await;
    assert_eq!(api.wait_task(&tag).await["state"], "ERROR");

    // Missing pathURI or extra target keys: 400.
    assert_eq!(api.send("POST", &path, json!({"target": {}})).await.0, 400);
    assert_eq!(
        api.send(
            "POST",
            &path,
            json!({"target": {"pathURI": "smb://a/b/c", "speed": 1}})
        )
        .await
        .0,
        400
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn patch_rules() {
    let sim = start(fast_config(Archetype::Datacenter, 12)).await;
    let api = Api::login(&sim).await;
    let running = api.vm_in_state("RUNNING").await;
    let r = running["uuid"].as_str().unwrap();
    // mem / numVCPU changes need the VM off.
    assert_eq!(
        api.send(
            "PATCH",
            &format!("/VirDomain/{r}"),
            json!({"mem": 1073741824i64 * 64})
        )
        .await
        .0,
        500
    );
    // Name, description and tags change on a running VM, when the task completes.
    let (tag, _) = api
        .mutate(
            "PATCH",
            &format!("/VirDomain/{r}"),
            json!({"name": "renamed-vm", "description": "d", "tags": "a,b"}),
        )
        .await;
    api.wait_task(&tag).await;
    let vm = api.vm(r).await;
    assert_eq!(
        (vm["name"].as_str(), vm["tags"].as_str()),
        (Some("renamed-vm"), Some("a,b"))
    );

    let off = api.vm_in_state("SHUTOFF").await;
    let o = off["uuid"].as_str().unwrap();
    let (tag, _) = api
        .mutate(
            "PATCH",
            &format!("/VirDomain/{o}"),
            json!({"mem": 4294967296i64, "numVCPU": 3}),
        )
        .await;
    api.wait_task(&tag).await;
    let vm = api.vm(o).await;
    assert_eq!(
        (vm["mem"].as_i64(), vm["numVCPU"].as_i64()),
        (Some(4294967296), Some(3))
    );

    // Read-only, unknown and mistyped fields: 400.
    for body in [
        json!({"state": "RUNNING"}),
        json!({"color": "red"}),
        json!({"mem": "lots"}),
    ] {
        assert_eq!(
            api.send("PATCH", &format!("/VirDomain/{o}"), body).await.0,
            400
        );
    }
    // Not JSON at all: 400 with a JSON error.
    let resp = api
        .http
        .patch(format!("{}/rest/v1/VirDomain/{o}", api.base))
        .header("Cookie", format!("sessionID={}", api.session))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"].is_string());
    sim.shutdown().await;
}

#[tokio::test]
async fn intermediate_states_are_visible_before_tasks_complete() {
    // Tasks and ACPI shutdown take far longer than this test runs: only in-flight states show.
    // Seed 9: every node has free memory, so the START below is accepted (capacity is enforced).
    let mut config = fast_config(Archetype::Datacenter, 9);
    config.task_duration = std::time::Duration::from_secs(600);
    config.shutdown_duration = std::time::Duration::from_secs(600);
    let sim = start(config).await;
    let api = Api::login(&sim).await;

    let off = api.vm_in_state("SHUTOFF").await;
    let o = off["uuid"].as_str().unwrap();
    let (tag, _) = api
        .mutate(
            "POST",
            "/VirDomain/action",
            json!([{"virDomainUUID": o, "actionType": "START"}]),
        )
        .await;
    let status = api.list(&format!("/TaskTag/{tag}")).await[0].clone();
    assert!(
        status["state"] == "QUEUED" || status["state"] == "RUNNING",
        "{status}"
    );
    assert_eq!(status["completed"], 0);
    let vm = api.vm(o).await;
    assert_eq!(
        (vm["state"].as_str(), vm["uiState"].as_str()),
        (Some("SHUTOFF"), Some("STARTING"))
    );
    assert!(
        api.list("/TaskTag")
            .await
            .iter()
            .any(|t| t["taskTag"] == json!(tag))
    );

    let running = api.vm_in_state("RUNNING").await;
    let r = running["uuid"].as_str().unwrap();
    let (status, _) = api.action(r, "SHUTDOWN").await;
    assert_eq!(status, 200);
    let vm = api.vm(r).await;
    assert_eq!(vm["state"], "SHUTDOWN");
    assert_eq!(
        api.action(r, "SHUTDOWN").await.0,
        500,
        "a repeated ACPI shutdown is refused"
    );
    // RESET and STOP are allowed while shutting down.
    let (tag, _) = api
        .mutate(
            "POST",
            "/VirDomain/action",
            json!([{"virDomainUUID": r, "actionType": "STOP"}]),
        )
        .await;
    assert!(!tag.is_empty());
    assert_eq!(api.vm(r).await["uiState"], "STOPPING");

    let snap_vm = api.list("/VirDomain").await[0]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = api.vm(&snap_vm).await["snapUUIDs"]
        .as_array()
        .unwrap()
        .len();
    let (_, snap) = api
        .mutate(
            "POST",
            "/VirDomainSnapshot",
            json!({"domainUUID": snap_vm, "label": "x", "type": "USER"}),
        )
        .await;
    assert_eq!(
        api.list(&format!("/VirDomainSnapshot/{snap}")).await[0]["state"],
        "CREATING"
    );
    assert_eq!(
        api.vm(&snap_vm).await["snapUUIDs"]
            .as_array()
            .unwrap()
            .len(),
        before
    );

    let (_, clone) = api
        .mutate(
            "POST",
            &format!("/VirDomain/{snap_vm}/clone"),
            json!({"template": {"name": "c"}}),
        )
        .await;
    assert!(
        api.list(&format!("/VirDomain/{clone}")).await.is_empty(),
        "clone appears on completion"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn openapi_file_replaces_the_generated_document() {
    let dir = std::env::temp_dir().join(format!("hypercore-sim-openapi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("openapi.json");
    std::fs::write(
        &file,
        r#"{"openapi":"3.0.0","info":{"title":"from file","version":"1"},"paths":{}}"#,
    )
    .unwrap();
    let mut config = fast_config(Archetype::Edge, 1);
    config.openapi_file = Some(file.clone());
    let sim = start(config).await;
    let api = Api::login(&sim).await;
    let (status, doc) = api.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["info"]["title"], "from file");
    sim.shutdown().await;

    // A missing file is a clear start-up error naming the file.
    let mut config = fast_config(Archetype::Edge, 1);
    config.openapi_file = Some(dir.join("missing.json"));
    let err = hypercore_sim::Simulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing.json"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn concurrent_reads_and_mutations_stay_consistent() {
    let sim = start(fast_config(Archetype::Datacenter, 13)).await;
    let api = std::sync::Arc::new(Api::login(&sim).await);
    let vm = api.list("/VirDomain").await[0].clone();
    let uuid = vm["uuid"].as_str().unwrap().to_owned();
    let before = vm["snapUUIDs"].as_array().unwrap().len();
    let mut jobs = tokio::task::JoinSet::new();
    for i in 0..16 {
        let (api, uuid) = (api.clone(), uuid.clone());
        jobs.spawn(async move {
            if i % 2 == 0 {
                let (tag, _) = api
                    .mutate(
                        "POST",
                        "/VirDomainSnapshot",
                        json!({"domainUUID": uuid, "label": format!("c{i}")}),
                    )
                    .await;
                api.wait_task(&tag).await;
            } else {
                assert!(!api.list("/VirDomain").await.is_empty());
                assert!(!api.list("/VirDomainStats").await.is_empty());
            }
        });
    }
    while let Some(done) = jobs.join_next().await {
        done.unwrap();
    }
    let after = api.vm(&uuid).await["snapUUIDs"].as_array().unwrap().len();
    assert_eq!(after, before + 8);
    sim.shutdown().await;
}

#[tokio::test]
async fn crashed_vm_can_be_started() {
    let sim = start(fast_config(Archetype::Lab, 4)).await;
    let api = Api::login(&sim).await;
    let crashed = api.vm_in_state("CRASHED").await;
    let uuid = crashed["uuid"].as_str().unwrap();
    assert_eq!(crashed["desiredDisposition"], "RUNNING");
    assert_eq!(
        api.action(uuid, "RESET").await.0,
        500,
        "RESET needs RUNNING or SHUTDOWN"
    );
    let (_, body) = api.action(uuid, "START").await;
    let tag = serde_json::from_str::<Value>(&body).unwrap()["taskTag"]
        .as_str()
        .unwrap()
        .to_owned();
    api.wait_task(&tag).await;
    assert_eq!(api.vm(uuid).await["state"], "RUNNING");
    sim.shutdown().await;
}

#[tokio::test]
async fn custom_credentials() {
    let mut config = fast_config(Archetype::Edge, 14);
    config.username = "ops".into();
    config.password = "pa:ss word".into();
    let sim = start(config).await;
    let resp = client()
        .post(format!("{}/rest/v1/login", sim.base_url()))
        .json(&json!({"username": "admin", "password": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let api = Api::login_with(client(), &sim.base_url(), "ops", "pa:ss word").await;
    assert!(
        api.list("/User")
            .await
            .iter()
            .any(|u| u["username"] == "ops")
    );
    let basic = base64::engine::general_purpose::STANDARD.encode("ops:pa:ss word");
    let resp = client()
        .get(format!("{}/rest/v1/Cluster", sim.base_url()))
        .header("Authorization", format!("Basic {basic}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "passwords may contain ':'");
    sim.shutdown().await;
}

#[tokio::test]
async fn whole_collection_reads_follow_every_change() {
    // Whole collections are encoded once per state version: a mutation, and a task that
    // completes later on its own, must both show in the next whole-collection read.
    let sim = start(fast_config(Archetype::Edge, 5)).await;
    let api = Api::login(&sim).await;
    let state_of = |list: &[Value], uuid: &str| {
        list.iter()
            .find(|v| v["uuid"] == uuid)
            .map(|v| (v["state"].clone(), v["uiState"].clone()))
    };
    let off = api.vm_in_state("SHUTOFF").await;
    let uuid = off["uuid"].as_str().unwrap().to_owned();
    let first = api.list("/VirDomain").await;
    assert_eq!(
        first,
        api.list("/VirDomain").await,
        "unchanged state, same answer"
    );
    let (tag, _) = api
        .mutate(
            "POST",
            "/VirDomain/action",
            json!([{"virDomainUUID": uuid, "actionType": "START"}]),
        )
        .await;
    assert_eq!(
        state_of(&api.list("/VirDomain").await, &uuid),
        Some((json!("SHUTOFF"), json!("STARTING"))),
        "the mutation shows at once"
    );
    api.wait_task(&tag).await;
    assert_eq!(
        state_of(&api.list("/VirDomain").await, &uuid).map(|s| s.0),
        Some(json!("RUNNING")),
        "the completed task shows"
    );
    sim.shutdown().await;
}
