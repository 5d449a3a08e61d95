//! Capacity figures of a [`ClusterState`]: memory per node (total, system, allocated to the
//! VMs that hold memory there, free) and storage for the cluster (drive bytes total, used,
//! free), plus the bookkeeping that keeps `Node` and `Drive` figures in step with the VMs.
//! Pure functions of the data set: generation never calls them, so it is unchanged.

use crate::model::{Node, VirDomain};

use super::cluster_state::ClusterState;

/// VM states in which a guest holds its memory on its node (running, paused, blocked, or
/// in the middle of an ACPI shutdown).
pub const MEMORY_HOLDING_STATES: &[&str] = &["RUNNING", "PAUSED", "BLOCKED", "SHUTDOWN"];

/// Whether `vm` holds its memory on its node.
pub fn holds_memory(vm: &VirDomain) -> bool {
    MEMORY_HOLDING_STATES.contains(&vm.state.as_str())
}

/// Whether `node` may run VMs (online and not in maintenance).
pub fn can_run_vms(node: &Node) -> bool {
    node.network_status == "ONLINE" && node.allow_running_vms
}

/// Memory figures of one node, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeMemory {
    /// `Node.memSize`.
    pub total: i64,
    /// `Node.systemMemUsageBytes` (HyperCore's own share).
    pub system: i64,
    /// Sum of `mem` of the VMs holding memory on the node.
    pub allocated: i64,
    /// What a further VM may use: total - system - allocated, never below 0; 0 when the node
    /// cannot run VMs.
    pub free: i64,
    /// VMs holding memory on the node.
    pub vms: usize,
    /// Sum of `numVCPU` of those VMs.
    pub vcpus: i64,
}

/// Storage figures of the cluster (all drives), in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageFigures {
    /// Sum of `Drive.capacityBytes`.
    pub total: i64,
    /// Sum of `Drive.usedBytes`.
    pub used: i64,
    /// total - used, never below 0.
    pub free: i64,
}

impl ClusterState {
    /// Memory figures of `node`.
    pub fn node_memory(&self, node: &Node) -> NodeMemory {
        let holding = self
            .vms
            .iter()
            .filter(|v| v.node_uuid == node.uuid && holds_memory(v));
        let (allocated, vms, vcpus) = holding.fold((0i64, 0usize, 0i64), |(m, n, c), v| {
            (m + v.mem, n + 1, c + v.num_vcpu)
        });
        let free = if can_run_vms(node) {
            (node.mem_size - node.system_mem_usage_bytes - allocated).max(0)
        } else {
            0
        };
        NodeMemory {
            total: node.mem_size,
            system: node.system_mem_usage_bytes,
            allocated,
            free,
            vms,
            vcpus,
        }
    }

    /// Storage figures of the whole cluster.
    pub fn storage(&self) -> StorageFigures {
        let drives = self.nodes.iter().flat_map(|n| n.drives.iter());
        let (total, used) = drives.fold((0i64, 0i64), |(t, u), d| {
            (t + d.capacity_bytes, u + d.used_bytes)
        });
        StorageFigures {
            total,
            used,
            free: (total - used).max(0),
        }
    }

    /// Recomputes `totalMemUsageBytes` and `memUsagePercentage` of every online node from the
    /// VMs holding memory there (as generation does, capped at the node's memory).
    pub fn refresh_node_memory(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].network_status != "ONLINE" {
                continue;
            }
            let allocated = self.node_memory(&self.nodes[i]).allocated;
            let node = &mut self.nodes[i];
            node.total_mem_usage_bytes =
                (node.system_mem_usage_bytes + allocated).min(node.mem_size);
            node.mem_usage_percentage = if node.mem_size > 0 {
                ((node.total_mem_usage_bytes as f64 / node.mem_size as f64) * 10_000.0).round()
                    / 100.0
            } else {
                0.0
            };
        }
    }

    /// Adds `bytes` (negative frees) to the drives' `usedBytes`, filling drives in node and
    /// slot order and freeing in reverse order; never beyond a drive's capacity or below 0.
    /// Returns the bytes that did not fit (or could not be freed).
    pub fn charge_storage(&mut self, bytes: i64) -> i64 {
        let mut left = bytes;
        let mut drives: Vec<_> = self
            .nodes
            .iter_mut()
            .flat_map(|n| n.drives.iter_mut())
            .collect();
        if bytes < 0 {
            drives.reverse();
        }
        for d in drives {
            if left == 0 {
                break;
            }
            let step = if left > 0 {
                left.min(d.capacity_bytes - d.used_bytes).max(0)
            } else {
                left.max(-d.used_bytes).min(0)
            };
            d.used_bytes += step;
            if let Some(fs) = d.disks.values_mut().next() {
                fs.used_bytes = (fs.used_bytes + step).clamp(0, fs.capacity_bytes);
            }
            left -= step;
        }
        left
    }
}
