//! Seeded generation of a whole cluster (nodes, drives, VMs, devices, snapshots, stats,
//! conditions, users, ISOs, virtual disks) and its ground-truth summary. Everything comes
//! from one ChaCha8 stream, so the same archetype and seed always give the same JSON.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::archetype::Archetype;
use crate::model::*;

const GIB: i64 = 1 << 30;
const MIB: i64 = 1 << 20;
/// 2025-01-01T00:00:00Z: generated timestamps are this epoch plus seeded offsets.
const EPOCH: i64 = 1_735_689_600;
/// Scale Computing's MAC prefix.
const MAC_PREFIX: &str = "7C:4C:58";

/// One simulated cluster's complete data set.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterState {
    /// Shape it was generated as.
    pub archetype: Archetype,
    /// Seed it was generated from.
    pub seed: u64,
    /// The cluster record.
    pub cluster: Cluster,
    /// Nodes, each embedding its drives.
    pub nodes: Vec<Node>,
    /// VMs, each embedding its block and net devices.
    pub vms: Vec<VirDomain>,
    /// Per-VM usage, same order as `vms`.
    pub stats: Vec<VirDomainStats>,
    /// Snapshots of all VMs, oldest first per VM.
    pub snapshots: Vec<Snapshot>,
    /// Health conditions (raised and clear).
    pub conditions: Vec<Condition>,
    /// Uploaded ISOs (`mounts` is computed when served).
    pub isos: Vec<Iso>,
    /// Uploaded virtual disks.
    pub virtual_disks: Vec<VirtualDisk>,
    /// Users (no passwords).
    pub users: Vec<User>,
    /// Roles.
    pub roles: Vec<Role>,
    /// Snapshot schedules (VMs point at them with `snapshotScheduleUUID`).
    pub schedules: Vec<SnapshotSchedule>,
    /// Settings and rarely-used collections served as-is, keyed by REST collection name
    /// (`DNSConfig`, `TimeSource`, `TimeZone`, and empty ones such as `GPU` or `Update`).
    pub settings: BTreeMap<String, Vec<Value>>,
}

/// Collections the simulator serves verbatim from [`ClusterState::settings`].
pub const SETTINGS_COLLECTIONS: &[&str] = &[
    "DNSConfig",
    "TimeSource",
    "TimeZone",
    "AlertSMTPConfig",
    "AlertEmailTarget",
    "AlertSyslogTarget",
    "NucleusKey",
    "GPU",
    "Update",
    "MonitoringConfig",
    "OIDCConfig",
    "Registration",
    "RemoteClusterConnection",
    "VirDomainReplication",
];

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

/// Draws a uuid (v4 layout) from the generator's stream.
pub(crate) fn uuid_from(rng: &mut impl Rng) -> String {
    let bytes: [u8; 16] = rng.random();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Draws a MAC address with Scale's prefix.
pub(crate) fn mac_from(rng: &mut impl Rng) -> String {
    let b: [u8; 3] = rng.random();
    format!("{MAC_PREFIX}:{:02X}:{:02X}:{:02X}", b[0], b[1], b[2])
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.random_bool(p)
}

/// What a VM is for; drives its name, OS, size and tags.
struct VmRole {
    prefix: &'static str,
    windows: bool,
    tags: &'static str,
    vcpu: &'static [i64],
    mem_gib: &'static [i64],
}

const ROLES: &[VmRole] = &[
    VmRole {
        prefix: "web",
        windows: false,
        tags: "prod,web",
        vcpu: &[2, 4],
        mem_gib: &[2, 4, 8],
    },
    VmRole {
        prefix: "db",
        windows: false,
        tags: "prod,db",
        vcpu: &[4, 8, 16],
        mem_gib: &[16, 32, 64],
    },
    VmRole {
        prefix: "sql",
        windows: true,
        tags: "prod,db,windows",
        vcpu: &[4, 8],
        mem_gib: &[16, 32],
    },
    VmRole {
        prefix: "app",
        windows: false,
        tags: "prod,app",
        vcpu: &[2, 4, 8],
        mem_gib: &[4, 8, 16],
    },
    VmRole {
        prefix: "dc",
        windows: true,
        tags: "infra,ad",
        vcpu: &[2],
        mem_gib: &[4, 8],
    },
    VmRole {
        prefix: "file",
        windows: true,
        tags: "infra,file",
        vcpu: &[2, 4],
        mem_gib: &[8],
    },
    VmRole {
        prefix: "print",
        windows: true,
        tags: "infra",
        vcpu: &[1, 2],
        mem_gib: &[2, 4],
    },
    VmRole {
        prefix: "mon",
        windows: false,
        tags: "infra,monitoring",
        vcpu: &[2],
        mem_gib: &[4],
    },
    VmRole {
        prefix: "k8s-worker",
        windows: false,
        tags: "prod,k8s",
        vcpu: &[4, 8],
        mem_gib: &[16, 32],
    },
    VmRole {
        prefix: "jump",
        windows: false,
        tags: "infra",
        vcpu: &[1],
        mem_gib: &[1, 2],
    },
    VmRole {
        prefix: "backup",
        windows: false,
        tags: "infra,backup",
        vcpu: &[2, 4],
        mem_gib: &[8],
    },
    VmRole {
        prefix: "rds",
        windows: true,
        tags: "prod,vdi,windows",
        vcpu: &[4, 8],
        mem_gib: &[16, 32],
    },
    VmRole {
        prefix: "dev",
        windows: false,
        tags: "dev",
        vcpu: &[1, 2, 4],
        mem_gib: &[2, 4],
    },
    VmRole {
        prefix: "test",
        windows: false,
        tags: "test",
        vcpu: &[1, 2],
        mem_gib: &[1, 2, 4],
    },
];

const EDGE_ROLES: &[VmRole] = &[
    VmRole {
        prefix: "pos",
        windows: true,
        tags: "prod,pos",
        vcpu: &[2],
        mem_gib: &[4],
    },
    VmRole {
        prefix: "nvr",
        windows: false,
        tags: "prod,cameras",
        vcpu: &[4],
        mem_gib: &[8],
    },
    VmRole {
        prefix: "dc",
        windows: true,
        tags: "infra,ad",
        vcpu: &[2],
        mem_gib: &[4],
    },
    VmRole {
        prefix: "file",
        windows: true,
        tags: "infra,file",
        vcpu: &[2],
        mem_gib: &[4, 8],
    },
    VmRole {
        prefix: "inventory",
        windows: false,
        tags: "prod,app",
        vcpu: &[2],
        mem_gib: &[2, 4],
    },
    VmRole {
        prefix: "router",
        windows: false,
        tags: "infra,network",
        vcpu: &[1],
        mem_gib: &[1],
    },
];

const LINUX_OS: &[&str] = &["os_other"];
const WINDOWS_OS: &[&str] = &[
    "os_windows_server_2016",
    "os_windows_server_2019",
    "os_windows_server_2019",
    "os_windows_server_2022",
];
const CITIES: &[&str] = &[
    "Frankfurt",
    "Dallas",
    "Ashburn",
    "Amsterdam",
    "Singapore",
    "Chicago",
    "London",
    "Toronto",
    "Phoenix",
    "Sydney",
    "Paris",
    "Denver",
];
const EDGE_KINDS: &[&str] = &["Store", "Branch", "Clinic", "Site", "Plant", "Depot"];
const LAB_KINDS: &[&str] = &["Dev", "QA", "Test", "Sandbox", "Training"];
const ICOS_VERSIONS: &[&str] = &["9.4.30.217736", "9.4.17.215487", "9.6.19.223352"];

/// Carries the RNG and the counters used while building one cluster.
struct Generator {
    archetype: Archetype,
    seed: u64,
    rng: ChaCha8Rng,
    /// The cluster's LAN subnet (`10.a.b.0/24`), fixed by the first node.
    lan: Option<(u8, u8)>,
}

impl Generator {
    fn new(archetype: Archetype, seed: u64) -> Self {
        let salt = match archetype {
            Archetype::Edge => 0x1111_0000,
            Archetype::Datacenter => 0x2222_0000,
            Archetype::Dr => 0x3333_0000,
            Archetype::Lab => 0x4444_0000,
        };
        Generator {
            archetype,
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed ^ salt),
            lan: None,
        }
    }

    fn uuid(&mut self) -> String {
        uuid_from(&mut self.rng)
    }

    fn time(&mut self, max_days_after_epoch: i64) -> i64 {
        EPOCH + self.rng.random_range(0..max_days_after_epoch * 86_400)
    }

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

    fn settings(&mut self, nodes: &[Node]) -> BTreeMap<String, Vec<Value>> {
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

    fn schedules(&mut self) -> Vec<SnapshotSchedule> {
        const DEFS: &[(&str, &str, &str, i64)] = &[
            ("Daily-7d", "Daily", "FREQ=DAILY;INTERVAL=1", 7 * 86_400),
            ("Hourly-24h", "Hourly", "FREQ=HOURLY;INTERVAL=1", 86_400),
            (
                "Weekly-4w",
                "Weekly",
                "FREQ=WEEKLY;INTERVAL=1;BYDAY=SU",
                28 * 86_400,
            ),
        ];
        let count = match self.archetype {
            Archetype::Edge => self.rng.random_range(0..=1),
            Archetype::Datacenter => self.rng.random_range(1..=3),
            Archetype::Dr => self.rng.random_range(1..=2),
            Archetype::Lab => self.rng.random_range(0..=2),
        };
        DEFS[..count]
            .iter()
            .map(|(name, rule_name, rrule, keep)| {
                let hour = self.rng.random_range(0..6);
                SnapshotSchedule {
                    uuid: self.uuid(),
                    name: (*name).into(),
                    rrules: vec![RecurrenceRule {
                        uuid: self.uuid(),
                        dtstart: format!("2025-01-01 0{hour}:00:00"),
                        rrule: (*rrule).into(),
                        local_retention_duration_seconds: *keep,
                        name: (*rule_name).into(),
                        remote_retention_duration_seconds: 0,
                        replication: true,
                    }],
                }
            })
            .collect()
    }

    fn assign_schedules(&mut self, vms: &mut [VirDomain], schedules: &[SnapshotSchedule]) {
        if schedules.is_empty() {
            return;
        }
        let p = match self.archetype {
            Archetype::Datacenter => 0.5,
            Archetype::Edge => 0.4,
            _ => 0.25,
        };
        for vm in vms
            .iter_mut()
            .filter(|v| v.source_vir_domain_uuid.is_empty())
        {
            if chance(&mut self.rng, p) {
                vm.snapshot_schedule_uuid = pick(&mut self.rng, schedules).uuid.clone();
            }
        }
    }

    fn cluster(&mut self) -> Cluster {
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

    fn node(&mut self, index: usize) -> Node {
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

    fn drive(&mut self, node_uuid: &str, slot: i64, ssd: bool, size: i64) -> Drive {
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

    fn isos(&mut self) -> Vec<Iso> {
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

    fn virtual_disks(&mut self, node_count: usize) -> Vec<VirtualDisk> {
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

    fn vm(
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

    fn stats(&mut self, vm: &VirDomain) -> VirDomainStats {
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

    /// Adds `vm` to `vms` after giving it its seeded snapshots (each embeds the VM as it was).
    fn snapshots_for(
        &mut self,
        mut vm: VirDomain,
        vms: &mut Vec<VirDomain>,
        snapshots: &mut Vec<Snapshot>,
    ) {
        let count = match self.archetype {
            Archetype::Edge => self.rng.random_range(0..=2),
            Archetype::Datacenter => self.rng.random_range(0..=3),
            Archetype::Dr => self.rng.random_range(1..=4),
            Archetype::Lab => self.rng.random_range(2..=8),
        };
        let mut at = vm.created;
        for i in 0..count {
            at += self.rng.random_range(3_600..1_500_000);
            let automated = chance(&mut self.rng, 0.5) || !vm.source_vir_domain_uuid.is_empty();
            let uuid = self.uuid();
            vm.snapshot_serial_number += 1;
            let serial = vm.snapshot_serial_number;
            let device_snapshots = vm
                .block_devs
                .iter()
                .filter(|d| d.kind != "IDE_CDROM")
                .map(|d| DeviceSnapshot {
                    uuid: d.uuid.clone(),
                    timestamp: at,
                    serial_number: serial,
                    block_count_diff: if i == 0 { d.allocation / MIB } else { 0 },
                    identifier: format!("{}:{serial}", d.uuid),
                    checksum: String::new(),
                })
                .collect();
            let label = if automated {
                format!("Automated snapshot {}", i + 1)
            } else {
                format!(
                    "{} {}",
                    pick(
                        &mut self.rng,
                        &["before-patch", "pre-upgrade", "baseline", "manual"]
                    ),
                    i + 1
                )
            };
            let snapshot = Snapshot {
                uuid: uuid.clone(),
                domain_uuid: vm.uuid.clone(),
                timestamp: at,
                label,
                domain: Box::new(vm.clone()),
                device_snapshots,
                unavailable: false,
                kind: if automated { "AUTOMATED" } else { "USER" }.into(),
                block_count_diff: self.rng.random_range(0..100_000),
                automated_trigger_timestamp: if automated { at } else { 0 },
                local_retain_until_timestamp: if automated { at + 7 * 86_400 } else { 0 },
                state: "CREATED".into(),
                quiesced: vm.guest_agent_state == "AVAILABLE",
                remote_retain_until_timestamp: if automated { at + 30 * 86_400 } else { 0 },
                block_count_diff_from_serial_number: -1,
                replication: true,
            };
            vm.snap_uuids.push(uuid);
            vm.snapshot_list_serial_number += 1;
            snapshots.push(snapshot);
        }
        vms.push(vm);
    }

    fn conditions(&mut self, nodes: &[Node]) -> Vec<Condition> {
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

    #[allow(clippy::too_many_arguments)]
    fn condition(
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

    fn roles(&mut self) -> Vec<Role> {
        const ROLE_DEFS: &[(&str, &str, &[&str])] = &[
            ("Admin", "Full control of the cluster", &["*"]),
            ("Read Only", "View everything, change nothing", &["Read"]),
            (
                "VM Power Controls",
                "Start, stop and migrate VMs",
                &["VirDomainAction", "Read"],
            ),
            (
                "Backup",
                "Snapshot, clone and export VMs",
                &[
                    "VirDomainSnapshotCreate2",
                    "VirDomainCloneSnapshot",
                    "VirDomainExport",
                    "Read",
                ],
            ),
            (
                "Cluster Settings",
                "Change cluster settings",
                &["ClusterUpdate", "Read"],
            ),
        ];
        ROLE_DEFS
            .iter()
            .map(|(name, description, perms)| Role {
                uuid: self.uuid(),
                name: (*name).into(),
                description: (*description).into(),
                permissions: perms
                    .iter()
                    .map(|p| Permission {
                        function_name: (*p).into(),
                    })
                    .collect(),
                oidc_name: String::new(),
            })
            .collect()
    }

    fn users(&mut self, roles: &[Role]) -> Vec<User> {
        const PEOPLE: &[(&str, &str, usize)] = &[
            ("jdoe", "Jane Doe", 0),
            ("ops-readonly", "Operations (read only)", 1),
            ("backup-svc", "Backup service account", 3),
            ("helpdesk", "Helpdesk", 2),
        ];
        let mut users = vec![User {
            uuid: self.uuid(),
            username: "admin".into(),
            full_name: "Administrator".into(),
            role_uuids: vec![roles[0].uuid.clone()],
            session_limit: 100,
        }];
        let extra = self.rng.random_range(1..=PEOPLE.len());
        for (username, full_name, role) in &PEOPLE[..extra] {
            users.push(User {
                uuid: self.uuid(),
                username: (*username).into(),
                full_name: (*full_name).into(),
                role_uuids: vec![roles[*role].uuid.clone()],
                session_limit: 10,
            });
        }
        users
    }
}

impl ClusterState {
    /// The ground truth: a compact summary tests and the CLI compare against what the REST API
    /// serves (`{archetype, seed, cluster, nodes, vms, snapshots, conditions, totals}`).
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
        })
    }
}

/// Splits a comma-separated tag string, dropping empty parts.
pub(crate) fn split_tags(tags: &str) -> Vec<&str> {
    tags.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
