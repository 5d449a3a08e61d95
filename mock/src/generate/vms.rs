//! VMs: one VM per role draw (name, state, placement, OS and machine type, block and net
//! devices, guest agent, console) and its usage statistics.

use std::collections::BTreeMap;

use rand::Rng;

use super::draw::{GIB, Generator, MIB, chance, mac_from, pick};
use super::names::{EDGE_ROLES, LINUX_OS, ROLES, WINDOWS_OS};
use crate::archetype::Archetype;
use crate::model::*;

impl Generator {
    /// One VM placed on an online node, named `<role>-NN` in role order.
    pub(super) fn vm(
        &mut self,
        nodes: &[Node],
        online: &[usize],
        isos: &[Iso],
        name_counts: &mut BTreeMap<&'static str, usize>,
    ) -> VirDomain {
        let roles = if self.archetype == Archetype::Edge {
            EDGE_ROLES
        } else {
            ROLES
        };
        let role = pick(&mut self.rng, roles);
        let counter = name_counts.entry(role.prefix).or_insert(0);
        *counter += 1;
        let name = format!("{}-{:02}", role.prefix, counter);
        let uuid = self.uuid();
        let created = self.time(300);
        let modified = created + self.rng.random_range(0..3_000_000);

        let replication_target = match self.archetype {
            Archetype::Dr => chance(&mut self.rng, 0.8),
            Archetype::Datacenter => chance(&mut self.rng, 0.02),
            _ => false,
        };
        let state = if replication_target {
            "SHUTOFF"
        } else {
            let roll = self.rng.random_range(0..100);
            let (running, shutoff) = match self.archetype {
                Archetype::Lab => (55, 35),
                _ => (82, 14),
            };
            if roll < running {
                "RUNNING"
            } else if roll < running + shutoff {
                "SHUTOFF"
            } else if self.archetype == Archetype::Lab && roll >= 98 {
                // Labs are where guests crash.
                "CRASHED"
            } else {
                "PAUSED"
            }
        };
        let node = &nodes[online[self.rng.random_range(0..online.len())]];
        let os = if role.windows {
            *pick(&mut self.rng, WINDOWS_OS)
        } else {
            *pick(&mut self.rng, LINUX_OS)
        };
        let (machine_type, keyword) = if os == "os_windows_server_2022" {
            ("scale-uefi-tpm-9.2", "tpm")
        } else if role.windows && chance(&mut self.rng, 0.5) {
            ("scale-8.10", "uefi")
        } else {
            ("scale-7.2", "bios")
        };
        let mem = *pick(&mut self.rng, role.mem_gib) * GIB
            + if chance(&mut self.rng, 0.1) {
                512 * MIB
            } else {
                0
            };
        let vcpu = *pick(&mut self.rng, role.vcpu);

        // Block devices: 1-3 VIRTIO disks, a CD-ROM, plus NVRAM/VTPM for UEFI/TPM.
        let mut block_devs = Vec::new();
        let disk_count = self.rng.random_range(1..=3);
        for slot in 0..disk_count {
            let capacity = *pick(&mut self.rng, &[20, 40, 50, 60, 100, 200, 500]) * GIB;
            let allocation =
                (capacity as f64 * self.rng.random_range(0.05..0.9)) as i64 / MIB * MIB;
            let dev_uuid = self.uuid();
            block_devs.push(BlockDevice {
                path: format!("scribe/{dev_uuid}"),
                uuid: dev_uuid,
                vir_domain_uuid: uuid.clone(),
                kind: "VIRTIO_DISK".into(),
                cache_mode: "WRITETHROUGH".into(),
                capacity,
                allocation,
                physical: allocation,
                share_uuid: String::new(),
                slot,
                name: String::new(),
                disable_snapshotting: false,
                tiering_priority_factor: 8,
                mount_points: vec![],
                created_timestamp: created,
                read_only: false,
            });
        }
        let (cd_path, cd_name) = if !isos.is_empty() && chance(&mut self.rng, 0.25) {
            let iso = pick(&mut self.rng, isos);
            (iso.path.clone(), iso.name.clone())
        } else {
            (String::new(), String::new())
        };
        let cd_uuid = self.uuid();
        block_devs.push(BlockDevice {
            uuid: cd_uuid.clone(),
            vir_domain_uuid: uuid.clone(),
            kind: "IDE_CDROM".into(),
            cache_mode: "WRITETHROUGH".into(),
            capacity: 0,
            allocation: 0,
            physical: 0,
            share_uuid: String::new(),
            path: cd_path,
            slot: 0,
            name: cd_name,
            disable_snapshotting: false,
            tiering_priority_factor: 8,
            mount_points: vec![],
            created_timestamp: created,
            read_only: false,
        });
        if keyword != "bios" {
            let extra: &[(&str, i64)] = if keyword == "tpm" {
                &[("NVRAM", 540_672), ("VTPM", 1024)]
            } else {
                &[("NVRAM", 540_672)]
            };
            for (kind, capacity) in extra {
                let dev_uuid = self.uuid();
                block_devs.push(BlockDevice {
                    path: format!("scribe/{dev_uuid}"),
                    uuid: dev_uuid,
                    vir_domain_uuid: uuid.clone(),
                    kind: (*kind).into(),
                    cache_mode: "WRITETHROUGH".into(),
                    capacity: *capacity,
                    allocation: *capacity,
                    physical: *capacity,
                    share_uuid: String::new(),
                    slot: -1,
                    name: String::new(),
                    disable_snapshotting: false,
                    tiering_priority_factor: 8,
                    mount_points: vec![],
                    created_timestamp: created,
                    read_only: false,
                });
            }
        }
        let running = state == "RUNNING";
        let agent = if running && chance(&mut self.rng, 0.7) {
            "AVAILABLE"
        } else if running {
            "UNAVAILABLE"
        } else {
            "UNKNOWN"
        };
        let vlans: &[i64] = match self.archetype {
            Archetype::Edge => &[0, 10, 20],
            _ => &[0, 100, 110, 120, 200, 300],
        };
        let nic_count = if chance(&mut self.rng, 0.15) { 2 } else { 1 };
        let mut net_devs = Vec::new();
        for _ in 0..nic_count {
            let nic_uuid = self.uuid();
            let kind = if role.windows && chance(&mut self.rng, 0.2) {
                "INTEL_E1000"
            } else {
                "VIRTIO"
            };
            let ip = format!(
                "10.{}.{}.{}",
                self.rng.random_range(1..250),
                self.rng.random_range(0..250),
                self.rng.random_range(2..250)
            );
            net_devs.push(NetDevice {
                uuid: nic_uuid,
                vir_domain_uuid: uuid.clone(),
                kind: kind.into(),
                mac_address: mac_from(&mut self.rng),
                vlan: *pick(&mut self.rng, vlans),
                connected: true,
                ipv4_addresses: if agent == "AVAILABLE" {
                    vec![ip]
                } else {
                    vec![]
                },
            });
        }
        let mut boot_devices = vec![block_devs[0].uuid.clone()];
        if chance(&mut self.rng, 0.3) {
            boot_devices.push(cd_uuid);
        }
        let description = match (role.windows, replication_target) {
            (_, true) => format!("Replica of {name}"),
            (true, _) => format!("Windows {} server", role.prefix),
            _ => format!("{} server", role.prefix),
        };
        let tags = if replication_target {
            format!("dr,{}", role.tags)
        } else {
            role.tags.to_owned()
        };
        let cpu_now = if running {
            self.rng.random_range(50..8000)
        } else {
            0
        };
        let deprecated_stats = vec![
            StatsDatum {
                kind: "VIR_DOMAIN_CPU".into(),
                current_value: cpu_now,
                max_value: 10_000,
            },
            StatsDatum {
                kind: "VIR_DOMAIN_MEM_CURRENT".into(),
                current_value: if running { mem } else { 0 },
                max_value: mem,
            },
            StatsDatum {
                kind: "VIR_DOMAIN_MEM_SWAPPED".into(),
                current_value: 0,
                max_value: 0,
            },
            StatsDatum {
                kind: "VIR_DOMAIN_UPTIME".into(),
                current_value: if running {
                    self.rng.random_range(600..8_000_000)
                } else {
                    0
                },
                max_value: 0,
            },
        ];
        let source = if replication_target {
            self.uuid()
        } else {
            String::new()
        };
        let port = 5900 + self.rng.random_range(0..200);
        VirDomain {
            node_uuid: node.uuid.clone(),
            name,
            description,
            operating_system: os.into(),
            state: state.into(),
            desired_disposition: match state {
                "PAUSED" => "PAUSED",
                "SHUTOFF" => "SHUTOFF",
                _ => "RUNNING",
            }
            .into(),
            console: Console {
                kind: "VNC".into(),
                ip: node.lan_ip.clone(),
                port,
                keymap: "en-us".into(),
            },
            mem,
            num_vcpu: vcpu,
            block_devs,
            net_devs,
            deprecated_stats,
            created,
            modified,
            latest_task_tag: TaskTagStatus::idle(&uuid, modified),
            tags,
            boot_devices,
            ui_state: state.into(),
            snap_uuids: vec![],
            snapshot_serial_number: 0,
            replication_uuids: vec![],
            source_vir_domain_uuid: source,
            snapshot_list_serial_number: 0,
            snapshot_schedule_uuid: String::new(),
            machine_type: machine_type.into(),
            cpu_type: "clusterBaseline-7.3".into(),
            snapshot_allocation_blocks: 0,
            guest_agent_state: agent.into(),
            last_seen_running_on_node_uuid: node.uuid.clone(),
            is_transient: false,
            affinity_strategy: AffinityStrategy {
                strict_affinity: false,
                preferred_node_uuid: String::new(),
                backup_node_uuid: String::new(),
            },
            vsd_uuids_to_delete: vec![],
            cloud_init_data: CloudInitData::default(),
            initial_clone_snapshot_uuid: String::new(),
            machine_type_keyword: keyword.into(),
            uuid,
        }
    }

    /// Usage statistics of `vm` (idle unless running).
    pub(super) fn stats(&mut self, vm: &VirDomain) -> VirDomainStats {
        let running = vm.state == "RUNNING";
        let vsd_stats = vm
            .block_devs
            .iter()
            .filter(|d| d.kind == "VIRTIO_DISK")
            .map(|d| {
                let reads = if running {
                    self.rng.random_range(0..400_000)
                } else {
                    0
                };
                let writes = if running {
                    self.rng.random_range(0..300_000)
                } else {
                    0
                };
                VsdStats {
                    uuid: d.uuid.clone(),
                    rates: vec![IoPerformanceRate {
                        decay_seconds: 10,
                        millireads_per_second: reads,
                        milliwrites_per_second: writes,
                        read_kibibytes_per_second: reads / 1000 * 16,
                        write_kibibytes_per_second: writes / 1000 * 24,
                        mean_read_size_bytes: if running { 16_384 } else { 0 },
                        mean_write_size_bytes: if running { 24_576 } else { 0 },
                        mean_read_latency_microseconds: if running {
                            self.rng.random_range(200..4000)
                        } else {
                            0
                        },
                        mean_write_latency_microseconds: if running {
                            self.rng.random_range(300..6000)
                        } else {
                            0
                        },
                    }],
                }
            })
            .collect();
        VirDomainStats {
            uuid: vm.uuid.clone(),
            vsd_stats,
            cpu_usage: if running {
                (self.rng.random_range(5..8000) as f64) / 100.0
            } else {
                0.0
            },
            rx_bit_rate: if running {
                self.rng.random_range(1_000..50_000_000)
            } else {
                0
            },
            tx_bit_rate: if running {
                self.rng.random_range(1_000..50_000_000)
            } else {
                0
            },
        }
    }
}
