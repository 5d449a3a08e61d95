//! `vm_place`: negotiate and dispatch. Ask every cluster, rank by policy, create the VM
//! (`vm_create`) on the first, audited like any forwarded change under one operation id; the
//! outcome goes into the chosen cluster's trust record (a create refused for lack of room
//! after the cluster said the VM fits is a broken claim).

use rmcp::model::{CallToolResult, JsonObject};
use serde_json::{Value, json};

use super::select::select;
use crate::audited::{forward_audited, result_json, result_text};
use crate::call_context::CallContext;
use crate::error::HubError;
use crate::hub::Hub;
use crate::operations::new_operation_id;
use crate::trust::Outcome;

/// The `vm_create` arguments for the placed VM.
fn create_args(
    args: &JsonObject,
    disks: &[u64],
    tag: Option<&str>,
) -> Result<JsonObject, HubError> {
    let name = match args.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => n.trim().to_owned(),
        _ => {
            return Err(HubError::BadRequest(
                "argument 'name' is required: the new VM's name".into(),
            ));
        }
    };
    let mut out = JsonObject::new();
    out.insert("name".into(), json!(name));
    for key in ["vcpus", "memory_bytes", "network_vlan", "start"] {
        if let Some(v) = args.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v.clone());
        }
    }
    out.insert("disk_bytes".into(), json!(disks));
    let mut tags: Vec<String> = match args.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|t| t.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                HubError::BadRequest("argument 'tags' must be a list of strings".into())
            })?,
        Some(_) => {
            return Err(HubError::BadRequest(
                "argument 'tags' must be a list of strings".into(),
            ));
        }
    };
    if let Some(t) = tag
        && !tags.iter().any(|x| x == t)
    {
        tags.push(t.to_owned());
    }
    if !tags.is_empty() {
        out.insert("tags".into(), json!(tags));
    }
    Ok(out)
}

/// Whether a create's error says the cluster lacked the room (the claim did not hold).
fn lacked_room(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("lacks the room") || t.contains("not enough") || t.contains("insufficient")
}

/// `vm_place`: the result, or an error result naming the stage and cluster.
pub(crate) async fn vm_place(
    hub: &Hub,
    args: &JsonObject,
    ctx: &CallContext,
) -> Result<CallToolResult, HubError> {
    // Refuse bad arguments before asking anyone.
    create_args(args, &[], None)?;
    let selection = select(hub, args, ctx).await?;
    let create = create_args(args, &selection.req.disks, selection.req.tag.as_deref())?;
    let Some((chosen, why)) = selection.ranked.first() else {
        let mut answer = selection.answer;
        answer["stage"] = json!("select");
        return Ok(CallToolResult::structured_error(answer));
    };
    let operation = new_operation_id();
    let mut stage_ctx = ctx.clone();
    stage_ctx.operation = Some(operation.clone());
    stage_ctx.progress = None;
    let alias = chosen.alias.clone();
    let result = forward_audited(
        hub,
        "vm_place",
        &alias,
        "vm_create",
        create,
        true,
        &stage_ctx,
    )
    .await;
    let ranking = selection
        .answer
        .get("ranked")
        .cloned()
        .unwrap_or(Value::Null);
    match result {
        Ok(r) if r.is_error != Some(true) => {
            let trust = hub.trust().note(hub.store(), &alias, Outcome::Honoured);
            let created = result_json(&r).unwrap_or(Value::Null);
            Ok(CallToolResult::structured(json!({
                "operation": operation,
                "cluster": alias,
                "reason": why,
                "policy": selection.answer.get("policy"),
                "created_uuid": created.get("created_uuid"),
                "vm": created.get("vm"),
                "create": created,
                "ranked": ranking,
                "note": selection.answer.get("note"),
                "trust": trust.to_json(),
            })))
        }
        Ok(r) => {
            let text = result_text(&r);
            let mut message = format!(
                "vm_place (operation {operation}) failed at stage create: cluster '{alias}' refused vm_create: {text}"
            );
            if lacked_room(&text) {
                let t = hub.trust().note(hub.store(), &alias, Outcome::Broken);
                message.push_str(&format!(
                    ". It had said the VM fits: its trust is now {:.2}{}",
                    t.score(),
                    if t.trusted() {
                        ""
                    } else {
                        ", so it ranks after trusted clusters from now on"
                    }
                ));
            }
            Ok(CallToolResult::error(vec![
                rmcp::model::ContentBlock::text(message),
            ]))
        }
        Err(e) => Ok(CallToolResult::error(vec![
            rmcp::model::ContentBlock::text(format!(
                "vm_place (operation {operation}) failed at stage create on cluster '{alias}': {e}"
            )),
        ])),
    }
}
