//! `hyperfed hub` (not built yet).

/// Arguments of `hyperfed hub`.
#[derive(clap::Args)]
pub struct HubArgs {}

/// Runs `hyperfed hub`.
pub async fn run(_args: HubArgs) -> anyhow::Result<()> {
    anyhow::bail!("hyperfed hub is not implemented yet")
}
