//! Behaviour of the HyperCore client against the simulator over real HTTP(S) on loopback:
//! every operation, auth modes, session expiry, errors, task waits, TLS trust and redaction.

use std::collections::HashSet;
use std::time::Duration;

use hypercore::model::{TaskState, VmState};
use hypercore::{
    AuthMode, Client, CloneSpec, ClusterConfig, Credentials, Error, ExportSpec, Method, RawBody,
    Secret, TlsMode, TransportKind, VmAction, WaitOptions,
};
use hypercore_sim::{Archetype, SimConfig, SimHandle, Simulator};
use serde_json::Value;

const FAST: Duration = Duration::from_millis(20);

fn sim_config() -> SimConfig {
    let mut cfg = SimConfig::new(Some(Archetype::Datacenter), 7);
    cfg.task_duration = Duration::from_millis(150);
    cfg.shutdown_duration = Duration::from_millis(200);
    cfg
}

async fn start(cfg: SimConfig) -> SimHandle {
    Simulator::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts")
}

fn config_for(sim: &SimHandle, password: &str) -> ClusterConfig {
    ClusterConfig::new(sim.base_url(), Credentials::new("admin", password))
        .with_request_timeout(Duration::from_secs(10))
}

fn client_for(sim: &SimHandle) -> Client {
    Client::new(config_for(sim, "admin")).unwrap()
}

fn waits() -> WaitOptions {
    WaitOptions::new(Duration::from_secs(20)).with_poll_interval(FAST)
}

/// The uuid of a VM in `state` that is not a replication target, from the ground truth.
async fn vm_in_state(client: &Client, state: VmState) -> String {
    client
        .list_vms()
        .await
        .unwrap()
        .into_iter()
        .find(|vm| vm.state == state && !vm.is_replication_target())
        .unwrap_or_else(|| panic!("the datacenter archetype has a {state} VM"))
        .uuid
}

#[tokio::test]
async fn reads_match_the_ground_truth() {
    let sim = start(sim_config()).await;
    let client = client_for(&sim);
    let truth = sim.truth();

    let vms = client.list_vms().await.unwrap();
    let truth_vms = truth["vms"].as_array().unwrap();
    assert_eq!(vms.len(), truth_vms.len());
    let names: HashSet<_> = vms.iter().map(|v| v.name.clone()).collect();
    for t in truth_vms {
        assert!(names.contains(t["name"].as_str().unwrap()));
    }
    let first = &vms[0];
    let got = client.get_vm(&first.uuid).await.unwrap().unwrap();
    assert_eq!(got.uuid, first.uuid);
    assert_eq!(got.name, first.name);
    let t = truth_vms
        .iter()
        .find(|t| t["uuid"] == Value::String(first.uuid.clone()))
        .unwrap();
    assert_eq!(got.state.as_str(), t["state"].as_str().unwrap());
    assert!(client.get_vm("no-such-vm").await.unwrap().is_none());

    let cluster = client.cluster().await.unwrap();
    assert_eq!(
        Value::String(cluster.uuid.clone()),
        truth["cluster"]["uuid"]
    );
    assert!(client.get_cluster(&cluster.uuid).await.unwrap().is_some());

    let nodes = client.list_nodes().await.unwrap();
    assert_eq!(nodes.len(), truth["nodes"].as_array().unwrap().len());
    assert!(client.get_node(&nodes[0].uuid).await.unwrap().is_some());
    assert!(client.get_node("missing").await.unwrap().is_none());

    let stats = client.list_vm_stats().await.unwrap();
    assert!(!stats.is_empty());
    assert!(client.get_vm_stats(&stats[0].uuid).await.unwrap().is_some());

    let snaps = client.list_snapshots().await.unwrap();
    if let Some(s) = snaps.first() {
        assert_eq!(
            client.get_snapshot(&s.uuid).await.unwrap().unwrap().uuid,
            s.uuid
        );
    }
    assert!(client.get_snapshot("missing").await.unwrap().is_none());

    let disks = client.list_block_devices().await.unwrap();
    assert!(!disks.is_empty());
    assert!(
        client
            .get_block_device(&disks[0].uuid)
            .await
            .unwrap()
            .is_some()
    );
    let nics = client.list_net_devices().await.unwrap();
    assert!(!nics.is_empty());
    assert!(
        client
            .get_net_device(&nics[0].uuid)
            .await
            .unwrap()
            .is_some()
    );

    let conditions = client.list_conditions().await.unwrap();
    assert!(!conditions.is_empty());
    let drives = client.list_drives().await.unwrap();
    assert!(!drives.is_empty());
    assert!(client.get_drive(&drives[0].uuid).await.unwrap().is_some());
    client.list_virtual_disks().await.unwrap();
    let isos = client.list_isos().await.unwrap();
    if let Some(i) = isos.first() {
        assert!(client.get_iso(&i.uuid).await.unwrap().is_some());
    }
    let users = client.list_users().await.unwrap();
    assert!(users.iter().any(|u| u.username == "admin"));
    client.list_tasks().await.unwrap();
    assert!(client.task("999999").await.unwrap().is_none());
    assert!(client.task("").await.unwrap().is_none());

    assert!(!client.ping().await.unwrap().status.is_empty());
    let doc = client.openapi().await.unwrap();
    assert!(doc["paths"].is_object());
    client.logout().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_credentials_are_an_auth_error_without_the_password() {
    let sim = start(sim_config()).await;
    let client = Client::new(config_for(&sim, "wrong-pass-xyz")).unwrap();
    let err = client.list_vms().await.unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    for text in [err.to_string(), format!("{err:?}"), format!("{client:?}")] {
        assert!(!text.contains("wrong-pass-xyz"), "{text}");
    }
    // Basic mode reports the same error kind.
    let basic =
        Client::new(config_for(&sim, "wrong-pass-xyz").with_auth_mode(AuthMode::Basic)).unwrap();
    let err = basic.list_nodes().await.unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    assert!(!format!("{err:?}").contains("wrong-pass-xyz"));
    sim.shutdown().await;
}

#[tokio::test]
async fn expired_session_is_renewed_transparently() {
    for status in [401u16, 503] {
        let mut cfg = sim_config();
        cfg.session_error_status = status;
        let sim = start(cfg).await;
        let client = client_for(&sim);
        client.list_vms().await.unwrap();
        assert_eq!(client.stats().logins, 1);
        sim.faults().update(|f| f.session_ttl_ms = Some(30));
        tokio::time::sleep(Duration::from_millis(150)).await;
        // The old session is gone: the call must still succeed after one re-login.
        client.list_nodes().await.unwrap();
        assert_eq!(client.stats().logins, 2, "status {status}");
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn logout_behind_the_clients_back_triggers_one_relogin() {
    let sim = start(sim_config()).await;
    let client = client_for(&sim);
    client.login().await.unwrap();
    assert_eq!(client.stats().logins, 1);
    // Destroy the session using the client's own cookie, without the client noticing.
    let r = client.raw(Method::POST, "/logout", None).await.unwrap();
    assert_eq!(r.status, 200);
    client.list_vms().await.unwrap();
    assert_eq!(client.stats().logins, 2);
    // A proper logout forgets the session; the next call logs in again.
    client.logout().await.unwrap();
    client.list_vms().await.unwrap();
    assert_eq!(client.stats().logins, 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn concurrent_reads_share_one_login() {
    let sim = start(sim_config()).await;
    let client = client_for(&sim);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..20 {
        let c = client.clone();
        set.spawn(async move {
            if i % 2 == 0 {
                c.list_vms().await.map(|v| v.len())
            } else {
                c.list_nodes().await.map(|v| v.len())
            }
        });
    }
    while let Some(r) = set.join_next().await {
        assert!(r.unwrap().unwrap() > 0);
    }
    assert_eq!(client.stats().logins, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn basic_auth_never_logs_in() {
    let sim = start(sim_config()).await;
    let client = Client::new(config_for(&sim, "admin").with_auth_mode(AuthMode::Basic)).unwrap();
    client.login().await.unwrap();
    assert!(!client.list_vms().await.unwrap().is_empty());
    let uuid = vm_in_state(&client, VmState::Shutoff).await;
    let r = client.vm_action(&uuid, VmAction::Start).await.unwrap();
    client
        .wait_task(&r.task_tag, waits(), |_| {})
        .await
        .unwrap();
    assert_eq!(client.stats().logins, 0);
    client.logout().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn invalid_transition_is_invalid_state() {
    let sim = start(sim_config()).await;
    let client = client_for(&sim);
    let uuid = vm_in_state(&client, VmState::Shutoff).await;
    let err = client.vm_action(&uuid, VmAction::Reset).await.unwrap_err();
    assert!(matches!(err, Error::InvalidState { .. }), "{err:?}");
    assert!(!err.is_retryable());
    sim.shutdown().await;
}

#[tokio::test]
async fn start_task_is_awaited_with_progress() {
    let sim = start(sim_config()).await;
    let client = client_for(&sim);
    let uuid = vm_in_state(&client, VmState::Shutoff).await;
    let result = client.vm_action(&uuid, VmAction::Start).await.unwrap();
    assert!(!result.task_tag.is_empty());
    let mut seen = Vec::new();
    let last = client
        .wait_task(&result.task_tag, waits(), |t| seen.push(t.state.clone()))
        .await
        .unwrap();
    assert!(!seen.is_empty(), "progress callback was called");
    if let Some(last) = last {
        assert_eq!(last.state, TaskState::Complete);
    }
    let vm = client.get_vm(&uuid).await.unwrap().unwrap();
    assert_eq!(vm.state, VmState::Running);
    // An empty tag means there is nothing to wait for.
    assert!(
        client
            .wait_task("", waits(), |_| panic!())
            .await
            .unwrap()
            .is_none()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn every_power_action_runs_through_its_task() {
    let sim = start(sim_config()).await;
    let client = client_for(&sim);
    let uuid = vm_in_state(&client, VmState::Running).await;
    let vm = client.get_vm(&uuid).await.unwrap().unwrap();
    let nodes = client.list_nodes().await.unwrap();
    let target = nodes
        .iter()
        .find(|n| n.uuid != vm.node_uuid && n.network_status.as_str() == "ONLINE")
        .expect("a second online node")
        .uuid
        .clone();
    let steps = [
        (
            VmAction::LiveMigrate {
                node_uuid: target.clone(),
            },
            VmState::Running,
        ),
        (VmAction::Nmi, VmState::Running),
        (VmAction::Reboot, VmState::Running),
        (VmAction::Reset, VmState::Running),
        (VmAction::Pause, VmState::Paused),
        (VmAction::Start, VmState::Running),
        (VmAction::Stop, VmState::Shutoff),
    ];
    for (action, expected) in steps {
        let r = client.vm_action(&uuid, action.clone()).await.unwrap();
        client
            .wait_task(&r.task_tag, waits(), |_| {})
            .await
            .unwrap();
        let vm = client.get_vm(&uuid).await.unwrap().unwrap();
        assert_eq!(vm.state, expected, "after {action:?}");
    }
    let vm = client.get_vm(&uuid).await.unwrap().unwrap();
    assert_eq!(vm.last_seen_running_on_node_uuid, target);
    // A migration needs a target node; the client refuses before calling the server.
    let err = client
        .vm_action(
            &uuid,
            VmAction::LiveMigrate {
                node_uuid: String::new(),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidArgument {
            argument: "node_uuid",
            ..
        }
    ));
    sim.shutdown().await;
}

#[tokio::test]
async fn actions_on_a_missing_vm_are_not_found() {
    let sim = start(sim_config()).await;
    let client = client_for(&sim);
    let err = client
        .vm_action("no-such-vm", VmAction::Start)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { kind, id } if kind == "VirDomain" && id == "no-such-vm"),
        "{err:?}"
    );
    let err = client.create_snapshot("no-such-vm", "x").await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = client
        .clone_vm(
            "no-such-vm",
            CloneSpec {
                name: "c".into(),
                ..CloneSpec::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = client
        .delete_snapshot("no-such-snapshot")
        .await
        .unwrap_err();
    assert!(!matches!(err, Error::Transport { .. }), "{err:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn failed_export_task_reports_the_message_without_the_password() {
    let sim = start(sim_config()).await;
    let client = client_for(&sim);
    let vm = client.list_vms().await.unwrap().remove(0);
    let r = client
        .export_vm(
            &vm.uuid,
            ExportSpec {
                target_uri: Secret::new("smb://CORP;bob:Kx7Hidden@unreachable.example/share/x"),
                ..ExportSpec::default()
            },
        )
        .await
        .unwrap();
    let mut last_state = None;
    let err = client
        .wait_task(&r.task_tag, waits(), |t| last_state = Some(t.state.clone()))
        .await
        .unwrap_err();
    assert_eq!(last_state, Some(TaskState::Error));
    match &err {
        Error::Task { tag, message } => {
            assert_eq!(tag, &r.task_tag);
            assert!(message.contains("unreachable"), "{message}");
            assert!(!message.contains("%@"), "{message}");
        }
        other => panic!("expected a task error, got {other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains("Kx7Hidden"));
    sim.shutdown().await;
}

#[tokio::test]
async fn task_wait_times_out() {
    let mut cfg = sim_config();
    cfg.task_duration = Duration::from_secs(60);
    let sim = start(cfg).await;
    let client = client_for(&sim);
    let uuid = vm_in_state(&client, VmState::Shutoff).await;
    let result = client.vm_action(&uuid, VmAction::Start).await.unwrap();
    let mut polls = 0;
    let err = client
        .wait_task(
            &result.task_tag,
            WaitOptions::new(Duration::from_millis(200)).with_poll_interval(FAST),
            |t| {
                assert!(t.is_pending());
                polls += 1;
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(polls >= 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_cancelled_wait_stops_but_the_task_goes_on() {
    let mut cfg = sim_config();
    cfg.task_duration = Duration::from_secs(60);
    let sim = start(cfg).await;
    let client = client_for(&sim);
    let uuid = vm_in_state(&client, VmState::Shutoff).await;
    let result = client.vm_action(&uuid, VmAction::Start).await.unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.cancel();
    });
    let started = std::time::Instant::now();
    let mut reports = 0;
    let err = client
        .wait_task_reporting(&result.task_tag, waits().with_cancel(cancel), |_| {
            reports += 1;
            std::future::ready(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(reports >= 1);
    let task = client.task(&result.task_tag).await.unwrap().unwrap();
    assert!(task.is_pending(), "{task:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn shutdown_waits_for_shutoff() {
    let sim = start(sim_config()).await;
    let client = client_for(&sim);
    let uuid = vm_in_state(&client, VmState::Running).await;
    let result = client.vm_action(&uuid, VmAction::Shutdown).await.unwrap();
    client
        .wait_task(&result.task_tag, waits(), |_| {})
        .await
        .unwrap();
    let vm = client
        .wait_vm_state(&uuid, VmState::Shutdown, waits(), |_| {})
        .await
        .unwrap();
    assert_eq!(vm.state, VmState::Shutoff);
    let err = client
        .wait_vm_state(
            "no-such-vm",
            VmState::Running,
            WaitOptions::new(Duration::from_secs(1)).with_poll_interval(FAST),
            |_| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn snapshot_clone_and_export() {
    let sim = start(sim_config()).await;
    let client = client_for(&sim);
    let vm = client.list_vms().await.unwrap().remove(0);

    let snap = client
        .create_snapshot(&vm.uuid, "before-upgrade")
        .await
        .unwrap();
    assert!(!snap.created_uuid.is_empty());
    client
        .wait_task(&snap.task_tag, waits(), |_| {})
        .await
        .unwrap();
    let s = client
        .get_snapshot(&snap.created_uuid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.label, "before-upgrade");
    assert_eq!(s.domain_uuid, vm.uuid);

    let clone = client
        .clone_vm(
            &vm.uuid,
            CloneSpec {
                name: "web-clone".into(),
                description: Some("clone under test".into()),
                tags: vec!["test".into(), "clone".into()],
                snap_uuid: Some(snap.created_uuid.clone()),
            },
        )
        .await
        .unwrap();
    client
        .wait_task(&clone.task_tag, waits(), |_| {})
        .await
        .unwrap();
    let cloned = client.get_vm(&clone.created_uuid).await.unwrap().unwrap();
    assert_eq!(cloned.name, "web-clone");
    assert_eq!(cloned.tag_list(), vec!["test", "clone"]);
    assert_eq!(cloned.state, VmState::Shutoff);

    let export = client
        .export_vm(
            &vm.uuid,
            ExportSpec {
                target_uri: Secret::new("smb://CORP;backup:Sm8Pa55@nas.example/share/exports"),
                snap_uuid: Some(snap.created_uuid.clone()),
                format: None,
                compress: true,
            },
        )
        .await
        .unwrap();
    client
        .wait_task(&export.task_tag, waits(), |_| {})
        .await
        .unwrap();

    let del = client.delete_snapshot(&snap.created_uuid).await.unwrap();
    client
        .wait_task(&del.task_tag, waits(), |_| {})
        .await
        .unwrap();
    assert!(
        client
            .get_snapshot(&snap.created_uuid)
            .await
            .unwrap()
            .is_none()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn smb_password_never_appears_in_errors() {
    let sim = start(sim_config()).await;
    let client = client_for(&sim);
    let vm = client.list_vms().await.unwrap().remove(0);
    let bad_uri = ExportSpec {
        target_uri: Secret::new("ftp://bob:Zq9SecretPw@nas/share"),
        ..ExportSpec::default()
    };
    let err = client
        .export_vm(&vm.uuid, bad_uri.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }));
    for text in [err.to_string(), format!("{err:?}"), format!("{bad_uri:?}")] {
        assert!(!text.contains("Zq9SecretPw"), "{text}");
    }
    // A missing VM: the server's error must not echo the URI's password either.
    let spec = ExportSpec {
        target_uri: Secret::new("smb://bob:Zq9SecretPw@nas/share/x"),
        ..ExportSpec::default()
    };
    match client.export_vm("no-such-vm", spec).await {
        Ok(r) => {
            let outcome = client.wait_task(&r.task_tag, waits(), |_| {}).await;
            if let Err(e) = outcome {
                assert!(!format!("{e} {e:?}").contains("Zq9SecretPw"));
            }
        }
        Err(e) => assert!(!format!("{e} {e:?}").contains("Zq9SecretPw"), "{e:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn raw_requests_pass_status_and_body_through() {
    let sim = start(sim_config()).await;
    let client = client_for(&sim);
    let r = client.raw(Method::GET, "/VirDomain", None).await.unwrap();
    assert_eq!(r.status, 200);
    let vms: Vec<hypercore::model::VirDomain> = Client::decode_records(&r).unwrap();
    assert_eq!(vms.len(), sim.truth()["vms"].as_array().unwrap().len());
    let r = client
        .raw(Method::GET, "rest/v1/VirDomain/missing", None)
        .await
        .unwrap();
    assert!(r.status == 200 || r.status == 404);
    if r.status == 200 {
        assert_eq!(r.body, RawBody::Json(Value::Array(vec![])));
    }
    for bad in ["../etc/passwd", "http://example.com/x", "VirDomain/../../x"] {
        let err = client.raw(Method::GET, bad, None).await.unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidArgument {
                argument: "path",
                ..
            }
        ));
    }
    // A body the server rejects comes back as a status, not an error.
    let r = client
        .raw(
            Method::POST,
            "VirDomain/action",
            Some(serde_json::json!({"not": "an array"})),
        )
        .await
        .unwrap();
    assert!(r.status >= 400, "{r:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn tls_trust_modes() {
    let mut cfg = sim_config();
    cfg.tls = true;
    let sim = start(cfg).await;
    assert!(sim.base_url().starts_with("https://"));
    let pem = sim.cert_pem().expect("TLS simulator has a certificate");

    let verify = client_for(&sim);
    let err = verify.list_vms().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Tls,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());

    let insecure = Client::new(config_for(&sim, "admin").with_tls(TlsMode::Insecure)).unwrap();
    assert!(!insecure.list_vms().await.unwrap().is_empty());

    let pinned =
        Client::new(config_for(&sim, "admin").with_tls(TlsMode::CaPem(pem.clone()))).unwrap();
    assert!(!pinned.list_nodes().await.unwrap().is_empty());

    let dir = std::env::temp_dir().join(format!("hypercore-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ca.pem");
    std::fs::write(&file, &pem).unwrap();
    let from_file = Client::new(config_for(&sim, "admin").with_tls(TlsMode::CaFile(file))).unwrap();
    assert!(from_file.ping().await.is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn unreachable_cluster_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = Client::new(ClusterConfig::new(
        format!("http://127.0.0.1:{port}"),
        Credentials::new("admin", "pw-never-shown"),
    ))
    .unwrap();
    let err = client.list_vms().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(!format!("{err} {err:?}").contains("pw-never-shown"));
}

#[tokio::test]
async fn down_cluster_fails_fast_and_recovers() {
    let sim = start(sim_config()).await;
    let client = client_for(&sim);
    client.list_vms().await.unwrap();
    sim.faults().update(|f| f.down = true);
    let err = client.list_vms().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Io | TransportKind::Connect,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable(), "{err:?}");
    sim.faults().clear();
    client.list_vms().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn slow_answers_hit_the_request_timeout() {
    let sim = start(sim_config()).await;
    let client =
        Client::new(config_for(&sim, "admin").with_request_timeout(Duration::from_millis(150)))
            .unwrap();
    client.login().await.unwrap();
    sim.faults().update(|f| f.latency_ms = 2_000);
    let err = client.list_vms().await.unwrap_err();
    assert!(
        matches!(&err, Error::Timeout { what, .. } if what.contains("VirDomain")),
        "{err:?}"
    );
    assert!(err.is_retryable());
    sim.faults().clear();
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_host_is_a_dns_error() {
    let client = Client::new(
        ClusterConfig::new(
            "https://no-such-cluster.invalid",
            Credentials::new("admin", "pw"),
        )
        .with_connect_timeout(Duration::from_secs(3))
        .with_request_timeout(Duration::from_secs(5)),
    )
    .unwrap();
    let e = client.ping().await.unwrap_err();
    match e {
        Error::Transport { kind, .. } => assert_eq!(kind, TransportKind::Dns),
        // A sandbox without any resolver may only time out; that is still not a server error.
        Error::Timeout { .. } => {}
        other => panic!("expected a DNS error, got {other:?}"),
    }
}

#[test]
fn urls_other_than_http_are_rejected() {
    for url in ["ftp://10.0.0.5", "10.0.0.5", "smb://u:p@h/s"] {
        let err = Client::new(ClusterConfig::new(url, Credentials::new("admin", "p"))).unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{url}: {err:?}");
    }
}
