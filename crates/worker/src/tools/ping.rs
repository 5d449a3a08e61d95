//! `ping`: whether the worker reaches the cluster's REST API, and the round trip.

use std::time::Instant;

use serde_json::{Value, json};

use super::schema::{input, output, read_tool};
use super::{ToolCall, ToolResult, ToolSpec};
use crate::cluster::Method;

/// `ping`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "ping",
    declare: |_| {
        read_tool(
            "ping",
            "Ping the cluster",
            "Checks the cluster's REST API is reachable; returns status and latency_ms.",
            input(json!({}), &[]),
            output(
                json!({"status": {"type": "string"}, "cluster_reachable": {"type": "boolean"}, "latency_ms": {"type": "integer"}}),
                &["status", "cluster_reachable"],
            ),
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let start = Instant::now();
    match call.state.cluster.raw(Method::Get, "/ping", None).await {
        Ok((status, body)) if status < 300 => Ok(json!({
            "status": match body.get("status") {
                None => "ok".to_owned(),
                Some(Value::String(text)) => text.clone(),
                Some(Value::Null) => String::new(),
                Some(other) => other.to_string(),
            },
            "cluster_reachable": true,
            "latency_ms": start.elapsed().as_millis() as u64,
        })),
        Ok((status, _)) => Err(format!("the cluster answered /ping with HTTP {status}")),
        Err(e) => Err(call.cluster_err(e)),
    }
}
