//! The worker side of the hub's join protocol: sign and send a join request, then heartbeat
//! with the worker token; re-join with jittered exponential backoff whenever the hub forgets
//! us or cannot be reached. Runs until shutdown. Never logs the secret or tokens.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use hyperfed_protocol::{ClusterAlias, HeartbeatResponse, JoinRequest, JoinResponse};
use rand::Rng as _;
use tokio_util::sync::CancellationToken;

use crate::config::JoinConfig;
use crate::state::WorkerState;

const BACKOFF_START: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
const ALIAS_TAKEN_RETRY: Duration = Duration::from_secs(10);

/// Everything the join loop needs.
pub(crate) struct Joiner {
    pub config: JoinConfig,
    pub worker_url: String,
    pub state: Arc<WorkerState>,
    pub alias: Arc<RwLock<Option<String>>>,
    pub cancel: CancellationToken,
}

enum Outcome {
    /// Re-join after the usual backoff.
    Retry,
    /// Re-join after a long pause (alias taken).
    RetrySlowly,
}

fn jitter(d: Duration) -> Duration {
    let extra = rand::rng().random_range(0..=d.as_millis() as u64 / 4 + 1);
    d + Duration::from_millis(extra)
}

fn hub_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(200).collect())
}

impl Joiner {
    fn set_alias(&self, alias: Option<String>) {
        if let Ok(mut g) = self.alias.write() {
            *g = alias;
        }
    }

    /// Runs the join/heartbeat loop until cancelled.
    pub async fn run(self) {
        let http = match reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the HTTP client for joining the hub");
                return;
            }
        };
        let hub = self.config.hub_url.trim_end_matches('/').to_owned();
        // Logged form of the hub URL (a URL may carry credentials).
        let shown = hyperfed_protocol::redact_uri(&hub);
        let mut backoff = BACKOFF_START;
        loop {
            let outcome = tokio::select! {
                _ = self.cancel.cancelled() => break,
                o = self.session(&http, &hub, &shown, &mut backoff) => o,
            };
            self.set_alias(None);
            let pause = match outcome {
                Outcome::Retry => {
                    let p = jitter(backoff);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    p
                }
                Outcome::RetrySlowly => jitter(ALIAS_TAKEN_RETRY),
            };
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                _ = tokio::time::sleep(pause) => {}
            }
        }
        self.set_alias(None);
    }

    /// One join followed by heartbeats until the hub forgets us or becomes unreachable.
    async fn session(
        &self,
        http: &reqwest::Client,
        url: &str,
        hub: &str,
        backoff: &mut Duration,
    ) -> Outcome {
        let mut id = self.state.identity();
        if id.uuid.is_empty() {
            match self.state.refresh_identity().await {
                Ok(i) => id = i,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot join the hub yet: the cluster identity is unknown");
                    return Outcome::Retry;
                }
            }
        }
        let wanted = self.config.name.clone().unwrap_or_else(|| id.name.clone());
        let alias = ClusterAlias::normalise(&wanted)
            .or_else(|_| ClusterAlias::normalise(&format!("c{}", id.uuid)))
            .map(|a| a.as_str().to_owned())
            .unwrap_or_else(|_| "cluster".to_owned());
        let request = JoinRequest::sign(
            &self.config.secret,
            &alias,
            &id.uuid,
            &id.name,
            &self.worker_url,
        );
        let resp = match http
            .post(format!("{url}/v1/join"))
            .json(&request)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(hub, error = %e, "cannot reach the hub to join; retrying");
                return Outcome::Retry;
            }
        };
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let joined: JoinResponse = match status.as_u16() {
            200 => match serde_json::from_str(&body) {
                Ok(j) => j,
                Err(e) => {
                    tracing::error!(hub, error = %e, "the hub's join answer is not a JoinResponse");
                    return Outcome::Retry;
                }
            },
            409 => {
                tracing::error!(hub, alias, message = %hub_message(&body), "the hub refused the join: alias taken; retrying slowly (pick another --name)");
                return Outcome::RetrySlowly;
            }
            401 => {
                tracing::error!(hub, message = %hub_message(&body), "the hub refused the join proof (wrong secret or clock skew); retrying");
                return Outcome::Retry;
            }
            _ => {
                tracing::warn!(hub, status = status.as_u16(), message = %hub_message(&body), "join failed; retrying");
                return Outcome::Retry;
            }
        };
        tracing::info!(hub, alias = %joined.alias, "joined the hub");
        *backoff = BACKOFF_START;
        self.set_alias(Some(joined.alias.clone()));
        let interval = Duration::from_millis(joined.heartbeat_interval_ms.clamp(100, 600_000));
        let mut token = joined.worker_token;
        loop {
            tokio::time::sleep(interval).await;
            let resp = match http
                .post(format!("{url}/v1/heartbeat"))
                .bearer_auth(&token)
                .send()
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(hub, error = %e, "heartbeat failed: hub unreachable; re-joining");
                    return Outcome::Retry;
                }
            };
            match resp.status().as_u16() {
                200 => match resp.json::<HeartbeatResponse>().await {
                    Ok(h) => token = h.worker_token,
                    Err(e) => {
                        tracing::warn!(hub, error = %e, "heartbeat answer unreadable; keeping the current token")
                    }
                },
                401 | 404 => {
                    tracing::warn!(hub, "the hub no longer knows this worker; re-joining");
                    return Outcome::Retry;
                }
                other => {
                    tracing::warn!(hub, status = other, "heartbeat refused; re-joining");
                    return Outcome::Retry;
                }
            }
        }
    }
}
