//! Resolving audit records a previous hub run left `pending` (it stopped or was killed while
//! the call was in flight). A record without a HyperCore task tag becomes `unknown` at once,
//! with the reason; one with a tag waits for its cluster's worker to (re-)join, which is then
//! asked about the task with `task_status`, and the record is completed from the answer (or
//! marked `unknown` with why, also when the cluster does not come back in time).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::audit::{AuditEntry, now_rfc3339};
use crate::dispatch::result_json;
use crate::forward::forward_stateless;
use crate::hub::Hub;

/// How long a record waits for its cluster to re-join before it is marked `unknown`.
const WAIT_FOR_CLUSTER: Duration = Duration::from_secs(600);
/// Deadline of one `task_status` call.
const ASK_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the waiting records are looked at besides tool-list changes (joins).
const RETRY_EVERY: Duration = Duration::from_secs(2);

async fn finish(hub: &Hub, mut entry: AuditEntry, outcome: &str, why: String) {
    entry.outcome = outcome.to_owned();
    entry.error = (outcome != "ok").then_some(why);
    entry.completed = Some(now_rfc3339());
    if let Err(e) = hub.store().audit_complete(&entry).await {
        tracing::warn!(error = %e, id = entry.id, "could not resolve a pending audit record");
    } else {
        tracing::info!(id = entry.id, cluster = %entry.cluster, outcome, "resolved an audit record left pending by the previous run");
    }
}

/// Asks the cluster's worker about the record's task; None when the cluster is not up yet.
async fn ask(hub: &Hub, entry: &AuditEntry, tag: &str) -> Option<(&'static str, String)> {
    match hub.registry().health_of(&entry.cluster) {
        "up" => {}
        "unknown" => {
            return Some((
                "unknown",
                format!(
                    "the hub stopped while the call was in flight (HyperCore task {tag}) and cluster '{}' is no longer registered",
                    entry.cluster
                ),
            ));
        }
        _ => return None,
    }
    let args = serde_json::json!({ "task_tag": tag }).to_string();
    let raw = serde_json::value::RawValue::from_string(args).ok()?;
    let cancel = CancellationToken::new();
    let answer = forward_stateless(
        hub,
        &entry.cluster,
        "task_status",
        Some(&raw),
        &cancel,
        ASK_TIMEOUT,
    )
    .await;
    let result = answer
        .ok()
        .and_then(|bytes| serde_json::from_slice::<rmcp::model::CallToolResult>(&bytes).ok());
    let state = result
        .as_ref()
        .filter(|r| r.is_error != Some(true))
        .and_then(result_json)
        .and_then(|v| v.get("state").and_then(Value::as_str).map(str::to_owned));
    Some(match state.as_deref() {
        Some("COMPLETE") => ("ok", String::new()),
        Some("ERROR") => (
            "error",
            format!("HyperCore task {tag} ended in ERROR (asked after the hub restarted)"),
        ),
        Some(other) => (
            "unknown",
            format!(
                "the hub stopped while the call was in flight; HyperCore task {tag} was {} when the worker re-joined",
                other.chars().take(32).collect::<String>()
            ),
        ),
        None => (
            "unknown",
            format!(
                "the hub stopped while the call was in flight; the worker could not report HyperCore task {tag}"
            ),
        ),
    })
}

/// Resolves `pending` (read at start-up, before any call of this run) until every record
/// has an outcome, the wait is over, or the hub stops.
pub(crate) async fn resolve_pending(hub: Arc<Hub>, pending: Vec<AuditEntry>) {
    let mut waiting = Vec::new();
    for entry in pending {
        match entry.task_tag.clone() {
            Some(tag) => waiting.push((entry, tag)),
            None => {
                finish(
                    &hub,
                    entry,
                    "unknown",
                    "the hub stopped while the call was in flight and no HyperCore task was reported; check the cluster".into(),
                )
                .await
            }
        }
    }
    if waiting.is_empty() {
        return;
    }
    let mut changes = hub.subscribe_list_changed();
    let give_up = tokio::time::sleep(WAIT_FOR_CLUSTER);
    tokio::pin!(give_up);
    loop {
        let mut still = Vec::new();
        for (entry, tag) in waiting {
            match ask(&hub, &entry, &tag).await {
                Some((outcome, why)) => finish(&hub, entry, outcome, why).await,
                None => still.push((entry, tag)),
            }
        }
        waiting = still;
        if waiting.is_empty() {
            return;
        }
        tokio::select! {
            _ = hub.shutdown_token().cancelled() => return,
            _ = changes.recv() => {}
            _ = tokio::time::sleep(RETRY_EVERY) => {}
            _ = &mut give_up => {
                for (entry, tag) in waiting {
                    let why = format!(
                        "the hub stopped while the call was in flight (HyperCore task {tag}) and cluster '{}' did not re-join within {} s",
                        entry.cluster,
                        WAIT_FOR_CLUSTER.as_secs()
                    );
                    finish(&hub, entry, "unknown", why).await;
                }
                return;
            }
        }
    }
}
