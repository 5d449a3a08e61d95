//! `vm_move`: a VM from its cluster to another through an SMB share, in stages: export
//! (source), import (target), verify (name, disks and their sizes on both sides), and, when
//! asked, delete the source after the caller confirms. Each stage is one audit record under
//! the move's operation id and one progress notification; a failed stage is named, and no
//! stage before the confirmed deletion changes the source VM.

use hyperfed_protocol::{redact_json, redact_uri};
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, ProgressNotificationParam};
use serde_json::{Value, json};

use crate::audit::{AuditEntry, now_rfc3339};
use crate::audited::{forward_audited, result_json, result_text};
use crate::call_context::CallContext;
use crate::error::HubError;
use crate::fleet::{resolve_vm, target_aliases};
use crate::hub::Hub;
use crate::operations::{PendingMove, new_operation_id};

/// The stages, in order (progress counts them).
const STAGES: [&str; 4] = ["export", "import", "verify", "delete_source"];

fn text_arg(args: &JsonObject, key: &str, what: &str) -> Result<String, HubError> {
    match args.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        None | Some(Value::Null) => Err(HubError::BadRequest(format!(
            "argument '{key}' is required: {what}"
        ))),
        Some(_) => Err(HubError::BadRequest(format!(
            "argument '{key}' must be a string: {what}"
        ))),
    }
}

/// One move in flight: the hub, the context its stage calls run in (with the operation id),
/// the caller's own context (for progress) and the operation id.
struct Move<'a> {
    hub: &'a Hub,
    ctx: CallContext,
    client: &'a CallContext,
    operation: String,
}

impl Move<'_> {
    async fn progress(&self, stage: &str, message: String) {
        let Some((peer, token)) = &self.client.progress else {
            return;
        };
        let n = STAGES.iter().position(|s| *s == stage).unwrap_or(0) + 1;
        let mut p = ProgressNotificationParam::new(token.clone(), n as f64);
        p.total = Some(STAGES.len() as f64);
        p.message = Some(format!("vm_move {}: {stage}: {message}", self.operation));
        let _ = peer.notify_progress(p).await;
    }

    /// Calls `tool` on `alias` for one stage (audited when it changes something).
    async fn call(
        &self,
        alias: &str,
        tool: &str,
        args: Value,
        mutating: bool,
    ) -> Result<Value, String> {
        let args = args.as_object().cloned().unwrap_or_default();
        match forward_audited(self.hub, "vm_move", alias, tool, args, mutating, &self.ctx).await {
            Ok(r) if r.is_error == Some(true) => Err(result_text(&r)),
            Ok(r) => {
                let v = result_json(&r).unwrap_or(Value::Null);
                match v.get("state").and_then(Value::as_str) {
                    Some(s) if s != "COMPLETE" && v.get("confirmation_required").is_none() => Err(
                        format!("{tool} on cluster '{alias}' ended in task state {s}"),
                    ),
                    _ => Ok(v),
                }
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Writes the verify stage's record (a hub-side check, no worker call of its own).
    async fn audit_verify(&self, cluster: &str, args: Value, error: Option<String>) {
        let now = now_rfc3339();
        let entry = AuditEntry {
            id: 0,
            time: now.clone(),
            subject: self.ctx.subject.clone(),
            cluster: cluster.to_owned(),
            tool: "verify".into(),
            exported_tool: "vm_move".into(),
            arguments: redact_json(&args),
            outcome: if error.is_some() { "error" } else { "ok" }.into(),
            error,
            task_tag: None,
            completed: Some(now),
            operation: Some(self.operation.clone()),
        };
        if let Err(e) = self.hub.store().audit_begin(entry).await {
            tracing::warn!(error = %e, "cannot record the verify stage of a move");
        }
    }

    fn failed(&self, stage: &str, source: &str, detail: &str) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(format!(
            "vm_move (operation {}) failed at stage {stage}: {detail}. The source VM on cluster '{source}' is untouched.",
            self.operation
        ))])
    }
}

/// Name and (type, capacity) of each disk, sorted: what a copy must match.
fn shape(vm: &Value) -> (String, Vec<(String, u64)>) {
    let name = vm
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let mut disks: Vec<(String, u64)> = vm
        .get("disks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d.get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                d.get("capacity_bytes").and_then(Value::as_u64).unwrap_or(0),
            )
        })
        .collect();
    disks.sort();
    (name, disks)
}

/// `vm_move`: a new move, or (with `operation` and `confirm_token`) the confirmed deletion
/// of a finished move's source.
pub(crate) async fn vm_move(
    hub: &Hub,
    args: &JsonObject,
    ctx: &CallContext,
) -> Result<CallToolResult, HubError> {
    if args.get("operation").is_some_and(|v| !v.is_null()) {
        return confirm_delete(hub, args, ctx).await;
    }
    let vm = text_arg(args, "vm", "the VM to move (uuid or alias/vm-name)")?;
    let to = text_arg(args, "to_cluster", "the alias of the cluster to move it to")?;
    let share = text_arg(args, "share_uri", "an smb:// folder both clusters reach")?;
    let shown_share = redact_uri(&share);
    if !share.to_ascii_lowercase().starts_with("smb://") {
        return Err(HubError::BadRequest(format!(
            "argument 'share_uri' must be an smb:// URI, not '{}'",
            shown_share.chars().take(80).collect::<String>()
        )));
    }
    let delete = match args.get("delete_source") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(HubError::BadRequest(
                "argument 'delete_source' must be true or false".into(),
            ));
        }
    };
    target_aliases(hub, Some(&to), "vm_import")?;
    let (source, vm_ref) = resolve_vm(hub, &vm).await?;
    if source == to {
        return Err(HubError::BadRequest(format!(
            "argument 'to_cluster': the VM is already on cluster '{to}'"
        )));
    }
    let operation = new_operation_id();
    let mut stage_ctx = ctx.clone();
    stage_ctx.operation = Some(operation.clone());
    stage_ctx.progress = None;
    let mv = Move {
        hub,
        ctx: stage_ctx,
        client: ctx,
        operation: operation.clone(),
    };

    let before = match mv
        .call(&source, "vm_get", json!({"vm": vm_ref}), false)
        .await
    {
        Ok(v) => v.get("vm").cloned().unwrap_or(Value::Null),
        Err(e) => return Ok(mv.failed("export", &source, &format!("cannot read the VM: {e}"))),
    };
    let uuid = before
        .get("uuid")
        .and_then(Value::as_str)
        .unwrap_or(&vm_ref)
        .to_owned();
    let (name, disks) = shape(&before);

    mv.progress(
        "export",
        format!("VM '{name}' from '{source}' to {shown_share}"),
    )
    .await;
    if let Err(e) = mv
        .call(
            &source,
            "vm_export",
            json!({"vm": uuid, "uri": share}),
            true,
        )
        .await
    {
        return Ok(mv.failed("export", &source, &e));
    }

    mv.progress("import", format!("on '{to}' from {shown_share}"))
        .await;
    let imported = match mv.call(&to, "vm_import", json!({"uri": share}), true).await {
        Ok(v) => v,
        Err(e) => return Ok(mv.failed("import", &source, &format!("cluster '{to}': {e}"))),
    };
    let Some(copy) = imported
        .get("created_uuid")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return Ok(mv.failed(
            "import",
            &source,
            &format!("cluster '{to}' reported no uuid for the imported VM"),
        ));
    };

    mv.progress(
        "verify",
        format!("the copy {copy} on '{to}' against the source"),
    )
    .await;
    let check = json!({"source": uuid, "copy": copy, "target": to});
    let after = match mv.call(&to, "vm_get", json!({"vm": copy}), false).await {
        Ok(v) => v.get("vm").cloned().unwrap_or(Value::Null),
        Err(e) => {
            let why = format!("cannot read the copy {copy} on cluster '{to}': {e}");
            mv.audit_verify(&to, check, Some(why.clone())).await;
            return Ok(mv.failed("verify", &source, &why));
        }
    };
    let (copy_name, copy_disks) = shape(&after);
    if (copy_name.as_str(), &copy_disks) != (name.as_str(), &disks) {
        let why = format!(
            "the copy {copy} on cluster '{to}' does not match: name '{copy_name}' vs '{name}', disks {copy_disks:?} vs {disks:?} (the copy was left on '{to}' for inspection)"
        );
        mv.audit_verify(&to, check, Some(why.clone())).await;
        return Ok(mv.failed("verify", &source, &why));
    }
    mv.audit_verify(&to, check, None).await;

    let mut answer = json!({
        "operation": operation,
        "vm": {"name": name, "source_uuid": uuid, "disks": disks.len()},
        "from_cluster": source,
        "to_cluster": to,
        "copy_uuid": copy,
        "share_uri": shown_share,
        "stages": {"export": "ok", "import": "ok", "verify": "ok"},
        "source_deleted": false,
    });
    if !delete {
        answer["note"] = json!("the source VM was kept (delete_source was not asked)");
        return Ok(CallToolResult::structured(answer));
    }
    mv.progress(
        "delete_source",
        format!("asking '{source}' to delete {uuid}"),
    )
    .await;
    let preview = match mv
        .call(&source, "vm_delete", json!({"vm": uuid}), true)
        .await
    {
        Ok(v) => v,
        Err(e) => {
            answer["stages"]["delete_source"] = json!("error");
            answer["error"] = json!(format!(
                "vm_move (operation {operation}) failed at stage delete_source: {e}. The source VM on cluster '{source}' is untouched; the verified copy is on '{to}'."
            ));
            return Ok(CallToolResult::structured_error(answer));
        }
    };
    let Some(token) = preview.get("confirm_token").cloned() else {
        answer["stages"]["delete_source"] = json!("ok");
        answer["source_deleted"] = preview.get("deleted").cloned().unwrap_or(json!(true));
        return Ok(CallToolResult::structured(answer));
    };
    hub.pending_moves().insert(
        &operation,
        PendingMove {
            source: source.clone(),
            vm_uuid: uuid.clone(),
            vm_name: name.clone(),
            target: to.clone(),
            copy_uuid: copy.clone(),
            since: std::time::Instant::now(),
        },
    );
    answer["stages"]["delete_source"] = json!("confirmation_required");
    answer["confirmation_required"] = json!(true);
    answer["confirm_token"] = token;
    answer["preview"] = preview.get("preview").cloned().unwrap_or(preview.clone());
    answer["next"] = json!(format!(
        "to delete the source, call vm_move again with operation '{operation}' and this confirm_token"
    ));
    Ok(CallToolResult::structured(answer))
}

/// The confirmed deletion of a finished move's source.
async fn confirm_delete(
    hub: &Hub,
    args: &JsonObject,
    ctx: &CallContext,
) -> Result<CallToolResult, HubError> {
    let operation = text_arg(args, "operation", "the operation id a move answered with")?;
    let token = text_arg(
        args,
        "confirm_token",
        "the confirm_token the move answered with",
    )?;
    let Some(pending) = hub.pending_moves().get(&operation) else {
        return Err(HubError::BadRequest(format!(
            "argument 'operation': no move '{}' is waiting for its source's deletion (unknown, done or expired)",
            operation.chars().take(40).collect::<String>()
        )));
    };
    let mut stage_ctx = ctx.clone();
    stage_ctx.operation = Some(operation.clone());
    stage_ctx.progress = None;
    let mv = Move {
        hub,
        ctx: stage_ctx,
        client: ctx,
        operation: operation.clone(),
    };
    mv.progress(
        "delete_source",
        format!("deleting {} on '{}'", pending.vm_uuid, pending.source),
    )
    .await;
    match mv
        .call(
            &pending.source,
            "vm_delete",
            json!({"vm": pending.vm_uuid, "confirm_token": token}),
            true,
        )
        .await
    {
        Ok(v) => {
            hub.pending_moves().remove(&operation);
            Ok(CallToolResult::structured(json!({
                "operation": operation,
                "stages": {"delete_source": "ok"},
                "source_deleted": v.get("deleted").cloned().unwrap_or(json!(true)),
                "from_cluster": pending.source,
                "to_cluster": pending.target,
                "copy_uuid": pending.copy_uuid,
                "vm": {"name": pending.vm_name, "source_uuid": pending.vm_uuid},
            })))
        }
        Err(e) => Ok(mv.failed("delete_source", &pending.source, &e)),
    }
}
