//! `vm_search` (`vm_list` on every cluster, also feeding the VM index), paged over a
//! snapshot of the merged rows with a summary first; routing a VM action by VM; and the
//! helpers the fleet tools share.

use std::collections::BTreeMap;

use rmcp::model::JsonObject;
use serde_json::{Map, Value, json};

use crate::error::HubError;
use crate::fan_out::{FanOutAnswer, fan_out_rows, unanswered};
use crate::fleet_decl::VM_FIELDS;
use crate::fleet_page::{self, PageSpec};
use crate::hub::Hub;
use crate::mcp_logging::{self, Level};
use crate::snapshots::Listing;
use crate::vm_index::vm_refs;

/// Most clusters a summary lists by name (the biggest or worst first).
pub(crate) const SUMMARY_CLUSTERS: usize = 25;
/// Most clusters named as not answering (the count is always complete).
const UNANSWERED_SHOWN: usize = 20;

/// Aliases to fan out to: one named cluster, or every registered cluster (sorted).
pub(crate) fn target_aliases(
    hub: &Hub,
    only: Option<&str>,
    tool: &str,
) -> Result<Vec<String>, HubError> {
    if let Some(a) = only.filter(|a| !a.is_empty()) {
        if !hub.registry().contains(a) {
            return Err(HubError::UnknownCluster(a.to_owned()));
        }
        return Ok(vec![a.to_owned()]);
    }
    Ok(hub.registry().fan_out_aliases(tool))
}

/// A non-empty string argument.
pub(crate) fn string_arg(args: &JsonObject, key: &str) -> Option<String> {
    args.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// What every page of a fan-out result says about completeness: clusters answered, whether
/// all did, and those that did not (the first few named, all counted).
pub(crate) fn completeness(answers: &[FanOutAnswer]) -> Map<String, Value> {
    let mut missing = unanswered(answers);
    let missed = missing.len();
    missing.truncate(UNANSWERED_SHOWN);
    let mut out = Map::new();
    out.insert("clusters_answered".into(), json!(answers.len() - missed));
    out.insert("complete".into(), json!(missed == 0));
    if missed > UNANSWERED_SHOWN {
        out.insert("unanswered_total".into(), json!(missed));
    }
    out.insert("unanswered".into(), Value::Array(missing));
    out
}

/// `vm_search`: VMs of every cluster (or one), a page at a time, counts first.
pub(crate) async fn vm_search(hub: &Hub, args: &JsonObject) -> Result<Value, HubError> {
    let spec = PageSpec {
        tool: "vm_search",
        prefix: "vs",
        rows_key: "vms",
        narrow: "state, name, tag or cluster",
        fields: VM_FIELDS,
    };
    fleet_page::serve(hub, &spec, args, || vm_listing(hub, args)).await
}

/// Every matching VM of every cluster asked (the VM index learns them on the way).
async fn collect_vms(hub: &Hub, args: &JsonObject) -> Result<Vec<FanOutAnswer>, HubError> {
    let cluster = string_arg(args, "cluster");
    let aliases = target_aliases(hub, cluster.as_deref(), "vm_list")?;
    let mut filter = JsonObject::new();
    for key in ["state", "name", "tag"] {
        if let Some(v) = string_arg(args, key) {
            filter.insert(key.into(), Value::String(v));
        }
    }
    let unfiltered = filter.is_empty();
    let answers = fan_out_rows(hub, aliases, "vm_list", filter, "vms").await;
    for a in &answers {
        if let Ok(list) = &a.result {
            let refs = vm_refs(list);
            if unfiltered {
                hub.vm_index().replace(&a.alias, refs);
            } else {
                hub.vm_index().merge(&a.alias, refs);
            }
        }
    }
    if unfiltered && cluster.is_none() {
        hub.vm_index().mark_refreshed();
    }
    Ok(answers)
}

/// The merged VM rows sorted by `cluster/uuid`, with counts by state and by cluster.
async fn vm_listing(hub: &Hub, args: &JsonObject) -> Result<Listing, HubError> {
    let answers = collect_vms(hub, args).await?;
    let mut keyed = Vec::new();
    let mut by_state: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_cluster: Vec<(String, BTreeMap<String, u64>, u64)> = Vec::new();
    for a in &answers {
        let Ok(list) = &a.result else { continue };
        let mut states: BTreeMap<String, u64> = BTreeMap::new();
        let mut count = 0;
        for vm in list
            .get("vms")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let state = vm.get("state").and_then(Value::as_str).unwrap_or("UNKNOWN");
            *by_state.entry(state.to_owned()).or_default() += 1;
            *states.entry(state.to_owned()).or_default() += 1;
            count += 1;
            let uuid = vm.get("uuid").and_then(Value::as_str).unwrap_or("");
            let key = format!("{}/{uuid}", a.alias);
            let mut vm = vm.clone();
            if let Value::Object(m) = &mut vm {
                m.insert("cluster".into(), Value::String(a.alias.clone()));
            }
            keyed.push((key, vm));
        }
        by_cluster.push((a.alias.clone(), states, count));
    }
    keyed.sort_by(|x, y| x.0.cmp(&y.0));
    by_cluster.sort_by(|x, y| y.2.cmp(&x.2).then_with(|| x.0.cmp(&y.0)));
    let clusters_with_vms = by_cluster.iter().filter(|c| c.2 > 0).count();
    let shown: Map<String, Value> = by_cluster
        .iter()
        .filter(|c| c.2 > 0)
        .take(SUMMARY_CLUSTERS)
        .map(|(alias, states, _)| (alias.clone(), json!(states)))
        .collect();
    let mut summary = json!({
        "by_state": by_state,
        "clusters_with_vms": clusters_with_vms,
        "by_cluster": shown,
    });
    if clusters_with_vms > SUMMARY_CLUSTERS {
        summary["by_cluster_note"] = json!(format!(
            "the {SUMMARY_CLUSTERS} clusters with most VMs; pass cluster for another"
        ));
    }
    let mut head = Map::new();
    head.insert("summary".into(), summary);
    let (keys, rows) = keyed.into_iter().unzip();
    Ok(Listing {
        rows,
        keys: Some(keys),
        head,
        tail: completeness(&answers),
    })
}

/// Re-lists every cluster's VMs into the VM index (for completions on a stale index).
pub(crate) async fn refresh_vm_index(hub: &Hub) {
    let _ = collect_vms(hub, &JsonObject::new()).await;
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
                mcp_logging::log(
                    Level::Info,
                    json!({"event": "re-listing every cluster's VMs to find a VM", "vm": vm}),
                )
                .await;
                let _ = collect_vms(hub, &JsonObject::new()).await;
            },
        )
        .await
        .map_err(|e| match (&e, vm.split_once('/')) {
            // `dc9/web-01` where no cluster is named dc9: say so, not "VM not found".
            (HubError::BadRequest(m), Some((alias, name)))
                if m.contains("was not found") && !name.is_empty() =>
            {
                let known: Vec<String> = hub.clusters().into_iter().map(|c| c.alias).collect();
                HubError::BadRequest(format!(
                    "no cluster named {alias}: '{vm}' reads as `alias/vm-name`, and the clusters are {}",
                    if known.is_empty() { "none yet".to_owned() } else { known.join(", ") }
                ))
            }
            _ => e,
        })
}
