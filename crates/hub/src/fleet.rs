//! The hub's own fleet tools, answered by fanning out to every cluster (or one):
//! `fleet_status` (totals over `cluster_info`), `vm_search` (`vm_list`, also feeding the VM
//! index) and `fleet_conditions` (`condition_list`); and routing a VM action by VM.

use std::collections::BTreeMap;

use rmcp::model::JsonObject;
use serde_json::{Value, json};

use crate::error::HubError;
use crate::fan_out::{fan_out, unanswered};
use crate::hub::Hub;
use crate::vm_index::vm_refs;

/// Aliases to fan out to: one named cluster, or every registered cluster (sorted).
fn target_aliases(hub: &Hub, only: Option<&str>, tool: &str) -> Result<Vec<String>, HubError> {
    if let Some(a) = only.filter(|a| !a.is_empty()) {
        if !hub.registry().contains(a) {
            return Err(HubError::UnknownCluster(a.to_owned()));
        }
        return Ok(vec![a.to_owned()]);
    }
    Ok(hub.registry().fan_out_aliases(tool))
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
                "status": match hub.registry().health_of(&a.alias) { "up" => "error", other => other },
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
                hub.vm_index().replace(&a.alias, refs);
            } else {
                hub.vm_index().merge(&a.alias, refs);
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
        hub.vm_index().mark_refreshed();
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

/// Finds the cluster owning `vm` (a uuid, an exact name, or `alias/vm-name`) and the `vm`
/// value to send that cluster, re-listing every cluster's VMs when the index is stale or
/// does not know it.
pub(crate) async fn resolve_vm(hub: &Hub, vm: &str) -> Result<(String, String), HubError> {
    hub.vm_index()
        .resolve(
            vm,
            |alias| hub.registry().contains(alias),
            || async {
                let _ = vm_search(hub, &JsonObject::new()).await;
            },
        )
        .await
}
