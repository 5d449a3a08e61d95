//! Serving calls: forwarding to the owning worker (with timeout, cancellation, progress and
//! audit), fan-out reads across clusters with a per-cluster deadline, and the VM index that
//! routes VM actions given a uuid or `alias/vm-name`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use hyperfed_protocol::redact_json;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotificationParam,
    ClientRequest, ContentBlock, JsonObject, ProgressToken, ServerResult,
};
use rmcp::service::PeerRequestOptions;
use rmcp::service::{Peer, RoleServer};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::audit::{AuditEntry, now_rfc3339};
use crate::auth::{self, Scope};
use crate::catalog::{FleetTool, Target};
use crate::direct;
use crate::error::HubError;
use crate::registry::Health;
use crate::state::{Hub, ProgressSink};

/// How old the VM index may be before a by-name lookup refreshes it first.
const INDEX_FRESH_FOR: Duration = Duration::from_secs(15);

/// Who is calling and how to reach them for progress and cancellation.
#[derive(Clone)]
pub(crate) struct CallContext {
    /// Audit subject, e.g. `bearer-token via mcp`.
    pub subject: String,
    /// The client's progress token and session, when it asked for progress.
    pub progress: Option<(Peer<RoleServer>, ProgressToken)>,
    /// Cancelled when the client cancels the request.
    pub cancel: CancellationToken,
    /// What the caller's token allows.
    pub scope: Scope,
}

impl CallContext {
    /// A context for calls without progress or cancellation (REST).
    pub(crate) fn plain(subject: String, scope: Scope) -> Self {
        CallContext {
            subject,
            progress: None,
            cancel: CancellationToken::new(),
            scope,
        }
    }
}

/// A VM known to live on a cluster.
#[derive(Debug, Clone)]
pub(crate) struct VmRef {
    pub uuid: String,
    pub name: String,
}

/// Which cluster owns which VM, refreshed by fan-out and on demand.
#[derive(Default)]
pub(crate) struct VmIndex {
    by_cluster: DashMap<String, Arc<Vec<VmRef>>>,
    refreshed: Mutex<Option<Instant>>,
}

impl VmIndex {
    /// Drops what is known about a cluster (it re-joined or left).
    pub(crate) fn forget(&self, alias: &str) {
        self.by_cluster.remove(alias);
    }

    fn replace(&self, alias: &str, vms: Vec<VmRef>) {
        self.by_cluster.insert(alias.to_owned(), Arc::new(vms));
    }

    fn merge(&self, alias: &str, vms: Vec<VmRef>) {
        let mut current: Vec<VmRef> = self
            .by_cluster
            .get(alias)
            .map(|v| v.as_ref().clone())
            .unwrap_or_default();
        for vm in vms {
            current.retain(|c| c.uuid != vm.uuid);
            current.push(vm);
        }
        self.replace(alias, current);
    }

    fn by_uuid(&self, uuid: &str) -> Option<String> {
        self.by_cluster
            .iter()
            .find(|e| e.value().iter().any(|v| v.uuid == uuid))
            .map(|e| e.key().clone())
    }

    fn by_name(&self, name: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .by_cluster
            .iter()
            .flat_map(|e| {
                e.value()
                    .iter()
                    .filter(|v| v.name == name)
                    .map(|v| (e.key().clone(), v.uuid.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort();
        out
    }

    fn is_fresh(&self) -> bool {
        self.refreshed
            .lock()
            .ok()
            .and_then(|g| *g)
            .is_some_and(|t| t.elapsed() < INDEX_FRESH_FOR)
    }

    fn mark_refreshed(&self) {
        if let Ok(mut g) = self.refreshed.lock() {
            *g = Some(Instant::now());
        }
    }
}

fn error_result(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

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

fn result_text(result: &CallToolResult) -> String {
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

/// Removes a progress registration when the forwarded call ends.
struct ProgressGuard<'a> {
    hub: &'a Hub,
    key: Option<String>,
    wanted: Option<Arc<AtomicUsize>>,
}

impl Drop for ProgressGuard<'_> {
    fn drop(&mut self) {
        // rmcp dispatches notifications on their own tasks, so the last progress updates can
        // be handled just after the response: keep the mapping a little longer. The health
        // loop's sweep removes it later and releases its share of the session's counter.
        let registered = self.key.take().is_some_and(|k| {
            self.hub
                .progress
                .get_mut(&k)
                .map(|mut sink| sink.finished = Some(Instant::now()))
                .is_some()
        });
        if let Some(w) = self.wanted.take()
            && !registered
        {
            w.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Sends `notifications/cancelled` for a forwarded request that is abandoned (client cancel
/// or timeout) before its answer arrives.
struct CancelGuard {
    peer: rmcp::service::Peer<rmcp::service::RoleClient>,
    id: Option<rmcp::model::RequestId>,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let peer = self.peer.clone();
            tokio::spawn(async move {
                let _ = peer
                    .notify_cancelled(CancelledNotificationParam::new(
                        Some(id),
                        Some("cancelled by the hub's caller or timed out".into()),
                    ))
                    .await;
            });
        }
    }
}

/// Why a forwarded call ended without the worker's answer.
enum Gone {
    /// The call timeout passed.
    Timeout,
    /// The health monitor marked the cluster down.
    Down,
    /// The worker session was closed or its transport ended (the reason).
    Ended(&'static str),
}

/// Forwards one call to a cluster's worker, with timeout, cancellation and progress.
pub(crate) async fn forward(
    hub: &Hub,
    alias: &str,
    tool: &str,
    arguments: JsonObject,
    ctx: &CallContext,
    timeout: Duration,
) -> Result<CallToolResult, HubError> {
    forward_tracked(hub, alias, tool, arguments, ctx, timeout, false)
        .await
        .0
}

/// A call whose worker was lost (timeout, down, unreachable) mid-flight.
pub(crate) fn lost(alias: &str, message: String) -> HubError {
    HubError::UpstreamLost {
        alias: alias.to_owned(),
        message,
    }
}

/// Names the cluster in a worker's own error result, so the caller knows where it failed.
pub(crate) fn name_cluster_in_error(alias: &str, mut result: CallToolResult) -> CallToolResult {
    if result.is_error == Some(true) {
        let prefix = format!("cluster '{alias}': ");
        let mut named = false;
        for block in result.content.iter_mut() {
            if let Some(t) = block.as_text()
                && !t.text.starts_with(&prefix)
            {
                *block = ContentBlock::text(format!("{prefix}{}", t.text));
                named = true;
                break;
            }
        }
        if !named && result.content.is_empty() {
            result
                .content
                .push(ContentBlock::text(format!("{prefix}the call failed")));
        }
    }
    result
}

/// `forward`, also returning the HyperCore task tag seen in the worker's progress messages
/// (`track`: watch progress even if the client did not ask for it, for the audit).
async fn forward_tracked(
    hub: &Hub,
    alias: &str,
    tool: &str,
    arguments: JsonObject,
    ctx: &CallContext,
    timeout: Duration,
    track: bool,
) -> (Result<CallToolResult, HubError>, Option<String>) {
    let (session, cluster_up) = match hub.live_session(alias) {
        Ok(s) => s,
        Err(e) => return (Err(e), None),
    };
    let upstream = |message: String| HubError::Upstream {
        alias: alias.to_owned(),
        message,
    };
    let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
    // rmcp stamps its own progress token on every request: map it back to the client's. The
    // guard exists before sending so every exit path releases what it registered.
    let mut guard = ProgressGuard {
        hub,
        key: None,
        wanted: None,
    };
    let watch = ctx.progress.is_some() || track;
    if watch {
        session.progress_wanted.fetch_add(1, Ordering::AcqRel);
        guard.wanted = Some(session.progress_wanted.clone());
    }
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
    let handle = match session
        .peer
        .send_request_with_option(request, PeerRequestOptions::no_options())
        .await
    {
        Ok(h) => h,
        Err(e) => {
            return (
                Err(upstream(format!("the worker could not be reached: {e}"))),
                None,
            );
        }
    };
    let unreachable = session.unreachable.token();
    let mut cancel_guard = CancelGuard {
        peer: session.peer.clone(),
        id: Some(handle.id.clone()),
    };
    if watch {
        let key = progress_key(session.id, &handle.progress_token);
        hub.progress.insert(
            key.clone(),
            ProgressSink {
                client: ctx.progress.clone(),
                finished: None,
                last: f64::NEG_INFINITY,
                task_tag: None,
                wanted: session.progress_wanted.clone(),
            },
        );
        guard.key = Some(key);
    }
    let response = tokio::select! {
        _ = ctx.cancel.cancelled() => None,
        _ = hub.calls_stopping.cancelled() => Some(None),
        _ = cluster_up.cancelled() => Some(Some(Err(Gone::Down))),
        reason = session.ended() => Some(Some(Err(Gone::Ended(reason)))),
        _ = unreachable.cancelled() => Some(Some(Err(Gone::Ended(
            "the worker stopped accepting connections (killed or restarting) while the call was in flight",
        )))),
        r = tokio::time::timeout(timeout, handle.await_response()) => {
            Some(Some(r.map_err(|_| Gone::Timeout)))
        }
    };
    let seen_tag = guard
        .key
        .as_ref()
        .and_then(|k| hub.progress.get(k).and_then(|s| s.task_tag.clone()));
    drop(guard);
    let response = match response {
        None => {
            return (
                Err(upstream("the call was cancelled by the client".into())),
                seen_tag,
            );
        }
        Some(None) => {
            return (
                Err(lost(
                    alias,
                    "the hub is shutting down; the call was abandoned (call again once it is back)"
                        .into(),
                )),
                seen_tag,
            );
        }
        Some(Some(r)) => r,
    };
    if matches!(
        response,
        Ok(Ok(_)) | Ok(Err(rmcp::service::ServiceError::McpError(_)))
    ) {
        cancel_guard.id = None;
    }
    let result = match response {
        Err(Gone::Timeout) => Err(lost(
            alias,
            format!(
                "no answer within {} (call timeout)",
                humantime::format_duration(timeout)
            ),
        )),
        Err(Gone::Down) => Err(lost(
            alias,
            "it went down (missed its heartbeats) while the call was in flight".into(),
        )),
        Err(Gone::Ended(reason)) => Err(lost(alias, reason.into())),
        Ok(Err(rmcp::service::ServiceError::McpError(e))) => Err(upstream(format!(
            "the worker refused the call: {}",
            e.message
        ))),
        Ok(Err(e)) => Err(lost(alias, format!("the worker connection failed: {e}"))),
        Ok(Ok(ServerResult::CallToolResult(r))) => Ok(name_cluster_in_error(alias, r)),
        Ok(Ok(_)) => Err(upstream(
            "the worker answered with a multi-round or task result, which the hub does not relay"
                .into(),
        )),
    };
    (result, seen_tag)
}

/// The key of a forwarded call's progress mapping: worker session and rmcp's token.
pub(crate) fn progress_key(session: u64, token: &ProgressToken) -> String {
    match &token.0 {
        rmcp::model::NumberOrString::Number(n) => format!("{session}:{n}"),
        rmcp::model::NumberOrString::String(s) => format!("{session}:s:{s}"),
    }
}

/// One cluster's answer to a fan-out.
pub(crate) struct ClusterAnswer {
    pub alias: String,
    pub result: Result<Value, String>,
}

async fn fan_out_one(
    hub: &Hub,
    alias: &str,
    tool: &str,
    arguments: JsonObject,
    ctx: &CallContext,
) -> Result<Value, String> {
    let deadline = hub.config.fanout_timeout;
    hub.session_of(alias).map_err(|e| e.to_string())?;
    let work = async {
        let _permit = hub
            .fanout_permits
            .acquire()
            .await
            .map_err(|_| "the hub is shutting down".to_owned())?;
        // The fan-out deadline below governs; the call's own timeout is only a backstop.
        let raw = raw_arguments(&arguments).map_err(|e| e.to_string())?;
        let bytes = direct::call(hub, alias, tool, Some(&raw), &ctx.cancel, deadline * 2)
            .await
            .map_err(|e| e.to_string())?;
        direct::result_value(&bytes).map_err(|e| format!("{tool}: {e}"))
    };
    match tokio::time::timeout(deadline, work).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no answer within the fan-out timeout ({})",
            humantime::format_duration(deadline)
        )),
    }
}

/// Calls `tool` on each cluster concurrently; every answer (or error) arrives by the fan-out timeout.
pub(crate) async fn fan_out(
    hub: &Hub,
    aliases: Vec<String>,
    tool: &str,
    arguments: JsonObject,
) -> Vec<ClusterAnswer> {
    let ctx = CallContext::plain(String::new(), Scope::Read);
    let ctx = &ctx;
    let calls = aliases.into_iter().map(|alias| {
        let arguments = arguments.clone();
        async move {
            let result = fan_out_one(hub, &alias, tool, arguments, ctx).await;
            ClusterAnswer { alias, result }
        }
    });
    futures::future::join_all(calls).await
}

/// Aliases to fan out to: one named cluster, or every registered cluster (sorted).
fn target_aliases(hub: &Hub, only: Option<&str>, tool: &str) -> Result<Vec<String>, HubError> {
    if let Some(a) = only.filter(|a| !a.is_empty()) {
        if !hub.registry.contains_key(a) {
            return Err(HubError::UnknownCluster(a.to_owned()));
        }
        return Ok(vec![a.to_owned()]);
    }
    let mut v: Vec<String> = hub
        .registry
        .iter()
        .filter(|e| e.tools.iter().any(|t| t.name == tool) || e.health != Health::Up)
        .map(|e| e.key().clone())
        .collect();
    v.sort();
    Ok(v)
}

fn num(v: &Value, path: &[&str]) -> u64 {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(next) => cur = next,
            None => return 0,
        }
    }
    cur.as_u64()
        .or_else(|| cur.as_f64().map(|f| f.max(0.0) as u64))
        .unwrap_or(0)
}

fn unanswered(answers: &[ClusterAnswer]) -> Vec<Value> {
    answers
        .iter()
        .filter_map(|a| {
            a.result
                .as_ref()
                .err()
                .map(|e| json!({"cluster": a.alias, "error": e}))
        })
        .collect()
}

fn health_of(hub: &Hub, alias: &str) -> &'static str {
    hub.registry
        .get(alias)
        .map(|e| e.health.as_str())
        .unwrap_or("unknown")
}

/// `fleet_status`: `cluster_info` from every cluster, with totals over those that answered.
pub(crate) async fn fleet_status(hub: &Hub) -> Result<Value, HubError> {
    let aliases = target_aliases(hub, None, "cluster_info")?;
    let answers = fan_out(hub, aliases, "cluster_info", JsonObject::new()).await;
    let mut clusters = Vec::new();
    let (mut nodes_total, mut nodes_online, mut vms_total, mut vms_running) = (0, 0, 0, 0);
    let (mut raised, mut used, mut total_bytes) = (0, 0, 0);
    let mut by_severity: BTreeMap<String, u64> = BTreeMap::new();
    let mut answered = 0;
    for a in &answers {
        match &a.result {
            Ok(info) => {
                answered += 1;
                nodes_total += num(info, &["nodes", "total"]);
                nodes_online += num(info, &["nodes", "online"]);
                vms_total += num(info, &["vms", "total"]);
                vms_running += num(info, &["vms", "running"]);
                raised += num(info, &["conditions", "raised"]);
                used += num(info, &["storage", "used_bytes"]);
                total_bytes += num(info, &["storage", "total_bytes"]);
                if let Some(sev) = info
                    .get("conditions")
                    .and_then(|c| c.get("by_severity"))
                    .and_then(Value::as_object)
                {
                    for (k, v) in sev {
                        *by_severity.entry(k.clone()).or_default() += v.as_u64().unwrap_or(0);
                    }
                }
                clusters.push(json!({
                    "cluster": a.alias,
                    "status": "up",
                    "name": info.get("cluster").and_then(|c| c.get("name")),
                    "version": info.get("cluster").and_then(|c| c.get("icos_version")),
                    "health": info.get("health"),
                    "nodes": info.get("nodes"),
                    "vms": info.get("vms"),
                    "conditions": info.get("conditions"),
                    "storage": info.get("storage"),
                }));
            }
            Err(e) => clusters.push(json!({
                "cluster": a.alias,
                "status": match health_of(hub, &a.alias) { "up" => "error", other => other },
                "error": e,
            })),
        }
    }
    let unanswered = unanswered(&answers);
    Ok(json!({
        "clusters": clusters,
        "totals": {
            "clusters": answers.len(),
            "answered": answered,
            "nodes": {"total": nodes_total, "online": nodes_online},
            "vms": {"total": vms_total, "running": vms_running},
            "conditions": {"raised": raised, "by_severity": by_severity},
            "storage": {"total_bytes": total_bytes, "used_bytes": used},
        },
        "complete": unanswered.is_empty(),
        "unanswered": unanswered,
    }))
}

fn vm_refs(list: &Value) -> Vec<VmRef> {
    list.get("vms")
        .and_then(Value::as_array)
        .map(|vms| {
            vms.iter()
                .filter_map(|v| {
                    Some(VmRef {
                        uuid: v.get("uuid")?.as_str()?.to_owned(),
                        name: v.get("name")?.as_str()?.to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn string_arg(args: &JsonObject, key: &str) -> Option<String> {
    args.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// `vm_search`: `vm_list` on every cluster (or one), each VM tagged with its cluster.
pub(crate) async fn vm_search(hub: &Hub, args: &JsonObject) -> Result<Value, HubError> {
    let cluster = string_arg(args, "cluster");
    let aliases = target_aliases(hub, cluster.as_deref(), "vm_list")?;
    let mut filter = JsonObject::new();
    for key in ["state", "name", "tag"] {
        if let Some(v) = string_arg(args, key) {
            filter.insert(key.into(), Value::String(v));
        }
    }
    let unfiltered = filter.is_empty();
    let answers = fan_out(hub, aliases, "vm_list", filter).await;
    let mut vms = Vec::new();
    for a in &answers {
        if let Ok(list) = &a.result {
            let refs = vm_refs(list);
            if unfiltered {
                hub.vm_index.replace(&a.alias, refs);
            } else {
                hub.vm_index.merge(&a.alias, refs);
            }
            for vm in list
                .get("vms")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let mut vm = vm.clone();
                if let Value::Object(m) = &mut vm {
                    m.insert("cluster".into(), Value::String(a.alias.clone()));
                }
                vms.push(vm);
            }
        }
    }
    if unfiltered && cluster.is_none() {
        hub.vm_index.mark_refreshed();
    }
    let unanswered = unanswered(&answers);
    Ok(json!({
        "count": vms.len(),
        "vms": vms,
        "clusters_answered": answers.len() - unanswered.len(),
        "complete": unanswered.is_empty(),
        "unanswered": unanswered,
    }))
}

/// `fleet_conditions`: `condition_list` on every cluster (or one), merged.
pub(crate) async fn fleet_conditions(hub: &Hub, args: &JsonObject) -> Result<Value, HubError> {
    let cluster = string_arg(args, "cluster");
    let aliases = target_aliases(hub, cluster.as_deref(), "condition_list")?;
    let answers = fan_out(hub, aliases, "condition_list", JsonObject::new()).await;
    let mut conditions = Vec::new();
    let mut by_severity: BTreeMap<String, u64> = BTreeMap::new();
    for a in &answers {
        if let Ok(list) = &a.result {
            for c in list
                .get("conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(sev) = c.get("severity").and_then(Value::as_str) {
                    *by_severity.entry(sev.to_owned()).or_default() += 1;
                }
                let mut c = c.clone();
                if let Value::Object(m) = &mut c {
                    m.insert("cluster".into(), Value::String(a.alias.clone()));
                }
                conditions.push(c);
            }
        }
    }
    let unanswered = unanswered(&answers);
    Ok(json!({
        "count": conditions.len(),
        "by_severity": by_severity,
        "conditions": conditions,
        "complete": unanswered.is_empty(),
        "unanswered": unanswered,
    }))
}

async fn refresh_index(hub: &Hub) {
    let _ = vm_search(hub, &JsonObject::new()).await;
}

/// Finds the cluster owning `vm` (a uuid, an exact name, or `alias/vm-name`) and the `vm`
/// value to send that cluster.
pub(crate) async fn resolve_vm(hub: &Hub, vm: &str) -> Result<(String, String), HubError> {
    if let Some((alias, name)) = vm.split_once('/')
        && hub.registry.contains_key(alias)
        && !name.is_empty()
    {
        return Ok((alias.to_owned(), name.to_owned()));
    }
    if let Some(alias) = hub.vm_index.by_uuid(vm) {
        return Ok((alias, vm.to_owned()));
    }
    let mut refreshed = false;
    if !hub.vm_index.is_fresh() {
        refresh_index(hub).await;
        refreshed = true;
    }
    loop {
        if let Some(alias) = hub.vm_index.by_uuid(vm) {
            return Ok((alias, vm.to_owned()));
        }
        let matches = hub.vm_index.by_name(vm);
        match matches.len() {
            1 => return Ok((matches[0].0.clone(), vm.to_owned())),
            0 if !refreshed => {
                refresh_index(hub).await;
                refreshed = true;
            }
            0 => {
                return Err(HubError::BadRequest(format!(
                    "VM '{vm}' was not found on any cluster that answered; give it as a uuid or `alias/vm-name`, or pass `cluster`"
                )));
            }
            _ => {
                let list: Vec<String> = matches
                    .iter()
                    .map(|(a, u)| format!("{a}/{vm} (uuid {u})"))
                    .collect();
                return Err(HubError::BadRequest(format!(
                    "VM name '{vm}' exists on several clusters: {}; give `alias/vm-name` or the uuid",
                    list.join(", ")
                )));
            }
        }
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

/// Forwards a call to a worker tool, writing the audit record first for mutating tools.
async fn forward_audited(
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
            return forward(hub, alias, tool, arguments, ctx, hub.config.call_timeout).await;
        }
        // Reads without progress take the direct lane (one plain-JSON request).
        let raw = raw_arguments(&arguments)?;
        let bytes = direct::call(
            hub,
            alias,
            tool,
            Some(&raw),
            &ctx.cancel,
            hub.config.call_timeout,
        )
        .await?;
        return serde_json::from_slice(&bytes).map_err(|e| HubError::Upstream {
            alias: alias.to_owned(),
            message: format!("the worker's result is malformed: {e}"),
        });
    }
    // Refuse at once (and without an audit record) when the cluster cannot take calls.
    hub.session_of(alias)?;
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
    };
    let mut entry = hub.store.audit_begin(entry).await?;
    let (result, seen_tag) = forward_tracked(
        hub,
        alias,
        tool,
        arguments,
        ctx,
        hub.config.call_timeout,
        true,
    )
    .await;
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
            entry.outcome = if confirm {
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
            let task = match &seen_tag {
                Some(t) => format!(
                    "HyperCore accepted it as task {t}; check it with {alias}__task_status once the cluster is back"
                ),
                None => format!(
                    "it may or may not have been carried out; check the cluster once '{alias}' is back"
                ),
            };
            entry.outcome = "unknown".into();
            entry.task_tag = seen_tag;
            let e = HubError::UpstreamLost {
                alias,
                message: format!("{message}; the action's outcome is unknown: {task}"),
            };
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
    if let Err(e) = hub.store.audit_complete(&entry) {
        tracing::warn!(error = %e, id = entry.id, "could not complete an audit record");
    }
    result
}

/// Serves any exported tool name. `Err` only for unknown tools; every other failure is a
/// tool result with `isError` so the model can read it.
pub(crate) async fn call_tool(
    hub: &Arc<Hub>,
    name: &str,
    arguments: Option<JsonObject>,
    ctx: &CallContext,
) -> Result<CallToolResult, HubError> {
    let catalog = hub.catalog();
    let Some(route) = catalog.routes.get(name) else {
        return Err(HubError::BadRequest(format!(
            "unknown tool '{name}'; list the tools to see what this hub offers"
        )));
    };
    let mut args = arguments.unwrap_or_default();
    let worker_tool = match &route.target {
        Target::Namespaced { tool, .. } | Target::Plain { tool, .. } => Some(tool.as_str()),
        Target::Fleet(_) => None,
    };
    if let Some(why) = auth::refusal(ctx.scope, name, worker_tool, route.mutating, &args) {
        audit_refusal(hub, name, &route.target, worker_tool, &args, ctx, &why).await;
        return Err(HubError::Forbidden(why));
    }
    let outcome = match &route.target {
        Target::Fleet(which) => {
            let v = match which {
                FleetTool::Status => fleet_status(hub).await,
                FleetTool::VmSearch => vm_search(hub, &args).await,
                FleetTool::Conditions => fleet_conditions(hub, &args).await,
            };
            v.map(CallToolResult::structured)
        }
        Target::Namespaced { alias, tool } => {
            forward_audited(hub, name, alias, tool, args, route.mutating, ctx).await
        }
        Target::Plain { tool, takes_vm } => {
            let cluster = match args.remove("cluster") {
                Some(Value::String(c)) if !c.is_empty() => Some(c),
                None | Some(Value::Null) => None,
                Some(_) => {
                    return Ok(error_result(
                        "argument 'cluster' must be a cluster alias string",
                    ));
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
                    forward_audited(hub, name, &alias, tool, args, route.mutating, ctx).await
                }
                Err(e) => Err(e),
            }
        }
    };
    Ok(outcome.unwrap_or_else(|e| error_result(e.to_string())))
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
) {
    let cluster = match target {
        Target::Namespaced { alias, .. } => alias.clone(),
        _ => args
            .get("cluster")
            .and_then(Value::as_str)
            .map(|c| c.chars().take(64).collect())
            .unwrap_or_default(),
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
    };
    if let Err(e) = hub.store.audit_begin(entry).await {
        tracing::warn!(error = %e, "cannot record a refused call in the audit log");
    }
}

/// Tool arguments as the raw JSON text the direct lane sends.
fn raw_arguments(arguments: &JsonObject) -> Result<Box<RawValue>, HubError> {
    serde_json::value::to_raw_value(arguments)
        .map_err(|e| HubError::BadRequest(format!("cannot encode the arguments: {e}")))
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
