//! Serving a tools/call by exported name: the scope check, the fleet tools, routing plain
//! names by `cluster` or VM, and forwarding to the worker with the audit trail of mutating
//! calls (a `pending` record before, the outcome after; refusals recorded too).

use std::sync::Arc;
use std::time::Instant;

use hyperfed_protocol::redact_json;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use serde_json::{Map, Value};

use crate::audit::{AuditEntry, REFUSALS_PER_MINUTE, now_rfc3339};
use crate::audited::forward_audited;
pub(crate) use crate::audited::{result_json, result_text};
use crate::auth;
use crate::call_context::CallContext;
use crate::catalog::{Catalog, FleetTool, Route, Target};
use crate::error::HubError;
use crate::fleet::{resolve_vm, vm_search};
use crate::fleet_overview::{fleet_conditions, fleet_status};
use crate::hub::Hub;
use crate::metrics::{CallOutcome, Label, OTHER};
use crate::placement;

fn error_result(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

/// Serves any exported tool name. `Err` only for unknown tools; every other failure is a
/// tool result with `isError` so the model can read it.
pub(crate) async fn call_tool(
    hub: &Arc<Hub>,
    name: &str,
    arguments: Option<JsonObject>,
    ctx: &CallContext,
) -> Result<CallToolResult, HubError> {
    Ok(call_tool_typed(hub, name, arguments, ctx)
        .await?
        .unwrap_or_else(|e| error_result(e.to_string())))
}

/// Like [`call_tool`], but a hub-side failure stays a typed error (for REST's status codes);
/// the outer error is a refusal before anything ran. Every call is counted in the metrics by
/// its catalog tool, its routed cluster and its outcome.
pub(crate) async fn call_tool_typed(
    hub: &Arc<Hub>,
    name: &str,
    arguments: Option<JsonObject>,
    ctx: &CallContext,
) -> Result<Result<CallToolResult, HubError>, HubError> {
    let started = Instant::now();
    let catalog = hub.catalog();
    let Some(route) = catalog.routes.get(name) else {
        let other = Label::from(OTHER);
        hub.metrics()
            .call(&other, &other, CallOutcome::Refused, started.elapsed());
        return Err(HubError::BadRequest(format!(
            "unknown tool '{}'; list the tools to see what this hub offers",
            shown(name)
        )));
    };
    let mut cluster = route.cluster_label.clone();
    let result = route_call(hub, &catalog, name, route, arguments, ctx, &mut cluster).await;
    let outcome = match &result {
        Ok(Ok(r)) if r.is_error == Some(true) => CallOutcome::ToolError,
        Ok(Ok(_)) => CallOutcome::Ok,
        Ok(Err(e)) | Err(e) => CallOutcome::of_error(e),
    };
    hub.metrics()
        .call(&route.tool_label, &cluster, outcome, started.elapsed());
    result
}

/// Serves a call of a known exported name; sets `routed_label` to the label of the cluster it
/// was routed to (plain names).
async fn route_call(
    hub: &Arc<Hub>,
    catalog: &Catalog,
    name: &str,
    route: &Route,
    arguments: Option<JsonObject>,
    ctx: &CallContext,
    routed_label: &mut Label,
) -> Result<Result<CallToolResult, HubError>, HubError> {
    let mut args = arguments.unwrap_or_default();
    let worker_tool = match &route.target {
        Target::Namespaced { tool, .. } | Target::Plain { tool, .. } => Some(tool.as_str()),
        Target::Fleet(_) => None,
    };
    if let Some(why) = auth::refusal(ctx.scope, name, worker_tool, route.mutating, &args) {
        audit_refusal(hub, name, &route.target, worker_tool, &args, ctx, &why).await?;
        return Err(HubError::Forbidden(why));
    }
    let outcome = match &route.target {
        Target::Fleet(which) => match which {
            FleetTool::VmPlace => placement::vm_place(hub, &args, ctx).await,
            FleetTool::VmMove => placement::vm_move(hub, &args, ctx).await,
            _ => {
                let v = match which {
                    FleetTool::Status => fleet_status(hub, &args).await,
                    FleetTool::VmSearch => vm_search(hub, &args).await,
                    FleetTool::Conditions => fleet_conditions(hub, &args).await,
                    FleetTool::PlacementAsk => placement::placement_ask(hub, &args).await,
                    _ => placement::placement_select(hub, &args, ctx).await,
                };
                v.map(CallToolResult::structured)
            }
        },
        Target::Namespaced { alias, tool } => {
            forward_audited(hub, name, alias, tool, args, route.mutating, ctx).await
        }
        Target::Plain { tool, takes_vm } => {
            let cluster = match args.remove("cluster") {
                Some(Value::String(c)) if !c.is_empty() => Some(c),
                None | Some(Value::Null) => None,
                Some(_) => {
                    return Ok(Ok(error_result(
                        "argument 'cluster' must be a cluster alias string",
                    )));
                }
            };
            let routed = match (cluster, takes_vm) {
                (Some(c), _) => Ok(c),
                (None, true) => match args.get("vm").and_then(Value::as_str) {
                    Some(vm) => resolve_vm(hub, vm).await.map(|(alias, vm_arg)| {
                        args.insert("vm".into(), Value::String(vm_arg));
                        alias
                    }),
                    None => Err(HubError::BadRequest(
                        "argument 'vm' is required (a VM uuid or `alias/vm-name`)".into(),
                    )),
                },
                (None, false) => Err(HubError::BadRequest(
                    "argument 'cluster' is required (a cluster alias)".into(),
                )),
            };
            match routed {
                Ok(alias) => {
                    *routed_label = catalog.cluster_label(&alias);
                    // The target cluster's own manifest decides too: a tool it declares as
                    // changing the cluster is checked and audited as such, whatever other
                    // clusters claim about the same name.
                    let Some(own_read_only) = hub.registry().tool_read_only(&alias, tool) else {
                        return Ok(Ok(error_result(format!(
                            "cluster '{}' does not offer '{tool}'",
                            shown(&alias)
                        ))));
                    };
                    let mutating = route.mutating || !own_read_only;
                    if let Some(why) = auth::refusal(ctx.scope, name, Some(tool), mutating, &args) {
                        args.insert("cluster".into(), Value::String(alias.clone()));
                        audit_refusal(hub, name, &route.target, Some(tool), &args, ctx, &why)
                            .await?;
                        return Err(HubError::Forbidden(why));
                    }
                    forward_audited(hub, name, &alias, tool, args, mutating, ctx).await
                }
                Err(e) => Err(e),
            }
        }
    };
    Ok(outcome)
}

/// A caller-supplied name, shortened for an error message (never echoed whole).
pub(crate) fn shown(name: &str) -> String {
    const MAX: usize = 64;
    if name.chars().count() <= MAX {
        return name.chars().filter(|c| !c.is_control()).collect();
    }
    let head: String = name.chars().filter(|c| !c.is_control()).take(MAX).collect();
    format!("{head}... ({} bytes)", name.len())
}

/// Records a call refused for its scope (nothing was forwarded).
async fn audit_refusal(
    hub: &Hub,
    exported: &str,
    target: &Target,
    tool: Option<&str>,
    args: &JsonObject,
    ctx: &CallContext,
    why: &str,
) -> Result<(), HubError> {
    if !hub.refusals().admit(&ctx.subject) {
        return Err(HubError::Forbidden(format!(
            "{why} (too many refused calls from this token: at most {REFUSALS_PER_MINUTE} a minute are answered; try again in a minute)"
        )));
    }
    let named = args
        .get("cluster")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(|c| c.chars().take(64).collect::<String>());
    let cluster = match (target, named) {
        (Target::Namespaced { alias, .. }, _) => alias.clone(),
        (_, Some(c)) => c,
        // A VM-routed call names its cluster through the VM: record where it would have gone.
        (Target::Plain { takes_vm: true, .. }, None) => {
            match args.get("vm").and_then(Value::as_str) {
                Some(vm) => resolve_vm(hub, vm)
                    .await
                    .map(|(a, _)| a)
                    .unwrap_or_default(),
                None => String::new(),
            }
        }
        _ => String::new(),
    };
    let now = now_rfc3339();
    let entry = AuditEntry {
        id: 0,
        time: now.clone(),
        subject: ctx.subject.clone(),
        cluster,
        tool: tool.unwrap_or(exported).to_owned(),
        exported_tool: exported.to_owned(),
        arguments: redact_json(&Value::Object(args.clone())),
        outcome: "refused".into(),
        error: Some(why.to_owned()),
        task_tag: None,
        completed: Some(now),
        operation: ctx.operation.clone(),
    };
    match hub.store().audit_begin(entry).await {
        Ok(_) => hub.metrics().audit("refused"),
        Err(e) => tracing::warn!(error = %e, "cannot record a refused call in the audit log"),
    }
    Ok(())
}

/// Arguments as a JSON object, for REST callers.
pub(crate) fn as_object(v: Value) -> Result<Option<JsonObject>, HubError> {
    match v {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m)),
        _ => Err(HubError::BadRequest(
            "the request body must be a JSON object of tool arguments".into(),
        )),
    }
}

/// Builds a `Map` from pairs (used by REST query strings).
pub(crate) fn object_of(
    pairs: impl IntoIterator<Item = (&'static str, Option<String>)>,
) -> JsonObject {
    let mut m = Map::new();
    for (k, v) in pairs {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            m.insert(k.into(), Value::String(v));
        }
    }
    m
}
