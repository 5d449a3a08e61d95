//! Checks on worker tools before they are re-exported: workers are untrusted input, so names,
//! texts and schemas are bounded and a tool that breaks a rule is refused (and logged).

use std::sync::Arc;

use hyperfed_protocol::is_valid_tool_name;
use rmcp::model::{JsonObject, Tool};
use serde_json::Value;

use crate::intern::Interner;

/// Longest worker tool name accepted.
pub(crate) const MAX_WORKER_TOOL_NAME: usize = 32;
/// Longest description accepted, in bytes.
pub(crate) const MAX_DESCRIPTION: usize = 4096;
/// Longest title accepted, in bytes.
pub(crate) const MAX_TITLE: usize = 256;
/// Deepest schema nesting accepted.
pub(crate) const MAX_SCHEMA_DEPTH: usize = 16;
/// Largest serialized schema accepted, in bytes.
pub(crate) const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// Most tools accepted from one worker.
pub(crate) const MAX_TOOLS_PER_WORKER: usize = 512;
/// Bounds on one tools/list walk, enforced while the pages arrive (not after).
pub(crate) struct ListLimits {
    /// Most tools over all pages.
    pub tools: usize,
    /// Most bytes of tool JSON over all pages.
    pub bytes: usize,
    /// Most pages.
    pub pages: usize,
}

/// Bounds on one worker's tools/list walk, enforced while pages arrive: twice the tools kept
/// (the surplus is refused with a log line, as before), 8 MiB of tool JSON, 32 pages.
pub(crate) const LIST_LIMITS: ListLimits = ListLimits {
    tools: 2 * MAX_TOOLS_PER_WORKER,
    bytes: 8 * 1024 * 1024,
    pages: 32,
};
/// Deadline of one tools/list walk (at join and on every re-list).
pub(crate) const LIST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// The separator of namespaced names: a worker tool name never contains it, so an exported
/// name never holds a second namespace (e.g. a hub joined to a hub).
pub(crate) const NAMESPACE_SEPARATOR: &str = "__";
/// HyperFed worker actions (`api_request` is read-only unless the worker allows raw writes,
/// and its writes need `admin` anyway): whatever a worker's annotations claim, the hub treats these as
/// changing the cluster (scope checks, audit), so a lying worker cannot make them "read-only".
pub(crate) const KNOWN_ACTIONS: &[&str] = &[
    "vm_start",
    "vm_shutdown",
    "vm_stop",
    "vm_reboot",
    "vm_reset",
    "vm_migrate",
    "vm_pause",
    "vm_nmi",
    "snapshot_create",
    "snapshot_delete",
    "vm_clone",
    "vm_export",
];

fn depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn check_text(what: &str, text: &str, max: usize) -> Result<(), String> {
    if text.len() > max {
        return Err(format!("{what} is longer than {max} bytes"));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(format!("{what} contains control characters"));
    }
    Ok(())
}

fn check_schema(what: &str, schema: &JsonObject) -> Result<(), String> {
    // Depth of the object itself counts as 1.
    let d = 1 + schema.values().map(depth).max().unwrap_or(0);
    if d > MAX_SCHEMA_DEPTH {
        return Err(format!(
            "{what} is nested deeper than {MAX_SCHEMA_DEPTH} levels"
        ));
    }
    let size = serde_json::to_vec(schema)
        .map(|b| b.len())
        .unwrap_or(usize::MAX);
    if size > MAX_SCHEMA_BYTES {
        return Err(format!("{what} is larger than {MAX_SCHEMA_BYTES} bytes"));
    }
    match schema.get("type") {
        Some(Value::String(t)) if t == "object" => Ok(()),
        _ => Err(format!(
            "{what} is not a JSON object schema (type must be \"object\")"
        )),
    }
}

/// Checks one worker tool against the bounds above.
pub(crate) fn check_tool(tool: &Tool) -> Result<(), String> {
    if !is_valid_tool_name(&tool.name, MAX_WORKER_TOOL_NAME) {
        return Err(format!(
            "name does not match ^[A-Za-z0-9_-]{{1,{MAX_WORKER_TOOL_NAME}}}$"
        ));
    }
    if tool.name.contains(NAMESPACE_SEPARATOR) {
        return Err(format!(
            "name contains '{NAMESPACE_SEPARATOR}' (a namespaced name: is the worker a hub?)"
        ));
    }
    if let Some(d) = &tool.description {
        check_text("description", d, MAX_DESCRIPTION)?;
    }
    if let Some(t) = &tool.title {
        check_text("title", t, MAX_TITLE)?;
    }
    if let Some(t) = tool.annotations.as_ref().and_then(|a| a.title.as_ref()) {
        check_text("annotations.title", t, MAX_TITLE)?;
    }
    check_schema("inputSchema", &tool.input_schema)?;
    if let Some(o) = &tool.output_schema {
        check_schema("outputSchema", o)?;
    }
    let extra = tool
        .icons
        .as_ref()
        .map(|i| serde_json::to_vec(i).map(|b| b.len()).unwrap_or(usize::MAX))
        .unwrap_or(0)
        + tool
            .meta
            .as_ref()
            .map(|m| serde_json::to_vec(m).map(|b| b.len()).unwrap_or(usize::MAX))
            .unwrap_or(0);
    if extra > MAX_SCHEMA_BYTES {
        return Err(format!(
            "icons and _meta are larger than {MAX_SCHEMA_BYTES} bytes"
        ));
    }
    Ok(())
}

/// Distinct tool schemas seen from workers, shared by every tool that has the same one.
/// Workers of one version offer identical schemas, so a fleet of hundreds keeps one copy of
/// each instead of one per cluster.
static SCHEMAS: std::sync::LazyLock<Interner<String, JsonObject>> =
    std::sync::LazyLock::new(|| Interner::new(4096));

/// Returns the shared copy of `schema` (serde_json maps are ordered, so equal schemas
/// serialise equally).
fn intern(schema: Arc<JsonObject>) -> Arc<JsonObject> {
    let Ok(key) = serde_json::to_string(schema.as_ref()) else {
        return schema;
    };
    SCHEMAS.share(key, || schema)
}

/// True when `tool` declares `readOnlyHint: true`.
pub(crate) fn is_read_only(tool: &Tool) -> bool {
    tool.annotations
        .as_ref()
        .and_then(|a| a.read_only_hint)
        .unwrap_or(false)
}

/// A known action claimed read-only by its worker is re-annotated as changing the cluster.
fn distrust_read_only_claim(alias: &str, tool: &mut Tool) {
    if is_read_only(tool) && KNOWN_ACTIONS.contains(&tool.name.as_ref()) {
        tracing::warn!(cluster = alias, tool = %tool.name, "a worker claims an action is read-only; the hub treats it as changing the cluster");
        if let Some(a) = tool.annotations.as_mut() {
            a.read_only_hint = Some(false);
            a.destructive_hint = Some(true);
        }
    }
}

/// Keeps the tools that pass `check_tool` (first of duplicate names), logging each refusal;
/// their schemas are interned.
pub(crate) fn accept_tools(alias: &str, tools: Vec<Tool>) -> Vec<Tool> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(tools.len().min(MAX_TOOLS_PER_WORKER));
    for tool in tools {
        if out.len() >= MAX_TOOLS_PER_WORKER {
            tracing::warn!(
                cluster = alias,
                "worker offers more than {MAX_TOOLS_PER_WORKER} tools; the rest are refused"
            );
            break;
        }
        let shown: String = tool.name.chars().take(40).collect();
        match check_tool(&tool) {
            Ok(()) if seen.insert(tool.name.to_string()) => {
                let mut tool = tool;
                distrust_read_only_claim(alias, &mut tool);
                tool.input_schema = intern(tool.input_schema);
                tool.output_schema = tool.output_schema.map(intern);
                out.push(tool)
            }
            Ok(()) => {
                tracing::warn!(cluster = alias, tool = %shown.escape_debug(), "refusing a duplicate worker tool")
            }
            Err(reason) => {
                tracing::warn!(cluster = alias, tool = %shown.escape_debug(), %reason, "refusing a worker tool")
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identical_schemas_from_different_workers_are_shared() {
        let schema = |v: serde_json::Value| Arc::new(v.as_object().cloned().unwrap());
        let a = Tool::new(
            "t",
            "d",
            schema(json!({"type": "object", "properties": {"x": {"type": "string"}}})),
        );
        let b = Tool::new(
            "t",
            "d",
            schema(json!({"type": "object", "properties": {"x": {"type": "string"}}})),
        );
        let c = Tool::new(
            "t",
            "d",
            schema(json!({"type": "object", "properties": {"y": {"type": "string"}}})),
        );
        let a = accept_tools("a", vec![a]);
        let b = accept_tools("b", vec![b]);
        let c = accept_tools("c", vec![c]);
        assert!(Arc::ptr_eq(&a[0].input_schema, &b[0].input_schema));
        assert!(!Arc::ptr_eq(&a[0].input_schema, &c[0].input_schema));
        assert_eq!(a[0].input_schema, b[0].input_schema);
    }

    fn tool(name: &str, schema: Value) -> Tool {
        let obj = schema.as_object().cloned().unwrap_or_default();
        Tool::new(name.to_owned(), "d", Arc::new(obj))
    }

    #[test]
    fn refuses_bad_names_schemas_and_texts() {
        assert!(check_tool(&tool("vm_list", json!({"type": "object"}))).is_ok());
        assert!(check_tool(&tool("vm.list", json!({"type": "object"}))).is_err());
        assert!(check_tool(&tool(&"a".repeat(33), json!({"type": "object"}))).is_err());
        assert!(check_tool(&tool("x", json!({"type": "string"}))).is_err());
        let mut deep = json!({"type": "object"});
        for _ in 0..20 {
            deep = json!({"type": "object", "properties": {"a": deep}});
        }
        assert!(check_tool(&tool("x", deep)).is_err());
        let big = json!({"type": "object", "description": "x".repeat(70_000)});
        assert!(check_tool(&tool("x", big)).is_err());
        let mut t = tool("x", json!({"type": "object"}));
        t.description = Some("y".repeat(5000).into());
        assert!(check_tool(&t).is_err());
        t.description = Some("bell\u{7}".into());
        assert!(check_tool(&t).is_err());
    }

    #[test]
    fn keeps_first_of_duplicates() {
        let tools = vec![
            tool("a", json!({"type": "object"})),
            tool("a", json!({"type": "object"})),
            tool("b c", json!({"type": "object"})),
        ];
        assert_eq!(accept_tools("dc1", tools).len(), 1);
    }
}
