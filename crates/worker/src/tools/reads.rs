//! The read-only tools: cluster summary, nodes, VMs (list, details, stats), snapshots,
//! conditions, drives, virtual disks, ISOs, users, VM devices, task status and ping.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::{Map, Value, json};

use super::shape::{
    b, f, fill, is_uuid, looks_like_uuid, n, s, severity_rank, str_arg, tags_of, vm_row,
};
use super::{ToolResult, WorkerState};
use crate::cluster::Method;

impl WorkerState {
    /// The `cluster_info` summary (also `GET /v1/status` and `hypercore://cluster/status`).
    pub async fn cluster_info(&self) -> ToolResult {
        let (cl, nodes, vms, conds, drives) = futures::join!(
            self.cluster.get_all("Cluster"),
            self.cluster.get_all("Node"),
            self.cluster.get_all("VirDomain"),
            self.cluster.get_all("Condition"),
            self.cluster.get_all("Drive"),
        );
        let cl = cl.map_err(|e| self.cluster_err(e))?;
        let nodes = nodes.map_err(|e| self.cluster_err(e))?;
        let vms = vms.map_err(|e| self.cluster_err(e))?;
        let conds = conds.map_err(|e| self.cluster_err(e))?;
        let drives = drives.unwrap_or_default();
        let c = cl.first().unwrap_or(&Value::Null);
        let online = nodes
            .iter()
            .filter(|x| s(x, "networkStatus") == "ONLINE")
            .count();
        let running = vms.iter().filter(|x| s(x, "state") == "RUNNING").count();
        let (total_bytes, used_bytes) = if drives.is_empty() {
            (nodes.iter().map(|x| n(x, "capacity")).sum::<i64>(), 0)
        } else {
            (
                drives.iter().map(|d| n(d, "capacityBytes")).sum::<i64>(),
                drives.iter().map(|d| n(d, "usedBytes")).sum::<i64>(),
            )
        };
        let mut by_sev: std::collections::BTreeMap<String, u64> = Default::default();
        let mut raised = 0;
        let mut worst = usize::MAX;
        for x in conds.iter().filter(|x| b(x, "value")) {
            raised += 1;
            let sev = s(x, "severity");
            worst = worst.min(severity_rank(&sev));
            *by_sev.entry(sev).or_default() += 1;
        }
        let health = if online < nodes.len() || worst <= severity_rank("ERROR") {
            "critical"
        } else if worst <= severity_rank("WARNING") {
            "warning"
        } else {
            "ok"
        };
        Ok(json!({
            "cluster": {"uuid": s(c, "uuid"), "name": s(c, "clusterName"), "icos_version": s(c, "icosVersion")},
            "nodes": {"total": nodes.len(), "online": online},
            "vms": {"total": vms.len(), "running": running},
            "storage": {"total_bytes": total_bytes, "used_bytes": used_bytes},
            "conditions": {"raised": raised, "by_severity": by_sev},
            "health": health,
        }))
    }

    pub(super) async fn node_list(&self) -> ToolResult {
        let (nodes, vms) = futures::join!(
            self.cluster.get_all("Node"),
            self.cluster.get_all("VirDomain")
        );
        let nodes = nodes.map_err(|e| self.cluster_err(e))?;
        let vms = vms.map_err(|e| self.cluster_err(e))?;
        let rows: Vec<Value> = nodes
            .iter()
            .map(|x| {
                let uuid = s(x, "uuid");
                let vm_count = vms.iter().filter(|v| s(v, "nodeUUID") == uuid && s(v, "state") != "SHUTOFF").count();
                json!({
                    "uuid": uuid,
                    "peer_id": n(x, "peerID"),
                    "lan_ip": s(x, "lanIP"),
                    "backplane_ip": s(x, "backplaneIP"),
                    "network_status": s(x, "networkStatus"),
                    "online": s(x, "networkStatus") == "ONLINE",
                    "allow_running_vms": x.get("allowRunningVMs").and_then(Value::as_bool).unwrap_or(true),
                    "disposition": s(x, "currentDisposition"),
                    "cpu_usage_percent": f(x, "cpuUsage"),
                    "mem_bytes": n(x, "memSize"),
                    "mem_usage_percent": f(x, "memUsagePercentage"),
                    "capacity_bytes": n(x, "capacity"),
                    "cpu_threads": n(x, "numThreads"),
                    "running_vms": vm_count,
                })
            })
            .collect();
        Ok(json!({"count": rows.len(), "nodes": rows}))
    }

    /// The `vm_list` result (also `GET /v1/vms` and `hypercore://vms`).
    pub async fn vm_list(&self, a: &Map<String, Value>) -> ToolResult {
        let vms = self
            .cluster
            .get_all("VirDomain")
            .await
            .map_err(|e| self.cluster_err(e))?;
        let state = str_arg(a, "state").map(str::to_ascii_uppercase);
        let name = str_arg(a, "name").map(str::to_lowercase);
        let tag = str_arg(a, "tag").map(str::to_lowercase);
        let details = a.get("details").and_then(Value::as_bool).unwrap_or(false);
        let rows: Vec<Value> = vms
            .iter()
            .filter(|v| state.as_deref().is_none_or(|st| s(v, "state") == st))
            .filter(|v| {
                name.as_deref()
                    .is_none_or(|q| s(v, "name").to_lowercase().contains(q))
            })
            .filter(|v| {
                tag.as_deref()
                    .is_none_or(|t| tags_of(v).iter().any(|x| x.to_lowercase() == t))
            })
            .map(|v| vm_row(v, details))
            .collect();
        Ok(json!({"count": rows.len(), "vms": rows}))
    }

    /// Like [`WorkerState::resolve_vm`], but a VM found by name in the (possibly cached) list
    /// is read again by uuid, so actions judge its current state.
    pub(crate) async fn resolve_vm_fresh(&self, key: &str) -> Result<Value, String> {
        let vm = self.resolve_vm(key).await?;
        if is_uuid(key.trim()) {
            return Ok(vm);
        }
        let uuid = s(&vm, "uuid");
        match self
            .cluster
            .get_one("VirDomain", &uuid)
            .await
            .map_err(|e| self.cluster_err(e))?
        {
            Some(now) => Ok(now),
            None => Err(format!(
                "VM '{key}' ({uuid}) no longer exists on this cluster"
            )),
        }
    }

    /// Finds a VM by uuid or exact name; the error names the problem precisely.
    pub(crate) async fn resolve_vm(&self, key: &str) -> Result<Value, String> {
        let key = key.trim();
        if key.is_empty() {
            return Err("argument 'vm' is empty: give a VM uuid or its exact name".into());
        }
        if is_uuid(key) {
            return match self
                .cluster
                .get_one("VirDomain", key)
                .await
                .map_err(|e| self.cluster_err(e))?
            {
                Some(vm) => Ok(vm),
                None => Err(format!(
                    "no VM with uuid {key} on this cluster (see vm_list)"
                )),
            };
        }
        if looks_like_uuid(key) {
            return Err(format!(
                "'{key}' is not a valid uuid (expected 8-4-4-4-12 hex digits) and no VM is named like that"
            ));
        }
        let vms = self
            .cluster
            .get_all("VirDomain")
            .await
            .map_err(|e| self.cluster_err(e))?;
        let matches: Vec<&Value> = vms.iter().filter(|v| s(v, "name") == key).collect();
        match matches.len() {
            1 => Ok(matches[0].clone()),
            0 => {
                let lower = key.to_lowercase();
                let similar: Vec<String> = vms
                    .iter()
                    .map(|v| s(v, "name"))
                    .filter(|nm| nm.to_lowercase().contains(&lower))
                    .take(5)
                    .collect();
                Err(if similar.is_empty() {
                    format!(
                        "no VM named '{key}' on this cluster (names are exact and case-sensitive; see vm_list)"
                    )
                } else {
                    format!(
                        "no VM named exactly '{key}'; similar names: {}",
                        similar.join(", ")
                    )
                })
            }
            _ => {
                let cands: Vec<String> = matches
                    .iter()
                    .map(|v| {
                        format!(
                            "{} ({}, node {})",
                            s(v, "uuid"),
                            s(v, "state"),
                            s(v, "nodeUUID")
                        )
                    })
                    .collect();
                Err(format!(
                    "VM name '{key}' is ambiguous: {} VMs have it; pass the uuid instead. Candidates: {}",
                    matches.len(),
                    cands.join("; ")
                ))
            }
        }
    }

    pub(super) async fn vm_stats(&self, a: &Map<String, Value>) -> ToolResult {
        let vms = self
            .cluster
            .get_all("VirDomain")
            .await
            .map_err(|e| self.cluster_err(e))?;
        let names: HashMap<String, String> =
            vms.iter().map(|v| (s(v, "uuid"), s(v, "name"))).collect();
        let all = match str_arg(a, "vm") {
            Some(key) => {
                let vm = self.resolve_vm(key).await?;
                let uuid = s(&vm, "uuid");
                let one = self
                    .cluster
                    .get_one("VirDomainStats", &uuid)
                    .await
                    .map_err(|e| self.cluster_err(e))?;
                std::sync::Arc::new(one.into_iter().collect())
            }
            None => self
                .cluster
                .get_all("VirDomainStats")
                .await
                .map_err(|e| self.cluster_err(e))?,
        };
        let mut stats: Vec<&Value> = all.iter().collect();
        stats.sort_by(|x, y| f(y, "cpuUsage").total_cmp(&f(x, "cpuUsage")));
        let limit = a.get("limit").and_then(Value::as_u64).unwrap_or(50) as usize;
        let rows: Vec<Value> = stats
            .iter()
            .take(limit)
            .map(|st| {
                let uuid = s(st, "uuid");
                let disks: Vec<Value> = st
                    .get("vsdStats")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .map(|d| {
                                let r = d
                                    .get("rates")
                                    .and_then(|r| r.get(0))
                                    .cloned()
                                    .unwrap_or(Value::Null);
                                json!({
                                    "uuid": s(d, "uuid"),
                                    "read_iops": n(&r, "millireadsPerSecond") as f64 / 1000.0,
                                    "write_iops": n(&r, "milliwritesPerSecond") as f64 / 1000.0,
                                    "read_kib_per_s": n(&r, "readKibibytesPerSecond"),
                                    "write_kib_per_s": n(&r, "writeKibibytesPerSecond"),
                                    "read_latency_us": n(&r, "meanReadLatencyMicroseconds"),
                                    "write_latency_us": n(&r, "meanWriteLatencyMicroseconds"),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                json!({
                    "uuid": uuid,
                    "name": names.get(&uuid).cloned().unwrap_or_default(),
                    "cpu_usage_percent": f(st, "cpuUsage"),
                    "rx_bit_rate": n(st, "rxBitRate"),
                    "tx_bit_rate": n(st, "txBitRate"),
                    "disks": disks,
                })
            })
            .collect();
        Ok(json!({"count": rows.len(), "stats": rows}))
    }

    pub(super) async fn snapshot_list(&self, a: &Map<String, Value>) -> ToolResult {
        let vm = match str_arg(a, "vm") {
            Some(k) => Some(self.resolve_vm(k).await?),
            None => None,
        };
        let (snaps, vms) = futures::join!(
            self.cluster.get_all("VirDomainSnapshot"),
            self.cluster.get_all("VirDomain")
        );
        let snaps = snaps.map_err(|e| self.cluster_err(e))?;
        let vms = vms.map_err(|e| self.cluster_err(e))?;
        let names: HashMap<&str, &str> = vms
            .iter()
            .filter_map(|v| Some((v.get("uuid")?.as_str()?, v.get("name")?.as_str()?)))
            .collect();
        let mut snaps: Vec<&Value> = snaps.iter().collect();
        if let Some(vm) = &vm {
            let uuid = s(vm, "uuid");
            snaps.retain(|x| s(x, "domainUUID") == uuid);
        }
        snaps.sort_by(|x, y| f(y, "timestamp").total_cmp(&f(x, "timestamp")));
        let rows: Vec<Value> = snaps
            .iter()
            .map(|x| {
                let vm_uuid = s(x, "domainUUID");
                let vm_name = names
                    .get(vm_uuid.as_str())
                    .map(|x| (*x).to_owned())
                    .or_else(|| x.get("domain").map(|d| s(d, "name")))
                    .unwrap_or_default();
                json!({
                    "uuid": s(x, "uuid"),
                    "vm_uuid": vm_uuid,
                    "vm_name": vm_name,
                    "label": s(x, "label"),
                    "type": s(x, "type"),
                    "state": s(x, "state"),
                    "timestamp": n(x, "timestamp"),
                })
            })
            .collect();
        Ok(json!({"count": rows.len(), "snapshots": rows}))
    }

    /// The `condition_list` result (also `hypercore://conditions`).
    pub async fn condition_list(&self, a: &Map<String, Value>) -> ToolResult {
        let conds = self
            .cluster
            .get_all("Condition")
            .await
            .map_err(|e| self.cluster_err(e))?;
        let all = a.get("all").and_then(Value::as_bool).unwrap_or(false);
        let min = str_arg(a, "severity").map(severity_rank);
        let mut rows: Vec<Value> = conds
            .iter()
            .filter(|x| all || b(x, "value"))
            .filter(|x| min.is_none_or(|m| severity_rank(&s(x, "severity")) <= m))
            .map(|x| {
                json!({
                    "name": s(x, "name"),
                    "description": s(x, "description"),
                    "severity": s(x, "severity"),
                    "raised": b(x, "value"),
                    "is_ok": b(x, "isOK"),
                    "node_uuid": s(x, "nodeUUID"),
                    "node_lan_ip": s(x, "nodeLANIP"),
                    "last_set_ms": n(x, "lastSetTime"),
                    "tags": x.get("tags").cloned().unwrap_or_else(|| json!([])),
                })
            })
            .collect();
        rows.sort_by_key(|r| severity_rank(r["severity"].as_str().unwrap_or("")));
        Ok(json!({"count": rows.len(), "conditions": rows}))
    }

    pub(super) async fn drive_list(&self, a: &Map<String, Value>) -> ToolResult {
        let drives = self
            .cluster
            .get_all("Drive")
            .await
            .map_err(|e| self.cluster_err(e))?;
        let node = str_arg(a, "node");
        let unhealthy = a.get("unhealthy").and_then(Value::as_bool).unwrap_or(false);
        let rows: Vec<Value> = drives
            .iter()
            .filter(|d| node.is_none_or(|nd| s(d, "nodeUUID") == nd))
            .filter(|d| !unhealthy || !d.get("isHealthy").and_then(Value::as_bool).unwrap_or(true))
            .map(|d| {
                json!({
                    "uuid": s(d, "uuid"),
                    "node_uuid": s(d, "nodeUUID"),
                    "slot": n(d, "slot"),
                    "serial_number": s(d, "serialNumber"),
                    "type": s(d, "type"),
                    "capacity_bytes": n(d, "capacityBytes"),
                    "used_bytes": n(d, "usedBytes"),
                    "healthy": d.get("isHealthy").and_then(Value::as_bool).unwrap_or(true),
                    "error_count": n(d, "errorCount"),
                    "reallocated_sectors": n(d, "reallocatedSectors"),
                    "temperature": n(d, "temperature"),
                    "disposition": s(d, "currentDisposition"),
                })
            })
            .collect();
        Ok(json!({"count": rows.len(), "drives": rows}))
    }

    pub(super) async fn simple_list(
        &self,
        collection: &str,
        key: &str,
        row: fn(&Value) -> Value,
    ) -> ToolResult {
        let items = self
            .cluster
            .get_all(collection)
            .await
            .map_err(|e| self.cluster_err(e))?;
        let rows: Vec<Value> = items.iter().map(row).collect();
        Ok(json!({"count": rows.len(), key: rows}))
    }

    pub(super) async fn user_list(&self) -> ToolResult {
        let (users, roles) =
            futures::join!(self.cluster.get_all("User"), self.cluster.get_all("Role"));
        let users = users.map_err(|e| self.cluster_err(e))?;
        let roles = roles.unwrap_or_default();
        let role_names: HashMap<String, String> =
            roles.iter().map(|r| (s(r, "uuid"), s(r, "name"))).collect();
        let rows: Vec<Value> = users
            .iter()
            .map(|u| {
                let role_uuids: Vec<String> = u
                    .get("roleUUIDs")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let role_list: Vec<String> = role_uuids
                    .iter()
                    .map(|r| role_names.get(r).cloned().unwrap_or_else(|| r.clone()))
                    .collect();
                json!({
                    "uuid": s(u, "uuid"),
                    "username": s(u, "username"),
                    "full_name": s(u, "fullName"),
                    "roles": role_list,
                    "session_limit": n(u, "sessionLimit"),
                })
            })
            .collect();
        Ok(json!({"count": rows.len(), "users": rows}))
    }

    pub(super) async fn device_list(
        &self,
        a: &Map<String, Value>,
        collection: &str,
        embedded: &str,
        key: &str,
        row: fn(&Value) -> Value,
    ) -> ToolResult {
        let rows: Vec<Value> = match str_arg(a, "vm") {
            Some(k) => {
                let vm = self.resolve_vm(k).await?;
                let uuid = s(&vm, "uuid");
                vm.get(embedded)
                    .and_then(Value::as_array)
                    .map(|arr| {
                        arr.iter()
                            .map(|d| {
                                let mut r = row(d);
                                r["vm_uuid"] = json!(uuid);
                                r
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            }
            None => {
                let items = self
                    .cluster
                    .get_all(collection)
                    .await
                    .map_err(|e| self.cluster_err(e))?;
                items.iter().map(row).collect()
            }
        };
        Ok(json!({"count": rows.len(), key: rows}))
    }

    pub(super) async fn task_status(&self, tag: &str) -> ToolResult {
        let tag = tag.trim();
        if tag.contains('/') || tag.contains("..") {
            return Err(format!(
                "'{tag}' is not a task tag (expected something like \"1234\")"
            ));
        }
        match self
            .cluster
            .get_one("TaskTag", tag)
            .await
            .map_err(|e| self.cluster_err(e))?
        {
            None => Ok(
                json!({"task_tag": tag, "found": false, "state": "UNKNOWN", "message": "no such task (it may have expired from the cluster's task list)"}),
            ),
            Some(t) => Ok(json!({
                "task_tag": tag,
                "found": true,
                "state": s(&t, "state"),
                "progress_percent": n(&t, "progressPercent"),
                "description": fill(&s(&t, "formattedDescription"), t.get("descriptionParameters")),
                "message": fill(&s(&t, "formattedMessage"), t.get("messageParameters")),
                "object_uuid": s(&t, "objectUUID"),
            })),
        }
    }

    pub(super) async fn ping(&self) -> ToolResult {
        let start = Instant::now();
        match self.cluster.raw(Method::Get, "/ping", None).await {
            Ok((status, body)) if status < 300 => Ok(json!({
                "status": if body.get("status").is_some() { s(&body, "status") } else { "ok".to_owned() },
                "cluster_reachable": true,
                "latency_ms": start.elapsed().as_millis() as u64,
            })),
            Ok((status, _)) => Err(format!("the cluster answered /ping with HTTP {status}")),
            Err(e) => Err(self.cluster_err(e)),
        }
    }
}
