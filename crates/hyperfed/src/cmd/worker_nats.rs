//! `hyperfed worker --nats URL` and `--count K`: one or many clusters in one process, served
//! over NATS (no port unless `--listen`), over HTTP joins with ephemeral ports, or both. Each
//! simulated cluster has its own simulator, state and registration; NATS workers share one
//! connection.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use hyperfed_nats::{NatsConnection, RegistryConfig};
use hyperfed_protocol::{ClusterAlias, Secret};
use hyperfed_worker::config::read_secret_file;
use hyperfed_worker::nats::{HeadlessWorker, NatsAttachment, attach};
use hyperfed_worker::{ClusterSource, WorkerConfig, WorkerHandle};

use super::progress::Progress;
use super::shutdown::ShutdownSignal;
use super::worker::WorkerArgs;

/// Clusters started at the same time by `--count`.
const START_CONCURRENCY: usize = 32;

/// One running cluster of this process.
enum Running {
    Listening(WorkerHandle),
    Headless(HeadlessWorker),
}

impl Running {
    fn state(&self) -> Arc<hyperfed_worker::state::WorkerState> {
        match self {
            Running::Listening(h) => h.state(),
            Running::Headless(h) => h.state(),
        }
    }

    async fn shutdown(self) {
        match self {
            Running::Listening(h) => h.shutdown().await,
            Running::Headless(h) => h.shutdown().await,
        }
    }
}

fn join_secret(args: &WorkerArgs) -> anyhow::Result<Secret> {
    match (&args.secret, &args.secret_file) {
        (Some(s), _) if !s.is_empty() => Ok(Secret::new(s.clone())),
        (_, Some(p)) => Ok(read_secret_file(p, "join secret")?),
        _ => bail!(
            "--nats needs the fleet's join secret: HYPERFED_SECRET, --secret or --secret-file"
        ),
    }
}

/// The alias of cluster `i` of `count` (`PREFIX-0001`... when several).
fn alias_of(
    args: &WorkerArgs,
    i: usize,
    count: usize,
    cluster_name: &str,
) -> anyhow::Result<String> {
    let wanted = match (&args.name, count) {
        (Some(n), 1) => n.clone(),
        (None, 1) => cluster_name.to_owned(),
        (prefix, _) => format!("{}-{:04}", prefix.as_deref().unwrap_or("cluster"), i + 1),
    };
    let alias = ClusterAlias::normalise(&wanted)
        .map_err(|e| anyhow::anyhow!("alias {wanted:?}: {e}"))?
        .to_string();
    if count > 1 && !alias.ends_with(&format!("{:04}", i + 1)) {
        bail!("--name {wanted:?} is too long for --count: keep the prefix within 11 characters");
    }
    Ok(alias)
}

/// The configuration of cluster `i`: its own seed and, when several listen, an ephemeral port.
fn config_of(base: &WorkerConfig, i: usize, count: usize, alias: Option<String>) -> WorkerConfig {
    let mut c = base.clone();
    if let ClusterSource::Mock(sim) = &mut c.cluster {
        sim.seed = sim.seed.wrapping_add(i as u64);
    }
    if count > 1 {
        c.listen.set_port(0);
        // Cluster i serves its token-free metrics on the given port + i.
        if let Some(m) = &mut c.metrics_listen
            && m.port() != 0
        {
            m.set_port(
                m.port()
                    .saturating_add(u16::try_from(i).unwrap_or(u16::MAX)),
            );
        }
        if let Some(j) = &mut c.join {
            j.name = alias;
            j.advertise = None;
        }
    }
    c
}

/// Runs `hyperfed worker` with `--nats` and/or `--count`.
pub async fn run(args: WorkerArgs, base: WorkerConfig) -> anyhow::Result<()> {
    let count = args.count.unwrap_or(1).max(1);
    if count > 1 && !matches!(base.cluster, ClusterSource::Mock(_)) {
        bail!("--count simulates clusters: it needs --mock");
    }
    let nats = args.nats.options("hyperfed-worker")?;
    let headless = nats.is_some() && args.listen.is_none();
    let signal = ShutdownSignal::install();
    let link = match &nats {
        Some((opts, fleet)) => {
            let conn = NatsConnection::connect(opts)
                .await
                .context("connecting to NATS")?;
            Some((conn, fleet.clone(), join_secret(&args)?))
        }
        None => None,
    };
    let joins_hub = base.join.is_some();
    let args = Arc::new(args);
    let base = Arc::new(base);
    let link = Arc::new(link);
    let starting = Arc::new(Progress::new(
        "hyperfed worker",
        "clusters started",
        count as u64,
    ));
    let started: Vec<anyhow::Result<(Running, Option<NatsAttachment>)>> =
        futures::stream::iter(0..count)
            .map(|i| {
                let (args, base, link) = (args.clone(), base.clone(), link.clone());
                let starting = starting.clone();
                async move {
                    let pre_alias = (count > 1)
                        .then(|| alias_of(&args, i, count, ""))
                        .transpose()?;
                    let cfg = config_of(&base, i, count, pre_alias);
                    let running = if headless {
                        Running::Headless(HeadlessWorker::start(&cfg).await?)
                    } else {
                        Running::Listening(hyperfed_worker::start(cfg).await?)
                    };
                    let attachment = match &*link {
                        Some((conn, fleet, secret)) => {
                            let state = running.state();
                            let alias = alias_of(&args, i, count, &state.identity().name)?;
                            Some(
                                attach(
                                    conn,
                                    fleet,
                                    secret,
                                    &alias,
                                    state,
                                    RegistryConfig::default(),
                                )
                                .await?,
                            )
                        }
                        None => None,
                    };
                    let alias = attachment
                        .as_ref()
                        .map(|a| a.alias().to_owned())
                        .unwrap_or_default();
                    starting.advance(&alias);
                    Ok((running, attachment))
                }
            })
            .buffer_unordered(START_CONCURRENCY)
            .collect()
            .await;
    let mut workers = Vec::with_capacity(count);
    let mut failure = None;
    for s in started {
        match s {
            Ok(w) => workers.push(w),
            Err(e) => failure = Some(e),
        }
    }
    starting.finish();
    if let Some(e) = failure {
        stop(workers).await;
        return Err(e);
    }
    // Over HTTP joins, follow the clusters joining the hub (bounded; serving goes on).
    let joining = joins_hub.then(|| {
        let states: Vec<_> = workers.iter().map(|(w, _)| w.state()).collect();
        tokio::spawn(follow_joins(states))
    });
    report(
        &workers,
        link.as_ref().as_ref().map(|(_, f, _)| f.to_string()),
    );
    let _ = signal.wait().await;
    if let Some(j) = joining {
        j.abort();
    }
    eprintln!("hyperfed worker: shutting down");
    stop(workers).await;
    Ok(())
}

/// Longest time the join progress is followed.
const FOLLOW_JOINS_FOR: std::time::Duration = std::time::Duration::from_secs(120);

/// Shows how many of `states` have joined the hub until all have (or the time is up).
async fn follow_joins(states: Vec<Arc<hyperfed_worker::state::WorkerState>>) {
    let joining = Progress::new("hyperfed worker", "clusters joined", states.len() as u64);
    let deadline = tokio::time::Instant::now() + FOLLOW_JOINS_FOR;
    loop {
        let joined = states.iter().filter(|s| s.hub_alias().is_some()).count();
        joining.set(joined as u64, "");
        if joined == states.len() || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    joining.finish();
}

fn report(workers: &[(Running, Option<NatsAttachment>)], fleet: Option<String>) {
    let mut aliases: Vec<&str> = workers
        .iter()
        .filter_map(|(_, a)| a.as_ref().map(NatsAttachment::alias))
        .collect();
    aliases.sort_unstable();
    if let (Some(fleet), Some(first), Some(last)) = (fleet, aliases.first(), aliases.last()) {
        eprintln!(
            "hyperfed worker: {} cluster(s) served over NATS (fleet {fleet}): {first}{}",
            aliases.len(),
            if aliases.len() > 1 {
                format!(" .. {last}")
            } else {
                String::new()
            }
        );
    }
    for (w, _) in workers.iter().take(3) {
        if let Running::Listening(h) = w {
            eprintln!("hyperfed worker: MCP at {}", h.mcp_url());
        }
    }
    if workers.len() > 3 && matches!(workers[0].0, Running::Listening(_)) {
        eprintln!("hyperfed worker: ... and {} more", workers.len() - 3);
    }
}

async fn stop(workers: Vec<(Running, Option<NatsAttachment>)>) {
    futures::stream::iter(workers)
        .for_each_concurrent(START_CONCURRENCY, |(running, attachment)| async move {
            if let Some(a) = attachment {
                a.leave().await;
            }
            running.shutdown().await;
        })
        .await;
}
