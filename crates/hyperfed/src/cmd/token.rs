//! `hyperfed token issue --data DIR --scope read --ttl 24h`: issues a scoped client token signed
//! with the hub key in DIR (created if absent; works while the hub runs). The token is printed
//! alone on the last line of stdout; the human note goes to stderr.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use hyperfed_hub::Scope;
use hyperfed_protocol::parse_duration;

/// Arguments of `hyperfed token`.
#[derive(clap::Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(clap::Subcommand)]
enum TokenCommand {
    /// Issue a scoped client token (JWT) for the hub whose data directory is DIR.
    Issue(IssueArgs),
}

#[derive(clap::Args)]
struct IssueArgs {
    /// The hub's data directory (its --data); the key is DIR/hub.key.
    #[arg(long = "data", value_name = "DIR")]
    data: PathBuf,
    /// What the token allows: read (read-only tools), operate (also actions), admin (everything).
    #[arg(long)]
    scope: Scope,
    /// Lifetime, e.g. 1h, 24h, 30d.
    #[arg(long, value_parser = parse_duration, default_value = "24h")]
    ttl: Duration,
    /// Who the token is for (recorded in the audit log).
    #[arg(long, default_value = "client")]
    subject: String,
}

/// Runs `hyperfed token`.
pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    match args.command {
        TokenCommand::Issue(a) => {
            let token = hyperfed_hub::issue_token(&a.data, a.scope, a.ttl, &a.subject)
                .context("cannot issue a token")?;
            eprintln!(
                "scope {} token for '{}', valid for {}; present it as Authorization: Bearer <token>",
                a.scope,
                a.subject.trim(),
                humantime_like(a.ttl)
            );
            let mut out = std::io::stdout().lock();
            writeln!(out, "{token}").context("cannot write to stdout")?;
            Ok(())
        }
    }
}

fn humantime_like(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86400 == 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
