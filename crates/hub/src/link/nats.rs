//! The NATS worker link (issue #11): every call is one signed request/reply through the
//! fleet's `Caller` (stateless 2026-07-28 JSON-RPC, progress and cancellation carried), tools
//! are listed with a `tools/list` request, and the link ends when the registry says the worker
//! left or expired. Workers are addressed as `nats:<alias>`.

use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::body::Bytes;
use dashmap::DashMap;
use hyperfed_nats::{Caller, NatsLinkError};
use rmcp::model::{CallToolResult, JsonObject, ProgressNotificationParam, Tool};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::stateless_call::{META, relay_result, request_body};
use super::{
    BoxFuture, EndSignal, FanOutFuture, LinkConnector, LinkError, LinkEvents, WorkerAddress,
    WorkerLink, name_cluster_in_error,
};
use super::{ListError, ListLimits};
use crate::progress::ProgressRelay;

/// The worker address scheme of NATS links.
pub(crate) const SCHEME: &str = "nats:";
/// The transport deadline of one request: the hub's own deadlines end calls long before.
const REQUEST_LIMIT: Duration = Duration::from_secs(24 * 3600);
/// Deadline of a `tools/list` request.
const LIST_TIMEOUT: Duration = Duration::from_secs(10);

/// The live NATS links by alias, so registry events reach them.
pub(crate) type NatsLinks = Arc<DashMap<String, Weak<NatsLink>>>;

/// Builds NATS links for one fleet.
pub(crate) struct NatsConnector {
    caller: Arc<Caller>,
    links: NatsLinks,
}

impl NatsConnector {
    /// A connector calling through `caller`; `links` is shared with the registry feed.
    pub(crate) fn new(caller: Arc<Caller>, links: NatsLinks) -> Self {
        NatsConnector { caller, links }
    }
}

impl LinkConnector for NatsConnector {
    fn check_address(&self, url: &str) -> Result<(), String> {
        match url.strip_prefix(SCHEME) {
            Some(alias) if hyperfed_nats::is_subject_token(alias) => Ok(()),
            _ => Err(format!("a NATS worker address is {SCHEME}<alias>")),
        }
    }

    fn connect<'a>(
        &'a self,
        worker: WorkerAddress<'a>,
        events: Arc<dyn LinkEvents>,
    ) -> BoxFuture<'a, Result<Arc<dyn WorkerLink>, String>> {
        Box::pin(async move {
            self.check_address(worker.url)?;
            let nats_alias = worker.url.trim_start_matches(SCHEME);
            let link = Arc::new(NatsLink {
                caller: self.caller.clone(),
                nats_alias: Arc::from(nats_alias),
                alias: Arc::from(worker.alias),
                ended: EndSignal::default(),
                events,
            });
            self.links
                .insert(nats_alias.to_owned(), Arc::downgrade(&link));
            let link: Arc<dyn WorkerLink> = link;
            Ok(link)
        })
    }

    fn fan_out<'a>(
        &'a self,
        tool: &'a str,
        arguments: Option<&'a RawValue>,
        aliases: &'a [String],
        timeout: Duration,
    ) -> Option<FanOutFuture<'a>> {
        Some(Box::pin(async move {
            let failed = |why: String| {
                aliases
                    .iter()
                    .map(|a| (a.clone(), Err(why.clone())))
                    .collect()
            };
            let body = match request_body(tool, arguments) {
                Ok(b) => Bytes::from(b),
                Err(e) => return failed(format!("cannot encode the call: {e}")),
            };
            let replies = match self.caller.fanout(tool, body, aliases, timeout).await {
                Ok(r) => r,
                Err(e) => return failed(e.to_string()),
            };
            let mut out: Vec<(String, Result<Bytes, String>)> = Vec::with_capacity(aliases.len());
            for (alias, reply) in replies.answered {
                let r = relay_result(&alias, reply).map_err(|e| e.to_string());
                out.push((alias, r));
            }
            let late = format!(
                "no answer within the fan-out timeout ({} ms)",
                timeout.as_millis()
            );
            for alias in replies.unanswered {
                out.push((alias, Err(late.clone())));
            }
            out
        }))
    }
}

/// One worker reached over NATS.
pub(crate) struct NatsLink {
    caller: Arc<Caller>,
    /// The alias of its registration (its subjects).
    nats_alias: Arc<str>,
    /// The alias on the hub (the same, normalised).
    alias: Arc<str>,
    ended: EndSignal,
    events: Arc<dyn LinkEvents>,
}

impl NatsLink {
    /// The worker announced a new tool list.
    pub(crate) fn tools_changed(&self) {
        self.events.tools_changed();
    }

    /// The registry says the worker is gone.
    pub(crate) fn end(&self, reason: &'static str) {
        self.ended.end(reason);
    }

    /// Sends `body` and waits for the reply; dropping the future cancels the request at the
    /// worker. Progress bodies go to `progress`.
    async fn request(
        &self,
        body: Vec<u8>,
        timeout: Duration,
        progress: Option<Arc<ProgressRelay>>,
    ) -> Result<Bytes, LinkError> {
        let cancel = CancellationToken::new();
        let _guard = cancel.clone().drop_guard();
        let caller = self.caller.clone();
        let alias = self.nats_alias.clone();
        let task = tokio::spawn(async move {
            let on_progress = move |b: Bytes| {
                if let Some(relay) = &progress {
                    relay_progress(relay, &b);
                }
            };
            caller
                .request(&alias, Bytes::from(body), timeout, on_progress, &cancel)
                .await
        });
        match task.await {
            Ok(Ok(b)) => Ok(b),
            Ok(Err(e)) => Err(link_error(e)),
            Err(e) => Err(LinkError::Lost(format!(
                "the NATS call failed internally: {e}"
            ))),
        }
    }
}

/// Hands one `notifications/progress` body to the call's relay.
fn relay_progress(relay: &Arc<ProgressRelay>, body: &[u8]) {
    #[derive(Deserialize)]
    struct Note {
        params: ProgressNotificationParam,
    }
    if let Ok(note) = serde_json::from_slice::<Note>(body)
        && let Some((peer, params)) = relay.accept(note.params)
    {
        tokio::spawn(async move {
            let _ = peer.notify_progress(params).await;
        });
    }
}

/// A transport failure as the hub sees it: known outcome (not sent) or unknown (maybe ran).
fn link_error(e: NatsLinkError) -> LinkError {
    match e {
        NatsLinkError::NoResponders { .. }
        | NatsLinkError::NotRegistered { .. }
        | NatsLinkError::TooLarge { .. }
        | NatsLinkError::InvalidName { .. } => LinkError::Failed(e.to_string()),
        other => LinkError::Lost(other.to_string()),
    }
}

#[derive(Deserialize)]
struct RpcError {
    message: String,
}

#[derive(Deserialize)]
struct Envelope<T> {
    #[serde(default = "Option::default")]
    result: Option<T>,
    #[serde(default)]
    error: Option<RpcError>,
}

fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, LinkError> {
    let env: Envelope<T> = serde_json::from_slice(body)
        .map_err(|e| LinkError::Failed(format!("the worker's answer is malformed: {e}")))?;
    if let Some(e) = env.error {
        let message: String = e.message.chars().take(2000).collect();
        return Err(LinkError::Failed(format!(
            "the worker refused the call: {message}"
        )));
    }
    env.result
        .ok_or_else(|| LinkError::Failed("the worker's answer has neither result nor error".into()))
}

/// The body of a `tools/call` with a progress token (the worker then sends progress).
fn call_body(tool: &str, arguments: JsonObject, progress: bool) -> Result<Vec<u8>, LinkError> {
    let mut meta: serde_json::Map<String, Value> = serde_json::from_str(META)
        .map_err(|e| LinkError::Failed(format!("cannot encode the call: {e}")))?;
    if progress {
        meta.insert("progressToken".into(), json!(1));
    }
    serde_json::to_vec(&json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": meta}
    }))
    .map_err(|e| LinkError::Failed(format!("cannot encode the call: {e}")))
}

impl WorkerLink for NatsLink {
    fn call<'a>(
        &'a self,
        tool: &'a str,
        arguments: JsonObject,
        progress: Option<Arc<ProgressRelay>>,
    ) -> BoxFuture<'a, Result<CallToolResult, LinkError>> {
        Box::pin(async move {
            let body = call_body(tool, arguments, progress.is_some())?;
            let reply = self.request(body, REQUEST_LIMIT, progress).await?;
            let result: CallToolResult = decode(&reply)?;
            Ok(name_cluster_in_error(&self.alias, result))
        })
    }

    fn call_stateless<'a>(
        &'a self,
        tool: &'a str,
        arguments: Option<&'a RawValue>,
    ) -> BoxFuture<'a, Result<Bytes, LinkError>> {
        Box::pin(async move {
            let body = request_body(tool, arguments)
                .map_err(|e| LinkError::Failed(format!("cannot encode the call: {e}")))?;
            let reply = self.request(body, REQUEST_LIMIT, None).await?;
            relay_result(&self.alias, reply)
        })
    }

    fn list_tools<'a>(
        &'a self,
        limits: &'a ListLimits,
    ) -> BoxFuture<'a, Result<Vec<Tool>, ListError>> {
        Box::pin(async move {
            #[derive(Deserialize)]
            struct Listed {
                tools: Vec<Tool>,
            }
            let failed = |e: LinkError| ListError::Failed(e.to_string());
            let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#.to_vec();
            let reply = self
                .request(body, LIST_TIMEOUT, None)
                .await
                .map_err(failed)?;
            // One reply carries the whole list: bound it before decoding.
            if reply.len() > limits.bytes {
                return Err(ListError::OverLimit(format!(
                    "its tool list is larger than {} bytes",
                    limits.bytes
                )));
            }
            let tools = decode::<Listed>(&reply).map_err(failed)?.tools;
            if tools.len() > limits.tools {
                return Err(ListError::OverLimit(format!(
                    "it lists more than {} tools",
                    limits.tools
                )));
            }
            Ok(tools)
        })
    }

    fn end_signal(&self) -> &EndSignal {
        &self.ended
    }

    fn close(&self) {
        self.ended.end("the worker link was closed");
    }
}
