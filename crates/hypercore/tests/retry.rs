//! Read retries and mutation safety over real HTTP on loopback: transient read failures are
//! retried a bounded number of times (counted on stub servers), mutations are sent exactly
//! once, and a mutation whose connection drops reports an unknown outcome.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use hypercore::{AuthMode, Client, ClusterConfig, Credentials, Error, Method, VmAction};
use hypercore_sim::{Archetype, SimConfig, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Request counters of the stub, one per route, and how many reads still fail.
#[derive(Default)]
struct Stub {
    flaky_left: AtomicUsize,
    flaky: AtomicUsize,
    failing: AtomicUsize,
    invalid: AtomicUsize,
    deletes: AtomicUsize,
    actions: AtomicUsize,
}

fn json(status: StatusCode, body: &'static str) -> Response {
    (status, [("content-type", "application/json")], body).into_response()
}

/// Answers 503 while `flaky_left` is positive, then an empty list.
async fn flaky(State(s): State<Arc<Stub>>) -> Response {
    s.flaky.fetch_add(1, Ordering::SeqCst);
    let failing = s
        .flaky_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        json(StatusCode::SERVICE_UNAVAILABLE, r#"{"error":"busy"}"#)
    } else {
        json(StatusCode::OK, "[]")
    }
}

async fn always_502(State(s): State<Arc<Stub>>) -> Response {
    s.failing.fetch_add(1, Ordering::SeqCst);
    json(StatusCode::BAD_GATEWAY, r#"{"error":"upstream down"}"#)
}

async fn bad_request(State(s): State<Arc<Stub>>) -> Response {
    s.invalid.fetch_add(1, Ordering::SeqCst);
    json(StatusCode::BAD_REQUEST, r#"{"error":"bad filter"}"#)
}

async fn delete_fails(State(s): State<Arc<Stub>>) -> Response {
    s.deletes.fetch_add(1, Ordering::SeqCst);
    json(
        StatusCode::INTERNAL_SERVER_ERROR,
        r#"{"error":"An internal error occurred"}"#,
    )
}

async fn action_busy(State(s): State<Arc<Stub>>) -> Response {
    s.actions.fetch_add(1, Ordering::SeqCst);
    json(StatusCode::SERVICE_UNAVAILABLE, r#"{"error":"busy"}"#)
}

async fn serve(stub: Arc<Stub>) -> (String, tokio::task::JoinHandle<()>) {
    let app = Router::new()
        .route("/rest/v1/Node", get(flaky))
        .route("/rest/v1/Condition", get(always_502).post(always_502))
        .route("/rest/v1/User", get(bad_request))
        .route("/rest/v1/VirDomainSnapshot/{id}", delete(delete_fails))
        .route("/rest/v1/VirDomain/action", post(action_busy))
        .with_state(stub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

/// A server that reads each whole request, counts it and closes the connection unanswered.
async fn serve_dropper(count: Arc<AtomicUsize>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let mut wanted = None;
                loop {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if wanted.is_none()
                        && let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n")
                    {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        wanted = Some(end + 4 + length);
                    }
                    if wanted.is_some_and(|w| buf.len() >= w) {
                        break;
                    }
                }
                count.fetch_add(1, Ordering::SeqCst);
                let _ = stream.shutdown().await;
            });
        }
    });
    (url, task)
}

fn config(url: &str) -> ClusterConfig {
    ClusterConfig::new(url, Credentials::new("admin", "admin"))
        .with_auth_mode(AuthMode::Basic)
        .with_request_timeout(Duration::from_secs(10))
        .with_retry_backoff(Duration::from_millis(2))
}

fn client(url: &str) -> Client {
    Client::new(config(url)).unwrap()
}

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

/// The debug log of every test in this binary (a global subscriber: a thread-local one can
/// miss events whose callsites another test thread registered first).
fn captured_logs() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("hypercore=debug"))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        capture
    })
}

#[tokio::test]
async fn a_read_that_fails_twice_succeeds_on_the_third_attempt_and_logs_retries() {
    let capture = captured_logs();
    let stub = Arc::new(Stub::default());
    let (url, server) = serve(stub.clone()).await;
    stub.flaky_left.store(2, Ordering::SeqCst);
    let nodes = client(&url).list_nodes().await.unwrap();
    assert!(nodes.is_empty());
    assert_eq!(stub.flaky.load(Ordering::SeqCst), 3);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    // Only this test retries reads of /Node.
    let retries: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("retrying") && l.contains("path=Node"))
        .collect();
    assert_eq!(retries.len(), 2, "{logs}");
    assert!(
        retries[0].contains("method=GET")
            && retries[0].contains("path=Node")
            && retries[0].contains("attempt=1")
            && retries[0].contains("HTTP 503"),
        "{logs}"
    );
    assert!(retries[1].contains("attempt=2"), "{logs}");
    assert!(
        !logs.contains("YWRtaW46YWRtaW4"),
        "the Basic header leaked: {logs}"
    );
    server.abort();
}

#[tokio::test]
async fn a_read_that_keeps_failing_gives_up_after_the_configured_attempts() {
    let stub = Arc::new(Stub::default());
    let (url, server) = serve(stub.clone()).await;

    let err = client(&url).list_conditions().await.unwrap_err();
    assert!(
        matches!(&err, Error::Server { status: 502, message }
            if message.contains("upstream down") && message.contains("gave up after 3 attempts")),
        "{err:?}"
    );
    assert_eq!(stub.failing.load(Ordering::SeqCst), 3);

    stub.failing.store(0, Ordering::SeqCst);
    let five = Client::new(config(&url).with_read_retries(4)).unwrap();
    let err = five.list_conditions().await.unwrap_err();
    assert!(
        err.to_string().contains("gave up after 5 attempts"),
        "{err}"
    );
    assert_eq!(stub.failing.load(Ordering::SeqCst), 5);

    // raw GET is a read and is retried; the last answer comes back as it is.
    stub.failing.store(0, Ordering::SeqCst);
    let resp = client(&url)
        .raw(Method::GET, "/Condition", None)
        .await
        .unwrap();
    assert_eq!(resp.status, 502);
    assert_eq!(stub.failing.load(Ordering::SeqCst), 3);
    server.abort();
}

#[tokio::test]
async fn zero_read_retries_disables_retrying() {
    let stub = Arc::new(Stub::default());
    let (url, server) = serve(stub.clone()).await;
    let once = Client::new(config(&url).with_read_retries(0)).unwrap();

    let err = once.list_conditions().await.unwrap_err();
    assert!(
        matches!(&err, Error::Server { status: 502, message } if !message.contains("gave up")),
        "{err:?}"
    );
    assert_eq!(stub.failing.load(Ordering::SeqCst), 1);

    stub.flaky_left.store(1, Ordering::SeqCst);
    let err = once.list_nodes().await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err:?}");
    assert_eq!(stub.flaky.load(Ordering::SeqCst), 1);
    server.abort();
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let stub = Arc::new(Stub::default());
    let (url, server) = serve(stub.clone()).await;
    let err = client(&url).list_users().await.unwrap_err();
    assert!(
        matches!(err, Error::Validation { status: 400, .. }),
        "{err:?}"
    );
    assert_eq!(stub.invalid.load(Ordering::SeqCst), 1);
    server.abort();
}

#[tokio::test]
async fn failed_mutations_are_sent_exactly_once() {
    let stub = Arc::new(Stub::default());
    let (url, server) = serve(stub.clone()).await;
    let client = client(&url);

    let err = client.delete_snapshot("snap-1").await.unwrap_err();
    assert!(matches!(err, Error::Server { status: 500, .. }), "{err:?}");
    assert_eq!(stub.deletes.load(Ordering::SeqCst), 1);

    let err = client.vm_action("vm-1", VmAction::Start).await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err:?}");
    assert_eq!(stub.actions.load(Ordering::SeqCst), 1);

    let resp = client
        .raw(Method::POST, "/Condition", Some(serde_json::json!({})))
        .await
        .unwrap();
    assert_eq!(resp.status, 502);
    assert_eq!(stub.failing.load(Ordering::SeqCst), 1);
    server.abort();
}

#[tokio::test]
async fn dropped_connections_retry_reads_and_make_mutations_outcome_unknown() {
    let count = Arc::new(AtomicUsize::new(0));
    let (url, server) = serve_dropper(count.clone()).await;
    let client = client(&url);

    let err = client.list_vms().await.unwrap_err();
    assert!(
        matches!(&err, Error::Transport { message, .. } if message.contains("gave up after 3 attempts")),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(count.load(Ordering::SeqCst), 3);

    count.store(0, Ordering::SeqCst);
    let err = client.vm_action("vm-1", VmAction::Stop).await.unwrap_err();
    assert!(
        matches!(&err, Error::OutcomeUnknown { what, .. } if what == "POST /VirDomain/action"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("the cluster may or may not have applied the change"),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert_eq!(count.load(Ordering::SeqCst), 1);

    count.store(0, Ordering::SeqCst);
    let err = client.delete_snapshot("snap-1").await.unwrap_err();
    assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err:?}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
    server.abort();
}

#[tokio::test]
async fn a_refused_mutation_is_a_plain_transport_error() {
    // Nothing listens on the port: the request was never sent, so the outcome is known.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = client(&url).delete_snapshot("snap-1").await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
}

#[tokio::test]
async fn reads_survive_a_flaky_simulator() {
    let mut cfg = SimConfig::new(Some(Archetype::Edge), 5);
    cfg.task_duration = Duration::from_millis(50);
    let sim = Simulator::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = Client::new(
        ClusterConfig::new(sim.base_url(), Credentials::new("admin", "admin"))
            .with_request_timeout(Duration::from_secs(10))
            .with_read_retries(20)
            .with_retry_backoff(Duration::from_millis(1)),
    )
    .unwrap();
    let vm = client.list_vms().await.unwrap().remove(0);
    sim.faults().update(|f| f.error_rate = 0.5);
    for _ in 0..50 {
        assert!(!client.list_vms().await.unwrap().is_empty());
    }
    assert_eq!(
        client.get_vm(&vm.uuid).await.unwrap().unwrap().uuid,
        vm.uuid
    );

    sim.faults().update(|f| {
        f.error_rate = 0.0;
        f.drop_connections_rate = 0.5;
    });
    for _ in 0..20 {
        client.cluster().await.unwrap();
    }

    // A cluster that closes every connection: the mutation is sent once, its outcome unknown.
    sim.faults().update(|f| {
        f.drop_connections_rate = 0.0;
        f.down = true;
    });
    let err = client
        .vm_action(&vm.uuid, VmAction::Reboot)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err:?}");
    sim.faults().clear();
    sim.shutdown().await;
}
