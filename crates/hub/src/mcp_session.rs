//! What one hub MCP session keeps beyond the shared hub: its resource subscriptions and the
//! logging level it asked for, both ended with the session.

use std::sync::Arc;

use hyperfed_http::resource_watch::ResourceSubscriptions;
use hyperfed_http::session_log::{LogSink, SessionLogLevel};
use rmcp::model::RequestMetaObject;
use rmcp::service::{Peer, RoleServer};
use tokio_util::sync::CancellationToken;

use crate::mcp_logging::LOGGER;
use crate::resources::HubFingerprints;

/// One session's subscriptions and logging level (clones share them).
#[derive(Clone)]
pub(crate) struct McpSession {
    /// Fingerprints of the hub's resources, shared by every session.
    pub prints: HubFingerprints,
    /// The resources this session watches.
    pub subscriptions: ResourceSubscriptions,
    /// The level from `logging/setLevel` (nothing is sent before it).
    pub log_level: SessionLogLevel,
    end: Arc<SessionEnd>,
}

/// Cancels the session's watch when the last handle of the session is dropped.
struct SessionEnd(CancellationToken);

impl Drop for SessionEnd {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl McpSession {
    /// A new session's state over the hub's shared fingerprints.
    pub(crate) fn new(prints: HubFingerprints) -> Self {
        McpSession {
            prints,
            subscriptions: ResourceSubscriptions::default(),
            log_level: SessionLogLevel::default(),
            end: Arc::new(SessionEnd(CancellationToken::new())),
        }
    }

    /// Cancelled when the session ends (or the hub stops).
    pub(crate) fn ended(&self) -> CancellationToken {
        self.end.0.clone()
    }

    /// The sender of one request's log messages (its `_meta` level, else the session's).
    pub(crate) fn log(&self, peer: Peer<RoleServer>, meta: &RequestMetaObject) -> LogSink {
        self.log_level.sink(peer, meta, LOGGER)
    }
}
