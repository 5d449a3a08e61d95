//! The hub's link to one worker, as one trait: every call, tool listing and "worker gone"
//! signal the rest of the hub needs goes through [`WorkerLink`]; a [`LinkConnector`] builds
//! links from worker registrations. The HTTP transport (an rmcp session plus a stateless
//! plain-JSON call) is the one implementation today; another transport is one new module
//! implementing both traits.

mod call_token;
mod http;
mod nats;
mod session;
mod stateless_call;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

pub(crate) use crate::validate::ListLimits;
pub(crate) use http::HttpConnector;
pub(crate) use nats::{NatsConnector, NatsLinks, SCHEME};

use crate::progress::ProgressRelay;

/// A boxed future, so link methods stay callable through `dyn WorkerLink`.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a link call ended without a tool result. A worker's own tool error is not one of
/// these: it is an `Ok` result with `isError: true`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LinkError {
    /// The call did not run, or the worker refused it or answered with something that is not
    /// a tool result: its outcome is known (nothing happened, or the worker said no).
    #[error("{0}")]
    Failed(String),
    /// The call may have reached the worker but no answer will come (the connection failed
    /// or the link ended mid-call): its outcome is unknown.
    #[error("{0}")]
    Lost(String),
}

/// Why listing a worker's tools failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ListError {
    /// The worker could not be asked or answered badly (may be transient).
    #[error("{0}")]
    Failed(String),
    /// The worker's listing went over a bound (tools, bytes, pages): a misbehaving worker.
    #[error("{0}")]
    OverLimit(String),
}

/// The name the hub gives itself on MCP `initialize`: a worker announcing it is a hub and is
/// refused (no hub joins a hub, itself included).
pub(crate) const HUB_SERVER_NAME: &str = "hyperfed-hub";

/// The "link ended" signal every link carries: set once, with the first reason given.
#[derive(Default)]
pub(crate) struct EndSignal {
    token: CancellationToken,
    reason: OnceLock<&'static str>,
}

impl EndSignal {
    /// Ends the link with `reason` (a later reason is ignored); calls in flight end as lost.
    pub(crate) fn end(&self, reason: &'static str) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    /// Resolves once the link has ended, with why.
    pub(crate) async fn ended(&self) -> &'static str {
        self.token.cancelled().await;
        self.reason
            .get()
            .copied()
            .unwrap_or("the worker session ended")
    }
}

/// One worker, as the hub reaches it.
///
/// Contract, for every implementation:
/// - **No timeouts of its own** (beyond connecting): the caller races each call against its
///   deadline, the client's cancellation, the cluster going down, the hub stopping and
///   [`end_signal`](Self::end_signal), and drops the call future when one of them wins.
///   Dropping a call future abandons the call; the link then tells the worker if its transport
///   can (`notifications/cancelled`).
/// - **Errors**: `Ok` carries the worker's tool result, including a tool error (`isError`),
///   which must already name the cluster ([`name_cluster_in_error`]). [`LinkError::Failed`]
///   means the outcome is known (not run, refused, malformed answer); [`LinkError::Lost`]
///   means the call may have run and its outcome is unknown (the caller reports an action's
///   outcome as `unknown`). Messages say what happened, without the cluster's name (the
///   caller adds it) and without secrets.
/// - **Ending**: once [`end_signal`](Self::end_signal) fires, calls in flight are lost and
///   the hub stops using the link; [`close`](Self::close) ends it on purpose.
pub(crate) trait WorkerLink: Send + Sync {
    /// Calls `tool` with `arguments`, passing the call's progress notifications to `progress`
    /// (when given: the client asked for progress, or the audit wants the task tag).
    fn call<'a>(
        &'a self,
        tool: &'a str,
        arguments: JsonObject,
        progress: Option<Arc<ProgressRelay>>,
    ) -> BoxFuture<'a, Result<CallToolResult, LinkError>>;

    /// Calls a read-only `tool` statelessly (no progress) and returns the JSON text of its
    /// `CallToolResult` as received (checked for shape; an error result names the cluster).
    /// The fast path for reads and fan-out: the result is never decoded into SDK types.
    fn call_stateless<'a>(
        &'a self,
        tool: &'a str,
        arguments: Option<&'a RawValue>,
    ) -> BoxFuture<'a, Result<Bytes, LinkError>>;

    /// Lists every tool the worker offers (all pages), stopping as soon as `limits` are
    /// exceeded ([`ListError::OverLimit`]). No deadline of its own: the caller applies one.
    fn list_tools<'a>(
        &'a self,
        limits: &'a ListLimits,
    ) -> BoxFuture<'a, Result<Vec<Tool>, ListError>>;

    /// Fires when the link has ended (closed, or its transport broke for good).
    fn end_signal(&self) -> &EndSignal;

    /// Ends the link on purpose (the cluster left or re-joined; the hub is stopping).
    fn close(&self);
}

/// What the hub hears from a link on its own initiative.
pub(crate) trait LinkEvents: Send + Sync {
    /// The worker announced that its tool list changed. Called on the link's own task: it
    /// must return at once (re-list elsewhere).
    fn tools_changed(&self);
}

/// Where and who a worker is, from its registration.
pub(crate) struct WorkerAddress<'a> {
    /// The cluster's alias on the hub.
    pub alias: &'a str,
    /// The cluster's uuid (the audience of the hub's call tokens).
    pub cluster_uuid: &'a str,
    /// Where the worker is reached (for HTTP: its MCP URL).
    pub url: &'a str,
}

/// Builds worker links from registrations: the one place that knows the transport.
pub(crate) trait LinkConnector: Send + Sync {
    /// Why `url` cannot be a worker address for this transport (checked before connecting).
    fn check_address(&self, url: &str) -> Result<(), String>;

    /// Connects to the worker at `worker`; `events` hears its tool-list changes.
    fn connect<'a>(
        &'a self,
        worker: WorkerAddress<'a>,
        events: Arc<dyn LinkEvents>,
    ) -> BoxFuture<'a, Result<Arc<dyn WorkerLink>, String>>;

    /// A transport-level fan-out of a read-only `tool` to `aliases` within `timeout` (one
    /// publish on NATS), each with its relayed result or why none; `None`: call each link.
    fn fan_out<'a>(
        &'a self,
        _tool: &'a str,
        _arguments: Option<&'a RawValue>,
        _aliases: &'a [String],
        _timeout: std::time::Duration,
    ) -> Option<FanOutFuture<'a>> {
        None
    }
}

/// Per-alias results of a transport-level fan-out.
pub(crate) type FanOutFuture<'a> = BoxFuture<'a, Vec<(String, Result<Bytes, String>)>>;

/// Names the cluster in a worker's own error result, so the caller knows where it failed.
pub(crate) fn name_cluster_in_error(alias: &str, mut result: CallToolResult) -> CallToolResult {
    if result.is_error == Some(true) {
        let prefix = format!("cluster '{alias}': ");
        let mut named = false;
        for block in result.content.iter_mut() {
            if let Some(t) = block.as_text()
                && !t.text.starts_with(&prefix)
            {
                *block = ContentBlock::text(format!("{prefix}{}", t.text));
                named = true;
                break;
            }
        }
        if !named && result.content.is_empty() {
            result
                .content
                .push(ContentBlock::text(format!("{prefix}the call failed")));
        }
    }
    result
}
