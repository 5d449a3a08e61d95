//! Performance probes (ignored by default; run with
//! `cargo test -p hyperfed-hub --release --test perf -- --ignored --nocapture`).
//! Everything runs in one process on loopback, fake workers included, so figures are upper
//! bounds for the hub alone. `HUB_PERF_CLUSTERS` sets the fleet size (default 100).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use hyperfed_hub::{HubConfig, ToolsMode};
use hyperfed_protocol::{CallClaims, Secret};
use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "performance probe; run explicitly"]
async fn probe() {
    let n: usize = std::env::var("HUB_PERF_CLUSTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let rss0 = rss_mib();
    let mut cfg = HubConfig::new("127.0.0.1:0".parse().unwrap(), Secret::new(SECRET));
    // These tests read the namespaced names.
    cfg.tools_mode = ToolsMode::Namespaced;
    cfg.heartbeat_interval = Duration::from_secs(2);
    let hub = hyperfed_hub::start(cfg).await.unwrap();
    let t = Instant::now();
    let mut workers = Vec::new();
    for i in 0..n {
        let kind = ["edge", "datacenter", "dr"][i % 3];
        let name = format!("c{i}");
        workers.push(
            FakeWorker::start(
                FakeCluster::archetype(kind, i as u32),
                &hub.base_url(),
                Some(&name),
            )
            .await,
        );
    }
    for w in &workers {
        w.wait_joins(1).await;
    }
    println!(
        "{n} clusters joined in {:?}; exported tools: {}",
        t.elapsed(),
        hub.tool_count()
    );
    println!(
        "RSS: {:.1} MiB before, {:.1} MiB with {n} clusters (hub + fake workers + client, one process)",
        rss0,
        rss_mib()
    );

    let (client, _) = client(&hub.mcp_url(), None).await;
    let mut lists = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let tools = client.list_all_tools().await.unwrap();
        lists.push(t.elapsed());
        assert_eq!(tools.len(), hub.tool_count());
    }
    println!("tools/list p50: {:?}", p50(lists));

    let mut fan = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let (status, _) = call(&client, "fleet_status", json!({})).await;
        fan.push(t.elapsed());
        assert_eq!(status["totals"]["answered"].as_u64().unwrap() as usize, n);
    }
    println!("fleet_status fan-out p50: {:?}", p50(fan));

    // Added latency: the same read through the hub and straight to the worker.
    let w0 = &workers[0];
    let token = CallClaims::issue(
        &Secret::new(SECRET),
        &w0.cluster.uuid,
        Duration::from_secs(300),
    );
    let direct = ()
        .serve(StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(w0.url.clone()).auth_header(token),
        ))
        .await
        .unwrap();
    let mut via_hub = Vec::new();
    let mut straight = Vec::new();
    for _ in 0..300 {
        let t = Instant::now();
        client
            .call_tool(CallToolRequestParams::new("c0__cluster_info"))
            .await
            .unwrap();
        via_hub.push(t.elapsed());
        let t = Instant::now();
        direct
            .call_tool(CallToolRequestParams::new("cluster_info"))
            .await
            .unwrap();
        straight.push(t.elapsed());
    }
    let (h, d) = (p50(via_hub), p50(straight));
    println!(
        "call p50 via hub {h:?}, direct {d:?}, added {:?}",
        h.saturating_sub(d)
    );
    direct.cancel().await.unwrap();
    let http = reqwest::Client::new();
    let mut rest = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        let r = http
            .post(format!("{}/v1/tools/c0__cluster_info", hub.base_url()))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let _ = r.bytes().await.unwrap();
        rest.push(t.elapsed());
    }
    println!("REST call p50 via hub {:?}", p50(rest));
    let mut health = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        let _ = http
            .get(format!("{}/health", hub.base_url()))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        health.push(t.elapsed());
    }
    println!("REST /health p50 {:?}", p50(health));

    // Throughput with 16 clients, spread over the clusters.
    let done = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs(3);
    let mut tasks = Vec::new();
    for c in 0..16 {
        let url = hub.mcp_url();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let (cl, _) = common::client(&url, None).await;
            let mut i = c;
            while Instant::now() < stop {
                let name = format!("c{}__cluster_info", i % n);
                cl.call_tool(CallToolRequestParams::new(name))
                    .await
                    .unwrap();
                done.fetch_add(1, Ordering::Relaxed);
                i += 16;
            }
            cl.cancel().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    println!(
        "throughput, 16 clients: {:.0} calls/s",
        done.load(Ordering::Relaxed) as f64 / 3.0
    );
    println!("RSS at the end: {:.1} MiB", rss_mib());

    client.cancel().await.unwrap();
    for w in workers {
        w.shutdown().await;
    }
    hub.shutdown().await;
}
