//! Forwarding one call to a worker tool with the audit trail of mutating calls: a `pending`
//! record before, the task tag as soon as the worker names it, the person's confirmation
//! when a destructive call's client can be asked (`elicit`), the outcome after. Reads take
//! the stateless call. Hub tools that act through several worker calls (vm_place, vm_move)
//! use it for each call, under one operation id.

use hyperfed_protocol::redact_json;
use rmcp::model::{CallToolResult, JsonObject};
use serde_json::Value;

use crate::audit::{AuditEntry, now_rfc3339};
use crate::call_context::CallContext;
use crate::elicit::{self, Settled};
use crate::error::HubError;
use crate::fan_out::raw_arguments;
use crate::forward::{forward, forward_stateless, outcome_unknown};
use crate::hub::Hub;

/// The JSON a tool result carries: its structured content, else its first text parsed as JSON.
pub(crate) fn result_json(result: &CallToolResult) -> Option<Value> {
    if let Some(v) = &result.structured_content {
        return Some(v.clone());
    }
    result
        .content
        .iter()
        .find_map(|c| c.as_text().map(|t| t.text.clone()))
        .and_then(|t| serde_json::from_str(&t).ok())
}

/// The text of a tool result (its text blocks joined), for error messages.
pub(crate) fn result_text(result: &CallToolResult) -> String {
    let text: Vec<String> = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    if text.is_empty() {
        result
            .structured_content
            .as_ref()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "the worker reported an error without details".into())
    } else {
        text.join("\n")
    }
}

fn task_tag(result: &CallToolResult) -> Option<String> {
    let v = result_json(result)?;
    match v.get("task_tag")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Forwards one mutating call, noting the task tag in its pending audit record as soon as
/// the worker names it (a hub killed mid-call can then ask the worker about the task).
async fn forward_noting_tag(
    hub: &Hub,
    alias: &str,
    tool: &str,
    arguments: JsonObject,
    ctx: &CallContext,
    entry: &mut AuditEntry,
) -> (Result<CallToolResult, HubError>, Option<String>) {
    let (tag_tx, mut tag_rx) = tokio::sync::oneshot::channel::<String>();
    let call = forward(hub, alias, tool, arguments, ctx, true, Some(tag_tx));
    tokio::pin!(call);
    let mut watching = true;
    loop {
        tokio::select! {
            out = &mut call => break out,
            tag = &mut tag_rx, if watching => {
                watching = false;
                if let Ok(tag) = tag {
                    entry.task_tag = Some(tag);
                    if let Err(e) = hub.store().audit_complete(entry).await {
                        tracing::warn!(error = %e, id = entry.id, "could not note the task tag in an audit record");
                    }
                }
            }
        }
    }
}

/// Forwards a call to a worker tool, writing the audit record first for mutating tools.
pub(crate) async fn forward_audited(
    hub: &Hub,
    exported: &str,
    alias: &str,
    tool: &str,
    arguments: JsonObject,
    mutating: bool,
    ctx: &CallContext,
) -> Result<CallToolResult, HubError> {
    if !mutating {
        if ctx.progress.is_some() {
            return forward(hub, alias, tool, arguments, ctx, false, None)
                .await
                .0;
        }
        // Reads without progress take the stateless call (one plain-JSON request).
        let raw = raw_arguments(&arguments)?;
        let bytes = forward_stateless(
            hub,
            alias,
            tool,
            Some(&raw),
            &ctx.cancel,
            hub.config().call_timeout,
        )
        .await?;
        return serde_json::from_slice(&bytes).map_err(|e| HubError::Upstream {
            alias: alias.to_owned(),
            message: format!("the worker's result is malformed: {e}"),
        });
    }
    // Refuse at once (and without an audit record) when the cluster cannot take calls.
    hub.live_link(alias)?;
    let entry = AuditEntry {
        id: 0,
        time: now_rfc3339(),
        subject: ctx.subject.clone(),
        cluster: alias.to_owned(),
        tool: tool.to_owned(),
        exported_tool: exported.to_owned(),
        arguments: redact_json(&Value::Object(arguments.clone())),
        outcome: "pending".into(),
        error: None,
        task_tag: None,
        completed: None,
        operation: ctx.operation.clone(),
    };
    let mut entry = hub.store().audit_begin(entry).await?;
    hub.metrics().audit("pending");
    let mut arguments = arguments;
    let (result, seen_tag, declined) = match elicit::before_forward(&ctx.confirm, alias, tool) {
        // A 2026-07-28 client answered no: nothing is forwarded.
        Settled::Declined(r) => (Ok(r), None, true),
        settled => {
            if let Settled::Go(token) = settled {
                arguments.insert("confirm_token".into(), Value::String(token));
            }
            let (result, seen_tag) =
                forward_noting_tag(hub, alias, tool, arguments.clone(), ctx, &mut entry).await;
            let settled = match &result {
                Ok(r) => elicit::after_forward(&ctx.confirm, alias, r, &ctx.cancel).await,
                Err(_) => Settled::Keep,
            };
            match settled {
                Settled::Keep => (result, seen_tag, false),
                Settled::Declined(r) => (Ok(r), seen_tag, true),
                // Yes: the same call again, with the token of the preview the person saw.
                Settled::Go(token) => {
                    arguments.insert("confirm_token".into(), Value::String(token));
                    let (result, seen_tag) =
                        forward_noting_tag(hub, alias, tool, arguments, ctx, &mut entry).await;
                    (result, seen_tag, false)
                }
            }
        }
    };
    let result = match result {
        Ok(r) if r.is_error == Some(true) => {
            entry.outcome = "error".into();
            entry.error = Some(result_text(&r).chars().take(2000).collect());
            entry.task_tag = seen_tag;
            Ok(r)
        }
        Ok(r) => {
            let confirm = result_json(&r)
                .and_then(|v| v.get("confirmation_required").and_then(Value::as_bool))
                .unwrap_or(false);
            entry.outcome = if declined {
                // The person said no (or dismissed the question): nothing was changed.
                "declined"
            } else if confirm {
                "confirmation_required"
            } else {
                "ok"
            }
            .into();
            entry.task_tag = task_tag(&r).or(seen_tag);
            Ok(r)
        }
        Err(HubError::UpstreamLost { alias, message }) => {
            // The worker may have acted before it was lost: say so, with the task if known.
            let e = outcome_unknown(alias, message, seen_tag.as_deref());
            entry.outcome = "unknown".into();
            entry.task_tag = seen_tag;
            entry.error = Some(e.to_string());
            Err(e)
        }
        Err(e) => {
            entry.outcome = if ctx.cancel.is_cancelled() {
                "cancelled"
            } else {
                "error"
            }
            .into();
            entry.task_tag = seen_tag;
            entry.error = Some(e.to_string());
            Err(e)
        }
    };
    entry.completed = Some(now_rfc3339());
    match hub.store().audit_complete(&entry).await {
        Ok(()) => hub.metrics().audit(&entry.outcome),
        Err(e) => tracing::warn!(error = %e, id = entry.id, "could not complete an audit record"),
    }
    result
}
