//! What the hub does for one MCP call, told to the calling session as `notifications/message`
//! at the level it set (`logging/setLevel`): fan-out progress, each cluster that answered or
//! did not, a VM index re-listed to find a VM. The session's sender rides with the call as a
//! task-local, so the fan-out code needs no extra parameter; outside a call nothing is sent.
//! Messages carry aliases, tool names, counts and the errors the call's result shows anyway:
//! never arguments, tokens or URLs.

use std::future::Future;

pub(crate) use hyperfed_http::session_log::Level;
use hyperfed_http::session_log::LogSink;
use serde_json::Value;

/// The logger name clients see.
pub(crate) const LOGGER: &str = "hyperfed-hub";

tokio::task_local! {
    static CALL_LOG: LogSink;
}

/// Runs `call` with its session's log sender.
pub(crate) async fn with_session<F: Future>(sink: LogSink, call: F) -> F::Output {
    CALL_LOG.scope(sink, call).await
}

/// Sends `data` at `level` to the session of the call being served (none: nothing).
pub(crate) async fn log(level: Level, data: Value) {
    let Ok(sink) = CALL_LOG.try_with(LogSink::clone) else {
        return;
    };
    sink.log(level, data).await;
}
