//! Capacity as the live cluster enforces it: free memory per node and free storage, less what
//! pending tasks have reserved, and the node a VM starts on (HyperCore's placement: the node
//! asked for, else the VM's own node, its affinity nodes, then the node with the most room;
//! a generated VM whose node generation overcommitted may fall back to that node).

use super::tasks::{Reservation, SimState};
use crate::generate::can_run_vms;
use crate::model::VirDomain;

impl SimState {
    /// Bytes of memory a further VM may use on `node` (0 for an unknown node or one that cannot
    /// run VMs), after what pending tasks and `extra` have reserved there.
    pub(super) fn node_free_memory(&self, node: &str, extra: &Reservation) -> i64 {
        let Some(n) = self.cluster.nodes.iter().find(|n| n.uuid == node) else {
            return 0;
        };
        let reserved: i64 = self
            .reservations
            .values()
            .chain(std::iter::once(extra))
            .flat_map(|r| r.memory.iter())
            .filter(|(id, _)| id == node)
            .map(|(_, bytes)| bytes)
            .sum();
        (self.cluster.node_memory(n).free - reserved).max(0)
    }

    /// Bytes of storage further disks may use, after what pending tasks have reserved.
    pub(super) fn storage_free(&self) -> i64 {
        let reserved: i64 = self.reservations.values().map(|r| r.storage).sum();
        (self.cluster.storage().free - reserved).max(0)
    }

    /// The node `vm` starts on: `requested` if given (and it has room), else the first of the
    /// VM's own node, its preferred and backup nodes, then every other node by most free
    /// memory, that can run VMs and has room; failing that, a generated VM's own node if
    /// generation overcommitted it. `Err` says why none fits.
    pub(super) fn place_vm(
        &self,
        vm: &VirDomain,
        requested: Option<&str>,
        extra: &Reservation,
    ) -> Result<String, String> {
        if let Some(node) = requested {
            let free = self.node_free_memory(node, extra);
            return if vm.mem <= free {
                Ok(node.to_owned())
            } else {
                Err(format!(
                    "not enough free memory on node {} (needs {} bytes, {} bytes free)",
                    self.node_label(node),
                    vm.mem,
                    free
                ))
            };
        }
        let usable: Vec<&str> = self
            .cluster
            .nodes
            .iter()
            .filter(|n| can_run_vms(n))
            .map(|n| n.uuid.as_str())
            .collect();
        let mut others: Vec<(&str, i64)> = usable
            .iter()
            .map(|n| (*n, self.node_free_memory(n, extra)))
            .collect();
        // Most free first; ties keep node order (the sort is stable).
        others.sort_by_key(|(_, free)| std::cmp::Reverse(*free));
        let preferred = [
            vm.node_uuid.as_str(),
            vm.affinity_strategy.preferred_node_uuid.as_str(),
            vm.affinity_strategy.backup_node_uuid.as_str(),
        ];
        let candidates = preferred
            .iter()
            .filter(|n| usable.contains(n))
            .copied()
            .chain(others.iter().map(|(n, _)| *n));
        for node in candidates {
            if vm.mem <= self.node_free_memory(node, extra) {
                return Ok(node.to_owned());
            }
        }
        // Generation ignored memory and left some nodes overcommitted; a VM it placed on such a
        // node may still start there, or many generated datacenters could start nothing.
        if let Some(home) = self.grandfathered.get(&vm.uuid)
            && usable.contains(&home.as_str())
        {
            return Ok(home.clone());
        }
        let largest = others.first().map_or(0, |(_, free)| *free);
        Err(format!(
            "not enough free memory on any node (needs {} bytes, at most {} bytes free on one node)",
            vm.mem, largest
        ))
    }

    /// How a node is named in messages: its LAN address (its uuid when unknown).
    pub(super) fn node_label(&self, node: &str) -> String {
        self.cluster
            .nodes
            .iter()
            .find(|n| n.uuid == node)
            .map_or_else(|| node.to_owned(), |n| n.lan_ip.clone())
    }

    /// `Err` with the reason when `bytes` more storage does not fit.
    pub(super) fn check_storage(&self, bytes: i64) -> Result<(), String> {
        let free = self.storage_free();
        if bytes <= free {
            Ok(())
        } else {
            Err(format!(
                "not enough free storage (needs {bytes} bytes, {free} bytes free)"
            ))
        }
    }
}
