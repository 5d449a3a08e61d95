//! The worker's side of the MCP fast path (`hyperfed_http::mcp_fast_path`): read-only tool calls without
//! progress are run without the SDK's per-request session machinery. Actions, progress and
//! everything else keep going through rmcp.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::request::Parts;
use hyperfed_http::mcp_fast_path::FastPathServer;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::handler::run_tool;
use crate::progress::ProgressReporter;
use crate::state::WorkerState;

/// The worker as a fast-path server.
pub(crate) struct WorkerFastPath(pub Arc<WorkerState>);

impl FastPathServer for WorkerFastPath {
    fn tools_list(&self, _parts: &Parts, _cursor: Option<&str>) -> Option<Bytes> {
        None
    }

    fn fast_call(&self, _parts: &Parts, name: &str) -> bool {
        self.0.catalog.get(name).is_some_and(|d| d.read_only)
    }

    async fn call(
        &self,
        _parts: &Parts,
        name: &str,
        arguments: Option<&RawValue>,
        cancel: CancellationToken,
    ) -> Option<Bytes> {
        // Arguments that are not a JSON object are left to the SDK's own error.
        let args: Map<String, Value> = match arguments {
            Some(raw) => serde_json::from_str(raw.get()).ok()?,
            None => Map::new(),
        };
        let progress = ProgressReporter::none().with_cancel(cancel);
        let result = run_tool(self.0.clone(), name.to_owned(), args, progress).await;
        serde_json::to_vec(&result).ok().map(Bytes::from)
    }
}
