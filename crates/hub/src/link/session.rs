//! The rmcp session of the HTTP link: one MCP client session per worker, connected once at
//! join and shared by every call (rmcp `Peer` clones multiplex). It carries progress,
//! cancellation, tool listing and the worker's `list_changed`, and ends itself when rmcp's
//! transport closes.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use rmcp::ServiceExt as _;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotificationParam,
    ClientRequest, JsonObject, NumberOrString, PaginatedRequestParams, ProgressNotificationParam,
    ProgressToken, RequestId, ServerResult, Tool,
};
use rmcp::service::{
    NotificationContext, Peer, PeerRequestOptions, RoleClient, RunningService, ServiceError,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use super::call_token::{CallAuthClient, Unreachable};
use super::{
    EndSignal, HUB_SERVER_NAME, LinkError, LinkEvents, ListError, ListLimits, name_cluster_in_error,
};
use crate::progress::ProgressRelay;

/// In-flight POSTs allowed per worker session.
const MAX_CONCURRENT_REQUESTS: usize = 128;
/// Reconnect attempts for a broken SSE stream before its calls fail as lost (rmcp's default
/// retries forever, so a killed worker would hold its calls until their timeout).
const SSE_RECONNECTS: usize = 3;
/// First reconnect delay; doubled per attempt, at most `SSE_RECONNECT_MAX_DELAY`.
const SSE_RECONNECT_DELAY: Duration = Duration::from_millis(250);
/// Longest single reconnect delay (all attempts together stay under 2 s).
const SSE_RECONNECT_MAX_DELAY: Duration = Duration::from_secs(1);
/// How often a session checks whether its transport has ended (and sweeps progress routes).
const TRANSPORT_CHECK_EVERY: Duration = Duration::from_millis(500);
/// How long a finished call's progress route is kept for late notifications.
const PROGRESS_GRACE: Duration = Duration::from_secs(2);
/// How many times (10 ms apart) a progress notification looks for its call's route.
const PROGRESS_LOOKUP_TRIES: usize = 20;

/// A call whose progress is relayed, by the progress token rmcp stamped on its request.
struct Watched {
    relay: Arc<ProgressRelay>,
    /// When the call ended (the route is swept a little later).
    finished: Option<Instant>,
}

/// rmcp stamps its own progress token on every request: this maps it back to the call's relay.
#[derive(Default)]
struct ProgressRoutes {
    by_token: DashMap<String, Watched>,
    /// Calls in flight (or just finished) watching progress; most have none, and then a
    /// notification is dropped without a lookup.
    watched: AtomicUsize,
}

fn token_key(token: &ProgressToken) -> String {
    match &token.0 {
        NumberOrString::Number(n) => n.to_string(),
        NumberOrString::String(s) => format!("s:{s}"),
    }
}

impl ProgressRoutes {
    /// Hands a worker's progress notification to its call's relay.
    async fn relay(&self, params: ProgressNotificationParam) {
        if self.watched.load(Ordering::Acquire) == 0 {
            return;
        }
        let key = token_key(&params.progress_token);
        // The route is registered just after the request is handed to rmcp (which picks the
        // token), so a very fast first notification may arrive first: wait for it briefly.
        for _ in 0..PROGRESS_LOOKUP_TRIES {
            let relay = self.by_token.get(&key).map(|w| w.relay.clone());
            match relay {
                Some(relay) => return relay.relay(params).await,
                None => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    /// Drops the routes of calls that ended more than `PROGRESS_GRACE` ago.
    fn sweep(&self) {
        self.by_token.retain(|_, w| {
            let keep = w.finished.is_none_or(|f| f.elapsed() < PROGRESS_GRACE);
            if !keep {
                self.watched.fetch_sub(1, Ordering::AcqRel);
            }
            keep
        });
    }
}

/// Releases a call's progress route when the call ends (kept a little longer, see below).
struct RouteGuard<'a> {
    routes: &'a ProgressRoutes,
    key: Option<String>,
    counted: bool,
}

impl Drop for RouteGuard<'_> {
    fn drop(&mut self) {
        // rmcp dispatches notifications on their own tasks, so the last progress updates can
        // be handled just after the response: keep the route a little longer. The session's
        // sweep removes it later and releases its share of the counter.
        let registered = self.key.take().is_some_and(|k| {
            self.routes
                .by_token
                .get_mut(&k)
                .map(|mut w| w.finished = Some(Instant::now()))
                .is_some()
        });
        if self.counted && !registered {
            self.routes.watched.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Sends `notifications/cancelled` for a request that is abandoned (client cancel or
/// timeout) before its answer arrives.
struct CancelGuard {
    peer: Peer<RoleClient>,
    id: Option<RequestId>,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let peer = self.peer.clone();
            tokio::spawn(async move {
                let _ = peer
                    .notify_cancelled(CancelledNotificationParam::new(
                        Some(id),
                        Some("cancelled by the hub's caller or timed out".into()),
                    ))
                    .await;
            });
        }
    }
}

/// Receives a worker's notifications: tool-list changes and progress of forwarded calls.
#[derive(Clone)]
struct SessionEvents {
    progress: Arc<ProgressRoutes>,
    hub: Arc<dyn LinkEvents>,
}

impl rmcp::ClientHandler for SessionEvents {
    async fn on_tool_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        self.hub.tools_changed();
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        self.progress.relay(params).await;
    }
}

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// A connected worker session.
pub(super) struct McpSession {
    /// Unique per session (for logs).
    id: u64,
    /// The cluster's alias (named in the worker's error results).
    alias: String,
    /// Shared handle for concurrent requests.
    peer: Peer<RoleClient>,
    service: Mutex<Option<RunningService<RoleClient, SessionEvents>>>,
    /// Fires once the session is closed or its transport has ended.
    pub(super) ended: Arc<EndSignal>,
    /// Signals a failed connection to the worker (it was killed or is restarting).
    unreachable: Arc<Unreachable>,
    progress: Arc<ProgressRoutes>,
}

impl Drop for McpSession {
    fn drop(&mut self) {
        self.ended.end("the worker session ended");
    }
}

impl McpSession {
    /// Opens an MCP session with the worker at `url` through `client`.
    pub(super) async fn connect(
        client: CallAuthClient,
        alias: &str,
        url: &str,
        hub: Arc<dyn LinkEvents>,
    ) -> Result<Arc<Self>, String> {
        let unreachable = client.unreachable.clone();
        let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
        config.max_concurrent_requests = MAX_CONCURRENT_REQUESTS;
        let mut retry = ExponentialBackoff::default();
        retry.max_times = Some(SSE_RECONNECTS);
        retry.base_duration = SSE_RECONNECT_DELAY;
        retry.max_delay = Some(SSE_RECONNECT_MAX_DELAY);
        config.retry_config = Arc::new(retry);
        let transport = StreamableHttpClientTransport::with_client(client, config);
        let progress = Arc::new(ProgressRoutes::default());
        let events = SessionEvents {
            progress: progress.clone(),
            hub,
        };
        let service = events.serve(transport).await.map_err(|e| {
            let shown = crate::cluster::redact_url(url);
            format!("cannot open an MCP session with the worker at {shown}: {e}")
                .replace(url, &shown)
        })?;
        let is_hub = service.peer().peer_info().is_some_and(|info| {
            info.server_info
                .as_ref()
                .is_some_and(|s| s.name == HUB_SERVER_NAME)
        });
        if is_hub {
            let _ = tokio::time::timeout(Duration::from_secs(2), service.cancel()).await;
            return Err(format!(
                "the worker at {} is a HyperFed hub; a hub cannot join a hub (or itself)",
                crate::cluster::redact_url(url)
            ));
        }
        let session = Arc::new(McpSession {
            id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
            alias: alias.to_owned(),
            peer: service.peer().clone(),
            service: Mutex::new(Some(service)),
            ended: Arc::new(EndSignal::default()),
            unreachable,
            progress,
        });
        tokio::spawn(watch_transport(
            Arc::downgrade(&session),
            session.ended.clone(),
        ));
        Ok(session)
    }

    /// Calls `tool`, relaying its progress to `progress`; dropping the future cancels the
    /// request on the worker.
    pub(super) async fn call(
        &self,
        tool: &str,
        arguments: JsonObject,
        progress: Option<Arc<ProgressRelay>>,
    ) -> Result<CallToolResult, LinkError> {
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        // The guard exists before sending so every exit path releases what it registered.
        let mut route = RouteGuard {
            routes: &self.progress,
            key: None,
            counted: false,
        };
        if progress.is_some() {
            self.progress.watched.fetch_add(1, Ordering::AcqRel);
            route.counted = true;
        }
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let handle = self
            .peer
            .send_request_with_option(request, PeerRequestOptions::no_options())
            .await
            .map_err(|e| LinkError::Failed(format!("the worker could not be reached: {e}")))?;
        let unreachable = self.unreachable.token();
        let mut cancel = CancelGuard {
            peer: self.peer.clone(),
            id: Some(handle.id.clone()),
        };
        if let Some(relay) = progress {
            let key = token_key(&handle.progress_token);
            self.progress.by_token.insert(
                key.clone(),
                Watched {
                    relay,
                    finished: None,
                },
            );
            route.key = Some(key);
        }
        let response = tokio::select! {
            _ = unreachable.cancelled() => return Err(LinkError::Lost(
                "the worker stopped accepting connections (killed or restarting) while the call was in flight".into(),
            )),
            r = handle.await_response() => r,
        };
        if matches!(response, Ok(_) | Err(ServiceError::McpError(_))) {
            cancel.id = None;
        }
        match response {
            Ok(ServerResult::CallToolResult(r)) => Ok(name_cluster_in_error(&self.alias, r)),
            Ok(_) => Err(LinkError::Failed(
                "the worker answered with a multi-round or task result, which the hub does not relay"
                    .into(),
            )),
            Err(ServiceError::McpError(e)) => Err(LinkError::Failed(format!(
                "the worker refused the call: {}",
                e.message
            ))),
            Err(e) => Err(LinkError::Lost(format!(
                "the worker connection failed: {e}"
            ))),
        }
    }

    /// Lists every tool the worker offers, page by page, within `limits`.
    pub(super) async fn list_tools(&self, limits: &ListLimits) -> Result<Vec<Tool>, ListError> {
        let mut tools = Vec::new();
        let mut bytes = 0usize;
        let mut cursor = None;
        for _ in 0..limits.pages {
            let page = self
                .peer
                .list_tools(Some(PaginatedRequestParams::default().with_cursor(cursor)))
                .await
                .map_err(|e| {
                    ListError::Failed(format!("listing the worker's tools failed: {e}"))
                })?;
            for tool in page.tools {
                bytes =
                    bytes.saturating_add(serde_json::to_vec(&tool).map_or(usize::MAX, |b| b.len()));
                if bytes > limits.bytes {
                    return Err(ListError::OverLimit(format!(
                        "its tool list is larger than {} bytes",
                        limits.bytes
                    )));
                }
                if tools.len() >= limits.tools {
                    return Err(ListError::OverLimit(format!(
                        "it lists more than {} tools",
                        limits.tools
                    )));
                }
                tools.push(tool);
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(tools),
            }
        }
        Err(ListError::OverLimit(format!(
            "its tool list has more than {} pages",
            limits.pages
        )))
    }

    /// Ends the session in the background (sends DELETE to the worker).
    pub(super) fn close(&self) {
        self.ended.end("the worker session was closed (the cluster left or re-joined) while the call was in flight");
        let taken = self.service.lock().ok().and_then(|mut g| g.take());
        if let Some(service) = taken {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(2), service.cancel()).await;
            });
        }
    }
}

/// Ends a session as soon as rmcp's transport for it has closed (e.g. the worker was killed
/// and its streams could not be resumed), sweeping finished progress routes meanwhile; stops
/// when the session ends or is dropped.
async fn watch_transport(session: Weak<McpSession>, ended: Arc<EndSignal>) {
    let mut tick = tokio::time::interval(TRANSPORT_CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ended.ended() => return,
            _ = tick.tick() => {
                let Some(s) = session.upgrade() else { return };
                s.progress.sweep();
                if s.peer.is_transport_closed() {
                    tracing::warn!(session = s.id, cluster = %s.alias, "a worker's MCP session transport closed");
                    s.ended.end("the worker's MCP session closed while the call was in flight");
                    return;
                }
            }
        }
    }
}
