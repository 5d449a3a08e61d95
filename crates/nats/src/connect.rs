//! Connecting to NATS: servers, credentials (`--nats-creds`, user/password from the
//! environment), a CA for TLS (`--nats-ca`), reconnecting forever with a bounded backoff, and a
//! connection state that lets calls fail fast, naming the cause, instead of queueing.

use async_nats::{Client, ConnectOptions, Event};
use hyperfed_protocol::Secret;
use rand::Rng as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

use crate::error::{NatsLinkError, SetupError};

/// Environment variable holding the NATS user name.
pub const USER_ENV: &str = "HYPERFED_NATS_USER";
/// Environment variable holding the NATS password (never a command-line flag).
pub const PASSWORD_ENV: &str = "HYPERFED_NATS_PASSWORD";

/// How to reach NATS; Debug never shows the password.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    /// Server URLs (`nats://` or `tls://`), tried in turn; more are learned from the cluster.
    pub servers: Vec<String>,
    /// `--nats-creds FILE`: a NATS .creds file (user JWT and NKey seed).
    pub creds_file: Option<PathBuf>,
    /// `--nats-ca FILE`: PEM CA certificates that sign the servers' TLS certificates.
    pub ca_file: Option<PathBuf>,
    /// User name (from `HYPERFED_NATS_USER`).
    pub user: Option<String>,
    /// Password (from `HYPERFED_NATS_PASSWORD`).
    pub password: Option<Secret>,
    /// Client name shown in the server's connection list.
    pub client_name: Option<String>,
    /// Longest wait between two reconnect attempts (the backoff doubles up to it, with jitter).
    pub max_reconnect_delay: Duration,
    /// How often the client pings the server to find a dead connection.
    pub ping_interval: Duration,
    /// Start even when no server answers yet, and keep trying in the background.
    pub retry_initial_connect: bool,
}

impl NatsOptions {
    /// Options for these servers with the defaults: no credentials, 1 s max backoff, 10 s pings.
    pub fn new<S: Into<String>>(servers: impl IntoIterator<Item = S>) -> Self {
        NatsOptions {
            servers: servers.into_iter().map(Into::into).collect(),
            creds_file: None,
            ca_file: None,
            user: None,
            password: None,
            client_name: None,
            max_reconnect_delay: Duration::from_secs(1),
            ping_interval: Duration::from_secs(10),
            retry_initial_connect: false,
        }
    }

    /// Takes user and password from `HYPERFED_NATS_USER` / `HYPERFED_NATS_PASSWORD` when set.
    pub fn with_env_credentials(mut self) -> Self {
        if let Ok(user) = std::env::var(USER_ENV)
            && !user.is_empty()
        {
            self.user = Some(user);
        }
        if let Ok(password) = std::env::var(PASSWORD_ENV)
            && !password.is_empty()
        {
            self.password = Some(Secret::new(password));
        }
        self
    }

    /// Names the connection (shown by the server's `/connz`).
    pub fn with_client_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = Some(name.into());
        self
    }
}

/// Whether the client is connected, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Connected to a server.
    Connected,
    /// Not connected; the client keeps reconnecting in the background.
    Disconnected {
        /// What the client last reported.
        cause: String,
    },
}

/// A NATS client plus its connection state; cheap to clone.
#[derive(Clone, Debug)]
pub struct NatsConnection {
    client: Client,
    state: watch::Receiver<LinkState>,
}

impl NatsConnection {
    /// Connects (or, with `retry_initial_connect`, starts connecting) with these options.
    pub async fn connect(opts: &NatsOptions) -> Result<Self, SetupError> {
        if opts.servers.is_empty() {
            return Err(SetupError::Config("no NATS server URL given".into()));
        }
        let servers = opts.servers.join(",");
        let mut co = match &opts.creds_file {
            Some(path) => ConnectOptions::with_credentials_file(path.clone())
                .await
                .map_err(|e| SetupError::Credentials {
                    path: path.display().to_string(),
                    cause: e.to_string(),
                })?,
            None => ConnectOptions::new(),
        };
        if let (Some(user), Some(password)) = (&opts.user, &opts.password) {
            co = co.user_and_password(user.clone(), password.expose().to_owned());
        }
        if let Some(ca) = &opts.ca_file {
            co = co.add_root_certificates(ca.clone()).require_tls(true);
        }
        if let Some(name) = &opts.client_name {
            co = co.name(name);
        }
        let (tx, rx) = watch::channel(if opts.retry_initial_connect {
            LinkState::Disconnected {
                cause: "not connected to NATS yet".into(),
            }
        } else {
            LinkState::Connected
        });
        let tx = Arc::new(tx);
        let last_error = Arc::new(Mutex::new(String::new()));
        let max_delay = opts.max_reconnect_delay.max(Duration::from_millis(10));
        co = co
            .max_reconnects(None)
            .ping_interval(opts.ping_interval)
            .connection_timeout(Duration::from_secs(5))
            .reconnect_delay_callback(move |attempts| reconnect_delay(attempts, max_delay))
            .event_callback({
                let servers = servers.clone();
                move |event| {
                    let tx = tx.clone();
                    let last_error = last_error.clone();
                    let servers = servers.clone();
                    async move { on_event(event, &tx, &last_error, &servers) }
                }
            });
        if opts.retry_initial_connect {
            co = co.retry_on_initial_connect();
        }
        let client = co
            .connect(opts.servers.clone())
            .await
            .map_err(|e| SetupError::Connect {
                servers: servers.clone(),
                cause: e.to_string(),
            })?;
        tracing::info!(servers = %servers, "connected to NATS");
        Ok(NatsConnection { client, state: rx })
    }

    /// The underlying async-nats client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A JetStream context on this connection.
    pub fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(self.client.clone())
    }

    /// The current state: the client's own view, with the last reported cause when down.
    pub fn state(&self) -> LinkState {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => LinkState::Connected,
            _ => match &*self.state.borrow() {
                LinkState::Connected => LinkState::Disconnected {
                    cause: "the connection to NATS was lost; reconnecting".into(),
                },
                down => down.clone(),
            },
        }
    }

    /// Ok when connected, else the cause: the fail-fast check before each call.
    pub fn ensure_connected(&self) -> Result<(), NatsLinkError> {
        match self.state() {
            LinkState::Connected => Ok(()),
            LinkState::Disconnected { cause } => Err(NatsLinkError::Disconnected { cause }),
        }
    }

    /// Waits until connected or until `timeout` passes; true when connected.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.state.clone();
        loop {
            if self.state() == LinkState::Connected {
                return true;
            }
            let changed = tokio::time::timeout_at(deadline, rx.changed()).await;
            match changed {
                Ok(Ok(())) => {}
                // The sender lives in the client's callback; a short poll covers a missed edge.
                Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(_) => return self.state() == LinkState::Connected,
            }
        }
    }

    /// A receiver that changes whenever the connection drops or comes back.
    pub(crate) fn state_changes(&self) -> watch::Receiver<LinkState> {
        self.state.clone()
    }
}

/// Doubling backoff from 50 ms up to `max`, with +-20 % jitter so a fleet does not reconnect in step.
fn reconnect_delay(attempts: usize, max: Duration) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let exp = u32::try_from(attempts.saturating_sub(2))
        .unwrap_or(u32::MAX)
        .min(16);
    let base = Duration::from_millis(50)
        .saturating_mul(1u32 << exp)
        .min(max);
    let jitter = rand::rng().random_range(0.8..1.2);
    base.mul_f64(jitter).min(max)
}

fn on_event(
    event: Event,
    tx: &watch::Sender<LinkState>,
    last_error: &Mutex<String>,
    servers: &str,
) {
    match event {
        Event::Connected => {
            tracing::info!(servers, "NATS connection (re)established");
            tx.send_replace(LinkState::Connected);
        }
        Event::Disconnected => {
            let detail = last_error.lock().map(|e| e.clone()).unwrap_or_default();
            let cause = if detail.is_empty() {
                format!("lost the connection to NATS ({servers}); reconnecting")
            } else {
                format!("lost the connection to NATS ({servers}): {detail}; reconnecting")
            };
            tracing::warn!(%cause, "NATS disconnected");
            tx.send_replace(LinkState::Disconnected { cause });
        }
        Event::Closed => {
            tx.send_replace(LinkState::Disconnected {
                cause: "the NATS connection was closed".into(),
            });
        }
        Event::ClientError(e) => {
            let text = e.to_string();
            tracing::debug!(error = %text, "NATS client error");
            if let Ok(mut g) = last_error.lock() {
                *g = text.clone();
            }
            tx.send_if_modified(|s| match s {
                LinkState::Disconnected { cause } if !cause.contains(&text) => {
                    *cause = format!("cannot reach NATS ({servers}): {text}; reconnecting");
                    true
                }
                _ => false,
            });
        }
        Event::ServerError(e) => {
            let text = e.to_string();
            tracing::warn!(error = %text, "NATS server error");
            if let Ok(mut g) = last_error.lock() {
                *g = text;
            }
        }
        Event::LameDuckMode => tracing::info!("NATS server entered lame duck mode"),
        Event::SlowConsumer(sid) => tracing::warn!(sid, "NATS slow consumer"),
        Event::Draining => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded() {
        let max = Duration::from_secs(1);
        assert_eq!(reconnect_delay(1, max), Duration::ZERO);
        for n in 2..200 {
            assert!(reconnect_delay(n, max) <= max);
        }
        assert!(reconnect_delay(2, max) < Duration::from_millis(100));
    }

    #[test]
    fn debug_redacts_password() {
        let mut o = NatsOptions::new(["nats://127.0.0.1:4222"]);
        o.user = Some("u".into());
        o.password = Some(Secret::new("hunter2"));
        assert!(!format!("{o:?}").contains("hunter2"));
    }
}
