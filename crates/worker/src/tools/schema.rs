//! Building blocks of tool declarations: input and output schemas, the arguments several
//! tools share (`vm`, `wait`, `confirm_token`), the common action result, and the two shapes
//! of declaration (a read, an action).

use rmcp::model::JsonObject;
use serde_json::{Value, json};

use crate::catalog::ToolDef;

fn as_object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

/// An input schema: an object of `props`, no other keys, `required` ones.
pub(super) fn input(props: Value, required: &[&str]) -> JsonObject {
    let mut schema = as_object(json!({
        "type": "object",
        "properties": props,
        "additionalProperties": false,
    }));
    // An empty `required` array is invalid in older JSON Schema drafts some clients use.
    if !required.is_empty() {
        schema.insert("required".into(), json!(required));
    }
    schema
}

/// An output schema: an object of `props` with `required` ones.
pub(super) fn output(props: Value, required: &[&str]) -> JsonObject {
    let mut schema = as_object(json!({
        "type": "object",
        "properties": props,
    }));
    if !required.is_empty() {
        schema.insert("required".into(), json!(required));
    }
    schema
}

/// The output of a list tool: `count` and the rows under `key`.
pub(super) fn list_output(key: &str, item: Value) -> JsonObject {
    output(
        json!({
            "count": {"type": "integer", "description": "Number of items returned."},
            key: {"type": "array", "items": item},
        }),
        &["count", key],
    )
}

/// The `vm` argument: a uuid or an exact name.
pub(super) fn vm_arg() -> Value {
    json!({"type": "string", "minLength": 1, "description": "The VM's uuid, or its exact name (an ambiguous name is refused with the candidates)."})
}

/// The `wait` argument of actions.
pub(super) fn wait_arg() -> Value {
    json!({"type": "boolean", "description": "Wait (bounded) for the task to finish before returning. Default true; false returns the task tag at once."})
}

/// The `confirm_token` argument of destructive tools.
pub(super) fn confirm_arg() -> Value {
    json!({"type": "string", "description": "Token from a previous call's preview. Omit it first: the call then changes nothing and returns a preview and a token; repeat the same call with the token to execute."})
}

/// The result every action shares.
fn action_output() -> JsonObject {
    output(
        json!({
            "task_tag": {"type": "string", "description": "HyperCore task tag (empty when the cluster finished synchronously)."},
            "state": {"type": "string", "description": "Final task state (COMPLETE), or the current one when not waiting or when the wait bound passed (QUEUED, RUNNING). A failed task comes back as an error result."},
            "vm": {"type": "object", "description": "The VM after the action: uuid, name, state."},
            "waited_ms": {"type": "integer"},
            "created_uuid": {"type": "string", "description": "New object's uuid (snapshot, clone)."},
            "confirmation_required": {"type": "boolean", "description": "True when this was only a preview of a destructive action."},
            "confirm_token": {"type": "string"},
            "preview": {"type": "object", "description": "Cluster, target, current state and what the action will do."},
            "action": {"type": "string", "description": "The HyperCore actionType sent (power actions)."},
            "timed_out": {"type": "boolean", "description": "True when the wait bound passed before the task finished."},
            "note": {"type": "string", "description": "A caveat, e.g. the VM did not reach the expected state."},
            "message": {"type": "string"},
            "expires_in_s": {"type": "integer", "description": "Lifetime of confirm_token."},
        }),
        &[],
    )
}

/// A read-only, idempotent, closed-world tool.
pub(super) fn read_tool(
    name: &'static str,
    title: &'static str,
    description: &str,
    input: JsonObject,
    output: JsonObject,
) -> ToolDef {
    ToolDef {
        name,
        title,
        description: description.to_owned(),
        input,
        output,
        read_only: true,
        destructive: false,
        idempotent: true,
        open_world: false,
    }
}

/// An action with the common action result.
pub(super) fn action_tool(
    name: &'static str,
    title: &'static str,
    description: &str,
    input: JsonObject,
    destructive: bool,
    idempotent: bool,
) -> ToolDef {
    ToolDef {
        name,
        title,
        description: description.to_owned(),
        input,
        output: action_output(),
        read_only: false,
        destructive,
        idempotent,
        open_world: false,
    }
}
