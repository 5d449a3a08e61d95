//! `hyperfed token issue|list|revoke --data DIR`: scoped client tokens signed with the hub key
//! in DIR (works while the hub runs). `issue` prints the token alone on the last line of stdout
//! (the human note goes to stderr); `list` shows issued tokens (never the tokens themselves);
//! `revoke` adds one token's id to `DIR/tokens-revoked`, which the hub checks on every request.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use hyperfed_hub::auth::{ISSUED_FILE, REVOKED_FILE, append_line};
use hyperfed_hub::{ClientClaims, HubKey, Scope};
use hyperfed_protocol::join::unix_now;
use hyperfed_protocol::parse_duration;
use serde::Deserialize;

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
    /// List the tokens issued for DIR: id, subject, scope, expiry and status.
    List(ListArgs),
    /// Revoke one token (by its id from `token list`, or the token itself).
    Revoke(RevokeArgs),
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
    /// Create DIR and its hub key if DIR holds no hub yet (before the hub's first start).
    #[arg(long)]
    init: bool,
}

#[derive(clap::Args)]
struct ListArgs {
    /// The hub's data directory (its --data).
    #[arg(long = "data", value_name = "DIR")]
    data: PathBuf,
}

#[derive(clap::Args)]
struct RevokeArgs {
    /// The hub's data directory (its --data).
    #[arg(long = "data", value_name = "DIR")]
    data: PathBuf,
    /// The token's id (from `hyperfed token list`; a unique prefix of 6 or more characters
    /// will do) or the token itself.
    #[arg(value_name = "ID_OR_TOKEN")]
    token: String,
}

/// One line of `DIR/tokens-issued.jsonl`.
#[derive(Deserialize)]
struct Issued {
    jti: String,
    sub: String,
    scope: Scope,
    iat: u64,
    exp: u64,
}

/// True when `dir` holds a hub: its key or its database.
fn holds_a_hub(dir: &Path) -> bool {
    HubKey::path(dir).is_file() || (dir.join("conf").is_file() && dir.join("db").is_file())
}

fn check_hub_dir(dir: &Path) -> anyhow::Result<()> {
    if holds_a_hub(dir) {
        return Ok(());
    }
    bail!(
        "--data {} holds no hub (no hub.key and no hub database). Give the directory the hub runs with: its `--data` (or `data` in its config file; `hyperfed hub` logs it at start-up as data=...). A hub started without --data keeps a temporary key and cannot accept issued tokens",
        dir.display()
    )
}

fn read_issued(dir: &Path) -> anyhow::Result<Vec<Issued>> {
    let path = dir.join(ISSUED_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<Issued>(l).ok())
        .collect())
}

fn read_revoked(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join(REVOKED_FILE))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Runs `hyperfed token`.
pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    match args.command {
        TokenCommand::Issue(a) => issue(a),
        TokenCommand::List(a) => list(&a.data),
        TokenCommand::Revoke(a) => revoke(&a.data, &a.token),
    }
}

fn issue(a: IssueArgs) -> anyhow::Result<()> {
    if !a.init {
        check_hub_dir(&a.data).context("no token was issued")?;
    }
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

fn list(dir: &Path) -> anyhow::Result<()> {
    check_hub_dir(dir)?;
    let revoked = read_revoked(dir);
    let now = unix_now();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ID                                SUBJECT           SCOPE    ISSUED-UNIX  EXPIRES-UNIX  STATUS")
        .context("cannot write to stdout")?;
    for t in read_issued(dir)? {
        let status = if revoked.contains(&t.jti) {
            "revoked"
        } else if t.exp < now {
            "expired"
        } else {
            "active"
        };
        writeln!(
            out,
            "{:<33} {:<17} {:<8} {:<12} {:<13} {status}",
            t.jti, t.sub, t.scope, t.iat, t.exp
        )
        .context("cannot write to stdout")?;
    }
    Ok(())
}

fn revoke(dir: &Path, given: &str) -> anyhow::Result<()> {
    check_hub_dir(dir)?;
    let given = given.trim();
    let issued = read_issued(dir)?;
    let jti = if given.matches('.').count() == 2 {
        let key = HubKey::load_or_create(dir)?;
        ClientClaims::read_any(&key, given)
            .map(|c| c.jti)
            .context("that token was not signed with this hub's key: nothing to revoke here")?
    } else {
        if given.len() < 6 {
            bail!(
                "give at least 6 characters of the token id (see `hyperfed token list --data {}`)",
                dir.display()
            );
        }
        let found: Vec<&Issued> = issued.iter().filter(|t| t.jti.starts_with(given)).collect();
        match found.as_slice() {
            [one] => one.jti.clone(),
            [] => bail!(
                "no issued token has an id starting with {given:?}; `hyperfed token list --data {}` shows the ids",
                dir.display()
            ),
            _ => bail!(
                "{} tokens have ids starting with {given:?}: give more characters",
                found.len()
            ),
        }
    };
    if read_revoked(dir).contains(&jti) {
        eprintln!("token {jti} was already revoked");
        return Ok(());
    }
    let who = issued
        .iter()
        .find(|t| t.jti == jti)
        .map(|t| format!(" ({}, scope {})", t.sub, t.scope))
        .unwrap_or_default();
    append_line(&dir.join(REVOKED_FILE), &jti)?;
    eprintln!("revoked token {jti}{who}; the hub refuses it from its next request");
    Ok(())
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
