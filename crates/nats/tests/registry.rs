//! The registry against a real nats-server: join, tools change, leave and expiry reach a hub
//! replica's watch; forged, tampered, replayed and malformed entries are refused and counted;
//! an alias held by another live cluster is refused.

mod common;

use bytes::Bytes;
use common::*;
use hyperfed_nats::testing::NatsServer;
use hyperfed_nats::{RegistryEvent, StoreError};
use hyperfed_protocol::Secret;
use std::time::{Duration, Instant};

async fn next_event(hub: &mut TestHub) -> RegistryEvent {
    tokio::time::timeout(Duration::from_secs(5), hub.watch.next())
        .await
        .expect("a registry event within 5 s")
        .expect("watch running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_tools_change_leave_and_expiry_reach_the_watch() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let urls = [server.url()];
    let hub_conn = connect(&urls).await;
    let worker_conn = connect(&urls).await;
    let mut hub = start_hub(&hub_conn, quick_registry()).await;

    let a = start_worker(&worker_conn, "store-a", quick_registry(), echo("store-a")).await;
    match next_event(&mut hub).await {
        RegistryEvent::Joined(r) => {
            assert_eq!(r.alias, "store-a");
            assert_eq!(r.cluster_uuid, "uuid-store-a");
            assert_eq!(r.tools_hash, "tools-v1");
        }
        other => panic!("expected Joined, got {other:?}"),
    }
    assert_eq!(hub.watch.live().aliases(), vec!["store-a".to_string()]);

    // Latency from a stored registration to the event on a hub replica.
    let mut samples = Vec::new();
    for i in 0..50 {
        let start = Instant::now();
        a.registrar
            .set_tools_hash(&format!("tools-v{}", i + 2))
            .await
            .unwrap();
        loop {
            if let RegistryEvent::ToolsChanged(r) = next_event(&mut hub).await {
                assert_eq!(r.tools_hash, format!("tools-v{}", i + 2));
                break;
            }
        }
        samples.push(start.elapsed());
    }
    let (p50, p99) = percentiles(&mut samples);
    eprintln!(
        "MEASURED registry put -> watch event: p50 {p50:.2} ms, p99 {p99:.2} ms (50 samples)"
    );

    a.registrar.leave().await.unwrap();
    assert_eq!(
        next_event(&mut hub).await,
        RegistryEvent::Left {
            alias: "store-a".into()
        }
    );
    assert!(hub.watch.live().is_empty());

    // A worker that stops heartbeating expires after the bucket's max_age.
    let b = start_worker(&worker_conn, "store-b", quick_registry(), echo("store-b")).await;
    assert!(matches!(next_event(&mut hub).await, RegistryEvent::Joined(r) if r.alias == "store-b"));
    drop(b.heartbeats);
    let last_put = Instant::now();
    loop {
        match next_event(&mut hub).await {
            RegistryEvent::Expired { alias } => {
                assert_eq!(alias, "store-b");
                break;
            }
            RegistryEvent::ToolsChanged(_) => {}
            other => panic!("expected Expired, got {other:?}"),
        }
    }
    let gone = last_put.elapsed();
    eprintln!(
        "MEASURED heartbeat expiry -> Expired event: {} ms after the last heartbeat (expiry 1000 ms, heartbeat 250 ms)",
        gone.as_millis()
    );
    assert!(gone < Duration::from_secs(4), "expiry took {gone:?}");
    assert_eq!(hub.watch.refused().forged(), 0);
    drop((a, server));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tampered_replayed_and_malformed_registrations_are_refused() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let urls = [server.url()];
    let conn = connect(&urls).await;
    let mut hub = start_hub(&conn, quick_registry()).await;
    let kv = conn
        .jetstream()
        .get_key_value(fleet().registry_bucket())
        .await
        .unwrap();

    // A process with NATS credentials but the wrong secret registers through the real API.
    let rogue = register_as(&conn, &Secret::new("not-the-fleet-secret"), "rogue", "u")
        .await
        .unwrap();
    wait_for(
        "the forged registration to be refused",
        Duration::from_secs(5),
        || hub.watch.refused().forged() == 1,
    )
    .await;
    drop(rogue);

    // A genuine registration...
    let good = start_worker(&conn, "good", quick_registry(), echo("good")).await;
    assert!(matches!(next_event(&mut hub).await, RegistryEvent::Joined(r) if r.alias == "good"));
    drop(good.heartbeats);
    let entry = kv.entry("good").await.unwrap().unwrap();

    // ...tampered (another tools hash, same proof): forged.
    let mut tampered: serde_json::Value = serde_json::from_slice(&entry.value).unwrap();
    tampered["tools_hash"] = "evil".into();
    kv.put("good", Bytes::from(serde_json::to_vec(&tampered).unwrap()))
        .await
        .unwrap();
    // ...moved to another alias: refused as malformed (the proof binds the key).
    kv.put("other", entry.value.clone()).await.unwrap();
    // ...replayed byte for byte: same nonce.
    kv.put("good", entry.value.clone()).await.unwrap();
    // ...and not a registration at all.
    kv.put("junk", Bytes::from_static(b"{not json"))
        .await
        .unwrap();

    wait_for("all four refusals", Duration::from_secs(5), || {
        let r = hub.watch.refused();
        r.forged() == 2 && r.replayed() == 1 && r.malformed() == 2
    })
    .await;
    assert_eq!(hub.watch.live().aliases(), vec!["good".to_string()]);
    assert_eq!(hub.watch.live().get("good").unwrap().tools_hash, "tools-v1");
    // None of them produced an event.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), hub.watch.next())
            .await
            .is_err()
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_held_by_another_live_cluster_is_refused() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let conn = connect(&[server.url()]).await;
    let first = start_worker(&conn, "shop", quick_registry(), echo("shop")).await;

    let err = register_as(&conn, &secret(), "shop", "uuid-of-another-cluster")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::AliasTaken {
            alias: "shop".into(),
            cluster_name: "cluster shop".into()
        }
    );
    assert!(err.to_string().contains("--name"));

    // The same cluster registering again (a worker restart) takes its alias back.
    register_as(&conn, &secret(), "shop", "uuid-shop")
        .await
        .expect("same cluster re-registers");

    // Once the holder stops heartbeating and expires, another cluster may take the alias.
    drop(first);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    register_as(&conn, &secret(), "shop", "uuid-of-another-cluster")
        .await
        .expect("alias free after expiry");
    drop(server);
}
