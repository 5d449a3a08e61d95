//! The worker side of the hub's join protocol: sign and send a join request, then heartbeat
//! with the worker token; re-join with jittered exponential backoff whenever the hub forgets
//! us or cannot be reached. A refused join is diagnosed (see `join_diagnosis`) and the
//! diagnosis logged once per change, so the log says what to fix. Never logs the secret.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hyperfed_protocol::join::unix_now;
use hyperfed_protocol::{ClusterAlias, HeartbeatResponse, JoinRequest, JoinResponse};
use rand::Rng as _;
use tokio_util::sync::CancellationToken;

use crate::config::JoinConfig;
use crate::join_diagnosis::{self as diag, Diagnosis};
use crate::state::WorkerState;

const BACKOFF_START: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// Pause before retrying a join refused because another cluster holds the alias.
const ALIAS_TAKEN_RETRY: Duration = Duration::from_secs(10);
/// How long one attempt to learn the cluster's identity may take.
const IDENTITY_TIMEOUT: Duration = Duration::from_secs(5);
/// The same diagnosis is logged again at most this often.
const RELOG_EVERY: Duration = Duration::from_secs(60);

/// Where the join loop reports its state: the alias while joined, the last problem otherwise.
#[derive(Clone, Default)]
pub(crate) struct JoinStatus {
    /// The alias the hub registered this worker under, while joined.
    pub alias: Arc<RwLock<Option<String>>>,
    /// What the last failed join attempt said (cleared on a successful join).
    pub problem: Arc<RwLock<Option<String>>>,
    /// Whether this worker was started to join a hub (readiness then waits for the join).
    pub joining: bool,
}

impl JoinStatus {
    /// The last join problem, if the worker is not joined.
    pub fn problem(&self) -> Option<String> {
        self.problem.read().ok().and_then(|g| g.clone())
    }

    fn set_problem(&self, p: Option<String>) {
        if let Ok(mut g) = self.problem.write() {
            *g = p;
        }
    }
}

/// Everything the join loop needs.
pub(crate) struct Joiner {
    pub config: JoinConfig,
    pub worker_url: String,
    pub state: Arc<WorkerState>,
    pub status: JoinStatus,
    pub cancel: CancellationToken,
}

enum Outcome {
    /// Re-join after the usual backoff.
    Retry,
    /// Re-join after a long pause (a problem the operator must fix).
    RetrySlowly,
}

fn jitter(d: Duration) -> Duration {
    let extra = rand::rng().random_range(0..=d.as_millis() as u64 / 4 + 1);
    d + Duration::from_millis(extra)
}

/// Logs each distinct diagnosis once (and again after `RELOG_EVERY`), not on every retry.
#[derive(Default)]
struct Reporter {
    last: Option<(String, Instant)>,
}

impl Reporter {
    fn report(&mut self, d: &Diagnosis) {
        let fresh = match &self.last {
            Some((m, at)) => m != &d.message || at.elapsed() >= RELOG_EVERY,
            None => true,
        };
        if !fresh {
            tracing::debug!(problem = %d.message, "join still failing");
            return;
        }
        self.last = Some((d.message.clone(), Instant::now()));
        if d.needs_operator() {
            tracing::error!("cannot join the hub: {}", d.message);
        } else {
            tracing::warn!("cannot join the hub: {}", d.message);
        }
    }
}

impl Joiner {
    fn set_alias(&self, alias: Option<String>) {
        if let Ok(mut g) = self.status.alias.write() {
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
        let (hub, changed) = diag::hub_base(&self.config.hub_url);
        // Logged form of the hub URL (a URL may carry credentials).
        let shown = hyperfed_protocol::redact_uri(&hub);
        if changed {
            tracing::info!(
                "--join {} names an endpoint, not the hub: joining the hub at {shown} (workers join the hub's base URL; /mcp is for MCP clients)",
                hyperfed_protocol::redact_uri(&self.config.hub_url)
            );
        }
        let mut backoff = BACKOFF_START;
        let mut reporter = Reporter::default();
        loop {
            let outcome = tokio::select! {
                _ = self.cancel.cancelled() => break,
                o = self.session(&http, &hub, &shown, &mut backoff, &mut reporter) => o,
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

    /// What answers `/health` at the origin of the join URL.
    async fn probe(http: &reqwest::Client, hub: &str) -> diag::Peer {
        let Some(origin) = diag::origin_of(hub) else {
            return diag::Peer::Other;
        };
        let body = match http
            .get(format!("{origin}/health"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            Ok(r) => r.text().await.ok(),
            Err(_) => None,
        };
        diag::classify_health(body.as_deref())
    }

    /// One join attempt: the hub's answer, or what went wrong.
    async fn join_once(
        &self,
        http: &reqwest::Client,
        url: &str,
        shown: &str,
        request: &JoinRequest,
    ) -> Result<JoinResponse, Diagnosis> {
        let resp = http
            .post(format!("{url}/v1/join"))
            .json(request)
            .send()
            .await
            .map_err(|e| {
                diag::unreachable(shown, &hyperfed_protocol::redact_uri(&e.to_string()))
            })?;
        let status = resp.status().as_u16();
        let skew = resp
            .headers()
            .get(http::header::DATE)
            .and_then(|d| d.to_str().ok())
            .and_then(diag::parse_http_date)
            .map(|hub_now| unix_now() as i64 - hub_now);
        let body = resp.text().await.unwrap_or_default();
        if status == 200 {
            return serde_json::from_str(&body).map_err(|_| diag::not_a_join_response(shown));
        }
        let peer = Self::probe(http, url).await;
        Err(diag::diagnose(
            shown,
            status,
            &body,
            peer,
            skew,
            &self.worker_url,
        ))
    }

    /// One join followed by heartbeats until the hub forgets us or becomes unreachable.
    async fn session(
        &self,
        http: &reqwest::Client,
        url: &str,
        hub: &str,
        backoff: &mut Duration,
        reporter: &mut Reporter,
    ) -> Outcome {
        let mut id = self.state.identity();
        let mut pending = false;
        if id.uuid.is_empty() {
            match tokio::time::timeout(IDENTITY_TIMEOUT, self.state.refresh_identity()).await {
                Ok(Ok(i)) => id = i,
                failed => {
                    // Join anyway under a stand-in identity: the hub then lists the cluster as
                    // unreachable instead of not at all; the real identity replaces it later.
                    let why = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => format!("no answer within {} s", IDENTITY_TIMEOUT.as_secs()),
                    };
                    tracing::warn!(error = %why, "the cluster does not answer; joining the hub anyway, where it shows as unreachable");
                    id.uuid = hyperfed_protocol::join::pending_cluster_uuid(&self.worker_url);
                    id.name = "(cluster not reachable yet)".into();
                    pending = true;
                }
            }
        }
        let wanted = self.config.name.clone().unwrap_or_else(|| {
            if pending {
                format!("c{}", id.uuid)
            } else {
                id.name.clone()
            }
        });
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
        let joined = match self.join_once(http, url, hub, &request).await {
            Ok(j) => j,
            Err(d) => {
                reporter.report(&d);
                self.status.set_problem(Some(d.message.clone()));
                // Backoff grows to BACKOFF_MAX; a taken alias waits longer from the start.
                return if d.problem == crate::join_diagnosis::Problem::AliasTaken {
                    Outcome::RetrySlowly
                } else {
                    Outcome::Retry
                };
            }
        };
        tracing::info!(hub, alias = %joined.alias, "joined the hub");
        *reporter = Reporter::default();
        self.status.set_problem(None);
        *backoff = BACKOFF_START;
        self.set_alias(Some(joined.alias.clone()));
        let interval = Duration::from_millis(joined.heartbeat_interval_ms.clamp(100, 600_000));
        let mut token = joined.worker_token;
        loop {
            tokio::time::sleep(interval).await;
            if pending
                && tokio::time::timeout(IDENTITY_TIMEOUT, self.state.refresh_identity())
                    .await
                    .is_ok_and(|r| r.is_ok())
            {
                tracing::info!(
                    hub,
                    "the cluster answers now; re-joining the hub with its identity"
                );
                return Outcome::Retry;
            }
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
