//! `hyperfed demo` (not built yet).

/// Arguments of `hyperfed demo`.
#[derive(clap::Args)]
pub struct DemoArgs {}

/// Runs `hyperfed demo`.
pub async fn run(_args: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("hyperfed demo is not implemented yet")
}
