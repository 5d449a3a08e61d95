//! `task_status`: one HyperCore task by its tag (as an action with `wait: false` returns it).

use hypercore::model::TaskTag;
use serde_json::json;

use super::rows::task_text;
use super::schema::{input, output, read_tool};
use super::{ToolCall, ToolResult, ToolSpec};

/// `task_status`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "task_status",
    declare: |_| {
        read_tool(
            "task_status",
            "Task status",
            "Reports a task by tag (from an action with wait=false): state, progress percent, error.",
            input(
                json!({"task_tag": {"type": "string", "minLength": 1, "description": "The task tag, e.g. \"1234\"."}}),
                &["task_tag"],
            ),
            output(
                json!({"task_tag": {"type": "string"}, "found": {"type": "boolean"}, "state": {"type": "string"}, "progress_percent": {"type": "integer"}, "description": {"type": "string"}, "message": {"type": "string"}}),
                &["task_tag", "found", "state"],
            ),
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let tag = call.str_arg("task_tag").unwrap_or_default().trim();
    if tag.contains('/') || tag.contains("..") {
        return Err(format!(
            "'{tag}' is not a task tag (expected something like \"1234\")"
        ));
    }
    match call
        .state
        .cluster
        .get::<TaskTag>(tag)
        .await
        .map_err(|e| call.cluster_err(e))?
    {
        None => Ok(
            json!({"task_tag": tag, "found": false, "state": "UNKNOWN", "message": "no such task (it may have expired from the cluster's task list)"}),
        ),
        Some(task) => Ok(json!({
            "task_tag": tag,
            "found": true,
            "state": task.state.as_str(),
            "progress_percent": task.progress_percent,
            "description": task_text(&task.formatted_description, &task.description_parameters),
            "message": task_text(&task.formatted_message, &task.message_parameters),
            "object_uuid": task.object_uuid,
        })),
    }
}
