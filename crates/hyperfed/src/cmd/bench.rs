//! `hyperfed bench`: the benchmark harness (see BENCHMARKS.md).

use anyhow::Context as _;
use std::sync::atomic::{AtomicU64, Ordering};

use hyperfed_bench::{BenchOptions, render_table};

use super::progress::Progress;

/// Arguments of `hyperfed bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// A seconds-long run of every scenario with tiny sizes (what CI runs).
    #[arg(long)]
    pub smoke: bool,
    /// Fleet sizes for the fan-out test, comma-separated (default 10,100,500).
    #[arg(long, value_delimiter = ',')]
    pub fanout: Option<Vec<usize>>,
    /// Seconds of the throughput test (default 10).
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Run the NATS scenarios instead (needs nats-server: scripts/install-nats.sh, then
    /// HYPERFED_NATS_SERVER=PATH); --fanout sizes up to 10000 (default 100,2000).
    #[arg(long)]
    pub nats: bool,
}

/// Runs `hyperfed bench`.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let bin = std::env::current_exe().context("cannot find the hyperfed binary")?;
    let mut opts = if args.smoke {
        BenchOptions::smoke(bin)
    } else {
        BenchOptions::full(bin)
    };
    if args.nats {
        opts.fanout_sizes = if args.smoke { vec![3] } else { vec![100, 2000] };
        if let Some(sizes) = &args.fanout {
            if sizes.iter().any(|&n| n == 0 || n > 10_000) {
                anyhow::bail!("--fanout: each fleet size must be from 1 to 10000 with --nats");
            }
            opts.fanout_sizes = sizes.clone();
        }
        if let Some(s) = args.seconds {
            opts.throughput_for = std::time::Duration::from_secs(s.max(1));
        }
        let report = hyperfed_bench::nats::run(&opts).await?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    if let Some(sizes) = args.fanout {
        if sizes.iter().any(|&n| n == 0 || n > 2000) {
            anyhow::bail!("--fanout: each fleet size must be from 1 to 2000");
        }
        if !sizes.contains(&opts.tools_list_clusters) {
            opts.tools_list_clusters = *sizes.iter().max().unwrap_or(&1);
        }
        opts.fanout_sizes = sizes;
    }
    if let Some(s) = args.seconds {
        opts.throughput_for = std::time::Duration::from_secs(s.max(1));
    }
    let total = hyperfed_bench::scenario_count(&opts) as u64;
    let progress = Progress::new("hyperfed bench", "scenario", total);
    let index = AtomicU64::new(0);
    let report = hyperfed_bench::run_reporting(&opts, &|name| {
        progress.begin(index.fetch_add(1, Ordering::Relaxed) + 1, name);
    })
    .await;
    progress.finish();
    let report = report?;
    println!("{}", render_table(&report));
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
