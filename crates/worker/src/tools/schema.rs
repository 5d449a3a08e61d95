//! Building blocks of tool declarations: input and output schemas, the arguments several
//! tools share (`vm`, `wait`, `confirm_token`, described briefly: the server instructions say
//! the rest once), the common action result, and the two shapes of declaration.

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

/// The `vm` argument: a uuid or an exact name.
pub(super) fn vm_arg() -> Value {
    json!({"type": "string", "minLength": 1, "description": "VM uuid or exact name."})
}

/// The `wait` argument of actions.
pub(super) fn wait_arg() -> Value {
    json!({"type": "boolean", "description": "Wait for the task (default true)."})
}

/// The `confirm_token` argument of destructive tools.
pub(super) fn confirm_arg() -> Value {
    json!({"type": "string", "description": "From the preview; omit it first."})
}

/// The result every action shares (its meaning is said once, in the server instructions).
fn action_output() -> JsonObject {
    let text = json!({"type": "string"});
    let flag = json!({"type": "boolean"});
    let int = json!({"type": "integer"});
    let obj = json!({"type": "object"});
    output(
        json!({
            "task_tag": text, "state": text, "vm": obj, "waited_ms": int,
            "created_uuid": text, "confirmation_required": flag, "confirm_token": text,
            "preview": obj, "action": text, "timed_out": flag, "note": text,
            "message": text, "expires_in_s": int,
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
