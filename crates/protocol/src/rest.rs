//! The one REST shape of a tool call, shared by hub and worker: the result object itself on
//! success; on failure a fitting HTTP status and the body `{"error": "<message>"}`.

use serde_json::{Value, json};

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

/// The JSON error body every REST endpoint answers with.
pub fn error_body(message: &str) -> Value {
    json!({ "error": message })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(error_body("x"), json!({"error": "x"}));
    }
}
