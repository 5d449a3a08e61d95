//! `fleet_status` (totals over every cluster's `cluster_info`, clusters worst first) and
//! `fleet_conditions` (every cluster's raised conditions, most severe first), summaries
//! first and paged over a snapshot like `vm_search`.

use std::collections::BTreeMap;

use rmcp::model::JsonObject;
use serde_json::{Map, Value, json};

use crate::error::HubError;
use crate::fan_out::{fan_out, fan_out_rows};
use crate::fleet::{SUMMARY_CLUSTERS, completeness, string_arg, target_aliases};
use crate::fleet_decl::STATUS_FIELDS;
use crate::fleet_page::{self, PageSpec};
use crate::hub::Hub;
use crate::snapshots::Listing;

/// HyperCore severities, most severe first.
const SEVERITIES: [&str; 8] = [
    "EMERGENCY",
    "ALERT",
    "CRITICAL",
    "ERROR",
    "WARNING",
    "NOTICE",
    "INFO",
    "DEBUG",
];

/// A severity's place in [`SEVERITIES`] (unknown ones last).
fn severity_rank(sev: &str) -> usize {
    SEVERITIES
        .iter()
        .position(|s| s.eq_ignore_ascii_case(sev))
        .unwrap_or(SEVERITIES.len())
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

/// A cluster row's health word: the worker's verdict when up, else why not.
fn health_word(row: &Value) -> &str {
    match row.get("status").and_then(Value::as_str) {
        Some("up") => row.get("health").and_then(Value::as_str).unwrap_or("ok"),
        Some("error") => "error",
        _ => "down",
    }
}

/// Worst first: down, error, critical, warning, ok.
fn health_rank(word: &str) -> usize {
    ["down", "error", "critical", "warning", "ok"]
        .iter()
        .position(|w| *w == word)
        .unwrap_or(5)
}

/// `fleet_status`: `cluster_info` from every cluster; totals and counts by health on every
/// page, cluster rows worst first.
pub(crate) async fn fleet_status(hub: &Hub, args: &JsonObject) -> Result<Value, HubError> {
    let spec = PageSpec {
        tool: "fleet_status",
        prefix: "fs",
        rows_key: "clusters",
        narrow: "health",
        fields: STATUS_FIELDS,
    };
    fleet_page::serve(hub, &spec, args, || status_listing(hub, args)).await
}

async fn status_listing(hub: &Hub, args: &JsonObject) -> Result<Listing, HubError> {
    let only = string_arg(args, "health");
    let aliases = target_aliases(hub, None, "cluster_info")?;
    let answers = fan_out(hub, aliases, "cluster_info", JsonObject::new()).await;
    let mut rows = Vec::new();
    let (mut nodes_total, mut nodes_online, mut vms_total, mut vms_running) = (0, 0, 0, 0);
    let (mut raised, mut used, mut total_bytes) = (0, 0, 0);
    let mut by_severity: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_health: BTreeMap<String, u64> = BTreeMap::new();
    let mut answered = 0;
    for a in &answers {
        let row = match &a.result {
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
                json!({
                    "cluster": a.alias,
                    "status": "up",
                    "name": info.get("cluster").and_then(|c| c.get("name")),
                    "version": info.get("cluster").and_then(|c| c.get("icos_version")),
                    "health": info.get("health"),
                    "nodes": info.get("nodes"),
                    "vms": info.get("vms"),
                    "conditions": info.get("conditions"),
                    "storage": info.get("storage"),
                })
            }
            Err(e) => json!({
                "cluster": a.alias,
                "status": match hub.registry().health_of(&a.alias) {
                    // The worker answers but its cluster does not.
                    "up" if e.contains("unavailable right now") || e.contains("not reachable") => "unreachable",
                    "up" => "error",
                    other => other,
                },
                "error": e,
            }),
        };
        let mut row = row;
        if hub.trust().known(&a.alias) {
            row["trust"] = hub.trust().get(&a.alias).to_json();
        }
        *by_health.entry(health_word(&row).to_owned()).or_default() += 1;
        if only.as_deref().is_none_or(|h| h == health_word(&row)) {
            rows.push(row);
        }
    }
    rows.sort_by_cached_key(|r| {
        (
            health_rank(health_word(r)),
            std::cmp::Reverse(num(r, &["conditions", "raised"])),
            r.get("cluster")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        )
    });
    let mut tail = completeness(&answers);
    tail.insert(
        "totals".into(),
        json!({
            "clusters": answers.len(),
            "answered": answered,
            "by_health": by_health,
            "nodes": {"total": nodes_total, "online": nodes_online},
            "vms": {"total": vms_total, "running": vms_running},
            "conditions": {"raised": raised, "by_severity": by_severity},
            "storage": {"total_bytes": total_bytes, "used_bytes": used},
        }),
    );
    let mode = hub.catalog().mode.clone();
    let mut head = Map::new();
    head.insert(
        "tools_mode".into(),
        json!({"active": mode.active.to_string(), "why": mode.why}),
    );
    Ok(Listing {
        rows,
        keys: None,
        head,
        tail,
    })
}

/// `fleet_conditions`: raised conditions of every cluster (or one), most severe first, with
/// counts by severity on every page and by cluster (worst first) on the first.
pub(crate) async fn fleet_conditions(hub: &Hub, args: &JsonObject) -> Result<Value, HubError> {
    let spec = PageSpec {
        tool: "fleet_conditions",
        prefix: "fc",
        rows_key: "conditions",
        narrow: "severity or cluster",
        fields: &[],
    };
    fleet_page::serve(hub, &spec, args, || conditions_listing(hub, args)).await
}

async fn conditions_listing(hub: &Hub, args: &JsonObject) -> Result<Listing, HubError> {
    let cluster = string_arg(args, "cluster");
    let least = string_arg(args, "severity").map(|s| severity_rank(&s));
    let aliases = target_aliases(hub, cluster.as_deref(), "condition_list")?;
    let answers = fan_out_rows(
        hub,
        aliases,
        "condition_list",
        JsonObject::new(),
        "conditions",
    )
    .await;
    let mut rows = Vec::new();
    let mut by_severity: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_cluster: Vec<(usize, String, BTreeMap<String, u64>)> = Vec::new();
    for a in &answers {
        let Ok(list) = &a.result else { continue };
        let mut mine: BTreeMap<String, u64> = BTreeMap::new();
        let mut worst = usize::MAX;
        for c in list
            .get("conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let sev = c.get("severity").and_then(Value::as_str).unwrap_or("");
            let rank = severity_rank(sev);
            if least.is_some_and(|l| rank > l) {
                continue;
            }
            *by_severity.entry(sev.to_owned()).or_default() += 1;
            *mine.entry(sev.to_owned()).or_default() += 1;
            worst = worst.min(rank);
            let mut c = c.clone();
            if let Value::Object(m) = &mut c {
                m.insert("cluster".into(), Value::String(a.alias.clone()));
            }
            rows.push((rank, a.alias.clone(), c));
        }
        if !mine.is_empty() {
            by_cluster.push((worst, a.alias.clone(), mine));
        }
    }
    rows.sort_by(|x, y| x.0.cmp(&y.0).then_with(|| x.1.cmp(&y.1)));
    by_cluster.sort_by(|x, y| {
        x.0.cmp(&y.0)
            .then_with(|| sum(&y.2).cmp(&sum(&x.2)))
            .then_with(|| x.1.cmp(&y.1))
    });
    let clusters_raising = by_cluster.len();
    let shown: Map<String, Value> = by_cluster
        .into_iter()
        .take(SUMMARY_CLUSTERS)
        .map(|(_, alias, counts)| (alias, json!(counts)))
        .collect();
    let mut head = Map::new();
    head.insert("by_cluster".into(), Value::Object(shown));
    head.insert("clusters_raising".into(), json!(clusters_raising));
    let mut tail = completeness(&answers);
    tail.insert("by_severity".into(), json!(by_severity));
    Ok(Listing {
        rows: rows.into_iter().map(|(_, _, c)| c).collect(),
        keys: None,
        head,
        tail,
    })
}

fn sum(counts: &BTreeMap<String, u64>) -> u64 {
    counts.values().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_worst_first() {
        assert!(severity_rank("CRITICAL") < severity_rank("warning"));
        assert_eq!(severity_rank("bogus"), SEVERITIES.len());
        let down = json!({"status": "down"});
        let ok = json!({"status": "up", "health": "ok"});
        assert!(health_rank(health_word(&down)) < health_rank(health_word(&ok)));
    }
}
