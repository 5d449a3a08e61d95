//! The ground truth: the compact summary of a [`ClusterState`] that tests and the CLI compare
//! against what the REST API serves.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::capacity::can_run_vms;
use super::cluster_state::ClusterState;

impl ClusterState {
    /// The ground truth: a compact summary tests and the CLI compare against what the REST API
    /// serves (`{archetype, seed, cluster, nodes, vms, snapshots, conditions, totals, capacity}`).
    pub fn truth(&self) -> Value {
        let total_bytes: i64 = self.nodes.iter().map(|n| n.capacity).sum();
        let used_bytes: i64 = self
            .nodes
            .iter()
            .flat_map(|n| n.drives.iter())
            .map(|d| d.used_bytes)
            .sum();
        let mut by_severity: BTreeMap<&str, usize> = BTreeMap::new();
        for c in self.conditions.iter().filter(|c| c.value) {
            *by_severity.entry(c.severity.as_str()).or_default() += 1;
        }
        let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
        for vm in &self.vms {
            *by_state.entry(vm.state.as_str()).or_default() += 1;
        }
        json!({
            "archetype": self.archetype.name(),
            "seed": self.seed,
            "cluster": {
                "uuid": self.cluster.uuid,
                "name": self.cluster.cluster_name,
                "icos_version": self.cluster.icos_version,
            },
            "nodes": self.nodes.iter().map(|n| json!({
                "uuid": n.uuid,
                "peer_id": n.peer_id,
                "lan_ip": n.lan_ip,
                "network_status": n.network_status,
                "mem_size": n.mem_size,
                "num_cpus": n.num_cpus,
                "capacity": n.capacity,
                "drives": n.drives.len(),
                "unhealthy_drives": n.drives.iter().filter(|d| !d.is_healthy).count(),
            })).collect::<Vec<_>>(),
            "vms": self.vms.iter().map(|v| json!({
                "uuid": v.uuid,
                "name": v.name,
                "state": v.state,
                "node": v.node_uuid,
                "tags": split_tags(&v.tags),
                "description": v.description,
                "operating_system": v.operating_system,
                "mem": v.mem,
                "num_vcpu": v.num_vcpu,
                "machine_type": v.machine_type,
                "replication_source": v.source_vir_domain_uuid,
                "snapshots": v.snap_uuids,
                "snapshot_schedule": v.snapshot_schedule_uuid,
                "block_devs": v.block_devs.iter().map(|d| &d.uuid).collect::<Vec<_>>(),
                "net_devs": v.net_devs.iter().map(|d| &d.uuid).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "snapshots": self.snapshots.iter().map(|s| json!({
                "uuid": s.uuid,
                "vm": s.domain_uuid,
                "label": s.label,
                "type": s.kind,
                "state": s.state,
                "timestamp": s.timestamp,
            })).collect::<Vec<_>>(),
            "conditions": self.conditions.iter().map(|c| json!({
                "name": c.name,
                "raised": c.value,
                "severity": c.severity,
                "node": c.node_uuid,
            })).collect::<Vec<_>>(),
            "totals": {
                "nodes": self.nodes.len(),
                "nodes_online": self.nodes.iter().filter(|n| n.network_status == "ONLINE").count(),
                "vms": self.vms.len(),
                "vms_by_state": by_state,
                "snapshots": self.snapshots.len(),
                "conditions_raised": self.conditions.iter().filter(|c| c.value).count(),
                "conditions_by_severity": by_severity,
                "storage": {"total_bytes": total_bytes, "used_bytes": used_bytes},
                "isos": self.isos.len(),
                "virtual_disks": self.virtual_disks.len(),
                "users": self.users.len(),
                "snapshot_schedules": self.schedules.len(),
            },
            "capacity": self.capacity_truth(),
        })
    }

    /// Capacity per node and for the cluster: CPU, memory (total, system, allocated to the
    /// VMs holding memory, free) and storage (total, used, free), all in bytes.
    fn capacity_truth(&self) -> Value {
        let mut mem_total = 0i64;
        let mut mem_allocated = 0i64;
        let mut mem_free = 0i64;
        let mut largest_free = 0i64;
        let mut cores = 0i64;
        let nodes: Vec<Value> = self
            .nodes
            .iter()
            .map(|n| {
                let m = self.node_memory(n);
                let usable = can_run_vms(n);
                if usable {
                    mem_total += m.total;
                    cores += n.num_cores;
                }
                mem_allocated += m.allocated;
                mem_free += m.free;
                largest_free = largest_free.max(m.free);
                json!({
                    "uuid": n.uuid,
                    "can_run_vms": usable,
                    "cpu_cores": n.num_cores,
                    "cpu_threads": n.num_threads,
                    "vcpus_allocated": m.vcpus,
                    "vms_holding_memory": m.vms,
                    "memory": {
                        "total_bytes": m.total,
                        "system_bytes": m.system,
                        "allocated_bytes": m.allocated,
                        "free_bytes": m.free,
                    },
                })
            })
            .collect();
        let storage = self.storage();
        json!({
            "nodes": nodes,
            "cluster": {
                "cpu_cores": cores,
                "memory": {
                    "total_bytes": mem_total,
                    "allocated_bytes": mem_allocated,
                    "free_bytes": mem_free,
                    "largest_node_free_bytes": largest_free,
                },
                "storage": {
                    "total_bytes": storage.total,
                    "used_bytes": storage.used,
                    "free_bytes": storage.free,
                },
            },
        })
    }
}

/// Splits a comma-separated tag string, dropping empty parts.
fn split_tags(tags: &str) -> Vec<&str> {
    tags.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}
