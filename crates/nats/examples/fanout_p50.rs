//! Fan-out latency over a real nats-server: N simulated clusters served from one process and one
//! connection (as `hyperfed worker --count N` will), a hub caller on another connection, p50 of
//! 20 fan-outs at each size. Prints numbers, asserts nothing.
//!
//! `bash scripts/install-nats.sh && cargo run --release -p hyperfed-nats --example fanout_p50 -- 1000 2000`

use bytes::Bytes;
use futures::StreamExt as _;
use hyperfed_nats::testing::NatsServer;
use hyperfed_nats::{
    Caller, ClusterIdentity, FleetName, IncomingCall, NatsConnection, NatsOptions, Registrar,
    RegistryConfig, RegistryWatch, ServeOptions, WorkerKeys, serve,
};
use hyperfed_protocol::Secret;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1000, 2000]
    } else {
        sizes
    };
    let Some(server) = NatsServer::start() else {
        return Err("nats-server not found: run scripts/install-nats.sh".into());
    };
    let opts = NatsOptions::new([server.url()]);
    let hub_conn = NatsConnection::connect(&opts).await?;
    let fleet_conn = NatsConnection::connect(&opts).await?;
    let fleet = FleetName::new("bench")?;
    let secret = Secret::new("bench-secret");
    let config = RegistryConfig {
        heartbeat_interval: Duration::from_secs(10),
        expiry: Duration::from_secs(30),
        replicas: 1,
    };
    let watch = RegistryWatch::start(&hub_conn, &fleet, &secret, config.clone()).await?;
    let caller = Caller::new(&hub_conn, &fleet, &secret, watch.live()).await?;
    let mut clusters = Vec::new();
    for &size in &sizes {
        let start = Instant::now();
        let added: Vec<_> = futures::stream::iter(clusters.len()..size)
            .map(|i| {
                let (conn, fleet, secret, config) =
                    (fleet_conn.clone(), fleet.clone(), secret.clone(), config.clone());
                async move {
                    let alias = format!("site-{i:05}");
                    let keys = WorkerKeys::new(&secret, &fleet, &alias).expect("alias");
                    let status = Bytes::from(format!(
                        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{{\"alias\":\"{alias}\",\"vms\":12,\"nodes\":3}}}}"
                    ));
                    let handler = move |_c: IncomingCall| {
                        let status = status.clone();
                        async move { status }
                    };
                    let serving = serve(&conn, &keys, handler, ServeOptions::default())
                        .await
                        .expect("serve");
                    let id = ClusterIdentity {
                        cluster_uuid: format!("uuid-{alias}"),
                        cluster_name: alias.clone(),
                    };
                    let registrar = Registrar::register(&conn, &keys, id, "t", config)
                        .await
                        .expect("register");
                    (serving, registrar)
                }
            })
            .buffer_unordered(64)
            .collect()
            .await;
        clusters.extend(added);
        eprintln!(
            "{size} clusters serving and registered after {} ms",
            start.elapsed().as_millis()
        );
        let registered = start.elapsed();
        while watch.live().len() < size {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if start.elapsed() > registered + Duration::from_secs(30) {
                return Err(format!(
                    "only {} of {size} registrations reached the watch",
                    watch.live().len()
                )
                .into());
            }
        }
        let joined = start.elapsed();
        let expected = watch.live().aliases();
        let body = Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fleet_status"}}"#,
        );
        for _ in 0..3 {
            caller
                .fanout(
                    "fleet_status",
                    body.clone(),
                    &expected,
                    Duration::from_secs(10),
                )
                .await?;
        }
        let mut samples = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let out = caller
                .fanout(
                    "fleet_status",
                    body.clone(),
                    &expected,
                    Duration::from_secs(10),
                )
                .await?;
            samples.push(t.elapsed());
            if !out.unanswered.is_empty() {
                println!("  {} unanswered", out.unanswered.len());
            }
        }
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "fan-out to {size} clusters: p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms (20 rounds; {} ms to serve+register+watch the new ones)",
            ms(samples[samples.len() / 2]),
            ms(samples[samples.len() * 9 / 10]),
            ms(samples[samples.len() - 1]),
            joined.as_millis()
        );
    }
    Ok(())
}
