//! Shared pieces of the NATS transport tests: a fleet, connections, workers and a hub side.
#![allow(dead_code)]

use bytes::Bytes;
use hyperfed_nats::{
    CallHandler, Caller, ClusterIdentity, FleetName, Heartbeats, NatsConnection, NatsOptions,
    Registrar, RegistryConfig, RegistryWatch, ServeOptions, Serving, WorkerKeys, serve,
};
use hyperfed_protocol::Secret;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const SECRET: &str = "fleet-join-secret-for-tests";

pub fn secret() -> Secret {
    Secret::new(SECRET)
}

pub fn fleet() -> FleetName {
    FleetName::new("testfleet").unwrap()
}

/// Short heartbeats so expiry tests take about a second.
pub fn quick_registry() -> RegistryConfig {
    RegistryConfig {
        heartbeat_interval: Duration::from_millis(250),
        expiry: Duration::from_secs(1),
        replicas: 1,
    }
}

pub async fn connect(urls: &[String]) -> NatsConnection {
    NatsConnection::connect(&NatsOptions::new(urls.iter().cloned()))
        .await
        .expect("connect to the test nats-server")
}

pub fn identity(alias: &str) -> ClusterIdentity {
    ClusterIdentity {
        cluster_uuid: format!("uuid-{alias}"),
        cluster_name: format!("cluster {alias}"),
    }
}

/// A registered, serving worker with heartbeats.
pub struct TestWorker {
    pub registrar: Arc<Registrar>,
    pub serving: Serving,
    pub heartbeats: Heartbeats,
}

pub async fn start_worker<H: CallHandler>(
    conn: &NatsConnection,
    alias: &str,
    config: RegistryConfig,
    handler: H,
) -> TestWorker {
    let keys = WorkerKeys::new(&secret(), &fleet(), alias).unwrap();
    let serving = serve(conn, &keys, handler, ServeOptions::default())
        .await
        .expect("serve");
    let registrar = Arc::new(
        Registrar::register(conn, &keys, identity(alias), "tools-v1", config)
            .await
            .expect("register"),
    );
    let heartbeats = registrar.spawn_heartbeats();
    TestWorker {
        registrar,
        serving,
        heartbeats,
    }
}

/// Replies with the request body prefixed by the alias.
pub fn echo(alias: &str) -> impl CallHandler {
    let prefix = format!("{alias}:");
    move |call: hyperfed_nats::IncomingCall| {
        let mut out = prefix.clone().into_bytes();
        out.extend_from_slice(&call.body);
        async move { Bytes::from(out) }
    }
}

/// A hub replica: a registry watch and a caller on one connection.
pub struct TestHub {
    pub watch: RegistryWatch,
    pub caller: Caller,
}

pub async fn start_hub(conn: &NatsConnection, config: RegistryConfig) -> TestHub {
    let watch = RegistryWatch::start(conn, &fleet(), &secret(), config)
        .await
        .expect("registry watch");
    let caller = Caller::new(conn, &fleet(), &secret(), watch.live())
        .await
        .expect("caller");
    TestHub { watch, caller }
}

/// Waits until `f` is true, panicking with `what` after `timeout`.
pub async fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// p50 and p99 of samples, in ms.
pub fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1000.0
    };
    (at(0.5), at(0.99))
}

/// The default registry timing (2 s heartbeats, 6 s expiry).
#[allow(non_snake_case)]
pub fn RegistryConfig_default() -> RegistryConfig {
    RegistryConfig::default()
}

/// Registers `alias` (without serving) with the given secret.
pub async fn register_as(
    conn: &NatsConnection,
    secret: &Secret,
    alias: &str,
    uuid: &str,
) -> Result<Registrar, hyperfed_nats::StoreError> {
    let keys = WorkerKeys::new(secret, &fleet(), alias).unwrap();
    let mut id = identity(alias);
    id.cluster_uuid = uuid.into();
    Registrar::register(conn, &keys, id, "t", quick_registry()).await
}
