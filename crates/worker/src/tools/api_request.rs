//! `api_request`: the raw-request escape hatch to the cluster's REST API. GET only, unless
//! the worker allows raw writes; then any other method is destructive: previewed and confirmed.

use serde_json::{Value, json};

use super::page::{page, paged_input};
use super::schema::{confirm_arg, input, output};
use super::{ToolCall, ToolResult, ToolSpec};
use crate::catalog::ToolDef;
use crate::cluster::Method;

/// `api_request`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "api_request",
    declare,
    run: |call| Box::pin(run(call)),
};

fn declare(allow_raw_writes: bool) -> ToolDef {
    let paging = paged_input(json!({}), &[])
        .remove("properties")
        .unwrap_or_default();
    let raw_props = if allow_raw_writes {
        json!({
            "method": {"type": "string", "enum": ["GET", "POST", "PATCH", "PUT", "DELETE"], "description": "HTTP method (default GET)."},
            "path": {"type": "string", "minLength": 1, "description": "Path under /rest/v1, e.g. /VirDomainSnapshotSchedule."},
            "body": {"description": "JSON body (object or array) for non-GET requests."},
            "confirm_token": confirm_arg(),
        })
    } else {
        json!({
            "method": {"type": "string", "enum": ["GET"], "description": "Only GET: this worker does not allow raw writes."},
            "path": {"type": "string", "minLength": 1, "description": "Path under /rest/v1, e.g. /VirDomainSnapshotSchedule."},
        })
    };
    // A GET of a collection answers a list: paged like every list tool.
    let mut raw_props = raw_props;
    if let Value::Object(props) = &mut raw_props {
        props.insert("limit".into(), paging["limit"].clone());
        props.insert("cursor".into(), paging["cursor"].clone());
        props.insert(
            "fields".into(),
            json!({"type": "array", "items": {"type": "string"}, "description": "Only these keys of each record."}),
        );
    }
    ToolDef {
        name: "api_request",
        title: "Raw HyperCore API request",
        description: if allow_raw_writes {
            "Escape hatch: sends a raw request to the cluster's REST API (/rest/v1/...) and returns the HTTP status and JSON body. GET changes nothing; any other method is destructive and needs a confirmation token (call without it to get a preview). Prefer the dedicated tools."
        } else {
            "Escape hatch: sends a raw GET to the cluster's REST API (/rest/v1/...) and returns the HTTP status and JSON body. Only GET is allowed on this worker. Prefer the dedicated tools; use api_search to find a path."
        }
        .to_owned(),
        input: input(raw_props, &["path"]),
        output: output(
            json!({"status": {"type": "integer"}, "method": {"type": "string"}, "path": {"type": "string"}, "body": {}, "total": {"type": "integer"}, "count": {"type": "integer"}, "next_cursor": {"type": ["string", "null"]}, "confirmation_required": {"type": "boolean"}, "confirm_token": {"type": "string"}, "preview": {"type": "object"}}),
            &[],
        ),
        read_only: !allow_raw_writes,
        destructive: allow_raw_writes,
        idempotent: !allow_raw_writes,
        open_world: false,
    }
}

async fn run(call: ToolCall<'_>) -> ToolResult {
    let method_s = call.str_arg("method").unwrap_or("GET").to_ascii_uppercase();
    let method = match method_s.as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PATCH" => Method::Patch,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        other => return Err(format!("api_request: method '{other}' is not supported")),
    };
    let path = call.str_arg("path").unwrap_or_default().trim();
    let path = path.strip_prefix("/rest/v1").unwrap_or(path);
    if !path.starts_with('/')
        || path.contains("..")
        || path.contains("://")
        || path.contains(['\r', '\n', ' ', '#'])
    {
        return Err(format!(
            "api_request: path '{path}' must be a plain path under /rest/v1 starting with '/', e.g. /VirDomain"
        ));
    }
    // Judged without the query, trailing slashes, doubled slashes or case: `/login?x=1` is
    // `/login` too.
    let bare = path
        .split(['?', ';'])
        .next()
        .unwrap_or(path)
        .to_ascii_lowercase();
    let segments: Vec<&str> = bare.split('/').filter(|s| !s.is_empty()).collect();
    if matches!(segments.as_slice(), ["login"] | ["logout"]) {
        return Err("api_request: /login and /logout are managed by the worker".into());
    }
    let body = call.args.get("body").cloned();
    if method != Method::Get {
        if !call.def.destructive {
            return Err("api_request: only GET is allowed; this worker was started without --allow-raw-writes".into());
        }
        if let Some(preview) = call.confirm(&format!("{method_s} {path}"), || {
            json!({
                "request": {"method": method_s, "path": path, "body": body.as_ref().map(hyperfed_protocol::redact_json)},
                "effect": "send this raw write to the HyperCore REST API; it is not checked by the worker",
            })
        })? {
            return Ok(preview);
        }
    } else if body.is_some() {
        return Err("api_request: a GET request takes no body".into());
    }
    // Raw writes take the action lock like any other mutation and keep it while the task
    // they started (if any) runs.
    let guard = if method == Method::Get {
        None
    } else {
        Some(call.state.begin_action().await?.0)
    };
    let (status, resp) = call
        .state
        .cluster
        .raw(method, path, body)
        .await
        .map_err(|e| call.cluster_err(e))?;
    if let Some(guard) = guard {
        let tag = resp.get("taskTag").and_then(Value::as_str).unwrap_or("");
        call.state.release_when_done(tag, guard);
    }
    let body = hyperfed_protocol::redact_json(&resp);
    if let (Method::Get, Value::Array(records)) = (method, &body) {
        let mut out = page(&call, "body", records.clone(), "a path to one record")?;
        out.insert("status".into(), json!(status));
        out.insert("method".into(), json!(method_s));
        out.insert("path".into(), json!(path));
        return Ok(Value::Object(out));
    }
    Ok(json!({
        "status": status,
        "method": method_s,
        "path": path,
        "body": body,
    }))
}
