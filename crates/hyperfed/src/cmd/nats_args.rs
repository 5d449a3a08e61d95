//! The NATS flags `hyperfed worker` and `hyperfed hub` share (issue #11): servers, fleet,
//! `--nats-creds`, `--nats-ca`; user and password only from the environment.

use std::path::PathBuf;

use anyhow::Context as _;
use hyperfed_nats::{FleetName, NatsOptions};

/// NATS connection flags.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct NatsArgs {
    /// NATS server URL(s), comma-separated, e.g. nats://127.0.0.1:4222: use NATS instead of HTTP joins.
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// Fleet name on NATS (one token of [A-Za-z0-9_-]); hubs and workers of a fleet share it.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "default",
        requires = "nats"
    )]
    pub fleet: String,
    /// NATS .creds file (user JWT and NKey seed); user/password come from HYPERFED_NATS_USER/PASSWORD.
    #[arg(long, value_name = "FILE", requires = "nats")]
    pub nats_creds: Option<PathBuf>,
    /// PEM CA bundle that signs the NATS servers' TLS certificates.
    #[arg(long, value_name = "FILE", requires = "nats")]
    pub nats_ca: Option<PathBuf>,
}

impl NatsArgs {
    /// The connection options and fleet, when `--nats` was given.
    pub fn options(&self, client_name: &str) -> anyhow::Result<Option<(NatsOptions, FleetName)>> {
        let Some(urls) = &self.nats else {
            return Ok(None);
        };
        let servers: Vec<String> = urls
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if servers.is_empty() {
            anyhow::bail!("--nats needs at least one server URL, e.g. nats://127.0.0.1:4222");
        }
        let mut opts = NatsOptions::new(servers)
            .with_env_credentials()
            .with_client_name(client_name);
        opts.creds_file = self.nats_creds.clone();
        opts.ca_file = self.nats_ca.clone();
        let fleet =
            FleetName::new(&self.fleet).with_context(|| format!("--fleet {:?}", self.fleet))?;
        Ok(Some((opts, fleet)))
    }
}
