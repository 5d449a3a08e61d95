//! `hyperfed audit --data DIR`: prints the hub's audit trail (mutating calls through the hub)
//! as JSON lines, oldest first. Reads the database directly, so the hub must be stopped.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;

/// Arguments of `hyperfed audit`.
#[derive(clap::Args)]
pub struct AuditArgs {
    /// The hub's data directory (its --data).
    #[arg(long = "data", value_name = "DIR")]
    pub data: PathBuf,
    /// Print only the latest N entries.
    #[arg(long)]
    pub limit: Option<usize>,
}

/// Runs `hyperfed audit`.
pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let entries = hyperfed_hub::audit::read_latest(&args.data, args.limit)?;
    let mut out = std::io::stdout().lock();
    for entry in entries {
        let line = serde_json::to_string(&entry).context("cannot encode an audit entry")?;
        writeln!(out, "{line}").context("cannot write to stdout")?;
    }
    Ok(())
}
