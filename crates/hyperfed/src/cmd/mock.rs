//! `hyperfed mock` (not built yet).

/// Arguments of `hyperfed mock`.
#[derive(clap::Args)]
pub struct MockArgs {}

/// Runs `hyperfed mock`.
pub async fn run(_args: MockArgs) -> anyhow::Result<()> {
    anyhow::bail!("hyperfed mock is not implemented yet")
}
