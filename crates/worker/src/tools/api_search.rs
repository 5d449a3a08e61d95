//! `api_search`: keyword search over the cluster's own OpenAPI document (fetched once and
//! cached), to find an endpoint for `api_request` when no dedicated tool fits.

use serde_json::{Value, json};

use super::schema::{input, output, read_tool};
use super::{ToolCall, ToolResult, ToolSpec};

/// `api_search`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "api_search",
    declare: |_| {
        read_tool(
            "api_search",
            "Search the HyperCore API",
            "Finds HyperCore API endpoints by keyword (method, path, summary), for api_request when no tool fits.",
            input(
                json!({"query": {"type": "string", "minLength": 1, "description": "Keywords, e.g. \"snapshot schedule\"."}, "limit": {"type": "integer", "minimum": 1, "maximum": 50, "description": "At most this many results (default 10)."}}),
                &["query"],
            ),
            output(
                json!({
                    "count": {"type": "integer"},
                    "results": {"type": "array", "items": {"type": "object", "properties": {"method": {"type": "string"}, "path": {"type": "string"}, "summary": {"type": "string"}}}},
                }),
                &["count", "results"],
            ),
        )
    },
    run: |call| Box::pin(run(call)),
};

/// A text field of an OpenAPI object ("" when absent or null, other JSON as written).
fn text_field(object: &Value, key: &str) -> String {
    match object.get(key) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

async fn run(call: ToolCall<'_>) -> ToolResult {
    let doc = call
        .state
        .openapi
        .get_or_try_init(|| async {
            call.state
                .cluster
                .openapi()
                .await
                .map_err(|e| call.cluster_err(e))
        })
        .await?;
    let query = call.str_arg("query").unwrap_or_default().to_lowercase();
    let terms: Vec<&str> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    if terms.is_empty() {
        return Err("api_search: 'query' has no searchable words".into());
    }
    let limit = call.count_arg("limit", 10);
    let mut hits: Vec<(usize, Value)> = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, ops) in paths {
            let Some(ops) = ops.as_object() else { continue };
            for (method, op) in ops {
                if !matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                    continue;
                }
                let summary = text_field(op, "summary");
                let hay = format!(
                    "{} {} {} {} {}",
                    path.to_lowercase(),
                    summary.to_lowercase(),
                    text_field(op, "description").to_lowercase(),
                    text_field(op, "operationId").to_lowercase(),
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
