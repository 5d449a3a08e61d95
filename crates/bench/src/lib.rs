//! The HyperFed benchmark: starts a hub process and many simulated workers (in this process,
//! each a real worker joined over loopback HTTP), measures added latency, throughput, fan-out,
//! tools/list and start-up, prints a table and one JSON line, and stops everything it started.

pub mod mcp_client;
pub mod nats;
pub mod procfs;
pub mod stats;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use hypercore_sim::Archetype;
use hyperfed_protocol::Secret;
use hyperfed_worker::{JoinConfig, WorkerConfig, WorkerHandle};
use rand::RngCore as _;
use serde_json::{Value, json};

use crate::mcp_client::McpClient;
use crate::stats::Samples;

/// What to run and how big.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The `hyperfed` binary used to start hub processes.
    pub hyperfed_bin: PathBuf,
    /// Sequential calls per side in the added-latency test.
    pub latency_calls: usize,
    /// Concurrent client sessions in the throughput test.
    pub clients: usize,
    /// Duration of the throughput test.
    pub throughput_for: Duration,
    /// Fleet sizes for the fan-out test.
    pub fanout_sizes: Vec<usize>,
    /// Back-to-back fleet_status calls per fleet size.
    pub fanout_calls: usize,
    /// fleet_status calls per fleet size made after the workers' read caches expired (each
    /// reaches every simulator), each followed at once by one answered from warm caches.
    pub fanout_refresh_calls: usize,
    /// Simulated per-request latency and jitter of every fan-out cluster (ms).
    pub sim_latency_ms: (u64, u64),
    /// Fleet size for the tools/list test.
    pub tools_list_clusters: usize,
    /// tools/list calls per mode.
    pub tools_list_calls: usize,
    /// Repetitions of the start-up measurements.
    pub startup_reps: usize,
    /// VMs in the generation-time test.
    pub generate_vms: usize,
}

impl BenchOptions {
    /// The full benchmark described in BENCHMARKS.md.
    pub fn full(hyperfed_bin: PathBuf) -> Self {
        BenchOptions {
            hyperfed_bin,
            latency_calls: 2000,
            clients: 16,
            throughput_for: Duration::from_secs(10),
            fanout_sizes: vec![10, 100, 500],
            fanout_calls: 40,
            fanout_refresh_calls: 15,
            sim_latency_ms: (20, 5),
            tools_list_clusters: 100,
            tools_list_calls: 200,
            startup_reps: 20,
            generate_vms: 2000,
        }
    }

    /// A seconds-long run that exercises every scenario (for CI).
    pub fn smoke(hyperfed_bin: PathBuf) -> Self {
        BenchOptions {
            hyperfed_bin,
            latency_calls: 40,
            clients: 4,
            throughput_for: Duration::from_millis(700),
            fanout_sizes: vec![3],
            fanout_calls: 5,
            fanout_refresh_calls: 2,
            sim_latency_ms: (5, 2),
            tools_list_clusters: 3,
            tools_list_calls: 10,
            startup_reps: 3,
            generate_vms: 200,
        }
    }
}

/// A benchmark failure (setup, not a slow result).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BenchError(String);

fn err(msg: impl Into<String>) -> BenchError {
    BenchError(msg.into())
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A hub running as its own process (so its RSS and CPU can be read), killed on drop.
struct HubProcess {
    child: Child,
    base_url: String,
    token: String,
    secret: Secret,
    data_dir: PathBuf,
}

impl HubProcess {
    async fn start(bin: &PathBuf, tools_mode: &str) -> Result<Self, BenchError> {
        Self::start_with(bin, tools_mode, &[], None).await
    }

    /// Starts a hub with extra arguments (e.g. `--nats URL`) and, if given, this join secret.
    async fn start_with(
        bin: &PathBuf,
        tools_mode: &str,
        extra: &[String],
        secret: Option<Secret>,
    ) -> Result<Self, BenchError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| err(format!("no free port: {e}")))?;
        let token = random_hex(16);
        let secret = secret.unwrap_or_else(|| Secret::new(random_hex(32)));
        let data_dir = std::env::temp_dir().join(format!("hyperfed-bench-{}", random_hex(6)));
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(bin)
            .args(["hub", "--listen", &listen, "--tools", tools_mode])
            .args(extra)
            .arg("--data")
            .arg(&data_dir)
            .env("HYPERFED_SECRET", secret.expose())
            .env("HYPERFED_TOKEN", &token)
            .env("HYPERFED_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| err(format!("cannot start hub process {}: {e}", bin.display())))?;
        let hub = HubProcess {
            child,
            base_url: format!("http://{listen}"),
            token,
            secret,
            data_dir,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{}/health", hub.base_url)).send().await
                && r.status().is_success()
            {
                return Ok(hub);
            }
            if Instant::now() > deadline {
                return Err(err("hub process did not answer /health within 20 s"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base_url)
    }

    async fn client(&self, http: &reqwest::Client) -> Result<McpClient, BenchError> {
        McpClient::connect(http.clone(), &self.mcp_url(), Some(&self.token))
            .await
            .map_err(|e| err(format!("MCP session with the hub: {e}")))
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Starts `count` simulated workers joined to `hub`, at most 32 starting at a time.
async fn start_workers(
    hub: &HubProcess,
    first: usize,
    count: usize,
    latency: (u64, u64),
    token: Option<&str>,
) -> Result<Vec<WorkerHandle>, BenchError> {
    let archetypes = [
        Archetype::Edge,
        Archetype::Datacenter,
        Archetype::Dr,
        Archetype::Lab,
    ];
    let results: Vec<Result<WorkerHandle, BenchError>> =
        futures::stream::iter(first..first + count)
            .map(|i| {
                let mut config = WorkerConfig::mock(Some(archetypes[i % 4]), 1000 + i as u64);
                if let hyperfed_worker::ClusterSource::Mock(sim) = &mut config.cluster {
                    sim.faults.latency_ms = latency.0;
                    sim.faults.jitter_ms = latency.1;
                }
                config.token = token.map(Secret::new);
                config.join = Some(JoinConfig {
                    hub_url: hub.base_url.clone(),
                    secret: hub.secret.clone(),
                    name: Some(format!("c{i}")),
                    advertise: None,
                });
                async move {
                    hyperfed_worker::start(config)
                        .await
                        .map_err(|e| err(format!("worker {i}: {e}")))
                }
            })
            .buffer_unordered(32)
            .collect()
            .await;
    results.into_iter().collect()
}

/// Waits until the hub lists `n` clusters (namespaced) or has `n` live aliases (compact).
async fn wait_joined(hub: &HubProcess, http: &reqwest::Client, n: usize) -> Result<(), BenchError> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = http
            .get(format!("{}/v1/clusters", hub.base_url))
            .bearer_auth(&hub.token)
            .send()
            .await;
        if let Ok(r) = r
            && let Ok(v) = r.json::<Value>().await
        {
            let list = v
                .as_array()
                .cloned()
                .or_else(|| v.get("clusters").and_then(Value::as_array).cloned())
                .unwrap_or_default();
            let up = list
                .iter()
                .filter(|c| {
                    let s = c
                        .get("status")
                        .or_else(|| c.get("state"))
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    s.eq_ignore_ascii_case("up")
                })
                .count();
            if up >= n {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(err(format!(
                "only some of {n} clusters joined within 120 s"
            )));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn timed<F, T, E>(f: F) -> (Duration, Result<T, E>)
where
    F: std::future::Future<Output = Result<T, E>>,
{
    let t = Instant::now();
    let r = f.await;
    (t.elapsed(), r)
}

/// Warms both paths up, then times `calls` `vm_get` calls on each side in alternating blocks
/// (so both sides see the same machine noise): the worker direct, through the hub, errors.
async fn side_by_side(
    direct: &McpClient,
    via_hub: &McpClient,
    hub_tool: &str,
    args: &Value,
    calls: usize,
) -> (Samples, Samples, u64) {
    for _ in 0..20 {
        let _ = direct.call_tool("vm_get", args.clone()).await;
        let _ = via_hub.call_tool(hub_tool, args.clone()).await;
    }
    let mut d = Samples::with_capacity(calls);
    let mut h = Samples::with_capacity(calls);
    let mut errors = 0u64;
    let block = 100.min(calls.max(1));
    let mut done = 0;
    while done < calls {
        for _ in 0..block {
            let (t, r) = timed(direct.call_tool("vm_get", args.clone())).await;
            errors += u64::from(r.is_err());
            d.push(t);
        }
        for _ in 0..block {
            let (t, r) = timed(via_hub.call_tool(hub_tool, args.clone())).await;
            errors += u64::from(r.is_err());
            h.push(t);
        }
        done += block;
    }
    (d, h, errors)
}

/// Runs every scenario and returns the report (also printed by the caller).
pub async fn run(opts: &BenchOptions) -> Result<Value, BenchError> {
    run_reporting(opts, &|_| {}).await
}

/// How many scenarios [`run_reporting`] announces for `opts` (one per fan-out size).
pub fn scenario_count(opts: &BenchOptions) -> usize {
    4 + opts.fanout_sizes.len()
}

/// Like [`run`], telling `scenario` the name of each scenario as it starts
/// ([`scenario_count`] of them), for progress a person can follow.
pub async fn run_reporting(
    opts: &BenchOptions,
    scenario: &(dyn Fn(&str) + Send + Sync),
) -> Result<Value, BenchError> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .map_err(|e| err(e.to_string()))?;
    let mut report = serde_json::Map::new();
    report.insert("bench".into(), json!("hyperfed"));
    report.insert(
        "machine".into(),
        json!({"cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)}),
    );

    // 1 + 2: added latency and throughput, one worker behind one hub.
    {
        scenario("added latency (one worker behind the hub)");
        let hub = HubProcess::start(&opts.hyperfed_bin, "namespaced").await?;
        let worker_token = random_hex(16);
        let workers = start_workers(&hub, 0, 1, (0, 0), Some(&worker_token)).await?;
        wait_joined(&hub, &http, 1).await?;
        let worker = &workers[0];
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
                "direct_p50_ms": d.p50(), "direct_p99_ms": d.p99(),
                "hub_p50_ms": h.p50(), "hub_p99_ms": h.p99(),
                "added_p50_ms": h.p50() - d.p50(), "added_p99_ms": h.p99() - d.p99(),
                "errors": errors,
            }),
        );

        // Throughput: N sessions hammering the hub for a fixed time.
        scenario(&format!("throughput ({} clients)", opts.clients));
        let mut sessions = Vec::with_capacity(opts.clients);
        for _ in 0..opts.clients {
            sessions.push(Arc::new(hub.client(&http).await?));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(AtomicU64::new(0));
        let errs = Arc::new(AtomicU64::new(0));
        let cpu0 = procfs::cpu_ms(hub.pid()).unwrap_or(0.0);
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for s in sessions {
            let (stop, calls, errs, args) =
                (stop.clone(), calls.clone(), errs.clone(), args.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Samples::with_capacity(4096);
                while !stop.load(Ordering::Relaxed) {
                    let (t, r) = timed(s.call_tool(hub_tool, args.clone())).await;
                    lat.push(t);
                    calls.fetch_add(1, Ordering::Relaxed);
                    if r.is_err() {
                        errs.fetch_add(1, Ordering::Relaxed);
                    }
                }
                lat
            }));
        }
        tokio::time::sleep(opts.throughput_for).await;
        stop.store(true, Ordering::Relaxed);
        let mut lat = Samples::default();
        for t in tasks {
            if let Ok(s) = t.await {
                lat.extend(s);
            }
        }
        let elapsed = t0.elapsed().as_secs_f64();
        let cpu1 = procfs::cpu_ms(hub.pid()).unwrap_or(0.0);
        let n = calls.load(Ordering::Relaxed);
        report.insert(
            "throughput".into(),
            json!({
                "clients": opts.clients, "seconds": elapsed, "calls": n,
                "calls_per_s": n as f64 / elapsed,
                "p50_ms": lat.p50(), "p99_ms": lat.p99(),
                "errors": errs.load(Ordering::Relaxed),
                "hub_cpu_ms_per_call": if n > 0 { (cpu1 - cpu0) / n as f64 } else { 0.0 },
                "hub_rss_mib": procfs::rss_mib(hub.pid()),
            }),
        );
        for w in workers {
            w.shutdown().await;
        }
    }

    // 3 + 4: fan-out at growing fleet sizes, tools/list at one size, join-to-listed time.
    {
        let hub = HubProcess::start(&opts.hyperfed_bin, "namespaced").await?;
        let client = hub.client(&http).await?;
        let mut workers = Vec::new();
        let mut fanout = Vec::new();
        let mut sizes = opts.fanout_sizes.clone();
        sizes.sort_unstable();
        let mut tools_list_namespaced = None;
        let mut join_to_listed = Samples::default();
        for &n in &sizes {
            scenario(&format!("fan-out at {n} clusters"));
            let have = workers.len();
            if n > have {
                workers
                    .extend(start_workers(&hub, have, n - have, opts.sim_latency_ms, None).await?);
            }
            wait_joined(&hub, &http, n).await?;
            // The first call after the fleet joined finds every worker's caches empty.
            let (cold, _) = timed(client.call_tool("fleet_status", json!({}))).await;
            let mut s = Samples::with_capacity(opts.fanout_calls);
            let mut errors = 0u64;
            let mut answered = 0u64;
            for _ in 0..opts.fanout_calls {
                let (t, r) = timed(client.call_tool("fleet_status", json!({}))).await;
                s.push(t);
                match r {
                    Ok(v) => answered = answered.max(count_answered(&v)),
                    Err(_) => errors += 1,
                }
            }
            // Separately: calls that reach every simulator (the workers' read caches have
            // expired), each followed at once by one that the workers answer from cache.
            let expired =
                hyperfed_worker::cluster::DEFAULT_READ_CACHE_TTL + Duration::from_millis(150);
            let mut refresh = Samples::with_capacity(opts.fanout_refresh_calls);
            let mut warm = Samples::with_capacity(opts.fanout_refresh_calls);
            for _ in 0..opts.fanout_refresh_calls {
                tokio::time::sleep(expired).await;
                for sample in [&mut refresh, &mut warm] {
                    let (t, r) = timed(client.call_tool("fleet_status", json!({}))).await;
                    sample.push(t);
                    match r {
                        Ok(v) => answered = answered.max(count_answered(&v)),
                        Err(_) => errors += 1,
                    }
                }
            }
            fanout.push(json!({
                "clusters": n, "p50_ms": s.p50(), "p99_ms": s.p99(), "errors": errors,
                "refresh_p50_ms": refresh.p50(), "refresh_p99_ms": refresh.p99(),
                "warm_p50_ms": warm.p50(), "warm_p99_ms": warm.p99(),
                "cold_ms": cold.as_secs_f64() * 1000.0,
                "clusters_answered": answered,
                "hub_rss_mib": procfs::rss_mib(hub.pid()),
            }));
            if n == opts.tools_list_clusters {
                tools_list_namespaced =
                    Some(measure_tools_list(&client, opts.tools_list_calls).await);
                // A new worker joins at this fleet size: how long until the hub lists its
                // tools? (Aliases outside the fleet's; they leave again afterwards.)
                for rep in 0..opts.startup_reps.min(5) {
                    let idx = 10_000 + rep;
                    let t = Instant::now();
                    let extra = start_workers(&hub, idx, 1, (0, 0), None).await?;
                    let alias = format!("c{idx}__");
                    loop {
                        let tools = client.list_tools().await.unwrap_or_default();
                        if tools.iter().any(|n| n.starts_with(&alias)) {
                            break;
                        }
                        if t.elapsed() > Duration::from_secs(30) {
                            return Err(err(format!("worker {rep} never appeared in tools/list")));
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    join_to_listed.push(t.elapsed());
                    for w in extra {
                        w.shutdown().await;
                    }
                }
            }
        }
        report.insert("fanout".into(), Value::Array(fanout));

        let mut tl = serde_json::Map::new();
        tl.insert("clusters".into(), json!(opts.tools_list_clusters));
        if let Some(v) = tools_list_namespaced {
            tl.insert("namespaced".into(), v);
        }
        tl.insert(
            "worker_start_to_listed_p50_ms".into(),
            json!(join_to_listed.p50()),
        );
        for w in workers {
            w.shutdown().await;
        }
        drop(hub);

        // Compact mode at the same size.
        scenario(&format!(
            "tools/list in compact mode at {} clusters",
            opts.tools_list_clusters
        ));
        let hub = HubProcess::start(&opts.hyperfed_bin, "compact").await?;
        let workers = start_workers(&hub, 0, opts.tools_list_clusters, (0, 0), None).await?;
        wait_joined(&hub, &http, opts.tools_list_clusters).await?;
        let client = hub.client(&http).await?;
        tl.insert(
            "compact".into(),
            measure_tools_list(&client, opts.tools_list_calls).await,
        );
        report.insert("tools_list".into(), Value::Object(tl));
        for w in workers {
            w.shutdown().await;
        }
    }

    // 5: worker start-to-ready and simulator generation time.
    {
        scenario("worker start-up and simulator generation");
        let mut ready = Samples::default();
        for i in 0..opts.startup_reps {
            let t = Instant::now();
            let w = hyperfed_worker::start(WorkerConfig::mock(Some(Archetype::Edge), i as u64))
                .await
                .map_err(|e| err(format!("worker start: {e}")))?;
            let health = format!("{}/health", w.base_url());
            loop {
                if let Ok(r) = http.get(&health).send().await
                    && r.status().is_success()
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            ready.push(t.elapsed());
            w.shutdown().await;
        }
        let mut generate = Samples::default();
        for i in 0..opts.startup_reps {
            let t = Instant::now();
            let state = hypercore_sim::generate_with_vm_count(
                Archetype::Datacenter,
                i as u64,
                Some(opts.generate_vms),
            );
            generate.push(t.elapsed());
            drop(state);
        }
        report.insert(
            "startup".into(),
            json!({
                "worker_ready_p50_ms": ready.p50(), "worker_ready_p99_ms": ready.p99(),
                "generate_vms": opts.generate_vms,
                "generate_p50_ms": generate.p50(), "generate_p99_ms": generate.p99(),
            }),
        );
    }
    Ok(Value::Object(report))
}

fn count_answered(result: &Value) -> u64 {
    let s = result.get("structuredContent").unwrap_or(result);
    s.get("clusters_answered")
        .or_else(|| s.pointer("/totals/answered"))
        .or_else(|| s.pointer("/totals/clusters_answered"))
        .or_else(|| s.get("answered"))
        .and_then(Value::as_u64)
        .unwrap_or_else(|| {
            s.get("clusters")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter(|c| c.get("error").is_none_or(Value::is_null))
                        .count() as u64
                })
                .unwrap_or(0)
        })
}

async fn measure_tools_list(client: &McpClient, calls: usize) -> Value {
    let mut s = Samples::with_capacity(calls);
    let mut count = 0usize;
    let mut errors = 0u64;
    let _ = client.list_tools().await;
    for _ in 0..calls {
        let (t, r) = timed(client.list_tools()).await;
        s.push(t);
        match r {
            Ok(tools) => count = tools.len(),
            Err(_) => errors += 1,
        }
    }
    json!({"tools": count, "p50_ms": s.p50(), "p99_ms": s.p99(), "errors": errors})
}

/// Renders the report as a readable table.
pub fn render_table(r: &Value) -> String {
    let f = |p: &str| r.pointer(p).and_then(Value::as_f64).unwrap_or(f64::NAN);
    let mut out = String::new();
    out.push_str("HyperFed benchmark\n");
    out.push_str(&format!(
        "1. added latency ({} calls each)   direct p50 {:.3} ms p99 {:.3} ms | via hub p50 {:.3} ms p99 {:.3} ms | added p50 {:.3} ms p99 {:.3} ms\n",
        f("/added_latency/calls_per_side"),
        f("/added_latency/direct_p50_ms"),
        f("/added_latency/direct_p99_ms"),
        f("/added_latency/hub_p50_ms"),
        f("/added_latency/hub_p99_ms"),
        f("/added_latency/added_p50_ms"),
        f("/added_latency/added_p99_ms"),
    ));
    out.push_str(&format!(
        "2. throughput ({} clients)          {:.0} calls/s, p50 {:.3} ms, p99 {:.3} ms, errors {}, hub CPU {:.3} ms/call, hub RSS {:.1} MiB\n",
        f("/throughput/clients"),
        f("/throughput/calls_per_s"),
        f("/throughput/p50_ms"),
        f("/throughput/p99_ms"),
        f("/throughput/errors"),
        f("/throughput/hub_cpu_ms_per_call"),
        f("/throughput/hub_rss_mib"),
    ));
    if let Some(rows) = r.get("fanout").and_then(Value::as_array) {
        for row in rows {
            let g = |k: &str| row.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
            out.push_str(&format!(
                "3. fan-out fleet_status N={:<4}     back-to-back p50 {:.1} ms, p99 {:.1} ms, first call {:.1} ms, answered {}, errors {}, hub RSS {:.1} MiB\n",
                g("clusters"),
                g("p50_ms"),
                g("p99_ms"),
                g("cold_ms"),
                g("clusters_answered"),
                g("errors"),
                g("hub_rss_mib"),
            ));
            out.push_str(&format!(
                "                                   every simulator reached p50 {:.1} ms, p99 {:.1} ms | worker caches warm p50 {:.1} ms, p99 {:.1} ms\n",
                g("refresh_p50_ms"),
                g("refresh_p99_ms"),
                g("warm_p50_ms"),
                g("warm_p99_ms"),
            ));
        }
    }
    out.push_str(&format!(
        "4. tools/list N={}                namespaced {} tools p50 {:.3} ms | compact {} tools p50 {:.3} ms | worker start to listed p50 {:.1} ms\n",
        f("/tools_list/clusters"),
        f("/tools_list/namespaced/tools"),
        f("/tools_list/namespaced/p50_ms"),
        f("/tools_list/compact/tools"),
        f("/tools_list/compact/p50_ms"),
        f("/tools_list/worker_start_to_listed_p50_ms"),
    ));
    out.push_str(&format!(
        "5. start-up                       worker ready p50 {:.1} ms | generate {} VMs p50 {:.2} ms\n",
        f("/startup/worker_ready_p50_ms"),
        f("/startup/generate_vms"),
        f("/startup/generate_p50_ms"),
    ));
    out
}
