//! Debug logging of the client: requests are logged (method, path, status, elapsed), and no
//! password, Basic header or SMB credential ever reaches a log line.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hypercore::{AuthMode, Client, ClusterConfig, Credentials, ExportSpec, Secret, WaitOptions};
use hypercore_sim::{Archetype, SimConfig, Simulator};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_carry_requests_but_no_secrets() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "hypercore=trace,reqwest=trace",
        ))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut cfg = SimConfig::new(Some(Archetype::Edge), 3);
    cfg.password = "Pw-Sim-5511".into();
    cfg.task_duration = Duration::from_millis(50);
    let sim = Simulator::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let creds = Credentials::new("admin", "Pw-Sim-5511");
    let session = Client::new(ClusterConfig::new(sim.base_url(), creds.clone())).unwrap();
    let vm = session.list_vms().await.unwrap().remove(0);
    let r = session
        .export_vm(
            &vm.uuid,
            ExportSpec {
                target_uri: Secret::new("smb://CORP;bob:Smb-Pw-7788@unreachable.example/s/x"),
                ..ExportSpec::default()
            },
        )
        .await
        .unwrap();
    let options =
        WaitOptions::new(Duration::from_secs(10)).with_poll_interval(Duration::from_millis(20));
    let _ = session.wait_task(&r.task_tag, options, |_| {}).await;
    session.logout().await.unwrap();

    let basic =
        Client::new(ClusterConfig::new(sim.base_url(), creds).with_auth_mode(AuthMode::Basic))
            .unwrap();
    basic.list_nodes().await.unwrap();
    let wrong = Client::new(ClusterConfig::new(
        sim.base_url(),
        Credentials::new("admin", "Wrong-Pw-4242"),
    ))
    .unwrap();
    assert!(wrong.list_nodes().await.is_err());
    sim.shutdown().await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("hypercore request"), "{logs}");
    assert!(logs.contains("/login"), "{logs}");
    assert!(logs.contains("VirDomain"), "{logs}");
    for secret in [
        "Pw-Sim-5511",
        "Smb-Pw-7788",
        "Wrong-Pw-4242",
        // base64 of "admin:Pw-Sim-5511", the Basic header value.
        "YWRtaW46UHctU2ltLTU1MTE",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into logs:\n{logs}");
    }
}
