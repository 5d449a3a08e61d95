//! Infrastructure: the cluster record, nodes with their drives, uploaded ISOs and virtual
//! disks, and the cluster settings (DNS, time source, time zone) served verbatim.

use std::collections::BTreeMap;

use rand::Rng;
use serde_json::{Value, json};

use super::cluster_state::SETTINGS_COLLECTIONS;
use super::draw::{EPOCH, GIB, Generator, chance, pick};
use super::names::{CITIES, EDGE_KINDS, ICOS_VERSIONS, LAB_KINDS};
use crate::archetype::Archetype;
use crate::model::*;

impl Generator {
    /// The cluster record, named after the archetype.
    pub(super) fn cluster(&mut self) -> Cluster {
        let name = match self.archetype {
            Archetype::Edge => format!(
                "Edge-{}-{:04}",
                pick(&mut self.rng, EDGE_KINDS),
                self.rng.random_range(1..2000)
            ),
            Archetype::Datacenter => format!(
                "DC-{}-{:02}",
                pick(&mut self.rng, CITIES),
                self.rng.random_range(1..10)
            ),
            Archetype::Dr => format!(
                "DR-{}-{:02}",
                pick(&mut self.rng, CITIES),
                self.rng.random_range(1..5)
            ),
            Archetype::Lab => format!(
                "Lab-{}-{:02}",
                pick(&mut self.rng, LAB_KINDS),
                self.rng.random_range(1..20)
            ),
        };
        let uuid = self.uuid();
        let created = self.time(30);
        Cluster {
            latest_task_tag: TaskTagStatus::idle(&uuid, created),
            uuid,
            cluster_name: name,
            icos_version: pick(&mut self.rng, ICOS_VERSIONS).to_string(),
            filesystem_id: self.uuid(),
            brand: "SCALE".into(),
            is_rest_api_enabled: true,
        }
    }

    /// Node `index` (peer id `index + 1`) with its drives.
    pub(super) fn node(&mut self, index: usize) -> Node {
        let uuid = self.uuid();
        let drawn = (
            self.rng.random_range(1..250u8),
            self.rng.random_range(0..250u8),
        );
        // Every node sits on the same LAN; later draws are kept so the stream stays stable.
        let (subnet_a, subnet_b) = *self.lan.get_or_insert(drawn);
        let peer = index as i64 + 1;
        let drive_count: i64 = match self.archetype {
            Archetype::Edge => 4,
            Archetype::Datacenter => *pick(&mut self.rng, &[8, 10, 12]),
            _ => *pick(&mut self.rng, &[4, 6, 8]),
        };
        let hybrid = chance(&mut self.rng, 0.5);
        let sizes: &[i64] = match self.archetype {
            // Small boxes at the edge.
            Archetype::Edge => &[480, 960, 1920, 3840],
            _ => &[960, 1920, 3840, 4000, 8000],
        };
        let drive_size = *pick(&mut self.rng, sizes) * 1_000_000_000i64;
        let mut drives = Vec::new();
        for slot in 0..drive_count {
            drives.push(self.drive(&uuid, slot, hybrid && slot == 0, drive_size));
        }
        let mem_size = *pick(&mut self.rng, &[128, 256, 384, 512, 768]) * GIB;
        let sockets = *pick(&mut self.rng, &[1, 2]);
        let cores_per = *pick(&mut self.rng, &[8, 12, 16, 24, 32]);
        let cores = sockets * cores_per;
        let system_mem = self.rng.random_range(6..14) * GIB;
        Node {
            backplane_ip: format!("10.100.{}.{}", subnet_b, 10 + peer),
            lan_ip: format!("10.{}.{}.{}", subnet_a, subnet_b, 10 + peer),
            config_state: 0,
            active_version: 0,
            capacity: drives.iter().map(|d| d.capacity_bytes).sum(),
            drives,
            vips: vec![],
            mem_size,
            num_cpus: cores * 2,
            cpu_hz: self.rng.random_range(21..33) * 100_000_000,
            num_numa_nodes: sockets,
            num_sockets: sockets,
            num_cores: cores,
            num_threads: cores * 2,
            network_status: "ONLINE".into(),
            supports_virtualization: true,
            virtualization_online: true,
            paired_node_uuid: String::new(),
            scribe_instance_name: format!("scribe-{peer}"),
            peer_id: peer,
            num_slots: drive_count.max(4),
            system_mem_usage_bytes: system_mem,
            mem_usage_percentage: 0.0,
            gpus: vec![],
            current_disposition: "IN".into(),
            desired_disposition: "IN".into(),
            cpu_usage: (self.rng.random_range(300..6500) as f64) / 100.0,
            total_mem_usage_bytes: system_mem,
            allow_running_vms: true,
            uuid,
        }
    }

    /// One drive in `slot` of a node.
    pub(super) fn drive(&mut self, node_uuid: &str, slot: i64, ssd: bool, size: i64) -> Drive {
        let uuid = self.uuid();
        let capacity = if ssd {
            size.min(1_920_000_000_000)
        } else {
            size
        };
        let used = (capacity as f64 * self.rng.random_range(0.15..0.75)) as i64;
        let failing = chance(&mut self.rng, 0.03);
        let warn = !failing && chance(&mut self.rng, 0.05);
        let serial: String = (0..10)
            .map(|_| *pick(&mut self.rng, b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") as char)
            .collect();
        let temperature = self.rng.random_range(28..46);
        let mut disks = BTreeMap::new();
        disks.insert(
            "0".to_owned(),
            FileSystemDisk {
                fs_name: format!("scribe{slot}"),
                drive_uuid: uuid.clone(),
                availability: "AVAILABLE".into(),
                state: if failing { "DEGRADED" } else { "NORMAL" }.into(),
                is_reachable: true,
                capacity_bytes: capacity,
                used_bytes: used,
            },
        );
        Drive {
            node_uuid: node_uuid.to_owned(),
            slot,
            serial_number: serial,
            kind: if ssd { "SSD" } else { "SATA" }.into(),
            desired_disposition: "IN".into(),
            current_disposition: "IN".into(),
            capacity_bytes: capacity,
            used_bytes: used,
            disks,
            is_healthy: !failing,
            reallocated_sectors: if failing {
                self.rng.random_range(200..4000)
            } else if warn {
                self.rng.random_range(1..40)
            } else {
                0
            },
            error_count: if failing {
                self.rng.random_range(10..500)
            } else {
                0
            },
            block_device_path: format!("/dev/sd{}", (b'a' + slot as u8) as char),
            has_temperature: true,
            temperature,
            has_max_temperature: true,
            max_temperature: temperature + self.rng.random_range(3..12),
            has_temperature_threshold: true,
            temperature_threshold: 60,
            uuid,
        }
    }

    /// Uploaded ISOs (at least two).
    pub(super) fn isos(&mut self) -> Vec<Iso> {
        const NAMES: &[(&str, i64)] = &[
            ("virtio-win-0.1.240.iso", 612_368_384),
            ("ubuntu-22.04.4-live-server-amd64.iso", 2_104_408_064),
            ("ubuntu-24.04.1-live-server-amd64.iso", 2_773_874_688),
            ("Windows_Server_2022_x64.iso", 5_336_367_104),
            ("Windows_Server_2019_x64.iso", 5_296_056_320),
            ("SCALE_guest_tools-9.4.iso", 157_286_400),
            ("rocky-9.4-x86_64-minimal.iso", 1_829_634_048),
        ];
        let count = self.rng.random_range(2..=NAMES.len());
        (0..count)
            .map(|i| {
                let uuid = self.uuid();
                Iso {
                    path: format!("scribe/{uuid}"),
                    uuid,
                    name: NAMES[i].0.into(),
                    size: NAMES[i].1,
                    mounts: vec![],
                    ready_for_insert: true,
                }
            })
            .collect()
    }

    /// Uploaded virtual disks (possibly none).
    pub(super) fn virtual_disks(&mut self, node_count: usize) -> Vec<VirtualDisk> {
        const NAMES: &[&str] = &[
            "ubuntu-22.04-server-cloudimg-amd64.img",
            "debian-12-genericcloud-amd64.qcow2",
            "rocky-9-genericcloud.qcow2",
            "win2022-sysprep.vhdx",
        ];
        let count = self.rng.random_range(0..=NAMES.len());
        (0..count)
            .map(|i| {
                let capacity = *pick(&mut self.rng, &[2, 10, 20, 40]) * GIB;
                VirtualDisk {
                    uuid: self.uuid(),
                    capacity_bytes: capacity,
                    total_allocation_bytes: capacity / self.rng.random_range(2..8),
                    block_size: 1_048_576,
                    replication_factor: if node_count > 1 { 2 } else { 1 },
                    name: NAMES[i].into(),
                }
            })
            .collect()
    }

    /// Settings collections: DNS, time source and time zone; the rest empty.
    pub(super) fn settings(&mut self, nodes: &[Node]) -> BTreeMap<String, Vec<Value>> {
        const ZONES: &[&str] = &[
            "America/Chicago",
            "America/New_York",
            "Europe/Berlin",
            "Europe/London",
            "Asia/Singapore",
        ];
        let at = EPOCH;
        let lan = nodes
            .first()
            .and_then(|n| n.lan_ip.rsplit_once('.').map(|(p, _)| p.to_owned()))
            .unwrap_or_else(|| "10.0.0".to_owned());
        let mut out: BTreeMap<String, Vec<Value>> = SETTINGS_COLLECTIONS
            .iter()
            .map(|c| ((*c).to_owned(), Vec::new()))
            .collect();
        let dns = self.uuid();
        let ntp = self.uuid();
        let tz = self.uuid();
        let zone = *pick(&mut self.rng, ZONES);
        out.insert(
            "DNSConfig".into(),
            vec![json!({
                "uuid": dns,
                "searchDomains": ["corp.example"],
                "serverIPs": [format!("{lan}.2"), format!("{lan}.3")],
                "latestTaskTag": TaskTagStatus::idle(&dns, at),
            })],
        );
        out.insert(
            "TimeSource".into(),
            vec![json!({"uuid": ntp, "host": "pool.ntp.org", "latestTaskTag": TaskTagStatus::idle(&ntp, at)})],
        );
        out.insert(
            "TimeZone".into(),
            vec![json!({"uuid": tz, "timeZone": zone, "latestTaskTag": TaskTagStatus::idle(&tz, at)})],
        );
        out
    }
}
