//! The hub's side of the MCP fast path (`hyperfed_http::mcp_fast_path`): tools/list pages come from bytes
//! encoded once per catalog, and read-only namespaced tools/call requests are relayed to their
//! worker with one stateless call, as bytes.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::http::request::Parts;
use hyperfed_http::mcp_fast_path::FastPathServer;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use crate::auth::{Principal, RAW_TOOL, Scope};
use crate::catalog::{Target, parse_cursor};
use crate::forward::forward_stateless;
use crate::hub::Hub;
use crate::metrics::CallOutcome;

/// True when a relayed `CallToolResult` is an error result. `isError` is written after the
/// content, so only the result's tail is searched (the rows before it are never scanned).
fn is_error_result(bytes: &[u8]) -> bool {
    const TAIL: usize = 256;
    let tail = &bytes[bytes.len().saturating_sub(TAIL)..];
    tail.windows(14).any(|w| w == br#""isError":true"#)
}

/// The hub as a fast-path server.
pub(crate) struct HubFastPath(pub Arc<Hub>);

fn principal_scope(parts: &Parts) -> Scope {
    parts
        .extensions
        .get::<Principal>()
        .map_or(Scope::Admin, |p| p.scope)
}

impl FastPathServer for HubFastPath {
    fn tools_list(&self, parts: &Parts, cursor: Option<&str>) -> Option<Bytes> {
        let start = match cursor {
            None => 0,
            Some(c) => parse_cursor(c)?,
        };
        self.0.catalog().page_json(principal_scope(parts), start)
    }

    fn fast_call(&self, _parts: &Parts, name: &str) -> bool {
        // Reads of one cluster's tool: no scope can be refused them, nothing to audit.
        self.0.catalog().routes.get(name).is_some_and(|r| {
            !r.mutating && matches!(&r.target, Target::Namespaced { tool, .. } if tool != RAW_TOOL)
        })
    }

    async fn call(
        &self,
        _parts: &Parts,
        name: &str,
        arguments: Option<&RawValue>,
        cancel: CancellationToken,
    ) -> Option<Bytes> {
        let started = Instant::now();
        let catalog = self.0.catalog();
        let route = catalog.routes.get(name)?;
        let Target::Namespaced { alias, tool } = &route.target else {
            return None;
        };
        let hub = &self.0;
        let result = forward_stateless(
            hub,
            alias,
            tool,
            arguments,
            &cancel,
            hub.config().call_timeout,
        )
        .await;
        let outcome = match &result {
            Ok(bytes) if is_error_result(bytes) => CallOutcome::ToolError,
            Ok(_) => CallOutcome::Ok,
            Err(e) => CallOutcome::of_error(e),
        };
        hub.metrics().call(
            &route.tool_label,
            &route.cluster_label,
            outcome,
            started.elapsed(),
        );
        Some(match result {
            Ok(bytes) => bytes,
            Err(e) => {
                let err = CallToolResult::error(vec![ContentBlock::text(e.to_string())]);
                Bytes::from(serde_json::to_vec(&err).ok()?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::is_error_result;

    #[test]
    fn error_results_are_told_by_their_tail() {
        assert!(is_error_result(
            br#"{"content":[{"type":"text","text":"no"}],"isError":true}"#
        ));
        assert!(!is_error_result(
            br#"{"content":[{"type":"text","text":"{}"}],"isError":false}"#
        ));
        assert!(!is_error_result(br#"{"content":[]}"#));
    }
}
