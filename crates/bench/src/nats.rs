//! `hyperfed bench --nats`: the fleet scenarios of issue #11 over NATS, beside the direct mode.
//! Starts a real nats-server, a hub replica process (`hyperfed hub --nats`) and the simulated
//! clusters in this process (each a worker with no port, all sharing one NATS connection, as
//! `hyperfed worker --count K` runs them); measures added latency and throughput of a
//! namespaced read, warm fan-out at growing fleet sizes with the hub's RSS, and join-to-listed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use hypercore_sim::Archetype;
use hyperfed_nats::testing::NatsServer;
use hyperfed_nats::{FleetName, NatsConnection, NatsOptions, RegistryConfig};
use hyperfed_protocol::Secret;
use hyperfed_worker::WorkerConfig;
use hyperfed_worker::nats::{HeadlessWorker, NatsAttachment, attach};
use serde_json::{Value, json};

use crate::mcp_client::McpClient;
use crate::stats::Samples;
use crate::{
    BenchError, BenchOptions, HubProcess, count_answered, err, random_hex, side_by_side, timed,
};

/// Simulated clusters started at a time.
const START_CONCURRENCY: usize = 64;

/// The fleet's simulated clusters, all on one NATS connection.
struct Fleet {
    conn: NatsConnection,
    fleet: FleetName,
    secret: Secret,
    members: Vec<(HeadlessWorker, NatsAttachment)>,
}

impl Fleet {
    /// Adds clusters `first..first+count` (aliases `c<i>`), at most 64 starting at a time.
    async fn grow(&mut self, first: usize, count: usize) -> Result<(), BenchError> {
        let archetypes = [
            Archetype::Edge,
            Archetype::Datacenter,
            Archetype::Dr,
            Archetype::Lab,
        ];
        let (conn, fleet, secret) = (&self.conn, &self.fleet, &self.secret);
        let started: Vec<Result<(HeadlessWorker, NatsAttachment), BenchError>> =
            futures::stream::iter(first..first + count)
                .map(|i| async move {
                    let config = WorkerConfig::mock(Some(archetypes[i % 4]), 1000 + i as u64);
                    let w = HeadlessWorker::start(&config)
                        .await
                        .map_err(|e| err(format!("cluster {i}: {e}")))?;
                    let a = attach(
                        conn,
                        fleet,
                        secret,
                        &format!("c{i}"),
                        w.state(),
                        RegistryConfig::default(),
                    )
                    .await
                    .map_err(|e| err(format!("cluster {i} on NATS: {e}")))?;
                    Ok((w, a))
                })
                .buffer_unordered(START_CONCURRENCY)
                .collect()
                .await;
        for s in started {
            self.members.push(s?);
        }
        Ok(())
    }

    async fn shutdown(self) {
        for (w, a) in self.members {
            a.leave().await;
            w.shutdown().await;
        }
    }
}

/// Counts the clusters the hub lists as up.
async fn up_count(hub: &HubProcess, http: &reqwest::Client) -> usize {
    let r = http
        .get(format!("{}/v1/clusters", hub.base_url))
        .bearer_auth(&hub.token)
        .send()
        .await;
    let Ok(r) = r else { return 0 };
    let v: Value = r.json().await.unwrap_or_default();
    v.get("clusters")
        .and_then(Value::as_array)
        .map_or(0, |c| c.iter().filter(|c| c["state"] == "up").count())
}

async fn wait_up(hub: &HubProcess, http: &reqwest::Client, n: usize) -> Result<(), BenchError> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while up_count(hub, http).await < n {
        if Instant::now() > deadline {
            return Err(err(format!(
                "fewer than {n} clusters up on the hub after 300 s"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Runs the NATS scenarios and returns their report.
pub async fn run(opts: &BenchOptions) -> Result<Value, BenchError> {
    let server = NatsServer::start().ok_or_else(|| {
        err("no nats-server: run scripts/install-nats.sh and set HYPERFED_NATS_SERVER to the path it prints")
    })?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .map_err(|e| err(e.to_string()))?;
    let fleet = FleetName::new("bench").map_err(|e| err(e.to_string()))?;
    let secret = Secret::new(random_hex(32));
    let nats_args = |tools: &str| {
        (
            tools.to_owned(),
            vec![
                "--nats".to_owned(),
                server.url(),
                "--fleet".to_owned(),
                fleet.to_string(),
            ],
        )
    };
    let conn = NatsConnection::connect(&NatsOptions::new([server.url()]))
        .await
        .map_err(|e| err(format!("NATS: {e}")))?;
    let mut report = serde_json::Map::new();
    report.insert("bench".into(), json!("hyperfed-nats"));

    // 1 + 2: added latency (worker called directly over MCP vs through the hub over NATS)
    // and throughput, one cluster.
    {
        let (tools, extra) = nats_args("namespaced");
        let hub = HubProcess::start_with(&opts.hyperfed_bin, &tools, &extra, Some(secret.clone()))
            .await?;
        let worker_token = random_hex(16);
        let mut config = WorkerConfig::mock(Some(Archetype::Edge), 7);
        config.token = Some(Secret::new(worker_token.clone()));
        let worker = hyperfed_worker::start(config)
            .await
            .map_err(|e| err(format!("worker: {e}")))?;
        let attachment = attach(
            &conn,
            &fleet,
            &secret,
            "c0",
            worker.state(),
            RegistryConfig::default(),
        )
        .await
        .map_err(|e| err(format!("worker on NATS: {e}")))?;
        wait_up(&hub, &http, 1).await?;
        let vm_uuid = worker
            .sim()
            .and_then(|s| s.truth().pointer("/vms/0/uuid").cloned())
            .and_then(|v| v.as_str().map(str::to_owned))
            .ok_or_else(|| err("simulated cluster has no VM"))?;
        let args = json!({"vm": vm_uuid});
        let direct = McpClient::connect(http.clone(), &worker.mcp_url(), Some(&worker_token))
            .await
            .map_err(|e| err(format!("MCP session with the worker: {e}")))?;
        let via_hub = hub.client(&http).await?;
        let hub_tool = "c0__vm_get";
        let (d, h, errors) =
            side_by_side(&direct, &via_hub, hub_tool, &args, opts.latency_calls).await;
        report.insert(
            "added_latency".into(),
            json!({
                "calls_per_side": d.len(),
                "direct_p50_ms": d.p50(), "hub_over_nats_p50_ms": h.p50(),
                "added_p50_ms": h.p50() - d.p50(), "added_p99_ms": h.p99() - d.p99(),
                "errors": errors,
            }),
        );
        let mut sessions = Vec::with_capacity(opts.clients);
        for _ in 0..opts.clients {
            sessions.push(Arc::new(hub.client(&http).await?));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (calls, errs) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for s in sessions {
            let (stop, calls, errs, args) =
                (stop.clone(), calls.clone(), errs.clone(), args.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let r = s.call_tool(hub_tool, args.clone()).await;
                    calls.fetch_add(1, Ordering::Relaxed);
                    if r.is_err() {
                        errs.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        tokio::time::sleep(opts.throughput_for).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        let secs = t0.elapsed().as_secs_f64();
        let n = calls.load(Ordering::Relaxed);
        report.insert(
            "throughput".into(),
            json!({
                "clients": opts.clients, "calls": n, "calls_per_s": n as f64 / secs,
                "errors": errs.load(Ordering::Relaxed),
            }),
        );
        attachment.leave().await;
        worker.shutdown().await;
    }

    // 3 + 4: warm fan-out at growing fleet sizes, the hub's RSS, join-to-listed.
    {
        let (tools, extra) = nats_args("compact");
        let hub = HubProcess::start_with(&opts.hyperfed_bin, &tools, &extra, Some(secret.clone()))
            .await?;
        let client = hub.client(&http).await?;
        let mut fleet_members = Fleet {
            conn: conn.clone(),
            fleet: fleet.clone(),
            secret: secret.clone(),
            members: Vec::new(),
        };
        let mut sizes = opts.fanout_sizes.clone();
        sizes.sort_unstable();
        let mut fanout = Vec::new();
        for &n in &sizes {
            let have = fleet_members.members.len();
            if n > have {
                fleet_members.grow(have, n - have).await?;
            }
            wait_up(&hub, &http, n).await?;
            // Warm the workers' read caches, then measure calls answered from them.
            let (cold, _) = timed(client.call_tool("fleet_status", json!({"limit": 1}))).await;
            let mut s = Samples::default();
            let (mut errors, mut answered) = (0u64, 0u64);
            for _ in 0..opts.fanout_calls {
                let (t, r) = timed(client.call_tool("fleet_status", json!({"limit": 1}))).await;
                s.push(t);
                match r {
                    Ok(v) => answered = answered.max(count_answered(&v)),
                    Err(_) => errors += 1,
                }
            }
            // A new cluster joins: how long until the replica lists it up?
            let mut join = Samples::default();
            for rep in 0..3 {
                let idx = 100_000 + n * 10 + rep;
                let t = Instant::now();
                let mut extra = Fleet {
                    conn: conn.clone(),
                    fleet: fleet.clone(),
                    secret: secret.clone(),
                    members: Vec::new(),
                };
                extra.grow(idx, 1).await?;
                let deadline = Instant::now() + Duration::from_secs(30);
                while up_count(&hub, &http).await <= n {
                    if Instant::now() > deadline {
                        return Err(err("a joining cluster was not listed within 30 s"));
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                join.push(t.elapsed());
                extra.shutdown().await;
                let deadline = Instant::now() + Duration::from_secs(30);
                while up_count(&hub, &http).await > n && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            fanout.push(json!({
                "clusters": n, "warm_p50_ms": s.p50(), "warm_p99_ms": s.p99(),
                "cold_ms": cold.as_secs_f64() * 1000.0, "errors": errors,
                "clusters_answered": answered,
                "hub_rss_mib": crate::procfs::rss_mib(hub.pid()),
                "join_to_listed_p50_ms": join.p50(),
            }));
        }
        report.insert("fanout".into(), Value::Array(fanout));
        fleet_members.shutdown().await;
    }
    drop(conn);
    drop(server);
    Ok(Value::Object(report))
}
