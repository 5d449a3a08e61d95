//! `condition_list`: health conditions (alerts), raised ones by default, most severe first.
//! Also the `hypercore://conditions` resource.

use hypercore::model::{Condition, Severity};
use serde_json::{Value, json};

use super::schema::{input, list_output, read_tool};
use super::{ToolCall, ToolResult, ToolSpec};

/// `condition_list`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "condition_list",
    declare: |_| {
        let severities: Vec<&str> = Severity::ALL.iter().map(Severity::as_str).collect();
        read_tool(
            "condition_list",
            "List conditions (alerts)",
            "Lists the cluster's health conditions (alerts). By default only raised ones; all=true includes cleared ones. Filter by minimum severity (e.g. WARNING returns WARNING and worse). Each has name, description, severity, raised, is_ok and the node it concerns.",
            input(
                json!({
                    "all": {"type": "boolean", "description": "Include conditions that are not raised. Default false."},
                    "severity": {"type": "string", "enum": severities, "description": "Minimum severity to include."}
                }),
                &[],
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
    Ok(json!({"count": rows.len(), "conditions": rows}))
}
