//! Client behaviour that needs a server under the test's control (a small axum stub on
//! loopback): mutations are serialized per client while reads overlap, plain-text 400s keep
//! their text, and non-JSON answers are decode errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hypercore::{AuthMode, Client, CloneSpec, ClusterConfig, Credentials, Error};
use tokio::sync::Notify;

#[derive(Default)]
struct Counters {
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    reads_seen: AtomicUsize,
    all_reads_here: Notify,
}

const PARALLEL_READS: usize = 4;

impl Counters {
    fn enter(&self) {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn snapshot(State(c): State<Arc<Counters>>) -> Response {
    c.enter();
    // Hold the request open so an unserialized second mutation would overlap with it.
    tokio::time::sleep(Duration::from_millis(30)).await;
    c.leave();
    (
        [("content-type", "application/json")],
        r#"{"taskTag":"1","createdUUID":"s"}"#,
    )
        .into_response()
}

async fn nodes(State(c): State<Arc<Counters>>) -> Response {
    c.enter();
    // Answer only once every parallel read has arrived (bounded, so a regression fails
    // instead of hanging): this only completes promptly if reads really run concurrently.
    let notified = c.all_reads_here.notified();
    tokio::pin!(notified);
    // Register before counting, so the last reader's notify_waiters cannot be missed.
    notified.as_mut().enable();
    if c.reads_seen.fetch_add(1, Ordering::SeqCst) + 1 >= PARALLEL_READS {
        c.all_reads_here.notify_waiters();
    } else {
        let _ = tokio::time::timeout(Duration::from_secs(5), notified).await;
    }
    c.leave();
    ([("content-type", "application/json")], "[]").into_response()
}

async fn clone_rejected() -> Response {
    (
        StatusCode::BAD_REQUEST,
        "Request has one or more errors\n  In body\n    Cannot write to a read only property: uuid",
    )
        .into_response()
}

async fn html() -> Response {
    ([("content-type", "text/html")], "<html>maintenance</html>").into_response()
}

async fn serve(counters: Arc<Counters>) -> (String, tokio::task::JoinHandle<()>) {
    let app = Router::new()
        .route("/rest/v1/VirDomainSnapshot", post(snapshot))
        .route("/rest/v1/Node", get(nodes))
        .route("/rest/v1/VirDomain/{uuid}/clone", post(clone_rejected))
        .route("/rest/v1/Drive", get(html))
        .with_state(counters);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

fn client(url: &str) -> Client {
    Client::new(
        ClusterConfig::new(url, Credentials::new("admin", "admin")).with_auth_mode(AuthMode::Basic),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_are_serialized_and_reads_overlap() {
    let counters = Arc::new(Counters::default());
    let (url, server) = serve(counters.clone()).await;
    let client = client(&url);

    let mut set = tokio::task::JoinSet::new();
    for i in 0..5 {
        let c = client.clone();
        set.spawn(async move { c.create_snapshot(&format!("vm{i}"), "l").await });
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap().unwrap().created_uuid, "s");
    }
    assert_eq!(counters.max_in_flight.load(Ordering::SeqCst), 1);

    counters.max_in_flight.store(0, Ordering::SeqCst);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..PARALLEL_READS {
        let c = client.clone();
        set.spawn(async move { c.list_nodes().await });
    }
    while let Some(r) = set.join_next().await {
        assert!(r.unwrap().unwrap().is_empty());
    }
    assert_eq!(
        counters.max_in_flight.load(Ordering::SeqCst),
        PARALLEL_READS
    );
    server.abort();
}

#[tokio::test]
async fn plain_text_validation_errors_keep_their_text() {
    let (url, server) = serve(Arc::default()).await;
    let client = client(&url);
    let err = client
        .clone_vm(
            "vm1",
            CloneSpec {
                name: "c".into(),
                ..CloneSpec::default()
            },
        )
        .await
        .unwrap_err();
    match err {
        Error::Validation { status, message } => {
            assert_eq!(status, 400);
            assert!(
                message.contains("Cannot write to a read only property"),
                "{message}"
            );
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    let err = client.list_drives().await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    server.abort();
}
