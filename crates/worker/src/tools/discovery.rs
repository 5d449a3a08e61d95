//! API discovery: keyword search over the cluster's own OpenAPI document (fetched once and
//! cached) and the raw-request escape hatch (GET only unless raw writes are allowed).

use serde_json::{Map, Value, json};

use super::shape::{s, str_arg};
use super::{ToolResult, WorkerState};
use crate::cluster::Method;
use crate::confirm::Binding;

impl WorkerState {
    pub(super) async fn api_search(&self, a: &Map<String, Value>) -> ToolResult {
        let doc = self
            .openapi
            .get_or_try_init(|| async {
                self.cluster
                    .openapi()
                    .await
                    .map_err(|e| self.cluster_err(e))
            })
            .await?;
        let query = str_arg(a, "query").unwrap_or_default().to_lowercase();
        let terms: Vec<&str> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| !t.is_empty())
            .collect();
        if terms.is_empty() {
            return Err("api_search: 'query' has no searchable words".into());
        }
        let limit = a.get("limit").and_then(Value::as_u64).unwrap_or(10) as usize;
        let mut hits: Vec<(usize, Value)> = Vec::new();
        if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
            for (path, ops) in paths {
                let Some(ops) = ops.as_object() else { continue };
                for (method, op) in ops {
                    if !matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                        continue;
                    }
                    let summary = s(op, "summary");
                    let hay = format!(
                        "{} {} {} {} {}",
                        path.to_lowercase(),
                        summary.to_lowercase(),
                        s(op, "description").to_lowercase(),
                        s(op, "operationId").to_lowercase(),
                        op.get("tags")
                            .map(|t| t.to_string().to_lowercase())
                            .unwrap_or_default()
                    );
                    let path_l = path.to_lowercase();
                    let score: usize = terms
                        .iter()
                        .map(|t| {
                            if path_l.contains(t) {
                                3
                            } else if hay.contains(t) {
                                1
                            } else {
                                0
                            }
                        })
                        .sum();
                    let all_match = terms.iter().all(|t| hay.contains(t));
                    if score > 0 {
                        hits.push((
                            score + if all_match { 10 } else { 0 },
                            json!({"method": method.to_uppercase(), "path": path, "summary": summary}),
                        ));
                    }
                }
            }
        } else {
            return Err("the cluster's OpenAPI document has no 'paths' section".into());
        }
        hits.sort_by(|x, y| {
            y.0.cmp(&x.0)
                .then_with(|| x.1["path"].as_str().cmp(&y.1["path"].as_str()))
        });
        let rows: Vec<Value> = hits.into_iter().take(limit).map(|(_, v)| v).collect();
        Ok(json!({"count": rows.len(), "results": rows}))
    }

    pub(super) async fn api_request(&self, a: &Map<String, Value>) -> ToolResult {
        let method_s = str_arg(a, "method").unwrap_or("GET").to_ascii_uppercase();
        let method = match method_s.as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PATCH" => Method::Patch,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            other => return Err(format!("api_request: method '{other}' is not supported")),
        };
        let path = str_arg(a, "path").unwrap_or_default().trim();
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
        if matches!(path.trim_end_matches('/'), "/login" | "/logout") {
            return Err("api_request: /login and /logout are managed by the worker".into());
        }
        let body = a.get("body").cloned();
        if method != Method::Get {
            let def = self.catalog.get("api_request");
            if !def.is_some_and(|d| d.destructive) {
                return Err("api_request: only GET is allowed; this worker was started without --allow-raw-writes".into());
            }
            let id = self.identity();
            let binding = Binding::new(&id.uuid, "api_request", &format!("{method_s} {path}"), a);
            if let Some(resp) = self.confirm_gate(a, binding, || {
                json!({
                    "cluster": {"uuid": id.uuid, "name": id.name},
                    "tool": "api_request",
                    "request": {"method": method_s, "path": path, "body": body.as_ref().map(hyperfed_protocol::redact_json)},
                    "effect": "send this raw write to the HyperCore REST API; it is not checked by the worker",
                })
            })? {
                return Ok(resp);
            }
        } else if body.is_some() {
            return Err("api_request: a GET request takes no body".into());
        }
        // Raw writes take the action lock like any other mutation and keep it while the task
        // they started (if any) runs.
        let guard = if method == Method::Get {
            None
        } else {
            Some(self.begin_action().await?.0)
        };
        let (status, resp) = self
            .cluster
            .raw(method, path, body)
            .await
            .map_err(|e| self.cluster_err(e))?;
        if let Some(guard) = guard {
            let tag = resp.get("taskTag").and_then(Value::as_str).unwrap_or("");
            self.release_when_done(tag, guard);
        }
        Ok(json!({
            "status": status,
            "method": method_s,
            "path": path,
            "body": hyperfed_protocol::redact_json(&resp),
        }))
    }
}
