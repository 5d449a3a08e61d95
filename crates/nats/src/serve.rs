//! The worker side: answers its cluster's requests and the fleet's fan-outs. Each request is
//! verified (signed by a holder of the join secret, fresh, not replayed) before the handler
//! sees it; each reply and progress message is signed with the registration's session key.
//! Cancellations arrive on a per-request subject; concurrency is bounded.

use async_nats::{HeaderMap, Message, Subscriber};
use bytes::Bytes;
use futures::StreamExt as _;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::connect::NatsConnection;
use crate::error::SetupError;
use crate::registry::WorkerKeys;
use crate::sign::{
    self, HEADER_ALIAS, HEADER_ID, HEADER_PROGRESS, HEADER_SIG, HEADER_TS, Refusal, ReplayGuard,
    parse_id, unix_ms,
};

/// One verified request handed to a worker's handler.
#[derive(Debug)]
pub struct IncomingCall {
    /// The request body (opaque to the transport: MCP JSON-RPC).
    pub body: Bytes,
    /// `Some(tool)` when the request came through a fan-out to the whole fleet.
    pub fanout_tool: Option<String>,
    /// Sends progress messages to the caller.
    pub progress: ProgressSink,
    /// Cancelled when the caller cancels the request.
    pub cancel: CancellationToken,
}

/// Publishes signed progress messages of one request to the subject the caller asked for.
#[derive(Debug, Clone)]
pub struct ProgressSink {
    client: async_nats::Client,
    subject: Option<String>,
    id: String,
    keys: WorkerKeys,
}

impl ProgressSink {
    /// True when the caller asked for progress.
    pub fn wanted(&self) -> bool {
        self.subject.is_some()
    }

    /// Publishes one progress message (best effort: a lost progress message is not an error).
    pub async fn send(&self, body: Bytes) {
        let Some(subject) = &self.subject else {
            return;
        };
        let headers = signed_answer(&self.keys, "progress", &self.id, &body);
        if let Err(e) = self
            .client
            .publish_with_headers(subject.clone(), headers, body)
            .await
        {
            tracing::debug!(error = %e, "progress publish failed");
        }
    }
}

fn signed_answer(keys: &WorkerKeys, kind: &str, id: &str, body: &[u8]) -> HeaderMap {
    let sig = sign::sign(
        &keys.session_key.0,
        &[kind.as_bytes(), keys.alias.as_bytes(), id.as_bytes(), body],
    );
    let mut h = HeaderMap::new();
    h.insert(HEADER_ID, id);
    h.insert(HEADER_ALIAS, keys.alias.as_str());
    h.insert(HEADER_SIG, sig.as_str());
    h
}

/// Answers requests: an async function of the call returning the reply body.
pub trait CallHandler: Send + Sync + 'static {
    /// Handles one call; the returned bytes are the reply (not sent when the call was cancelled).
    fn handle(&self, call: IncomingCall) -> impl Future<Output = Bytes> + Send;
}

impl<F, Fut> CallHandler for F
where
    F: Fn(IncomingCall) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Bytes> + Send,
{
    fn handle(&self, call: IncomingCall) -> impl Future<Output = Bytes> + Send {
        self(call)
    }
}

/// Limits of one served alias.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Most requests handled at once; further ones wait in NATS's subscription buffer.
    pub max_in_flight: usize,
    /// Also answer fan-outs (`hyperfed.<fleet>.fanout.*`).
    pub fanout: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_in_flight: 64,
            fanout: true,
        }
    }
}

/// Counters of a served alias.
#[derive(Debug, Default)]
pub struct ServeStats {
    answered: AtomicU64,
    refused: AtomicU64,
    cancelled: AtomicU64,
}

impl ServeStats {
    /// Requests answered.
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    /// Requests and cancellations refused (forged, stale, replayed or malformed).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Requests cancelled by their caller.
    pub fn cancelled(&self) -> u64 {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// A served alias; dropping it (or `stop`) unsubscribes and abandons requests in flight.
#[derive(Debug)]
pub struct Serving {
    stats: Arc<ServeStats>,
    tasks: [JoinHandle<()>; 2],
}

impl Serving {
    /// Counters of this alias.
    pub fn stats(&self) -> &ServeStats {
        &self.stats
    }

    /// Stops serving.
    pub fn stop(self) {}
}

impl Drop for Serving {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

type InFlight = Arc<Mutex<HashMap<u128, CancellationToken>>>;

struct Served<H> {
    conn: NatsConnection,
    keys: WorkerKeys,
    handler: H,
    replay: ReplayGuard,
    in_flight: InFlight,
    permits: Arc<Semaphore>,
    stats: Arc<ServeStats>,
}

/// Serves one alias: subscribes to its call subject, the fleet's fan-out subjects and its
/// cancellation subjects, and answers each verified request with `handler`.
pub async fn serve<H: CallHandler>(
    conn: &NatsConnection,
    keys: &WorkerKeys,
    handler: H,
    opts: ServeOptions,
) -> Result<Serving, SetupError> {
    let fleet = keys.fleet().clone();
    let client = conn.client();
    let subscribe = |subject: String| async move {
        client
            .subscribe(subject.clone())
            .await
            .map_err(|e| SetupError::Subscribe {
                subject,
                cause: e.to_string(),
            })
    };
    let calls = subscribe(fleet.call_subject(&keys.alias)).await?;
    let cancels = subscribe(fleet.cancel_wildcard(&keys.alias)).await?;
    let fanouts = if opts.fanout {
        Some(subscribe(fleet.fanout_wildcard()).await?)
    } else {
        None
    };
    // Make sure the server has the subscriptions before anyone is told this worker is up.
    client.flush().await.map_err(|e| SetupError::Subscribe {
        subject: fleet.call_subject(&keys.alias),
        cause: e.to_string(),
    })?;
    let stats = Arc::new(ServeStats::default());
    let served = Arc::new(Served {
        conn: conn.clone(),
        keys: keys.clone(),
        handler,
        replay: ReplayGuard::new(),
        in_flight: Arc::default(),
        permits: Arc::new(Semaphore::new(opts.max_in_flight.max(1))),
        stats: stats.clone(),
    });
    // Cancellations have their own task: they must get through while requests wait for permits.
    let cancel_task = tokio::spawn({
        let served = served.clone();
        let mut cancels = cancels;
        async move {
            while let Some(msg) = cancels.next().await {
                served.cancel(&msg);
            }
        }
    });
    let request_task = tokio::spawn(run(served, calls, fanouts));
    Ok(Serving {
        stats,
        tasks: [request_task, cancel_task],
    })
}

async fn run<H: CallHandler>(
    served: Arc<Served<H>>,
    mut calls: Subscriber,
    mut fanouts: Option<Subscriber>,
) {
    loop {
        let next_fanout = async {
            match fanouts.as_mut() {
                Some(s) => s.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(msg) = calls.next() => served.clone().accept(msg, false).await,
            Some(msg) = next_fanout => served.clone().accept(msg, true).await,
            else => return,
        }
    }
}

fn header<'a>(msg: &'a Message, name: &str) -> Option<&'a str> {
    msg.headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str())
}

impl<H: CallHandler> Served<H> {
    fn refuse(&self, what: &str, r: Refusal) {
        self.stats.refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(alias = %self.keys.alias, reason = ?r, "refused a {what} on NATS");
    }

    /// Checks a request's signature, freshness and id; returns (id, progress subject).
    fn verify(&self, msg: &Message) -> Result<(u128, String, Option<String>), Refusal> {
        let id_text = header(msg, HEADER_ID).ok_or(Refusal::Malformed)?;
        let id = parse_id(id_text).ok_or(Refusal::Malformed)?;
        let ts: u64 = header(msg, HEADER_TS)
            .and_then(|t| t.parse().ok())
            .ok_or(Refusal::Malformed)?;
        let sig = header(msg, HEADER_SIG).ok_or(Refusal::Forged)?;
        let reply = msg
            .reply
            .as_ref()
            .map(|r| r.as_str())
            .ok_or(Refusal::Malformed)?;
        let progress = header(msg, HEADER_PROGRESS).unwrap_or("");
        let ok = sign::verify(
            self.keys.fleet.call_key(),
            &[
                b"call",
                msg.subject.as_bytes(),
                reply.as_bytes(),
                id_text.as_bytes(),
                &ts.to_be_bytes(),
                progress.as_bytes(),
                &msg.payload,
            ],
            sig,
        );
        if !ok {
            return Err(Refusal::Forged);
        }
        self.replay.check(id, ts, unix_ms())?;
        let progress = (!progress.is_empty()).then(|| progress.to_owned());
        Ok((id, id_text.to_owned(), progress))
    }

    async fn accept(self: Arc<Self>, msg: Message, fanout: bool) {
        let (id, id_text, progress) = match self.verify(&msg) {
            Ok(v) => v,
            Err(r) => return self.refuse("request", r),
        };
        let Some(reply) = msg.reply.clone() else {
            return;
        };
        let fanout_tool = fanout
            .then(|| msg.subject.rsplit('.').next().map(str::to_owned))
            .flatten();
        // Waiting here (not in the task) is the backpressure: no more reads while full.
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return;
        };
        let cancel = CancellationToken::new();
        if let Ok(mut m) = self.in_flight.lock() {
            m.insert(id, cancel.clone());
        }
        let call = IncomingCall {
            body: msg.payload,
            fanout_tool,
            progress: ProgressSink {
                client: self.conn.client().clone(),
                subject: progress,
                id: id_text.clone(),
                keys: self.keys.clone(),
            },
            cancel: cancel.clone(),
        };
        tokio::spawn(async move {
            let _permit = permit;
            let body = self.handler.handle(call).await;
            if let Ok(mut m) = self.in_flight.lock() {
                m.remove(&id);
            }
            if cancel.is_cancelled() {
                self.stats.cancelled.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let headers = signed_answer(&self.keys, "reply", &id_text, &body);
            match self
                .conn
                .client()
                .publish_with_headers(reply, headers, body)
                .await
            {
                Ok(()) => {
                    self.stats.answered.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::warn!(alias = %self.keys.alias, error = %e, "reply publish failed")
                }
            }
        });
    }

    fn cancel(&self, msg: &Message) {
        let id_text = msg.subject.rsplit('.').next().unwrap_or("");
        let Some(id) = parse_id(id_text) else {
            return self.refuse("cancellation", Refusal::Malformed);
        };
        let ok = header(msg, HEADER_SIG).is_some_and(|sig| {
            sign::verify(
                self.keys.fleet.call_key(),
                &[b"cancel", msg.subject.as_bytes(), id_text.as_bytes()],
                sig,
            )
        });
        if !ok {
            return self.refuse("cancellation", Refusal::Forged);
        }
        let token = self.in_flight.lock().ok().and_then(|m| m.get(&id).cloned());
        if let Some(token) = token {
            token.cancel();
        }
    }
}
