//! `hyperfed connect` (not built yet).

/// Arguments of `hyperfed connect`.
#[derive(clap::Args)]
pub struct ConnectArgs {}

/// Runs `hyperfed connect`.
pub async fn run(_args: ConnectArgs) -> anyhow::Result<()> {
    anyhow::bail!("hyperfed connect is not implemented yet")
}
