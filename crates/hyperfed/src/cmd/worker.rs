//! `hyperfed worker` (not built yet).

/// Arguments of `hyperfed worker`.
#[derive(clap::Args)]
pub struct WorkerArgs {}

/// Runs `hyperfed worker`.
pub async fn run(_args: WorkerArgs) -> anyhow::Result<()> {
    anyhow::bail!("hyperfed worker is not implemented yet")
}
