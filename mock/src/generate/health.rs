//! Health: the conditions a cluster raises or clears (node offline, drive health, CPU
//! temperature, storage capacity, time source, replication lag).

use rand::Rng;

use super::draw::{EPOCH, Generator, chance};
use crate::archetype::Archetype;
use crate::model::*;

impl Generator {
    /// Every condition of the cluster, per node first, then cluster-wide.
    pub(super) fn conditions(&mut self, nodes: &[Node]) -> Vec<Condition> {
        let mut out = Vec::new();
        let base_ms = EPOCH * 1000 + 300 * 86_400_000;
        for node in nodes {
            let offline = node.network_status != "ONLINE";
            out.push(self.condition(
                &format!("NodeOffline.node{}", node.peer_id),
                &format!("Node {} ({}) is offline", node.peer_id, node.lan_ip),
                offline,
                "CRITICAL",
                Some(node),
                &["node", "network"],
                base_ms,
            ));
            for drive in &node.drives {
                if !drive.is_healthy || drive.reallocated_sectors > 0 {
                    let sev = if drive.is_healthy { "WARNING" } else { "ERROR" };
                    out.push(self.condition(
                        &format!("DriveHealth.node{}.slot{}", node.peer_id, drive.slot),
                        &format!(
                            "Drive {} in slot {} of node {} reports {} reallocated sectors",
                            drive.serial_number,
                            drive.slot,
                            node.peer_id,
                            drive.reallocated_sectors
                        ),
                        true,
                        sev,
                        Some(node),
                        &["drive", "storage"],
                        base_ms,
                    ));
                }
            }
            let hot = chance(&mut self.rng, 0.05);
            out.push(self.condition(
                &format!("CPUTemperature.node{}", node.peer_id),
                &format!("CPU temperature high on node {}", node.peer_id),
                hot,
                "WARNING",
                Some(node),
                &["node", "hardware"],
                base_ms,
            ));
        }
        let total: i64 = nodes.iter().map(|n| n.capacity).sum();
        let used: i64 = nodes
            .iter()
            .flat_map(|n| n.drives.iter())
            .map(|d| d.used_bytes)
            .sum();
        let over = total > 0 && used * 100 / total >= 70;
        out.push(self.condition(
            "ClusterStorageCapacity",
            "Cluster storage usage is above 70%",
            over,
            "WARNING",
            None,
            &["cluster", "storage"],
            base_ms,
        ));
        let ntp = chance(&mut self.rng, 0.1);
        out.push(self.condition(
            "TimeSourceUnreachable",
            "The configured NTP time source is unreachable",
            ntp,
            "NOTICE",
            None,
            &["cluster", "time"],
            base_ms,
        ));
        if self.archetype == Archetype::Dr {
            let lag = chance(&mut self.rng, 0.4);
            out.push(self.condition(
                "ReplicationLag",
                "Incoming replication is more than 24 hours behind",
                lag,
                "ERROR",
                None,
                &["cluster", "replication"],
                base_ms,
            ));
        }
        out
    }

    /// One condition record, set or cleared at a seeded time after `base_ms`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn condition(
        &mut self,
        name: &str,
        description: &str,
        raised: bool,
        severity: &str,
        node: Option<&Node>,
        tags: &[&str],
        base_ms: i64,
    ) -> Condition {
        let set_time = base_ms + self.rng.random_range(0..86_400_000);
        Condition {
            name: name.to_owned(),
            description: description.to_owned(),
            value: raised,
            node_uuid: node.map(|n| n.uuid.clone()).unwrap_or_default(),
            node_lan_ip: node.map(|n| n.lan_ip.clone()).unwrap_or_default(),
            modified: set_time,
            user_visible: true,
            tech_notes: String::new(),
            poll_interval: 30_000,
            expiration_interval: 300_000,
            set_delay: 0,
            clear_delay: 0,
            last_set_time: if raised { set_time } else { 0 },
            last_clear_time: if raised { 0 } else { set_time },
            guaranteed_valid_time: set_time + 300_000,
            is_expired: false,
            last_poll_failed: false,
            is_initialized: true,
            is_ok: !raised,
            node_backplane_ip: node.map(|n| n.backplane_ip.clone()).unwrap_or_default(),
            severity: severity.to_owned(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        }
    }
}
