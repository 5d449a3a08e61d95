//! `condition_list`: health conditions (alerts), raised ones by default, most severe first.
//! Also the `hypercore://conditions` resource.

use std::collections::BTreeMap;

use hypercore::model::{Condition, Severity};
use serde_json::{Value, json};

use super::page::{list_output, page, paged_input};
use super::schema::read_tool;
use super::{ToolCall, ToolResult, ToolSpec};

/// Columns `fields` may select.
const COLUMNS: &[&str] = &[
    "name",
    "description",
    "severity",
    "raised",
    "is_ok",
    "node_uuid",
    "node_lan_ip",
    "last_set_ms",
    "tags",
];

/// `condition_list`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "condition_list",
    declare: |_| {
        let severities: Vec<&str> = Severity::ALL.iter().map(Severity::as_str).collect();
        read_tool(
            "condition_list",
            "List conditions (alerts)",
            "Lists health conditions (alerts), most severe first, with counts by severity: raised ones unless all=true; severity is a minimum (WARNING = WARNING and worse).",
            paged_input(
                json!({
                    "all": {"type": "boolean", "description": "Include conditions that are not raised. Default false."},
                    "severity": {"type": "string", "enum": severities, "description": "Minimum severity to include."}
                }),
                COLUMNS,
            ),
            list_output("conditions", json!({"type": "object"})),
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let conditions = call
        .state
        .cluster
        .list::<Condition>()
        .await
        .map_err(|e| call.cluster_err(e))?;
    let all = call.bool_arg("all", false);
    let least = call
        .str_arg("severity")
        .map(|sev| Severity::from_wire(sev).rank());
    let mut raised: Vec<&Condition> = conditions
        .iter()
        .filter(|c| all || c.value)
        .filter(|c| least.is_none_or(|rank| c.severity.rank() <= rank))
        .collect();
    raised.sort_by_key(|c| c.severity.rank());
    let rows: Vec<Value> = raised
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "description": c.description,
                "severity": c.severity.as_str(),
                "raised": c.value,
                "is_ok": c.is_ok,
                "node_uuid": c.node_uuid,
                "node_lan_ip": c.node_lan_ip,
                "last_set_ms": c.last_set_time,
                "tags": c.tags,
            })
        })
        .collect();
    let mut by_severity: BTreeMap<&str, u64> = BTreeMap::new();
    for c in &raised {
        *by_severity.entry(c.severity.as_str()).or_default() += 1;
    }
    let by_severity = json!(by_severity);
    let mut out = page(&call, "conditions", rows, "severity")?;
    out.insert("by_severity".into(), by_severity);
    Ok(Value::Object(out))
}
