//! Seeded generation of a whole cluster (nodes, drives, VMs, devices, snapshots, stats,
//! conditions, users, ISOs, virtual disks) and its ground-truth summary. Everything comes
//! from one ChaCha8 stream, so the same archetype and seed always give the same JSON.
//!
//! Layers, bottom up: `names` (tables) and `draw` (the stream and its helpers) and
//! `cluster_state` (the data set); `capacity` (memory and storage figures of a data set);
//! `infra`, `vms`, `snapshots`, `health` and `accounts` each
//! draw one part; `truth` summarizes a data set; this module runs the parts in a fixed order.

mod accounts;
mod capacity;
mod cluster_state;
mod draw;
mod health;
mod infra;
mod names;
mod snapshots;
mod truth;
mod vms;

use std::collections::BTreeMap;

use rand::Rng;

pub use capacity::{MEMORY_HOLDING_STATES, NodeMemory, StorageFigures, can_run_vms};
pub use cluster_state::{ClusterState, SETTINGS_COLLECTIONS};
use draw::{Generator, chance};
pub(crate) use draw::{mac_from, uuid_from};

use crate::archetype::Archetype;
use crate::model::*;

/// Generates the cluster for `archetype` and `seed` with the archetype's own VM count.
pub fn generate(archetype: Archetype, seed: u64) -> ClusterState {
    generate_with_vm_count(archetype, seed, None)
}

/// Generates the cluster for `archetype` and `seed`, with exactly `vm_count` VMs when given.
pub fn generate_with_vm_count(
    archetype: Archetype,
    seed: u64,
    vm_count: Option<usize>,
) -> ClusterState {
    Generator::new(archetype, seed).run(vm_count)
}

impl Generator {
    /// Draws the whole cluster; the order of the calls below is the order of the stream.
    fn run(mut self, vm_count: Option<usize>) -> ClusterState {
        let (node_range, vm_range) = match self.archetype {
            Archetype::Edge => (1..=3, 3..=15),
            Archetype::Datacenter => (3..=8, 40..=300),
            Archetype::Dr => (2..=4, 10..=60),
            Archetype::Lab => (1..=4, 8..=40),
        };
        let node_count: usize = self.rng.random_range(node_range);
        let vm_count = vm_count.unwrap_or_else(|| self.rng.random_range(vm_range));

        let cluster = self.cluster();
        let mut nodes: Vec<Node> = (0..node_count).map(|i| self.node(i)).collect();
        // A larger datacenter sometimes has one node down.
        if self.archetype == Archetype::Datacenter && node_count > 3 && chance(&mut self.rng, 0.15)
        {
            let n = nodes.len() - 1;
            let node = &mut nodes[n];
            node.network_status = "OFFLINE".into();
            node.virtualization_online = false;
            node.cpu_usage = 0.0;
        }
        let isos = self.isos();
        let virtual_disks = self.virtual_disks(node_count);
        let online: Vec<usize> = (0..nodes.len())
            .filter(|&i| nodes[i].network_status == "ONLINE")
            .collect();

        let mut vms = Vec::with_capacity(vm_count);
        let mut stats = Vec::with_capacity(vm_count);
        let mut snapshots = Vec::new();
        let mut name_counts: BTreeMap<&'static str, usize> = BTreeMap::new();
        for _ in 0..vm_count {
            let vm = self.vm(&nodes, &online, &isos, &mut name_counts);
            stats.push(self.stats(&vm));
            self.snapshots_for(vm, &mut vms, &mut snapshots);
        }
        // Node usage reflects the VMs running there.
        for node in &mut nodes {
            let vm_mem: i64 = vms
                .iter()
                .filter(|v| v.node_uuid == node.uuid && v.state == "RUNNING")
                .map(|v| v.mem)
                .sum();
            if node.network_status == "ONLINE" {
                let system = node.system_mem_usage_bytes;
                node.total_mem_usage_bytes = (system + vm_mem).min(node.mem_size);
                node.mem_usage_percentage =
                    ((node.total_mem_usage_bytes as f64 / node.mem_size as f64) * 10_000.0).round()
                        / 100.0;
            }
        }
        let conditions = self.conditions(&nodes);
        let roles = self.roles();
        let users = self.users(&roles);
        // Drawn last so adding schedules left every earlier value of a seed unchanged.
        let schedules = self.schedules();
        self.assign_schedules(&mut vms, &schedules);
        let settings = self.settings(&nodes);
        ClusterState {
            archetype: self.archetype,
            seed: self.seed,
            cluster,
            nodes,
            vms,
            stats,
            snapshots,
            conditions,
            isos,
            virtual_disks,
            users,
            roles,
            schedules,
            settings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use draw::MIB;

    #[test]
    fn archetype_ranges_hold() {
        for seed in 0..20 {
            let edge = generate(Archetype::Edge, seed);
            assert!((1..=3).contains(&edge.nodes.len()));
            assert!((3..=15).contains(&edge.vms.len()));
            let dc = generate(Archetype::Datacenter, seed);
            assert!((3..=8).contains(&dc.nodes.len()));
            assert!((40..=300).contains(&dc.vms.len()));
            let dr = generate(Archetype::Dr, seed);
            assert!((2..=4).contains(&dr.nodes.len()));
            let targets = dr
                .vms
                .iter()
                .filter(|v| !v.source_vir_domain_uuid.is_empty())
                .count();
            assert!(
                targets * 2 > dr.vms.len(),
                "dr is mostly replication targets"
            );
        }
    }

    #[test]
    fn devices_and_snapshots_are_consistent() {
        let c = generate(Archetype::Lab, 3);
        let mut names = std::collections::BTreeSet::new();
        for vm in &c.vms {
            assert!(names.insert(vm.name.clone()), "duplicate name {}", vm.name);
            assert_eq!(vm.mem % MIB, 0);
            for b in &vm.boot_devices {
                assert!(
                    vm.block_devs.iter().any(|d| &d.uuid == b)
                        || vm.net_devs.iter().any(|d| &d.uuid == b)
                );
            }
            for s in &vm.snap_uuids {
                let snap = c.snapshots.iter().find(|x| &x.uuid == s).unwrap();
                assert_eq!(snap.domain_uuid, vm.uuid);
            }
        }
        assert_eq!(
            c.snapshots.len(),
            c.vms.iter().map(|v| v.snap_uuids.len()).sum::<usize>()
        );
    }

    #[test]
    fn nodes_share_one_lan_subnet() {
        let c = generate(Archetype::Datacenter, 5);
        let prefix = |ip: &str| ip.rsplit_once('.').map(|(p, _)| p.to_owned());
        let first = prefix(&c.nodes[0].lan_ip);
        assert!(c.nodes.iter().all(|n| prefix(&n.lan_ip) == first));
    }

    #[test]
    fn vm_count_override() {
        let c = generate_with_vm_count(Archetype::Edge, 1, Some(50));
        assert_eq!(c.vms.len(), 50);
        assert_eq!(c.stats.len(), 50);
    }
}
