//! `hyperfed audit` (not built yet).

/// Arguments of `hyperfed audit`.
#[derive(clap::Args)]
pub struct AuditArgs {}

/// Runs `hyperfed audit`.
pub async fn run(_args: AuditArgs) -> anyhow::Result<()> {
    anyhow::bail!("hyperfed audit is not implemented yet")
}
