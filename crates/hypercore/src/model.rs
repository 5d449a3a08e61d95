//! Typed HyperCore resources as the REST API returns them (`/rest/v1`, wire names in camelCase).
//! Every struct tolerates unknown and missing fields, and every enum keeps unknown values in
//! `Other(String)`, because new fields and states appear across HyperCore versions.

use serde::{Deserialize, Deserializer, Serialize};

/// Defines a wire enum with an `Other(String)` fallback, `as_str`, Display and serde as a string.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this client does not know (kept verbatim).
            Other(String),
        }

        impl $name {
            /// The wire spelling of this value.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)+
                    $name::Other(s) => s.as_str(),
                }
            }

            /// Parses a wire value; unknown values become `Other`.
            pub fn from_wire(s: &str) -> Self {
                match s {
                    $($wire => $name::$variant,)+
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::Other(String::new())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok($name::from_wire(s))
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Ok($name::from_wire(&s))
            }
        }
    };
}

wire_enum!(
    /// `VirDomainState`: the power state of a VM.
    VmState {
        /// Running.
        Running = "RUNNING",
        /// Blocked on a resource.
        Blocked = "BLOCKED",
        /// Paused.
        Paused = "PAUSED",
        /// Shutting down (ACPI shutdown in progress).
        Shutdown = "SHUTDOWN",
        /// Powered off.
        Shutoff = "SHUTOFF",
        /// Crashed.
        Crashed = "CRASHED",
    }
);

wire_enum!(
    /// `VirDomainUIState`: the VM state including transitions.
    VmUiState {
        /// Running.
        Running = "RUNNING",
        /// Blocked on a resource.
        Blocked = "BLOCKED",
        /// Paused.
        Paused = "PAUSED",
        /// Shutting down.
        Shutdown = "SHUTDOWN",
        /// Powered off.
        Shutoff = "SHUTOFF",
        /// Crashed.
        Crashed = "CRASHED",
        /// Starting.
        Starting = "STARTING",
        /// Pausing.
        Pausing = "PAUSING",
        /// Stopping.
        Stopping = "STOPPING",
        /// Live migration in progress.
        Migrating = "MIGRATING",
    }
);

wire_enum!(
    /// `VirDomainDisposition`: the state the cluster keeps a VM in.
    VmDisposition {
        /// Keep it off.
        Shutoff = "SHUTOFF",
        /// Keep it running.
        Running = "RUNNING",
        /// Keep it paused.
        Paused = "PAUSED",
    }
);

wire_enum!(
    /// `GuestAgentState`: whether the guest tools answer.
    GuestAgentState {
        /// Unknown.
        Unknown = "UNKNOWN",
        /// Not available.
        Unavailable = "UNAVAILABLE",
        /// Available.
        Available = "AVAILABLE",
    }
);

wire_enum!(
    /// `TaskState`: the lifecycle of a HyperCore task.
    TaskState {
        /// Not started (treated as a failure by clients).
        Uninitialized = "UNINITIALIZED",
        /// Waiting to run.
        Queued = "QUEUED",
        /// Running.
        Running = "RUNNING",
        /// Finished successfully.
        Complete = "COMPLETE",
        /// Failed.
        Error = "ERROR",
    }
);

wire_enum!(
    /// `VirDomainBlockDeviceType`.
    BlockDeviceType {
        /// IDE disk.
        IdeDisk = "IDE_DISK",
        /// SCSI disk (internal).
        ScsiDisk = "SCSI_DISK",
        /// VirtIO disk.
        VirtioDisk = "VIRTIO_DISK",
        /// IDE CD-ROM.
        IdeCdrom = "IDE_CDROM",
        /// IDE floppy (deprecated).
        IdeFloppy = "IDE_FLOPPY",
        /// UEFI NVRAM.
        Nvram = "NVRAM",
        /// Virtual TPM.
        Vtpm = "VTPM",
    }
);

wire_enum!(
    /// `VirDomainBlockDeviceCacheMode`.
    CacheMode {
        /// No cache.
        None = "NONE",
        /// Write-back.
        Writeback = "WRITEBACK",
        /// Write-through.
        Writethrough = "WRITETHROUGH",
    }
);

wire_enum!(
    /// `VirDomainNetDeviceType`.
    NetDeviceType {
        /// Realtek RTL8139.
        Rtl8139 = "RTL8139",
        /// Intel E1000.
        IntelE1000 = "INTEL_E1000",
        /// VirtIO.
        Virtio = "VIRTIO",
        /// AMD PCnet.
        Pcnet = "PCNET",
    }
);

wire_enum!(
    /// `VirDomainSnapshotType`.
    SnapshotType {
        /// Taken by a user.
        User = "USER",
        /// Taken by a schedule.
        Automated = "AUTOMATED",
        /// Taken by support.
        Support = "SUPPORT",
    }
);

wire_enum!(
    /// `VirDomainSnapshotState`.
    SnapshotState {
        /// Being created.
        Creating = "CREATING",
        /// Ready.
        Created = "CREATED",
        /// Being deleted.
        Deleting = "DELETING",
    }
);

wire_enum!(
    /// `NodeNetworkStatus`.
    NodeNetworkStatus {
        /// Online.
        Online = "ONLINE",
        /// Offline.
        Offline = "OFFLINE",
        /// Unknown.
        Unknown = "UNKNOWN",
    }
);

wire_enum!(
    /// `NodeDisposition`: whether a node takes part in the cluster.
    NodeDisposition {
        /// In the cluster.
        In = "IN",
        /// Evacuated (maintenance).
        Evacuated = "EVACUATED",
        /// Out of the cluster.
        Out = "OUT",
        /// Unknown.
        Unknown = "UNKNOWN",
    }
);

wire_enum!(
    /// `DriveType`: the kind of a physical drive.
    DriveType {
        /// Unknown.
        Unknown = "UNKNOWN",
        /// SATA.
        Sata = "SATA",
        /// SAS.
        Sas = "SAS",
        /// Virtual.
        Virtual = "VIRTUAL",
        /// SSD.
        Ssd = "SSD",
    }
);

wire_enum!(
    /// `DriveDisposition`.
    DriveDisposition {
        /// Unknown.
        Unknown = "UNKNOWN",
        /// In use.
        In = "IN",
        /// Removed.
        Out = "OUT",
    }
);

wire_enum!(
    /// `SeverityLevel` of a condition.
    Severity {
        /// Emergency.
        Emergency = "EMERGENCY",
        /// Alert.
        Alert = "ALERT",
        /// Critical.
        Critical = "CRITICAL",
        /// Error.
        Error = "ERROR",
        /// Warning.
        Warning = "WARNING",
        /// Notice.
        Notice = "NOTICE",
        /// Informational.
        Info = "INFO",
        /// Debug.
        Debug = "DEBUG",
    }
);

impl Severity {
    /// Every known severity, most severe first.
    pub const ALL: [Severity; 8] = [
        Severity::Emergency,
        Severity::Alert,
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Notice,
        Severity::Info,
        Severity::Debug,
    ];

    /// Position in [`Severity::ALL`] (0 = most severe); an unknown severity ranks last.
    pub fn rank(&self) -> usize {
        Severity::ALL
            .iter()
            .position(|known| known == self)
            .unwrap_or(Severity::ALL.len())
    }
}

impl VmState {
    /// Every known power state, in the schema's order.
    pub const ALL: [VmState; 6] = [
        VmState::Running,
        VmState::Blocked,
        VmState::Paused,
        VmState::Shutdown,
        VmState::Shutoff,
        VmState::Crashed,
    ];
}

/// `true`, the default of flags HyperCore omits when they hold (accepting VMs, healthy, connected).
fn yes() -> bool {
    true
}

/// Accepts tags as HyperCore's comma-separated string or as a JSON array of strings.
fn tags_string_or_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Null => Ok(String::new()),
        serde_json::Value::Array(items) => Ok(items
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect::<Vec<_>>()
            .join(",")),
        other => Err(serde::de::Error::custom(format!(
            "expected tags as a string or a list, got {other}"
        ))),
    }
}

/// Accepts a string or a number (some servers send task tags as numbers).
fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Null => Ok(String::new()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or number, got {other}"
        ))),
    }
}

/// `VirDomainConsole`: how to reach the VM console.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VmConsole {
    /// Console type (`VNC`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Console IP.
    pub ip: String,
    /// Console port.
    pub port: i64,
    /// Keyboard map.
    pub keymap: String,
}

/// `VirDomainAffinityStrategy`: node placement preferences.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AffinityStrategy {
    /// Only run on the preferred or backup node.
    pub strict_affinity: bool,
    /// Preferred node uuid.
    #[serde(rename = "preferredNodeUUID")]
    pub preferred_node_uuid: String,
    /// Backup node uuid.
    #[serde(rename = "backupNodeUUID")]
    pub backup_node_uuid: String,
}

/// `StatsDatum`: one entry of `VirDomain.deprecated_stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StatsDatum {
    /// Source type, e.g. `VIR_DOMAIN_CPU`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Current value.
    pub current_value: i64,
    /// Maximum value (0 if not applicable).
    pub max_value: i64,
}

/// `VirDomain`: a virtual machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VirDomain {
    /// VM uuid.
    pub uuid: String,
    /// Human-readable name (not guaranteed unique).
    pub name: String,
    /// Description.
    pub description: String,
    /// Operating system key, e.g. `os_other`.
    pub operating_system: String,
    /// Power state.
    pub state: VmState,
    /// State including transitions.
    pub ui_state: Option<VmUiState>,
    /// Desired disposition.
    pub desired_disposition: Option<VmDisposition>,
    /// Memory in bytes.
    pub mem: u64,
    /// Number of virtual CPUs.
    #[serde(rename = "numVCPU")]
    pub num_vcpu: u32,
    /// Current host node ("" when off).
    #[serde(rename = "nodeUUID")]
    pub node_uuid: String,
    /// Node it last ran on.
    #[serde(rename = "lastSeenRunningOnNodeUUID")]
    pub last_seen_running_on_node_uuid: String,
    /// Comma-separated tags as on the wire (a list is joined); see [`VirDomain::tag_list`].
    #[serde(deserialize_with = "tags_string_or_list")]
    pub tags: String,
    /// Embedded block devices.
    pub block_devs: Vec<VirDomainBlockDevice>,
    /// Embedded network devices.
    pub net_devs: Vec<VirDomainNetDevice>,
    /// Ordered uuids of boot devices.
    pub boot_devices: Vec<String>,
    /// Snapshot uuids (oldest first).
    #[serde(rename = "snapUUIDs")]
    pub snap_uuids: Vec<String>,
    /// Snapshot schedule uuid ("" if none).
    #[serde(rename = "snapshotScheduleUUID")]
    pub snapshot_schedule_uuid: String,
    /// Non-empty when this VM is a replication target.
    #[serde(rename = "sourceVirDomainUUID")]
    pub source_vir_domain_uuid: String,
    /// Machine type, e.g. `scale-7.2`.
    pub machine_type: String,
    /// Machine type keyword (9.3+): `bios`, `uefi`, `tpm`, `tpm-compatible`.
    pub machine_type_keyword: String,
    /// CPU type.
    pub cpu_type: String,
    /// Guest agent state.
    pub guest_agent_state: Option<GuestAgentState>,
    /// Console access.
    pub console: Option<VmConsole>,
    /// Placement preferences.
    pub affinity_strategy: Option<AffinityStrategy>,
    /// Latest task that touched this VM.
    pub latest_task_tag: Option<TaskTag>,
    /// Legacy stats (CPU, memory, uptime).
    #[serde(rename = "deprecated_stats")]
    pub deprecated_stats: Vec<StatsDatum>,
    /// Creation time (Unix seconds).
    pub created: i64,
    /// Last modification time (Unix seconds).
    pub modified: i64,
}

impl VirDomain {
    /// The tags as a list (split on `,`, trimmed, empty entries dropped).
    pub fn tag_list(&self) -> Vec<String> {
        split_tags(&self.tags)
    }

    /// True when this VM is a replication target (it cannot be started; clone it first).
    pub fn is_replication_target(&self) -> bool {
        !self.source_vir_domain_uuid.is_empty()
    }
}

/// Splits a comma-separated tag string into trimmed, non-empty tags.
pub fn split_tags(tags: &str) -> Vec<String> {
    tags.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Joins tags into HyperCore's comma-separated form.
pub fn join_tags<S: AsRef<str>>(tags: &[S]) -> String {
    tags.iter()
        .map(|t| t.as_ref().trim())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

/// `VirDomainBlockDevice`: a VM disk, CD-ROM, NVRAM or vTPM.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VirDomainBlockDevice {
    /// Device uuid.
    pub uuid: String,
    /// Parent VM uuid.
    #[serde(rename = "virDomainUUID")]
    pub vir_domain_uuid: String,
    /// Device type.
    #[serde(rename = "type")]
    pub kind: BlockDeviceType,
    /// Cache mode.
    pub cache_mode: CacheMode,
    /// Logical capacity in bytes.
    pub capacity: u64,
    /// Bytes in use.
    pub allocation: u64,
    /// Backing size in bytes.
    pub physical: u64,
    /// Storage path (`scribe/<uuid>`, or the ISO path for a CD-ROM).
    pub path: String,
    /// Name (ISO file name for a CD-ROM).
    pub name: String,
    /// Slot (-1 = auto).
    pub slot: i64,
    /// Excluded from snapshots.
    pub disable_snapshotting: bool,
    /// SSD tiering weight.
    pub tiering_priority_factor: i64,
    /// Mount points reported by the guest agent.
    pub mount_points: Vec<String>,
    /// Creation time (Unix seconds).
    pub created_timestamp: i64,
    /// Created read-only from a snapshot.
    pub read_only: bool,
}

/// `VirDomainNetDevice`: a VM network interface.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VirDomainNetDevice {
    /// Device uuid.
    pub uuid: String,
    /// Parent VM uuid.
    #[serde(rename = "virDomainUUID")]
    pub vir_domain_uuid: String,
    /// NIC model.
    #[serde(rename = "type")]
    pub kind: NetDeviceType,
    /// MAC address.
    pub mac_address: String,
    /// VLAN (0 = untagged trunk).
    pub vlan: u32,
    /// Link connected (true when not reported).
    #[serde(default = "yes")]
    pub connected: bool,
    /// IPv4 addresses reported by the guest agent.
    pub ipv4_addresses: Vec<String>,
}

/// `IOPerformanceRate`: I/O rates over a decay window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IoPerformanceRate {
    /// Averaging window in seconds.
    pub decay_seconds: i64,
    /// Reads per second times 1000.
    pub millireads_per_second: i64,
    /// Writes per second times 1000.
    pub milliwrites_per_second: i64,
    /// Read throughput in KiB/s.
    pub read_kibibytes_per_second: i64,
    /// Write throughput in KiB/s.
    pub write_kibibytes_per_second: i64,
    /// Mean read size in bytes.
    pub mean_read_size_bytes: i64,
    /// Mean write size in bytes.
    pub mean_write_size_bytes: i64,
    /// Mean read latency in microseconds.
    pub mean_read_latency_microseconds: i64,
    /// Mean write latency in microseconds.
    pub mean_write_latency_microseconds: i64,
}

/// `VSDStats`: I/O rates of one virtual storage device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VsdStats {
    /// Block device (VSD) uuid.
    pub uuid: String,
    /// Rates per decay window.
    pub rates: Vec<IoPerformanceRate>,
}

/// `VirDomainStats`: live usage of one VM.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VirDomainStats {
    /// VM uuid.
    pub uuid: String,
    /// CPU usage in percent (0-100).
    pub cpu_usage: f64,
    /// Receive rate in bit/s.
    pub rx_bit_rate: u64,
    /// Transmit rate in bit/s.
    pub tx_bit_rate: u64,
    /// Per-disk I/O rates.
    pub vsd_stats: Vec<VsdStats>,
}

/// `VirDomainVSDSnapshot`: the snapshot of one disk inside a VM snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeviceSnapshot {
    /// Uuid.
    pub uuid: String,
    /// Time taken (Unix seconds).
    pub timestamp: i64,
    /// Serial number.
    pub serial_number: i64,
    /// Changed blocks.
    pub block_count_diff: i64,
    /// Identifier.
    pub identifier: String,
}

/// `VirDomainSnapshot`: a point-in-time copy of a VM's disks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VirDomainSnapshot {
    /// Snapshot uuid.
    pub uuid: String,
    /// VM uuid.
    #[serde(rename = "domainUUID")]
    pub domain_uuid: String,
    /// User label.
    pub label: String,
    /// Who took it.
    #[serde(rename = "type")]
    pub kind: SnapshotType,
    /// Lifecycle state.
    pub state: SnapshotState,
    /// Creation time (Unix seconds).
    pub timestamp: i64,
    /// The VM as it was when the snapshot was taken.
    pub domain: Option<Box<VirDomain>>,
    /// Per-disk snapshots.
    pub device_snapshots: Vec<DeviceSnapshot>,
    /// Keep locally until (Unix seconds, 0 = keep).
    pub local_retain_until_timestamp: f64,
    /// Keep remotely until (Unix seconds, 0 = keep).
    pub remote_retain_until_timestamp: f64,
    /// Schedule trigger time.
    pub automated_trigger_timestamp: f64,
    /// Changed blocks.
    pub block_count_diff: i64,
    /// Serial number the diff is relative to (-1 = none).
    pub block_count_diff_from_serial_number: i64,
    /// Quiesced through the guest agent.
    pub quiesced: bool,
    /// Unavailable.
    pub unavailable: bool,
    /// Replicated to a remote cluster.
    pub replication: bool,
}

/// `Node`: a physical node of the cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Node {
    /// Node uuid.
    pub uuid: String,
    /// Node number shown in the UI.
    #[serde(rename = "peerID")]
    pub peer_id: i64,
    /// LAN IP.
    #[serde(rename = "lanIP")]
    pub lan_ip: String,
    /// Backplane IP.
    #[serde(rename = "backplaneIP")]
    pub backplane_ip: String,
    /// Storage capacity in bytes.
    pub capacity: u64,
    /// Physical drives.
    pub drives: Vec<Drive>,
    /// Memory in bytes.
    pub mem_size: u64,
    /// CPUs.
    #[serde(rename = "numCPUs")]
    pub num_cpus: u32,
    /// Cores.
    pub num_cores: u32,
    /// Threads.
    pub num_threads: u32,
    /// Sockets.
    pub num_sockets: u32,
    /// NUMA nodes.
    #[serde(rename = "numNUMANodes")]
    pub num_numa_nodes: u32,
    /// CPU clock in Hz.
    #[serde(rename = "CPUhz")]
    pub cpu_hz: u64,
    /// Drive slots.
    pub num_slots: u32,
    /// Network status.
    pub network_status: NodeNetworkStatus,
    /// Supports virtualization.
    pub supports_virtualization: bool,
    /// Virtualization online.
    pub virtualization_online: bool,
    /// False when the node is in maintenance (evacuated); true when not reported.
    #[serde(rename = "allowRunningVMs", default = "yes")]
    pub allow_running_vms: bool,
    /// Current disposition.
    pub current_disposition: NodeDisposition,
    /// Desired disposition.
    pub desired_disposition: NodeDisposition,
    /// CPU usage in percent.
    pub cpu_usage: f64,
    /// System memory in use (bytes).
    pub system_mem_usage_bytes: u64,
    /// Total memory in use (bytes).
    pub total_mem_usage_bytes: u64,
    /// Memory usage in percent.
    pub mem_usage_percentage: f64,
    /// Storage instance name.
    pub scribe_instance_name: String,
}

/// `Cluster`: the cluster itself (the API returns a one-element list).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Cluster {
    /// Cluster uuid.
    pub uuid: String,
    /// Cluster name.
    pub cluster_name: String,
    /// HyperCore version `major.minor.revision.build`.
    pub icos_version: String,
    /// File system id.
    #[serde(rename = "filesystemID")]
    pub filesystem_id: String,
    /// OEM brand.
    pub brand: String,
    /// Latest cluster task.
    pub latest_task_tag: Option<TaskTag>,
}

/// `Condition`: a health alarm.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Condition {
    /// Unique name.
    pub name: String,
    /// Description.
    pub description: String,
    /// True when the condition is raised.
    pub value: bool,
    /// Severity.
    pub severity: Severity,
    /// Summary health flag.
    #[serde(rename = "isOK")]
    pub is_ok: bool,
    /// Expired.
    pub is_expired: bool,
    /// Last poll failed.
    pub last_poll_failed: bool,
    /// Initialized.
    pub is_initialized: bool,
    /// Shown to users.
    pub user_visible: bool,
    /// Node uuid ("" for cluster-wide).
    #[serde(rename = "nodeUUID")]
    pub node_uuid: String,
    /// Node LAN IP.
    #[serde(rename = "nodeLANIP")]
    pub node_lan_ip: String,
    /// Node backplane IP.
    #[serde(rename = "nodeBackplaneIP")]
    pub node_backplane_ip: String,
    /// Tags (an array here, unlike VirDomain).
    pub tags: Vec<String>,
    /// Technical notes.
    pub tech_notes: String,
    /// Last modification (Unix ms).
    pub modified: i64,
    /// Last raised (Unix ms).
    pub last_set_time: i64,
    /// Last cleared (Unix ms).
    pub last_clear_time: i64,
    /// Valid until (Unix ms).
    pub guaranteed_valid_time: i64,
}

/// `Drive`: a physical drive in a node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Drive {
    /// Drive uuid.
    pub uuid: String,
    /// Node uuid.
    #[serde(rename = "nodeUUID")]
    pub node_uuid: String,
    /// Slot.
    pub slot: i64,
    /// Serial number.
    pub serial_number: String,
    /// Drive type.
    #[serde(rename = "type")]
    pub kind: DriveType,
    /// Capacity in bytes.
    pub capacity_bytes: u64,
    /// Used bytes.
    pub used_bytes: u64,
    /// Healthy (true when not reported).
    #[serde(default = "yes")]
    pub is_healthy: bool,
    /// Reallocated sectors.
    pub reallocated_sectors: i64,
    /// Error count.
    pub error_count: i64,
    /// Current disposition.
    pub current_disposition: DriveDisposition,
    /// Desired disposition.
    pub desired_disposition: DriveDisposition,
    /// Block device path.
    pub block_device_path: String,
    /// Temperature available.
    pub has_temperature: bool,
    /// Temperature (C).
    pub temperature: i64,
    /// Max temperature available.
    pub has_max_temperature: bool,
    /// Max temperature (C).
    pub max_temperature: i64,
    /// Threshold available.
    pub has_temperature_threshold: bool,
    /// Temperature threshold (C).
    pub temperature_threshold: i64,
}

/// `VSD` served at `/VirtualDisk`: an uploaded disk image not attached to a VM.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VirtualDisk {
    /// Uuid.
    pub uuid: String,
    /// Uploaded file name.
    pub name: String,
    /// Capacity in bytes.
    pub capacity_bytes: u64,
    /// Allocated bytes.
    pub total_allocation_bytes: u64,
    /// Block size in bytes.
    pub block_size: u64,
    /// Copies per block.
    pub replication_factor: u32,
}

/// `ISOMount`: a VM that has an ISO inserted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IsoMount {
    /// VM uuid.
    #[serde(rename = "vmUUID")]
    pub vm_uuid: String,
    /// VM name.
    pub vm_name: String,
}

/// `ISO`: an ISO image stored on the cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Iso {
    /// Uuid.
    pub uuid: String,
    /// File name (ends in `.iso`).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Upload finished and usable.
    pub ready_for_insert: bool,
    /// Storage path for a CD-ROM device.
    pub path: String,
    /// VMs that have it inserted.
    pub mounts: Vec<IsoMount>,
}

/// `User`: a HyperCore user account (the write-only password is never read).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct User {
    /// Uuid.
    pub uuid: String,
    /// Login name.
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// Role uuids.
    #[serde(rename = "roleUUIDs")]
    pub role_uuids: Vec<String>,
    /// Maximum concurrent sessions.
    pub session_limit: i64,
}

/// `Role`: a named set of permissions users are given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Role {
    /// Uuid.
    pub uuid: String,
    /// Role name.
    pub name: String,
}

/// `TaskTagStatus`: the progress of one HyperCore task (its `sessionID` is deliberately not kept).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TaskTag {
    /// The tag.
    #[serde(deserialize_with = "string_or_number")]
    pub task_tag: String,
    /// State.
    pub state: TaskState,
    /// Progress in percent.
    pub progress_percent: u32,
    /// Description template with `%@` placeholders.
    pub formatted_description: String,
    /// Description parameters.
    pub description_parameters: Vec<String>,
    /// Error template with `%@` placeholders.
    pub formatted_message: String,
    /// Error parameters.
    pub message_parameters: Vec<String>,
    /// Object acted on (may be a non-uuid id).
    #[serde(rename = "objectUUID")]
    pub object_uuid: String,
    /// Nodes running the task.
    #[serde(rename = "nodeUUIDs")]
    pub node_uuids: Vec<String>,
    /// Creation time (Unix seconds).
    pub created: i64,
    /// Last modification (Unix seconds).
    pub modified: i64,
    /// Completion time (Unix seconds).
    pub completed: i64,
}

/// The schema's name for [`TaskTag`].
pub type TaskTagStatus = TaskTag;

impl TaskTag {
    /// The description with its `%@` placeholders filled in (missing ones stay `%@`).
    pub fn description(&self) -> String {
        fill_placeholders(
            &self.formatted_description,
            &self.description_parameters,
            PLACEHOLDER,
        )
    }

    /// The error message with its `%@` placeholders filled in (missing ones stay `%@`).
    pub fn message(&self) -> String {
        fill_placeholders(
            &self.formatted_message,
            &self.message_parameters,
            PLACEHOLDER,
        )
    }

    /// True while the task has not finished: queued, running, or in a state this client does
    /// not know (it is polled on rather than taken for done).
    pub fn is_pending(&self) -> bool {
        !matches!(
            self.state,
            TaskState::Complete | TaskState::Error | TaskState::Uninitialized
        )
    }

    /// True when the task failed (ERROR or UNINITIALIZED).
    pub fn is_failed(&self) -> bool {
        matches!(self.state, TaskState::Error | TaskState::Uninitialized)
    }
}

/// The placeholder of HyperCore's formatted texts.
pub const PLACEHOLDER: &str = "%@";

/// Replaces each `%@` in `template` with the next parameter; placeholders without a parameter
/// become `missing`.
pub fn fill_placeholders(template: &str, params: &[String], missing: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    let mut params = params.iter();
    while let Some(pos) = rest.find(PLACEHOLDER) {
        out.push_str(&rest[..pos]);
        out.push_str(params.next().map_or(missing, String::as_str));
        rest = &rest[pos + PLACEHOLDER.len()..];
    }
    out.push_str(rest);
    out
}

/// `Result` of a mutation: the task to wait for and the uuid of a created object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TaskResult {
    /// Task tag ("" = finished synchronously, nothing to wait for).
    #[serde(deserialize_with = "string_or_number")]
    pub task_tag: String,
    /// Uuid of the created object ("" when nothing was created).
    #[serde(rename = "createdUUID")]
    pub created_uuid: String,
}

/// Answer of `GET /ping`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ping {
    /// Service status text.
    pub status: String,
}

/// A HyperCore collection (`GET /rest/v1/{PATH}`) whose records decode into `Self`.
pub trait Collection: serde::de::DeserializeOwned + Send + Sync + 'static {
    /// The collection's path under `/rest/v1` (also its kind in errors).
    const PATH: &'static str;
}

macro_rules! collections {
    ($($record:ty = $path:literal),+ $(,)?) => {
        $(impl Collection for $record {
            const PATH: &'static str = $path;
        })+
    };
}

collections!(
    VirDomain = "VirDomain",
    VirDomainStats = "VirDomainStats",
    VirDomainSnapshot = "VirDomainSnapshot",
    VirDomainBlockDevice = "VirDomainBlockDevice",
    VirDomainNetDevice = "VirDomainNetDevice",
    Node = "Node",
    Cluster = "Cluster",
    Condition = "Condition",
    Drive = "Drive",
    VirtualDisk = "VirtualDisk",
    Iso = "ISO",
    User = "User",
    Role = "Role",
    TaskTag = "TaskTag",
);

/// Removes `null` members from JSON objects (recursively) so `#[serde(default)]` applies to them.
pub(crate) fn strip_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse<T: serde::de::DeserializeOwned>(mut v: serde_json::Value) -> T {
        strip_nulls(&mut v);
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn vir_domain_from_schema_shaped_json() {
        let vm: VirDomain = parse(json!({
            "uuid": "7f1c", "name": "web-01", "description": "front", "operatingSystem": "os_other",
            "state": "RUNNING", "uiState": "MIGRATING", "desiredDisposition": "RUNNING",
            "mem": 4294967296u64, "numVCPU": 4, "nodeUUID": "n1", "lastSeenRunningOnNodeUUID": "n1",
            "tags": "prod, web,,db", "bootDevices": ["b1"], "snapUUIDs": ["s1", "s2"],
            "sourceVirDomainUUID": "", "machineType": "scale-7.2", "cpuType": "clusterBaseline-7.3",
            "guestAgentState": "AVAILABLE", "created": 1700000000, "modified": 1700000001,
            "console": {"type": "VNC", "ip": "10.0.0.1", "port": 5900, "keymap": "en-us"},
            "affinityStrategy": {"strictAffinity": false, "preferredNodeUUID": "n1", "backupNodeUUID": ""},
            "deprecated_stats": [{"type": "VIR_DOMAIN_CPU", "currentValue": 1200, "maxValue": 0}],
            "blockDevs": [{"uuid": "b1", "virDomainUUID": "7f1c", "type": "VIRTIO_DISK",
                "cacheMode": "WRITETHROUGH", "capacity": 10737418240u64, "slot": 0, "readOnly": false,
                "mountPoints": ["/"], "brandNewField": {"x": 1}}],
            "netDevs": [{"uuid": "nd1", "virDomainUUID": "7f1c", "type": "VIRTIO", "macAddress": "7C:4C:58:00:00:01",
                "vlan": 0, "connected": true, "ipv4Addresses": ["10.0.0.9"]}],
            "latestTaskTag": {"taskTag": "42", "state": "COMPLETE", "progressPercent": 100, "sessionID": "zzz"},
            "someFutureField": [1, 2, 3],
            "snapshotScheduleUUID": null
        }));
        assert_eq!(vm.state, VmState::Running);
        assert_eq!(vm.ui_state, Some(VmUiState::Migrating));
        assert_eq!(vm.num_vcpu, 4);
        assert_eq!(vm.mem, 4 << 30);
        assert_eq!(vm.tag_list(), vec!["prod", "web", "db"]);
        assert!(!vm.is_replication_target());
        assert_eq!(vm.block_devs[0].kind, BlockDeviceType::VirtioDisk);
        assert_eq!(vm.net_devs[0].kind, NetDeviceType::Virtio);
        assert_eq!(
            vm.latest_task_tag.as_ref().unwrap().state,
            TaskState::Complete
        );
        assert_eq!(vm.snapshot_schedule_uuid, "");
        // Re-serialises with wire names and no session id.
        let back = serde_json::to_value(&vm).unwrap();
        assert_eq!(back["numVCPU"], 4);
        assert_eq!(back["nodeUUID"], "n1");
        assert!(!back.to_string().contains("zzz"));
    }

    #[test]
    fn unknown_enum_values_are_kept() {
        let vm: VirDomain = parse(json!({"uuid": "a", "state": "HIBERNATING"}));
        assert_eq!(vm.state, VmState::Other("HIBERNATING".into()));
        assert_eq!(vm.state.to_string(), "HIBERNATING");
        assert_eq!(serde_json::to_value(&vm.state).unwrap(), "HIBERNATING");
        let vm: VirDomain = parse(json!({"uuid": "b", "sourceVirDomainUUID": "src"}));
        assert!(vm.is_replication_target());
    }

    #[test]
    fn task_tag_and_result_parse() {
        let t: TaskTag = parse(
            json!({"taskTag": "36199", "state": "ERROR", "progressPercent": 40,
            "formattedMessage": "Unable to delete block device from VM '%@': %@",
            "messageParameters": ["web-01", "Still in use"], "objectUUID": "default-target",
            "sessionID": "secret-session", "nodeUUIDs": ["n1"]}),
        );
        assert!(t.is_failed());
        assert!(!t.is_pending());
        assert_eq!(
            t.message(),
            "Unable to delete block device from VM 'web-01': Still in use"
        );
        let r: TaskResult = parse(json!({"taskTag": 17, "createdUUID": "c"}));
        assert_eq!(r.task_tag, "17");
        let r: TaskResult = parse(json!({"taskTag": "", "createdUUID": ""}));
        assert!(r.task_tag.is_empty());
    }

    #[test]
    fn placeholders_fill_in_order() {
        assert_eq!(
            fill_placeholders("a %@ b %@ c %@", &["1".into(), "2".into()], PLACEHOLDER),
            "a 1 b 2 c %@"
        );
        assert_eq!(fill_placeholders("plain", &[], PLACEHOLDER), "plain");
    }

    #[test]
    fn node_cluster_condition_snapshot_and_others_parse() {
        let n: Node = parse(
            json!({"uuid": "n1", "peerID": 2, "lanIP": "10.0.0.2", "backplaneIP": "10.100.0.2",
            "capacity": 1000, "memSize": 68719476736u64, "numCPUs": 2, "numCores": 16, "numThreads": 32,
            "numNUMANodes": 2, "CPUhz": 2400000000u64, "networkStatus": "ONLINE", "allowRunningVMs": true,
            "currentDisposition": "IN", "desiredDisposition": "IN", "cpuUsage": 12.5, "memUsagePercentage": 40.1,
            "drives": [{"uuid": "d1", "type": "SSD", "capacityBytes": 100, "isHealthy": true, "currentDisposition": "IN"}]}),
        );
        assert_eq!(n.peer_id, 2);
        assert_eq!(n.network_status, NodeNetworkStatus::Online);
        assert_eq!(n.drives[0].kind, DriveType::Ssd);
        let c: Cluster = parse(
            json!({"uuid": "c1", "clusterName": "edge", "icosVersion": "9.4.30.217736", "filesystemID": "f"}),
        );
        assert_eq!(c.icos_version, "9.4.30.217736");
        let cond: Condition = parse(
            json!({"name": "DiskFull", "value": true, "severity": "CRITICAL",
            "isOK": false, "tags": ["storage"], "nodeLANIP": "10.0.0.2", "lastSetTime": 1700000000000i64}),
        );
        assert_eq!(cond.severity, Severity::Critical);
        assert!(!cond.is_ok);
        let s: VirDomainSnapshot = parse(
            json!({"uuid": "s1", "domainUUID": "v1", "label": "before",
            "type": "USER", "state": "CREATED", "timestamp": 1700000000, "localRetainUntilTimestamp": 1700000000.5,
            "domain": {"uuid": "v1", "name": "web-01", "state": "RUNNING"},
            "deviceSnapshots": [{"uuid": "ds1", "serialNumber": 3}], "replication": true}),
        );
        assert_eq!(s.kind, SnapshotType::User);
        assert_eq!(s.domain.unwrap().name, "web-01");
        let st: VirDomainStats = parse(
            json!({"uuid": "v1", "cpuUsage": 3.5, "rxBitRate": 10, "txBitRate": 20,
            "vsdStats": [{"uuid": "b1", "rates": [{"decaySeconds": 5, "millireadsPerSecond": 1000}]}]}),
        );
        assert_eq!(st.vsd_stats[0].rates[0].millireads_per_second, 1000);
        let u: User = parse(
            json!({"uuid": "u", "username": "admin", "password": "never",
            "roleUUIDs": ["r"], "sessionLimit": 5}),
        );
        assert!(!format!("{u:?}").contains("never"));
        let iso: Iso = parse(json!({"uuid": "i", "name": "x.iso", "readyForInsert": true,
            "mounts": [{"vmUUID": "v", "vmName": "n"}]}));
        assert_eq!(iso.mounts[0].vm_uuid, "v");
        let vd: VirtualDisk =
            parse(json!({"uuid": "vd", "name": "disk.qcow2", "capacityBytes": 5}));
        assert_eq!(vd.capacity_bytes, 5);
    }

    #[test]
    fn tags_join_and_split() {
        assert_eq!(join_tags(&["a", " b ", ""]), "a,b");
        assert_eq!(split_tags(""), Vec::<String>::new());
    }
}
