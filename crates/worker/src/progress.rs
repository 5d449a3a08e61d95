//! Progress of a running tool call, outgoing: where `notifications/progress` go while an
//! action waits (if the caller asked for them), and the caller's cancellation.

use std::sync::Arc;

use futures::future::BoxFuture;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::{Peer, RoleServer};
use tokio_util::sync::CancellationToken;

/// A destination for progress other than an MCP peer (e.g. a NATS progress subject).
pub trait ProgressSink: Send + Sync {
    /// Sends one progress value (of 100) with its message; failures are the sink's own.
    fn send(&self, progress: f64, message: String) -> BoxFuture<'static, ()>;
}

/// Sends progress notifications to the caller of one tool call, and carries that call's
/// cancellation (a cancelled request stops waiting, not the task).
#[derive(Clone, Default)]
pub struct ProgressReporter {
    target: Option<(Peer<RoleServer>, ProgressToken)>,
    sink: Option<Arc<dyn ProgressSink>>,
    cancel: Option<CancellationToken>,
}

impl ProgressReporter {
    /// A reporter that notifies `peer` under `token`.
    pub fn new(peer: Peer<RoleServer>, token: ProgressToken) -> Self {
        ProgressReporter {
            target: Some((peer, token)),
            sink: None,
            cancel: None,
        }
    }

    /// A reporter that sends to `sink`.
    pub fn with_sink(sink: Arc<dyn ProgressSink>) -> Self {
        ProgressReporter {
            target: None,
            sink: Some(sink),
            cancel: None,
        }
    }

    /// A reporter that drops everything (REST, or no progressToken).
    pub fn none() -> Self {
        ProgressReporter::default()
    }

    /// Stops waiting when `cancel` fires (the MCP request was cancelled).
    pub fn with_cancel(mut self, cancel: CancellationToken) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// The caller's cancellation, if it can cancel.
    pub fn cancellation(&self) -> Option<CancellationToken> {
        self.cancel.clone()
    }

    /// Sends one notification (percent of 100 and a message); a client that went away must
    /// not fail the action itself.
    pub async fn report(&self, progress: f64, message: String) {
        if let Some((peer, token)) = &self.target {
            let param = ProgressNotificationParam::new(token.clone(), progress)
                .with_total(100.0)
                .with_message(message);
            let _ = peer.notify_progress(param).await;
        } else if let Some(sink) = &self.sink {
            sink.send(progress, message).await;
        }
    }
}
