//! `hyperfed audit --data DIR` or `hyperfed audit --nats URL [--fleet NAME]`: prints the
//! hub's audit trail (mutating calls through the hub) as JSON lines, oldest first, optionally
//! filtered by subject, cluster, outcome and time. `--data` reads a hub's database directly,
//! so that hub must be stopped (else `GET /v1/audit` with the same filters as query
//! parameters); `--nats` reads the fleet's audit stream, written by every replica, while they run.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;

/// Arguments of `hyperfed audit`.
#[derive(clap::Args)]
pub struct AuditArgs {
    /// The hub's data directory (its --data).
    #[arg(
        long = "data",
        value_name = "DIR",
        required_unless_present = "nats",
        conflicts_with = "nats"
    )]
    pub data: Option<PathBuf>,
    /// Read the fleet's audit stream on NATS instead (hub replicas with --nats).
    #[command(flatten)]
    pub nats: super::nats_args::NatsArgs,
    /// Print only the latest N matching entries.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Only entries whose subject contains this (e.g. a scoped token's name).
    #[arg(long)]
    pub subject: Option<String>,
    /// Only entries of this cluster alias.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Only entries with this outcome (ok, error, refused, unknown, confirmation_required, declined, ...).
    #[arg(long)]
    pub outcome: Option<String>,
    /// Only entries at or after this time: RFC 3339 or a duration ago (30m, 24h).
    #[arg(long)]
    pub since: Option<String>,
    /// Only entries at or before this time: RFC 3339 or a duration ago.
    #[arg(long)]
    pub until: Option<String>,
}

/// Runs `hyperfed audit`.
pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let matcher = hyperfed_hub::audit::AuditFilter {
        subject: args.subject,
        cluster: args.cluster,
        outcome: args.outcome,
        since: args.since,
        until: args.until,
    }
    .matcher()
    .map_err(|e| anyhow::anyhow!("--{e}"))?;
    let all = match (&args.data, args.nats.options("hyperfed-audit")?) {
        (_, Some((options, fleet))) => {
            // Filters apply to the records read: read them all, then keep the latest matches.
            hyperfed_hub::read_fleet_audit(&options, &fleet, None).await?
        }
        (Some(dir), None) => hyperfed_hub::audit::read(dir)?,
        (None, None) => anyhow::bail!("give --data DIR (a stopped hub) or --nats URL (a fleet)"),
    };
    let entries = matcher.select(all, args.limit);
    let mut out = std::io::stdout().lock();
    for entry in entries {
        let line = serde_json::to_string(&entry).context("cannot encode an audit entry")?;
        writeln!(out, "{line}").context("cannot write to stdout")?;
    }
    Ok(())
}
