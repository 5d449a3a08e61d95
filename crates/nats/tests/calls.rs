//! Calls against a real nats-server: request with progress and cancel, fast failures (no
//! responders, not registered, too large), forged and replayed requests refused by the worker,
//! forged replies refused by the caller, a fan-out answered by 1,000 clusters in one process,
//! and the audit stream.

mod common;

use async_nats::HeaderMap;
use bytes::Bytes;
use common::*;
use futures::StreamExt as _;
use hyperfed_nats::testing::NatsServer;
use hyperfed_nats::{
    AuditConfig, AuditLog, AuditStage, IncomingCall, NatsLinkError, Registrar, ServeOptions,
    WorkerKeys, serve,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const T: Duration = Duration::from_secs(5);

/// "slow": three progress messages, then waits for cancellation (or 10 s); anything else: echo.
fn slow_or_echo(started: Arc<AtomicU32>) -> impl hyperfed_nats::CallHandler {
    move |call: IncomingCall| {
        let started = started.clone();
        async move {
            if &call.body[..] != b"slow" {
                return Bytes::from([b"echo:".as_slice(), &call.body].concat());
            }
            started.fetch_add(1, Ordering::SeqCst);
            for i in 0..3 {
                call.progress.send(Bytes::from(format!("step {i}"))).await;
            }
            tokio::select! {
                _ = call.cancel.cancelled() => Bytes::from_static(b"cancelled"),
                _ = tokio::time::sleep(Duration::from_secs(10)) => Bytes::from_static(b"done"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_carries_progress_and_cancellation() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let urls = [server.url()];
    let (hub_conn, worker_conn) = (connect(&urls).await, connect(&urls).await);
    let hub = start_hub(&hub_conn, quick_registry()).await;
    let started = Arc::new(AtomicU32::new(0));
    let w = start_worker(
        &worker_conn,
        "c1",
        quick_registry(),
        slow_or_echo(started.clone()),
    )
    .await;
    wait_for("registration", T, || hub.watch.live().len() == 1).await;

    let never = CancellationToken::new();
    let reply = hub
        .caller
        .request("c1", Bytes::from_static(b"hi"), T, |_| {}, &never)
        .await
        .unwrap();
    assert_eq!(&reply[..], b"echo:hi");

    // Progress arrives in order; cancelling stops the worker's handler and the call.
    let cancel = CancellationToken::new();
    let (ptx, mut prx) = tokio::sync::mpsc::unbounded_channel();
    let call = {
        let cancel = cancel.clone();
        let caller = &hub.caller;
        async move {
            caller
                .request(
                    "c1",
                    Bytes::from_static(b"slow"),
                    T,
                    |p| {
                        let _ = ptx.send(p);
                    },
                    &cancel,
                )
                .await
        }
    };
    let cancel_after_progress = async {
        let mut got = Vec::new();
        while got.len() < 3 {
            got.push(prx.recv().await.unwrap());
        }
        cancel.cancel();
        got
    };
    let start = Instant::now();
    let (result, progress) = tokio::join!(call, cancel_after_progress);
    assert_eq!(result, Err(NatsLinkError::Cancelled));
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(progress, vec!["step 0", "step 1", "step 2"]);
    wait_for("the worker to see the cancellation", T, || {
        w.serving.stats().cancelled() == 1
    })
    .await;
    assert_eq!(w.serving.stats().refused(), 0);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_fast_naming_the_cause() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let urls = [server.url()];
    let (hub_conn, worker_conn) = (connect(&urls).await, connect(&urls).await);
    let hub = start_hub(&hub_conn, quick_registry()).await;
    let w = start_worker(&worker_conn, "down", quick_registry(), echo("down")).await;
    wait_for("registration", T, || hub.watch.live().len() == 1).await;
    let never = CancellationToken::new();

    // Registered but no longer serving: no responders, at once (not after the timeout).
    drop(w.serving);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let start = Instant::now();
    let err = hub
        .caller
        .request(
            "down",
            Bytes::from_static(b"x"),
            Duration::from_secs(10),
            |_| {},
            &never,
        )
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert_eq!(
        err,
        NatsLinkError::NoResponders {
            alias: "down".into()
        }
    );
    assert!(
        took < Duration::from_millis(500),
        "no-responders took {took:?}"
    );
    eprintln!(
        "MEASURED no-responders failure: {:.2} ms",
        took.as_secs_f64() * 1000.0
    );

    let err = hub
        .caller
        .request("nobody", Bytes::new(), T, |_| {}, &never)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        NatsLinkError::NotRegistered {
            alias: "nobody".into()
        }
    );
    let err = hub
        .caller
        .request("bad.alias", Bytes::new(), T, |_| {}, &never)
        .await
        .unwrap_err();
    assert!(matches!(err, NatsLinkError::InvalidName { .. }));
    let big = Bytes::from(vec![b'x'; 2 << 20]);
    let err = hub
        .caller
        .request("down", big, T, |_| {}, &never)
        .await
        .unwrap_err();
    assert!(
        matches!(err, NatsLinkError::TooLarge { max, .. } if max == 1 << 20),
        "{err}"
    );

    // A worker that is subscribed but does not answer in time: timeout.
    let slow = |_c: IncomingCall| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Bytes::new()
    };
    let _serving = serve(
        &worker_conn,
        w.registrar.worker_keys(),
        slow,
        ServeOptions::default(),
    )
    .await
    .unwrap();
    let err = hub
        .caller
        .request(
            "down",
            Bytes::new(),
            Duration::from_millis(200),
            |_| {},
            &never,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, NatsLinkError::Timeout { forged: 0, .. }),
        "{err}"
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_replayed_requests_are_refused_by_the_worker() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let urls = [server.url()];
    let (hub_conn, worker_conn, rogue) = (
        connect(&urls).await,
        connect(&urls).await,
        connect(&urls).await,
    );
    let hub = start_hub(&hub_conn, quick_registry()).await;
    let calls = Arc::new(AtomicU32::new(0));
    let handler = {
        let calls = calls.clone();
        move |c: IncomingCall| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { c.body }
        }
    };
    let w = start_worker(&worker_conn, "vault", quick_registry(), handler).await;
    wait_for("registration", T, || hub.watch.live().len() == 1).await;
    let subject = fleet().call_subject("vault");

    // Unsigned, and signed with made-up headers: refused, no reply, handler never runs.
    let r = tokio::time::timeout(
        Duration::from_millis(300),
        rogue
            .client()
            .request(subject.clone(), Bytes::from_static(b"rm -rf")),
    )
    .await;
    assert!(!matches!(r, Ok(Ok(_))));
    let mut h = HeaderMap::new();
    h.insert("Hyperfed-Id", "0123456789abcdef0123456789abcdef");
    h.insert("Hyperfed-Ts", "1");
    h.insert("Hyperfed-Sig", "AAAA");
    let r = tokio::time::timeout(
        Duration::from_millis(300),
        rogue
            .client()
            .request_with_headers(subject.clone(), h, Bytes::from_static(b"x")),
    )
    .await;
    assert!(!matches!(r, Ok(Ok(_))));

    // A genuine request captured by an eavesdropper with NATS credentials and sent again.
    let mut spy = rogue.client().subscribe(subject.clone()).await.unwrap();
    rogue.client().flush().await.unwrap();
    let never = CancellationToken::new();
    let reply = hub
        .caller
        .request("vault", Bytes::from_static(b"once"), T, |_| {}, &never)
        .await
        .unwrap();
    assert_eq!(&reply[..], b"once");
    let captured = tokio::time::timeout(T, spy.next()).await.unwrap().unwrap();
    rogue
        .client()
        .publish_with_reply_and_headers(
            captured.subject.clone(),
            captured.reply.clone().unwrap(),
            captured.headers.clone().unwrap(),
            captured.payload.clone(),
        )
        .await
        .unwrap();
    // And the same request redirected to the eavesdropper's own inbox (reply is signed too).
    let inbox = rogue.client().new_inbox();
    let mut answers = rogue.client().subscribe(inbox.clone()).await.unwrap();
    rogue
        .client()
        .publish_with_reply_and_headers(
            captured.subject.clone(),
            inbox,
            captured.headers.clone().unwrap(),
            captured.payload.clone(),
        )
        .await
        .unwrap();
    wait_for("four refusals", T, || w.serving.stats().refused() == 4).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(200), answers.next())
            .await
            .is_err()
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "only the genuine request ran"
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replies_are_refused_by_the_caller() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let urls = [server.url()];
    let (hub_conn, worker_conn, rogue_conn) = (
        connect(&urls).await,
        connect(&urls).await,
        connect(&urls).await,
    );
    let hub = start_hub(&hub_conn, quick_registry()).await;
    let w = start_worker(&worker_conn, "bank", quick_registry(), echo("bank")).await;
    wait_for("registration", T, || hub.watch.live().len() == 1).await;
    let never = CancellationToken::new();

    // An impostor answers for "bank" (plain replies, and replies signed with a session key of
    // the wrong secret), faster than the real worker.
    let mut sub = rogue_conn
        .client()
        .subscribe(fleet().call_subject("bank"))
        .await
        .unwrap();
    let client = rogue_conn.client().clone();
    let impostor = tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let Some(reply) = msg.reply.clone() else {
                continue;
            };
            let id = msg
                .headers
                .as_ref()
                .and_then(|h| h.get("Hyperfed-Id"))
                .map(|v| v.as_str().to_owned());
            let mut h = HeaderMap::new();
            h.insert("Hyperfed-Id", id.unwrap_or_default().as_str());
            h.insert("Hyperfed-Alias", "bank");
            h.insert("Hyperfed-Sig", "c2lnbmVkLWJ5LW5vYm9keQ");
            let _ = client
                .publish_with_headers(reply.clone(), h, Bytes::from_static(b"{\"forged\":true}"))
                .await;
            let _ = client
                .publish(reply, Bytes::from_static(b"{\"forged\":2}"))
                .await;
        }
    });
    rogue_conn.client().flush().await.unwrap();

    // The real worker still answers: the caller waits past the forged replies for it.
    let reply = hub
        .caller
        .request("bank", Bytes::from_static(b"balance"), T, |_| {}, &never)
        .await
        .unwrap();
    assert_eq!(&reply[..], b"bank:balance");

    // Without the real worker, only forged replies come: the call times out, counting them.
    drop(w.serving);
    let err = hub
        .caller
        .request(
            "bank",
            Bytes::from_static(b"balance"),
            Duration::from_millis(300),
            |_| {},
            &never,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, NatsLinkError::Timeout { forged: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("2 forged replies refused"));
    impostor.abort();
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_is_answered_by_1000_clusters_in_one_process() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let urls = [server.url()];
    let (hub_conn, fleet_conn) = (connect(&urls).await, connect(&urls).await);
    let hub = start_hub(&hub_conn, common::RegistryConfig_default()).await;
    let start = Instant::now();
    let mut workers = Vec::new();
    for i in 0..1000 {
        let alias = format!("site-{i:04}");
        let keys = WorkerKeys::new(&secret(), &fleet(), &alias).unwrap();
        let handler = {
            let alias = alias.clone();
            move |c: IncomingCall| {
                let body = format!(
                    "{{\"alias\":\"{alias}\",\"tool\":\"{}\"}}",
                    c.fanout_tool.unwrap_or_default()
                );
                async move { Bytes::from(body) }
            }
        };
        let serving = serve(&fleet_conn, &keys, handler, ServeOptions::default())
            .await
            .unwrap();
        let registrar = Registrar::register(
            &fleet_conn,
            &keys,
            identity(&alias),
            "t",
            common::RegistryConfig_default(),
        )
        .await
        .unwrap();
        workers.push((registrar, serving));
    }
    eprintln!(
        "1000 clusters registered and serving in {} ms",
        start.elapsed().as_millis()
    );
    wait_for("1000 live registrations", Duration::from_secs(20), || {
        hub.watch.live().len() == 1000
    })
    .await;

    let mut expected = hub.watch.live().aliases();
    expected.push("site-gone".into());
    let mut samples = Vec::new();
    for round in 0..5 {
        let start = Instant::now();
        let out = hub
            .caller
            .fanout(
                "fleet_status",
                Bytes::from_static(b"{}"),
                &expected,
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        samples.push(start.elapsed());
        assert_eq!(out.answered.len(), 1000, "round {round}");
        assert_eq!(out.unanswered, vec!["site-gone".to_string()]);
        assert_eq!(out.forged, 0);
        let (alias, body) = &out.answered[0];
        assert_eq!(
            body,
            &Bytes::from(format!(
                "{{\"alias\":\"{alias}\",\"tool\":\"fleet_status\"}}"
            ))
        );
    }
    let (p50, _) = percentiles(&mut samples);
    eprintln!("MEASURED fan-out to 1000 clusters (debug build): p50 {p50:.1} ms over 5 rounds");
    drop(workers);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_records_are_stored_once_and_read_from_another_replica() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let urls = [server.url()];
    let (a, b) = (connect(&urls).await, connect(&urls).await);
    let log_a = AuditLog::open(&a, &fleet(), AuditConfig::default())
        .await
        .unwrap();
    let log_b = AuditLog::open(&b, &fleet(), AuditConfig::default())
        .await
        .unwrap();

    let s1 = log_a
        .append(
            "rec-1",
            AuditStage::Started,
            Bytes::from_static(b"{\"tool\":\"vm_stop\"}"),
        )
        .await
        .unwrap();
    // A retry after a lost ack (or the same append from another replica) is not stored twice.
    let again = log_b
        .append(
            "rec-1",
            AuditStage::Started,
            Bytes::from_static(b"{\"tool\":\"vm_stop\"}"),
        )
        .await
        .unwrap();
    assert_eq!(s1, again);
    let s2 = log_a
        .append(
            "rec-1",
            AuditStage::Completed,
            Bytes::from_static(b"{\"ok\":true}"),
        )
        .await
        .unwrap();
    assert!(s2 > s1);
    assert!(
        log_a
            .append("bad id", AuditStage::Started, Bytes::new())
            .await
            .is_err()
    );

    let entries = log_b.read(1, 100).await.unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        (entries[0].record_id.as_str(), entries[0].stage),
        ("rec-1", AuditStage::Started)
    );
    assert_eq!(
        (entries[1].seq, entries[1].stage),
        (s2, AuditStage::Completed)
    );
    assert_eq!(&entries[1].body[..], b"{\"ok\":true}");
    assert!(entries[0].stored_ms > 0);
    assert_eq!(log_b.read(s2, 100).await.unwrap().len(), 1);
    assert!(log_b.read(s2 + 1, 100).await.unwrap().is_empty());
    assert_eq!(log_b.read(1, 1).await.unwrap().len(), 1);
    drop(server);
}
