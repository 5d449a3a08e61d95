//! MCP logging for one session: the level a client set with `logging/setLevel` and the
//! `notifications/message` sent at or above it. Nothing is sent until the client asks, and
//! callers pass only what a client may see (cluster aliases, tool names, counts; no secrets).
// rmcp marks logging deprecated (SEP-2577), but every protocol revision with sessions has it.
#![allow(deprecated)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

pub use rmcp::model::LoggingLevel;
use rmcp::model::LoggingMessageNotificationParam;
use rmcp::service::{Peer, RoleServer};
use serde_json::Value;

/// No level set: nothing is sent.
const OFF: u8 = u8::MAX;

/// The rank of a level: debug (0) to emergency (7).
pub fn rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

/// The level one session asked for (cheap to clone; clones share it).
#[derive(Clone)]
pub struct SessionLogLevel(Arc<AtomicU8>);

impl Default for SessionLogLevel {
    fn default() -> Self {
        SessionLogLevel(Arc::new(AtomicU8::new(OFF)))
    }
}

impl SessionLogLevel {
    /// Records the level from `logging/setLevel`.
    pub fn set(&self, level: LoggingLevel) {
        self.0.store(rank(level), Ordering::Relaxed);
    }

    /// Whether a message at `level` goes to this session.
    pub fn allows(&self, level: LoggingLevel) -> bool {
        let min = self.0.load(Ordering::Relaxed);
        min != OFF && rank(level) >= min
    }

    /// A sender for this session's messages through `peer`.
    pub fn sink(&self, peer: Peer<RoleServer>, logger: &'static str) -> LogSink {
        LogSink {
            level: self.clone(),
            peer,
            logger,
        }
    }
}

/// Sends one session's log messages at or above its level.
#[derive(Clone)]
pub struct LogSink {
    level: SessionLogLevel,
    peer: Peer<RoleServer>,
    logger: &'static str,
}

impl LogSink {
    /// Sends `data` at `level` when the session's level allows it (a gone session is ignored).
    pub async fn log(&self, level: LoggingLevel, data: Value) {
        if !self.level.allows(level) || self.peer.is_transport_closed() {
            return;
        }
        let message = LoggingMessageNotificationParam::new(level, data).with_logger(self.logger);
        let _ = self.peer.notify_logging_message(message).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_hears_its_level_and_above_and_nothing_before_it_asks() {
        let level = SessionLogLevel::default();
        assert!(!level.allows(LoggingLevel::Emergency));
        level.set(LoggingLevel::Warning);
        assert!(!level.allows(LoggingLevel::Info));
        assert!(level.allows(LoggingLevel::Warning));
        assert!(level.allows(LoggingLevel::Error));
        level.clone().set(LoggingLevel::Debug);
        assert!(level.allows(LoggingLevel::Debug), "clones share the level");
    }
}
