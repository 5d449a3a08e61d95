//! The one REST shape of a tool call, shared by hub and worker: the result object itself on
//! success; on failure a fitting HTTP status and the body `{"error": "<message>"}`. Also the
//! liveness and readiness bodies both serve, described in their OpenAPI documents.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The HTTP status for a failed tool call, from its message: 403 refused for the token's
/// scope, 404 nothing by that name, 409 ambiguous, 502 the cluster is unavailable, else 422.
pub fn tool_error_status(message: &str) -> u16 {
    // The hub prefixes a worker's message with the cluster: `cluster 'dc1': no VM named ...`.
    let m = message
        .strip_prefix("cluster '")
        .and_then(|rest| rest.split_once("': ").map(|(_, m)| m))
        .unwrap_or(message);
    if m.starts_with("refused") {
        403
    } else if m.contains("is ambiguous") {
        409
    } else if m.starts_with("no VM")
        || m.contains("was not found on")
        || m.contains("no snapshot with uuid")
        || m.starts_with("unknown tool")
        || m.starts_with("no cluster named")
        || m.starts_with("unknown cluster")
    {
        404
    } else if m.contains("is unavailable right now")
        || m.contains("is down")
        || m.contains("is reconnecting")
    {
        502
    } else {
        422
    }
}

/// The JSON error body every REST endpoint answers with, on every 4xx and 5xx status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"error": "unknown tool 'vm_frob': GET /v1/tools lists the tools this hub serves"}))]
pub struct ErrorBody {
    /// What went wrong and, where it helps, what to do about it (names the argument at fault;
    /// never carries a secret).
    pub error: String,
}

/// The JSON error body every REST endpoint answers with.
pub fn error_body(message: &str) -> Value {
    serde_json::to_value(ErrorBody {
        error: message.to_owned(),
    })
    .unwrap_or(Value::Null)
}

/// `GET /livez`: the process runs and serves HTTP (nothing else is checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Liveness {
    /// Always `live`.
    pub status: String,
}

impl Liveness {
    /// The one liveness answer.
    pub fn live() -> Self {
        Liveness {
            status: "live".into(),
        }
    }
}

/// One readiness condition and whether it holds now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReadinessCheck {
    /// The condition, e.g. `store`, `cluster_login`, `hub_join`.
    pub name: String,
    /// Whether it holds.
    pub ok: bool,
    /// Why not, and what to fix (absent when `ok`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// `GET /readyz`: 200 when every check holds, else 503 with `error` naming the failed checks
/// (so the body also has the one error shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Readiness {
    /// Whether every check holds.
    pub ready: bool,
    /// The failed checks' problems, one sentence each (absent when ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Every check, in a fixed order.
    pub checks: Vec<ReadinessCheck>,
}

impl Readiness {
    /// Folds the checks into one answer; returns it and the HTTP status (200 or 503).
    pub fn of(checks: Vec<ReadinessCheck>) -> (u16, Self) {
        let problems: Vec<String> = checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| {
                format!(
                    "{}: {}",
                    c.name,
                    c.problem.as_deref().unwrap_or("not ready")
                )
            })
            .collect();
        let ready = problems.is_empty();
        let status = if ready { 200 } else { 503 };
        let error = (!ready).then(|| problems.join("; "));
        (
            status,
            Readiness {
                ready,
                error,
                checks,
            },
        )
    }
}

/// An MCP tool as listed by `GET /v1/tools` (the MCP `Tool` object; more fields may appear).
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ToolDescription {
    /// The name to call it by (`POST /v1/tools/{name}`).
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of its arguments (the request body of `POST /v1/tools/{name}`).
    #[serde(rename = "inputSchema")]
    #[schema(value_type = Object)]
    pub input_schema: Value,
    /// JSON Schema of its result (the 200 body of `POST /v1/tools/{name}`), when declared.
    #[serde(rename = "outputSchema", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub output_schema: Option<Value>,
    /// MCP hints: readOnlyHint, destructiveHint, idempotentHint, openWorldHint.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub annotations: Option<Value>,
}

/// `GET /v1/tools`: the tools the caller may call.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ToolList {
    /// How many tools follow.
    pub count: usize,
    /// The tools (MCP `Tool` objects), in catalog order.
    #[schema(value_type = Vec<ToolDescription>)]
    pub tools: Value,
}

/// A tool's structured result (`POST /v1/tools/{name}` and the read endpoints built on a tool):
/// a JSON object whose schema is the tool's `outputSchema` in `GET /v1/tools`.
#[derive(utoipa::ToSchema)]
#[schema(value_type = Object)]
pub struct ToolResult(
    /// The tool's JSON object.
    pub Value,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_names_each_failed_check() {
        let ok = ReadinessCheck {
            name: "store".into(),
            ok: true,
            problem: None,
        };
        let (status, r) = Readiness::of(vec![ok.clone()]);
        assert_eq!((status, r.ready, r.error), (200, true, None));
        let bad = ReadinessCheck {
            name: "hub_join".into(),
            ok: false,
            problem: Some("not joined yet".into()),
        };
        let (status, r) = Readiness::of(vec![ok, bad]);
        assert_eq!(status, 503);
        assert!(!r.ready);
        assert_eq!(r.error.as_deref(), Some("hub_join: not joined yet"));
    }

    #[test]
    fn statuses_fit_the_message() {
        assert_eq!(tool_error_status("no VM named 'x' on dc1"), 404);
        assert_eq!(tool_error_status("cluster 'dc1': no VM named 'x'"), 404);
        assert_eq!(tool_error_status("no cluster named dc9; known: a, b"), 404);
        assert_eq!(
            tool_error_status("VM 'web' is ambiguous: dc1/web, dc2/web"),
            409
        );
        assert_eq!(
            tool_error_status("refused: this token has scope 'read'"),
            403
        );
        assert_eq!(
            tool_error_status("cluster dc1 is unavailable right now: x"),
            502
        );
        assert_eq!(
            tool_error_status("vm_get: missing required argument 'vm'"),
            422
        );
        assert_eq!(error_body("x"), serde_json::json!({"error": "x"}));
    }
}
