//! MCP logging for one session: the level a client set with `logging/setLevel` and the
//! `notifications/message` sent at or above it. Nothing is sent until the client asks, and
//! callers pass only what a client may see (cluster aliases, tool names, counts; no secrets).
// rmcp marks logging deprecated (SEP-2577), but every protocol revision with sessions has it.
#![allow(deprecated)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use rmcp::model::{
    LoggingLevel, LoggingMessageNotificationParam, RequestMetaObject, SetLevelRequestParams,
};
use rmcp::service::{Peer, RoleServer};
use serde_json::Value;

/// The levels the servers send at (a subset of MCP's eight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Each step (a cluster answered, a call started).
    Debug,
    /// Progress worth seeing (a fan-out started or finished).
    Info,
    /// Something went wrong for one part (a cluster did not answer, a call failed).
    Warning,
    /// The request failed.
    Error,
}

impl Level {
    fn mcp(self) -> LoggingLevel {
        match self {
            Level::Debug => LoggingLevel::Debug,
            Level::Info => LoggingLevel::Info,
            Level::Warning => LoggingLevel::Warning,
            Level::Error => LoggingLevel::Error,
        }
    }
}

/// No level set: nothing is sent.
const OFF: u8 = u8::MAX;

/// The rank of a level: debug (0) to emergency (7).
fn rank(level: LoggingLevel) -> u8 {
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
    /// Records the level of a `logging/setLevel` request.
    pub fn set(&self, request: &SetLevelRequestParams) {
        self.0.store(rank(request.level), Ordering::Relaxed);
    }

    /// Whether a message at `level` goes to this session.
    pub fn allows(&self, level: Level) -> bool {
        let min = self.0.load(Ordering::Relaxed);
        min != OFF && rank(level.mcp()) >= min
    }

    /// A sender for one request's messages through `peer`: at the level the request asks for
    /// in `_meta` (`io.modelcontextprotocol/logLevel`, the 2026-07-28 opt-in), else at the
    /// session's level.
    pub fn sink(
        &self,
        peer: Peer<RoleServer>,
        meta: &RequestMetaObject,
        logger: &'static str,
    ) -> LogSink {
        let level = match meta.log_level() {
            Some(asked) => SessionLogLevel(Arc::new(AtomicU8::new(rank(asked)))),
            None => self.clone(),
        };
        LogSink {
            level,
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
    pub async fn log(&self, level: Level, data: Value) {
        if !self.level.allows(level) || self.peer.is_transport_closed() {
            return;
        }
        let message =
            LoggingMessageNotificationParam::new(level.mcp(), data).with_logger(self.logger);
        let _ = self.peer.notify_logging_message(message).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_hears_its_level_and_above_and_nothing_before_it_asks() {
        let level = SessionLogLevel::default();
        assert!(!level.allows(Level::Error));
        level.set(&SetLevelRequestParams::new(LoggingLevel::Warning));
        assert!(!level.allows(Level::Info));
        assert!(level.allows(Level::Warning));
        assert!(level.allows(Level::Error));
        level
            .clone()
            .set(&SetLevelRequestParams::new(LoggingLevel::Debug));
        assert!(level.allows(Level::Debug), "clones share the level");
        level.set(&SetLevelRequestParams::new(LoggingLevel::Critical));
        assert!(!level.allows(Level::Error), "critical is above error");
    }
}
