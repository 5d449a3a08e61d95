//! One pooled MCP client session per worker: connected once at join, shared by every call
//! (rmcp `Peer` clones multiplex), authenticated with hub call tokens that rotate by themselves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use hyperfed_protocol::join::unix_now;
use hyperfed_protocol::{CallClaims, Secret};
use rmcp::ServiceExt as _;
use rmcp::model::{ClientJsonRpcMessage, ProgressNotificationParam, Tool};
use rmcp::service::{NotificationContext, Peer, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpClientTransportConfig, StreamableHttpError,
    StreamableHttpPostResponse,
};
use sse_stream::Sse;
use tokio_util::sync::CancellationToken;

use crate::state::Hub;

/// Lifetime of one hub call token (the worker verifies it on every request).
const CALL_TOKEN_TTL: Duration = Duration::from_secs(300);
/// A token with less than this left is replaced before it is sent.
const CALL_TOKEN_RENEW_BEFORE: u64 = 150;
/// In-flight POSTs allowed per worker session.
const MAX_CONCURRENT_REQUESTS: usize = 128;
/// Reconnect attempts for a broken SSE stream before its calls fail as lost (rmcp's default
/// retries forever, so a killed worker would hold its calls until their timeout).
const SSE_RECONNECTS: usize = 3;
/// First reconnect delay; doubled per attempt, at most `SSE_RECONNECT_MAX_DELAY`.
const SSE_RECONNECT_DELAY: Duration = Duration::from_millis(250);
/// Longest single reconnect delay (all attempts together stay under 2 s).
const SSE_RECONNECT_MAX_DELAY: Duration = Duration::from_secs(1);
/// How often a session checks whether its transport has ended.
const TRANSPORT_CHECK_EVERY: Duration = Duration::from_millis(500);

/// Issues the hub's call tokens for one cluster, renewing them well before expiry.
pub(crate) struct CallTokens {
    secret: Secret,
    cluster_uuid: String,
    current: Mutex<(String, u64)>,
}

impl CallTokens {
    fn new(secret: Secret, cluster_uuid: String) -> Self {
        CallTokens {
            secret,
            cluster_uuid,
            current: Mutex::new((String::new(), 0)),
        }
    }

    /// A token valid for at least `CALL_TOKEN_RENEW_BEFORE` seconds more.
    pub(crate) fn get(&self) -> String {
        let now = unix_now();
        let mut cur = match self.current.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if cur.1 <= now + CALL_TOKEN_RENEW_BEFORE {
            let token = CallClaims::issue(&self.secret, &self.cluster_uuid, CALL_TOKEN_TTL);
            *cur = (token, now + CALL_TOKEN_TTL.as_secs());
        }
        cur.0.clone()
    }
}

/// A reqwest client that stamps every request with a fresh hub call token, so a long-lived
/// session never presents an expired one (no session rebuild needed for rotation).
#[derive(Clone)]
pub(crate) struct CallAuthClient {
    http: reqwest::Client,
    tokens: Arc<CallTokens>,
    unreachable: Arc<Unreachable>,
}

/// Tells calls in flight that the worker stopped accepting connections (a stream could not be
/// resumed): the current token is cancelled and replaced, so later calls are not affected.
#[derive(Default)]
pub(crate) struct Unreachable(Mutex<CancellationToken>);

impl Unreachable {
    /// The token cancelled at the next failed connection to the worker.
    pub(crate) fn token(&self) -> CancellationToken {
        match self.0.lock() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn signal(&self) {
        let old = match self.0.lock() {
            Ok(mut g) => std::mem::take(&mut *g),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        old.cancel();
    }

    /// Signals when `result` is a failure to connect to the worker at all.
    fn check<T>(&self, result: &Result<T, StreamableHttpError<reqwest::Error>>) {
        if let Err(StreamableHttpError::Client(e)) = result
            && e.is_connect()
        {
            tracing::warn!("a worker refused a connection; calls in flight to it are lost");
            self.signal();
        }
    }
}

impl StreamableHttpClient for CallAuthClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let token = self.tokens.get();
        self.http
            .post_message(uri, message, session_id, Some(token), custom_headers)
            .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let token = self.tokens.get();
        self.http
            .post_message_with_max_sse_event_size(
                uri,
                message,
                session_id,
                Some(token),
                custom_headers,
                max_sse_event_size,
            )
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        let token = self.tokens.get();
        self.http
            .delete_session(uri, session_id, Some(token), custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let token = self.tokens.get();
        let result = self
            .http
            .get_stream(uri, session_id, last_event_id, Some(token), custom_headers)
            .await;
        self.unreachable.check(&result);
        result
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let token = self.tokens.get();
        let result = self
            .http
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                Some(token),
                custom_headers,
                max_sse_event_size,
            )
            .await;
        self.unreachable.check(&result);
        result
    }
}

/// Receives a worker's notifications: tool-list changes and progress of forwarded calls.
#[derive(Clone)]
pub(crate) struct UpstreamEvents {
    session: u64,
    progress_wanted: Arc<AtomicUsize>,
    alias: String,
    cluster_uuid: String,
    hub: Weak<Hub>,
}

impl rmcp::ClientHandler for UpstreamEvents {
    async fn on_tool_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        if let Some(hub) = self.hub.upgrade() {
            let (alias, uuid) = (self.alias.clone(), self.cluster_uuid.clone());
            // Re-list outside the notification handler so the session keeps flowing.
            tokio::spawn(async move { hub.refresh_worker_tools(&alias, &uuid).await });
        }
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        if let Some(hub) = self.hub.upgrade() {
            // Most calls have nobody waiting for their progress: drop those at once.
            if self.progress_wanted.load(Ordering::Acquire) > 0 {
                hub.forward_progress(self.session, params).await;
            }
        }
    }
}

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// A connected worker session.
pub(crate) struct WorkerSession {
    /// Unique per session (keys progress mappings).
    pub id: u64,
    /// Forwarded calls in flight whose client asked for progress.
    pub progress_wanted: Arc<AtomicUsize>,
    /// Shared handle for concurrent requests.
    pub peer: Peer<RoleClient>,
    service: Mutex<Option<RunningService<RoleClient, UpstreamEvents>>>,
    /// Cancelled once the session is closed or its transport has ended.
    ended: CancellationToken,
    /// Why it ended (first reason wins).
    ended_reason: OnceLock<&'static str>,
    /// Signals a failed connection to the worker (it was killed or is restarting).
    pub unreachable: Arc<Unreachable>,
    /// The worker's MCP URL (the direct lane posts plain-JSON calls to it).
    pub url: Arc<str>,
    /// The call tokens this session presents (shared with the direct lane).
    pub tokens: Arc<CallTokens>,
}

impl Drop for WorkerSession {
    fn drop(&mut self) {
        self.ended.cancel();
    }
}

impl WorkerSession {
    /// Opens an MCP session with the worker at `url`.
    pub(crate) async fn connect(
        hub: &Arc<Hub>,
        alias: &str,
        cluster_uuid: &str,
        url: &str,
    ) -> Result<Arc<Self>, String> {
        let unreachable = Arc::new(Unreachable::default());
        let tokens = Arc::new(CallTokens::new(
            hub.config.secret.clone(),
            cluster_uuid.to_owned(),
        ));
        let client = CallAuthClient {
            unreachable: unreachable.clone(),
            http: hub.http.clone(),
            tokens: tokens.clone(),
        };
        let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
        config.max_concurrent_requests = MAX_CONCURRENT_REQUESTS;
        let mut retry = ExponentialBackoff::default();
        retry.max_times = Some(SSE_RECONNECTS);
        retry.base_duration = SSE_RECONNECT_DELAY;
        retry.max_delay = Some(SSE_RECONNECT_MAX_DELAY);
        config.retry_config = Arc::new(retry);
        let transport = StreamableHttpClientTransport::with_client(client, config);
        let id = NEXT_SESSION.fetch_add(1, Ordering::Relaxed);
        let progress_wanted = Arc::new(AtomicUsize::new(0));
        let events = UpstreamEvents {
            session: id,
            alias: alias.to_owned(),
            cluster_uuid: cluster_uuid.to_owned(),
            progress_wanted: progress_wanted.clone(),
            hub: Arc::downgrade(hub),
        };
        let service = events
            .serve(transport)
            .await
            .map_err(|e| format!("cannot open an MCP session with the worker at {url}: {e}"))?;
        let session = Arc::new(WorkerSession {
            id,
            progress_wanted,
            peer: service.peer().clone(),
            service: Mutex::new(Some(service)),
            ended: CancellationToken::new(),
            ended_reason: OnceLock::new(),
            unreachable,
            url: Arc::from(url),
            tokens,
        });
        tokio::spawn(watch_transport(
            Arc::downgrade(&session),
            session.ended.clone(),
        ));
        Ok(session)
    }

    /// Marks the session ended (calls in flight on it fail at once as lost).
    fn end(&self, reason: &'static str) {
        let _ = self.ended_reason.set(reason);
        self.ended.cancel();
    }

    /// Resolves once the session has ended, with why.
    pub(crate) async fn ended(&self) -> &'static str {
        self.ended.cancelled().await;
        self.ended_reason
            .get()
            .copied()
            .unwrap_or("the worker session ended")
    }

    /// Lists every tool the worker offers (all pages).
    pub(crate) async fn list_tools(&self) -> Result<Vec<Tool>, String> {
        self.peer
            .list_all_tools()
            .await
            .map_err(|e| format!("listing the worker's tools failed: {e}"))
    }

    /// Ends the session in the background (sends DELETE to the worker).
    pub(crate) fn close(&self) {
        self.end("the worker session was closed (the cluster left or re-joined) while the call was in flight");
        let taken = self.service.lock().ok().and_then(|mut g| g.take());
        if let Some(service) = taken {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(2), service.cancel()).await;
            });
        }
    }
}

/// Ends a session as soon as rmcp's transport for it has closed (e.g. the worker was killed
/// and its streams could not be resumed); stops when the session ends or is dropped.
async fn watch_transport(session: Weak<WorkerSession>, ended: CancellationToken) {
    let mut tick = tokio::time::interval(TRANSPORT_CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ended.cancelled() => return,
            _ = tick.tick() => {
                let Some(s) = session.upgrade() else { return };
                if s.peer.is_transport_closed() {
                    tracing::warn!(session = s.id, "a worker's MCP session transport closed");
                    s.end("the worker's MCP session closed while the call was in flight");
                    return;
                }
            }
        }
    }
}
