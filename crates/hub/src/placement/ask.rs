//! `placement_ask`: the worker's `capacity` with the VM's requirements on every cluster (or
//! the listed ones) at once, plus the count of VMs carrying `tag` when one is given; per
//! cluster whether the VM fits or why not, the headroom after placing it, load, raised
//! conditions and trust. Clusters that do not answer are named (and noted in their trust
//! record when they ran out of time).

use rmcp::model::JsonObject;
use serde_json::{Value, json};

use crate::error::HubError;
use crate::fan_out::{FanOutAnswer, fan_out};
use crate::fleet::{completeness, target_aliases};
use crate::hub::Hub;
use crate::trust::{Outcome, TrustRecord};

/// What a VM needs, as the placement tools take it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Requirements {
    /// vCPUs.
    pub vcpus: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Each disk's capacity in bytes (one entry when a total was given).
    pub disks: Vec<u64>,
    /// The VM's tag, if any.
    pub tag: Option<String>,
    /// Only these clusters, in this order.
    pub clusters: Option<Vec<String>>,
}

fn positive(args: &JsonObject, key: &str) -> Result<u64, HubError> {
    match args.get(key) {
        None | Some(Value::Null) => Err(HubError::BadRequest(format!(
            "argument '{key}' is required (a positive integer)"
        ))),
        Some(v) => v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
            HubError::BadRequest(format!(
                "argument '{key}' must be a positive integer, not {}",
                short(v)
            ))
        }),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

impl Requirements {
    /// Reads `vcpus`, `memory_bytes`, `disk_bytes` (a total or one entry per disk), `tag` and
    /// `clusters`, naming the argument that is wrong.
    pub(crate) fn from_args(args: &JsonObject) -> Result<Self, HubError> {
        let vcpus = positive(args, "vcpus")?;
        if vcpus > 512 {
            return Err(HubError::BadRequest(format!(
                "argument 'vcpus' must be at most 512, not {vcpus}"
            )));
        }
        let memory_bytes = positive(args, "memory_bytes")?;
        let disks = match args.get("disk_bytes") {
            None | Some(Value::Null) => {
                return Err(HubError::BadRequest(
                    "argument 'disk_bytes' is required: a total in bytes, or one entry per disk"
                        .into(),
                ));
            }
            Some(Value::Array(a)) => a
                .iter()
                .map(|d| d.as_u64().filter(|n| *n > 0))
                .collect::<Option<Vec<u64>>>()
                .ok_or_else(|| {
                    HubError::BadRequest(
                        "argument 'disk_bytes' must hold positive integers (bytes per disk)".into(),
                    )
                })?,
            Some(v) => match v.as_u64() {
                Some(0) => Vec::new(),
                Some(n) => vec![n],
                None => {
                    return Err(HubError::BadRequest(format!(
                        "argument 'disk_bytes' must be bytes (an integer) or a list of them, not {}",
                        short(v)
                    )));
                }
            },
        };
        let tag = match args.get("tag") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) if !t.trim().is_empty() => Some(t.trim().to_owned()),
            Some(v) => {
                return Err(HubError::BadRequest(format!(
                    "argument 'tag' must be a non-empty string, not {}",
                    short(v)
                )));
            }
        };
        let clusters = match args.get("clusters") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => {
                let names = a
                    .iter()
                    .map(|c| c.as_str().map(str::to_owned))
                    .collect::<Option<Vec<String>>>()
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| {
                        HubError::BadRequest(
                            "argument 'clusters' must be a non-empty list of cluster aliases"
                                .into(),
                        )
                    })?;
                Some(names)
            }
            Some(v) => {
                return Err(HubError::BadRequest(format!(
                    "argument 'clusters' must be a list of cluster aliases, not {}",
                    short(v)
                )));
            }
        };
        Ok(Requirements {
            vcpus,
            memory_bytes,
            disks,
            tag,
            clusters,
        })
    }

    /// Total disk bytes.
    pub(crate) fn disk_total(&self) -> u64 {
        self.disks.iter().sum()
    }

    /// The request as placement answers echo it.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "vcpus": self.vcpus,
            "memory_bytes": self.memory_bytes,
            "disk_bytes": self.disk_total(),
            "tag": self.tag,
        })
    }
}

/// One cluster's answer to a placement question.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidate {
    /// The cluster alias.
    pub alias: String,
    /// Whether the VM fits.
    pub fits: bool,
    /// Why it does not.
    pub reasons: Vec<String>,
    /// Free memory left on the best node after placing the VM (negative: short by that).
    pub memory_free_after: i128,
    /// The node with the most free memory.
    pub best_node: Option<String>,
    /// Free storage left after the VM's disks (negative: short by that).
    pub storage_free_after: i128,
    /// Memory allocated to running VMs over the memory of nodes that can run VMs (0..1+).
    pub load: f64,
    /// VMs on the cluster.
    pub vms: u64,
    /// VMs carrying the request's tag (when one was given and the cluster answered).
    pub tagged: Option<u64>,
    /// The raised conditions the worker reported.
    pub conditions: Vec<Value>,
    /// The cluster's trust record.
    pub trust: TrustRecord,
}

fn int(v: &Value, path: &[&str]) -> u64 {
    path.iter()
        .try_fold(v, |cur, p| cur.get(p))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

impl Candidate {
    /// Reads one worker's `capacity` answer for `req`.
    pub(crate) fn from_capacity(
        alias: &str,
        cap: &Value,
        req: &Requirements,
        trust: TrustRecord,
    ) -> Self {
        let usable: Vec<&Value> = cap
            .get("nodes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|n| n.get("can_run_vms").and_then(Value::as_bool) == Some(true))
            .collect();
        let best = usable
            .iter()
            .max_by_key(|n| int(n, &["memory", "free_bytes"]))
            .copied();
        let best_free = best.map_or(0, |n| int(n, &["memory", "free_bytes"]));
        let most_threads = usable
            .iter()
            .map(|n| int(n, &["cpu_threads"]))
            .max()
            .unwrap_or(0);
        let storage_free = int(cap, &["cluster", "storage", "free_bytes"]);
        let mut reasons: Vec<String> = cap
            .get("reasons")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect();
        let mut fits = cap.get("fits").and_then(Value::as_bool).unwrap_or(false);
        if usable.is_empty() && reasons.is_empty() {
            reasons.push("no node can run VMs (all offline or in maintenance)".into());
            fits = false;
        }
        if req.vcpus > most_threads && !usable.is_empty() {
            reasons.push(format!(
                "no node has {} CPU threads (at most {most_threads} on one node)",
                req.vcpus
            ));
            fits = false;
        }
        let total = int(cap, &["cluster", "memory", "total_bytes"]);
        let allocated = int(cap, &["cluster", "memory", "allocated_bytes"]);
        Candidate {
            alias: alias.to_owned(),
            fits,
            reasons,
            memory_free_after: i128::from(best_free) - i128::from(req.memory_bytes),
            best_node: best
                .and_then(|n| n.get("uuid").and_then(Value::as_str))
                .map(str::to_owned),
            storage_free_after: i128::from(storage_free) - i128::from(req.disk_total()),
            load: load_of(allocated, total),
            vms: int(cap, &["vms", "total"]),
            tagged: None,
            conditions: cap
                .get("conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            trust,
        }
    }

    /// The row placement answers show for this cluster.
    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({
            "cluster": self.alias,
            "fits": self.fits,
            "headroom": {
                "memory_free_after_bytes": self.memory_free_after,
                "best_node": self.best_node,
                "storage_free_after_bytes": self.storage_free_after,
            },
            "load": {"memory_allocated_ratio": self.load, "vms": self.vms},
            "conditions": {"raised": self.conditions.len(), "list": self.conditions.iter().take(5).collect::<Vec<_>>()},
            "trust": self.trust.to_json(),
        });
        if !self.reasons.is_empty() {
            v["why_not"] = json!(self.reasons);
        }
        if let Some(t) = self.tagged {
            v["load"]["vms_with_tag"] = json!(t);
        }
        v
    }
}

/// Allocated over total memory, rounded to 4 places (0 for a cluster without memory).
pub(crate) fn load_of(allocated: u64, total: u64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    (allocated as f64 / total as f64 * 10_000.0).round() / 10_000.0
}

/// Every asked cluster's answer (in the order asked) and the fan-out answers (for the
/// clusters that did not answer).
pub(crate) async fn ask(
    hub: &Hub,
    req: &Requirements,
) -> Result<(Vec<Candidate>, Vec<FanOutAnswer>), HubError> {
    let aliases = match &req.clusters {
        Some(list) => {
            for a in list {
                target_aliases(hub, Some(a), "capacity")?;
            }
            list.clone()
        }
        None => target_aliases(hub, None, "capacity")?,
    };
    let mut args = JsonObject::new();
    args.insert(
        "requirements".into(),
        json!({"vcpus": req.vcpus, "memory_bytes": req.memory_bytes, "disk_bytes": req.disk_total()}),
    );
    let capacity = fan_out(hub, aliases.clone(), "capacity", args);
    let tagged = async {
        match &req.tag {
            Some(tag) => {
                let mut filter = JsonObject::new();
                filter.insert("tag".into(), json!(tag));
                filter.insert("limit".into(), json!(1));
                Some(fan_out(hub, aliases.clone(), "vm_list", filter).await)
            }
            None => None,
        }
    };
    let (answers, tagged) = tokio::join!(capacity, tagged);
    let mut out = Vec::new();
    for a in &answers {
        match &a.result {
            Ok(cap) => {
                let mut c = Candidate::from_capacity(&a.alias, cap, req, hub.trust().get(&a.alias));
                c.tagged = tagged.as_ref().and_then(|t| {
                    t.iter()
                        .find(|x| x.alias == a.alias)
                        .and_then(|x| x.result.as_ref().ok())
                        .and_then(|v| v.get("total").and_then(Value::as_u64))
                });
                out.push(c);
            }
            Err(e) if e.starts_with("no answer within") => {
                hub.trust().note(hub.store(), &a.alias, Outcome::Unanswered);
            }
            Err(_) => {}
        }
    }
    Ok((out, answers))
}

/// `placement_ask`.
pub(crate) async fn placement_ask(hub: &Hub, args: &JsonObject) -> Result<Value, HubError> {
    let req = Requirements::from_args(args)?;
    let (candidates, answers) = ask(hub, &req).await?;
    let fits: Vec<&str> = candidates
        .iter()
        .filter(|c| c.fits)
        .map(|c| c.alias.as_str())
        .collect();
    let mut out = json!({
        "request": req.to_json(),
        "fits": fits,
        "clusters": candidates.iter().map(Candidate::to_json).collect::<Vec<_>>(),
    });
    for (k, v) in completeness(&answers) {
        out[k] = v;
    }
    if fits.is_empty() {
        out["note"] = json!("the VM fits on no cluster that answered: see why_not of each");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> JsonObject {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn bad_arguments_are_named() {
        let e = Requirements::from_args(&args(json!({"memory_bytes": 1, "disk_bytes": 1})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("'vcpus' is required"), "{e}");
        let e = Requirements::from_args(&args(
            json!({"vcpus": 2, "memory_bytes": "16GiB", "disk_bytes": 1}),
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("'memory_bytes'") && e.contains("16GiB"), "{e}");
        let e = Requirements::from_args(&args(
            json!({"vcpus": 2, "memory_bytes": 1, "disk_bytes": [1, -3]}),
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("'disk_bytes'"), "{e}");
        let r = Requirements::from_args(&args(
            json!({"vcpus": 2, "memory_bytes": 1, "disk_bytes": [1, 2], "tag": " web "}),
        ))
        .unwrap();
        assert_eq!((r.disk_total(), r.tag.as_deref()), (3, Some("web")));
    }

    #[test]
    fn a_capacity_answer_becomes_a_candidate() {
        let cap = json!({
            "nodes": [
                {"uuid": "n1", "can_run_vms": true, "cpu_threads": 8, "memory": {"free_bytes": 100}},
                {"uuid": "n2", "can_run_vms": true, "cpu_threads": 16, "memory": {"free_bytes": 300}},
                {"uuid": "n3", "can_run_vms": false, "cpu_threads": 64, "memory": {"free_bytes": 0}}
            ],
            "cluster": {"memory": {"total_bytes": 1000, "allocated_bytes": 250}, "storage": {"free_bytes": 50}},
            "vms": {"total": 4},
            "conditions": [],
            "fits": true,
            "reasons": []
        });
        let req = Requirements::from_args(&args(
            json!({"vcpus": 32, "memory_bytes": 200, "disk_bytes": 80}),
        ))
        .unwrap();
        let c = Candidate::from_capacity("a", &cap, &req, TrustRecord::default());
        assert_eq!(c.memory_free_after, 100);
        assert_eq!(c.best_node.as_deref(), Some("n2"));
        assert_eq!(c.storage_free_after, -30);
        assert_eq!(c.load, 0.25);
        assert!(!c.fits, "no node has 32 threads");
        assert!(c.reasons[0].contains("32 CPU threads"), "{:?}", c.reasons);
    }
}
