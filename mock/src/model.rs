//! HyperCore REST records as the simulator stores and serves them. Field names, types and
//! enum values follow the cluster's own OpenAPI schema (components.schemas).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `TaskTagStatus`: the progress of one asynchronous task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskTagStatus {
    /// The tag, a number as a string.
    pub task_tag: String,
    /// 0-100.
    pub progress_percent: i64,
    /// UNINITIALIZED, QUEUED, RUNNING, COMPLETE or ERROR.
    pub state: String,
    /// Description template with `%@` placeholders.
    pub formatted_description: String,
    /// Values for the description placeholders.
    pub description_parameters: Vec<String>,
    /// Error template with `%@` placeholders ("" unless ERROR).
    pub formatted_message: String,
    /// Values for the message placeholders.
    pub message_parameters: Vec<String>,
    /// Object acted upon.
    #[serde(rename = "objectUUID")]
    pub object_uuid: String,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds.
    pub modified: i64,
    /// Unix seconds (0 until finished).
    pub completed: i64,
    /// Session that started the task.
    #[serde(rename = "sessionID")]
    pub session_id: String,
    /// Nodes running the task.
    #[serde(rename = "nodeUUIDs")]
    pub node_uuids: Vec<String>,
}

impl TaskTagStatus {
    /// A finished, empty status used as the initial `latestTaskTag` of generated objects.
    pub fn idle(object_uuid: &str, at: i64) -> Self {
        TaskTagStatus {
            task_tag: String::new(),
            progress_percent: 100,
            state: "COMPLETE".into(),
            formatted_description: String::new(),
            description_parameters: vec![],
            formatted_message: String::new(),
            message_parameters: vec![],
            object_uuid: object_uuid.to_owned(),
            created: at,
            modified: at,
            completed: at,
            session_id: String::new(),
            node_uuids: vec![],
        }
    }
}

/// `Cluster`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    /// Cluster uuid.
    pub uuid: String,
    /// Cluster name (a valid hostname).
    pub cluster_name: String,
    /// `major.minor.revision.build`.
    pub icos_version: String,
    /// Storage file-system id.
    #[serde(rename = "filesystemID")]
    pub filesystem_id: String,
    /// OEM marker.
    pub brand: String,
    /// Deprecated flag, always true.
    #[serde(rename = "isRESTAPIEnabled")]
    pub is_rest_api_enabled: bool,
    /// Last task on the cluster object.
    pub latest_task_tag: TaskTagStatus,
}

/// `FileSystemDisk`: one entry of `Drive.disks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileSystemDisk {
    /// File-system name.
    pub fs_name: String,
    /// Owning drive.
    #[serde(rename = "driveUUID")]
    pub drive_uuid: String,
    /// Availability text.
    pub availability: String,
    /// State text.
    pub state: String,
    /// Whether the disk answers.
    pub is_reachable: bool,
    /// Bytes.
    pub capacity_bytes: i64,
    /// Bytes.
    pub used_bytes: i64,
}

/// `Drive`: a physical disk in a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Drive {
    /// Drive uuid.
    pub uuid: String,
    /// Node it sits in.
    #[serde(rename = "nodeUUID")]
    pub node_uuid: String,
    /// Bay number.
    pub slot: i64,
    /// Vendor serial.
    pub serial_number: String,
    /// UNKNOWN, SATA, SAS, VIRTUAL or SSD.
    #[serde(rename = "type")]
    pub kind: String,
    /// UNKNOWN, IN or OUT.
    pub desired_disposition: String,
    /// UNKNOWN, IN or OUT.
    pub current_disposition: String,
    /// Bytes.
    pub capacity_bytes: i64,
    /// Bytes.
    pub used_bytes: i64,
    /// File systems on the drive.
    pub disks: BTreeMap<String, FileSystemDisk>,
    /// Health summary.
    pub is_healthy: bool,
    /// SMART reallocated sectors.
    pub reallocated_sectors: i64,
    /// I/O errors seen.
    pub error_count: i64,
    /// e.g. `/dev/sdb`.
    pub block_device_path: String,
    /// Whether `temperature` is meaningful.
    pub has_temperature: bool,
    /// Celsius.
    pub temperature: i64,
    /// Whether `maxTemperature` is meaningful.
    pub has_max_temperature: bool,
    /// Celsius.
    pub max_temperature: i64,
    /// Whether `temperatureThreshold` is meaningful.
    pub has_temperature_threshold: bool,
    /// Celsius.
    pub temperature_threshold: i64,
}

/// `Node`: one physical host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// Node uuid.
    pub uuid: String,
    /// Backplane address.
    #[serde(rename = "backplaneIP")]
    pub backplane_ip: String,
    /// LAN address.
    #[serde(rename = "lanIP")]
    pub lan_ip: String,
    /// Internal.
    pub config_state: i64,
    /// Internal.
    pub active_version: i64,
    /// Storage bytes.
    pub capacity: i64,
    /// Drives in this node.
    pub drives: Vec<Drive>,
    /// Deprecated virtual IPs.
    pub vips: Vec<String>,
    /// RAM bytes.
    pub mem_size: i64,
    /// Logical CPUs.
    #[serde(rename = "numCPUs")]
    pub num_cpus: i64,
    /// CPU clock in Hz.
    #[serde(rename = "CPUhz")]
    pub cpu_hz: i64,
    /// NUMA nodes.
    #[serde(rename = "numNUMANodes")]
    pub num_numa_nodes: i64,
    /// Sockets.
    pub num_sockets: i64,
    /// Physical cores.
    pub num_cores: i64,
    /// Hardware threads.
    pub num_threads: i64,
    /// ONLINE, OFFLINE or UNKNOWN.
    pub network_status: String,
    /// Virtualization capable.
    pub supports_virtualization: bool,
    /// Virtualization running.
    pub virtualization_online: bool,
    /// Deprecated pair.
    #[serde(rename = "pairedNodeUUID")]
    pub paired_node_uuid: String,
    /// Storage instance.
    pub scribe_instance_name: String,
    /// UI node number.
    #[serde(rename = "peerID")]
    pub peer_id: i64,
    /// Drive bays.
    pub num_slots: i64,
    /// System RAM in use.
    pub system_mem_usage_bytes: i64,
    /// Percent of RAM in use.
    pub mem_usage_percentage: f64,
    /// GPUs (none simulated).
    pub gpus: Vec<serde_json::Value>,
    /// IN, EVACUATED, OUT or UNKNOWN.
    pub current_disposition: String,
    /// IN, EVACUATED, OUT or UNKNOWN.
    pub desired_disposition: String,
    /// Percent CPU in use.
    pub cpu_usage: f64,
    /// Total RAM in use.
    pub total_mem_usage_bytes: i64,
    /// False in maintenance mode.
    #[serde(rename = "allowRunningVMs")]
    pub allow_running_vms: bool,
}

/// `VirDomainBlockDevice`: a VM disk, CD-ROM, NVRAM or vTPM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDevice {
    /// Device uuid.
    pub uuid: String,
    /// Owning VM.
    #[serde(rename = "virDomainUUID")]
    pub vir_domain_uuid: String,
    /// VIRTIO_DISK, IDE_CDROM, NVRAM, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// NONE, WRITEBACK or WRITETHROUGH.
    pub cache_mode: String,
    /// Logical bytes.
    pub capacity: i64,
    /// Bytes in use.
    pub allocation: i64,
    /// Backing bytes.
    pub physical: i64,
    /// Share (unused).
    #[serde(rename = "shareUUID")]
    pub share_uuid: String,
    /// `scribe/<uuid>`, or the inserted ISO's path for a CD-ROM.
    pub path: String,
    /// Slot (-1 = auto).
    pub slot: i64,
    /// ISO name for a CD-ROM.
    pub name: String,
    /// Excluded from snapshots.
    pub disable_snapshotting: bool,
    /// SSD tiering weight.
    pub tiering_priority_factor: i64,
    /// Guest mount points.
    pub mount_points: Vec<String>,
    /// Unix seconds.
    pub created_timestamp: i64,
    /// Created read-only from a snapshot.
    pub read_only: bool,
}

/// `VirDomainNetDevice`: a VM NIC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetDevice {
    /// Device uuid.
    pub uuid: String,
    /// Owning VM.
    #[serde(rename = "virDomainUUID")]
    pub vir_domain_uuid: String,
    /// VIRTIO, INTEL_E1000, RTL8139 or PCNET.
    #[serde(rename = "type")]
    pub kind: String,
    /// MAC address.
    pub mac_address: String,
    /// VLAN (0 = untagged trunk).
    pub vlan: i64,
    /// Link up.
    pub connected: bool,
    /// Guest-reported addresses.
    pub ipv4_addresses: Vec<String>,
}

/// `StatsDatum`: one entry of `VirDomain.deprecated_stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsDatum {
    /// VIR_DOMAIN_CPU, VIR_DOMAIN_MEM_CURRENT, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Current value.
    pub current_value: i64,
    /// Maximum value.
    pub max_value: i64,
}

/// `VirDomainConsole`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Console {
    /// Always VNC.
    #[serde(rename = "type")]
    pub kind: String,
    /// Console address.
    pub ip: String,
    /// Console port.
    pub port: i64,
    /// Keyboard map.
    pub keymap: String,
}

/// `VirDomainAffinityStrategy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AffinityStrategy {
    /// Only run on the preferred/backup nodes.
    pub strict_affinity: bool,
    /// Preferred node ("" for none).
    #[serde(rename = "preferredNodeUUID")]
    pub preferred_node_uuid: String,
    /// Backup node ("" for none).
    #[serde(rename = "backupNodeUUID")]
    pub backup_node_uuid: String,
}

/// `CloudInitData`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudInitData {
    /// base64 YAML.
    pub user_data: String,
    /// base64 YAML.
    pub meta_data: String,
}

/// `VirDomain`: a virtual machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirDomain {
    /// VM uuid.
    pub uuid: String,
    /// Current host ("" when never placed).
    #[serde(rename = "nodeUUID")]
    pub node_uuid: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// e.g. `os_windows_server_2019`, `os_other`.
    pub operating_system: String,
    /// RUNNING, BLOCKED, PAUSED, SHUTDOWN, SHUTOFF or CRASHED.
    pub state: String,
    /// SHUTOFF, RUNNING or PAUSED.
    pub desired_disposition: String,
    /// VNC console.
    pub console: Console,
    /// Bytes (multiple of 1 MiB).
    pub mem: i64,
    /// Virtual CPUs.
    #[serde(rename = "numVCPU")]
    pub num_vcpu: i64,
    /// Embedded block devices.
    pub block_devs: Vec<BlockDevice>,
    /// Embedded NICs.
    pub net_devs: Vec<NetDevice>,
    /// Legacy statistics.
    #[serde(rename = "deprecated_stats")]
    pub deprecated_stats: Vec<StatsDatum>,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds.
    pub modified: i64,
    /// Last task on this VM.
    pub latest_task_tag: TaskTagStatus,
    /// Comma-separated tags.
    pub tags: String,
    /// Ordered boot device uuids.
    pub boot_devices: Vec<String>,
    /// State plus transitions (STARTING, STOPPING, MIGRATING, ...).
    pub ui_state: String,
    /// Snapshot uuids, oldest first.
    #[serde(rename = "snapUUIDs")]
    pub snap_uuids: Vec<String>,
    /// Internal snapshot counter.
    pub snapshot_serial_number: i64,
    /// Internal replication ids.
    #[serde(rename = "replicationUUIDs")]
    pub replication_uuids: Vec<String>,
    /// Non-empty on a replication target.
    #[serde(rename = "sourceVirDomainUUID")]
    pub source_vir_domain_uuid: String,
    /// Internal snapshot-list counter.
    pub snapshot_list_serial_number: i64,
    /// Snapshot schedule ("" if none).
    #[serde(rename = "snapshotScheduleUUID")]
    pub snapshot_schedule_uuid: String,
    /// e.g. `scale-7.2`.
    pub machine_type: String,
    /// e.g. `clusterBaseline-7.3`.
    pub cpu_type: String,
    /// Snapshot blocks.
    pub snapshot_allocation_blocks: i64,
    /// UNKNOWN, UNAVAILABLE or AVAILABLE.
    pub guest_agent_state: String,
    /// Last host it ran on.
    #[serde(rename = "lastSeenRunningOnNodeUUID")]
    pub last_seen_running_on_node_uuid: String,
    /// Transient VM.
    pub is_transient: bool,
    /// Placement preferences.
    pub affinity_strategy: AffinityStrategy,
    /// Internal.
    #[serde(rename = "vsdUUIDsToDelete")]
    pub vsd_uuids_to_delete: Vec<String>,
    /// cloud-init payloads.
    pub cloud_init_data: CloudInitData,
    /// Snapshot it was cloned from.
    #[serde(rename = "initialCloneSnapshotUUID")]
    pub initial_clone_snapshot_uuid: String,
    /// bios, uefi, tpm or tpm-compatible.
    pub machine_type_keyword: String,
}

/// `VirDomainVSDSnapshot`: one disk inside a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceSnapshot {
    /// Disk uuid.
    pub uuid: String,
    /// Unix seconds.
    pub timestamp: i64,
    /// Serial number.
    pub serial_number: i64,
    /// Changed blocks.
    pub block_count_diff: i64,
    /// Internal identifier.
    pub identifier: String,
    /// Internal checksum.
    pub checksum: String,
}

/// `VirDomainSnapshot`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Snapshot uuid.
    pub uuid: String,
    /// VM it belongs to.
    #[serde(rename = "domainUUID")]
    pub domain_uuid: String,
    /// Unix seconds.
    pub timestamp: i64,
    /// User label.
    pub label: String,
    /// The VM as it was when the snapshot was taken.
    pub domain: Box<VirDomain>,
    /// Disks captured.
    pub device_snapshots: Vec<DeviceSnapshot>,
    /// Data unavailable.
    pub unavailable: bool,
    /// USER, AUTOMATED or SUPPORT.
    #[serde(rename = "type")]
    pub kind: String,
    /// Changed blocks.
    pub block_count_diff: i64,
    /// Unix seconds (schedules).
    pub automated_trigger_timestamp: i64,
    /// Unix seconds; 0 = keep.
    pub local_retain_until_timestamp: i64,
    /// CREATED, DELETING or CREATING.
    pub state: String,
    /// Guest-quiesced.
    pub quiesced: bool,
    /// Unix seconds; 0 = keep.
    pub remote_retain_until_timestamp: i64,
    /// Baseline serial (-1 = previous).
    pub block_count_diff_from_serial_number: i64,
    /// Replicate to the remote.
    pub replication: bool,
}

/// `IOPerformanceRate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IoPerformanceRate {
    /// Averaging window.
    pub decay_seconds: i64,
    /// Reads per 1000 s.
    pub millireads_per_second: i64,
    /// Writes per 1000 s.
    pub milliwrites_per_second: i64,
    /// KiB/s read.
    pub read_kibibytes_per_second: i64,
    /// KiB/s written.
    pub write_kibibytes_per_second: i64,
    /// Bytes.
    pub mean_read_size_bytes: i64,
    /// Bytes.
    pub mean_write_size_bytes: i64,
    /// Microseconds.
    pub mean_read_latency_microseconds: i64,
    /// Microseconds.
    pub mean_write_latency_microseconds: i64,
}

/// `VSDStats`: I/O rates of one disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VsdStats {
    /// Disk uuid.
    pub uuid: String,
    /// Rates over several windows.
    pub rates: Vec<IoPerformanceRate>,
}

/// `VirDomainStats`: live usage of one VM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirDomainStats {
    /// VM uuid.
    pub uuid: String,
    /// Per-disk I/O.
    pub vsd_stats: Vec<VsdStats>,
    /// Percent 0-100.
    pub cpu_usage: f64,
    /// bit/s received.
    pub rx_bit_rate: i64,
    /// bit/s sent.
    pub tx_bit_rate: i64,
}

/// `Condition`: a health alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Unique key.
    pub name: String,
    /// Human text.
    pub description: String,
    /// True = raised.
    pub value: bool,
    /// Node concerned ("" for cluster-wide).
    #[serde(rename = "nodeUUID")]
    pub node_uuid: String,
    /// Node LAN address.
    #[serde(rename = "nodeLANIP")]
    pub node_lan_ip: String,
    /// Milliseconds.
    pub modified: i64,
    /// Shown in the UI.
    pub user_visible: bool,
    /// Support notes.
    pub tech_notes: String,
    /// Milliseconds.
    pub poll_interval: i64,
    /// Milliseconds.
    pub expiration_interval: i64,
    /// Milliseconds.
    pub set_delay: i64,
    /// Milliseconds.
    pub clear_delay: i64,
    /// Milliseconds.
    pub last_set_time: i64,
    /// Milliseconds.
    pub last_clear_time: i64,
    /// Milliseconds.
    pub guaranteed_valid_time: i64,
    /// Stale.
    pub is_expired: bool,
    /// Last poll failed.
    pub last_poll_failed: bool,
    /// Polled at least once.
    pub is_initialized: bool,
    /// Summary health.
    #[serde(rename = "isOK")]
    pub is_ok: bool,
    /// Node backplane address.
    #[serde(rename = "nodeBackplaneIP")]
    pub node_backplane_ip: String,
    /// EMERGENCY ... DEBUG.
    pub severity: String,
    /// Category tags.
    pub tags: Vec<String>,
}

/// `VSD` as served by `/VirtualDisk`: an uploaded, unattached disk image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualDisk {
    /// Disk uuid.
    pub uuid: String,
    /// Bytes.
    pub capacity_bytes: i64,
    /// Bytes allocated.
    pub total_allocation_bytes: i64,
    /// Bytes.
    pub block_size: i64,
    /// Copies kept.
    pub replication_factor: i64,
    /// Uploaded file name.
    pub name: String,
}

/// `ISOMount`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IsoMount {
    /// VM uuid.
    #[serde(rename = "vmUUID")]
    pub vm_uuid: String,
    /// VM name.
    pub vm_name: String,
}

/// `ISO`: an uploaded installation image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Iso {
    /// ISO uuid.
    pub uuid: String,
    /// File name (ends `.iso`).
    pub name: String,
    /// Bytes.
    pub size: i64,
    /// VMs with it inserted (computed when served).
    pub mounts: Vec<IsoMount>,
    /// Upload finished.
    pub ready_for_insert: bool,
    /// `scribe/<uuid>`.
    pub path: String,
}

/// `User` (never carries a password).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// User uuid.
    pub uuid: String,
    /// Login name.
    pub username: String,
    /// Display name.
    pub full_name: String,
    /// Roles held.
    #[serde(rename = "roleUUIDs")]
    pub role_uuids: Vec<String>,
    /// Concurrent sessions allowed.
    pub session_limit: i64,
}

/// `Permission`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    /// API function name.
    pub function_name: String,
}

/// `Role`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// Role uuid.
    pub uuid: String,
    /// Role name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Functions allowed.
    pub permissions: Vec<Permission>,
    /// Mapped OIDC group.
    pub oidc_name: String,
}

/// `VirDomainSnapshotRecurrenceRule`: one rule of a snapshot schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecurrenceRule {
    /// Rule uuid.
    pub uuid: String,
    /// Local start time `YYYY-MM-DD HH:MM:SS`.
    pub dtstart: String,
    /// RFC 2445 recurrence, e.g. `FREQ=DAILY;INTERVAL=1`.
    pub rrule: String,
    /// Seconds to keep local snapshots.
    pub local_retention_duration_seconds: i64,
    /// Rule name.
    pub name: String,
    /// Seconds to keep remote snapshots (0 = same as local).
    pub remote_retention_duration_seconds: i64,
    /// Replicate the snapshots.
    pub replication: bool,
}

/// `VirDomainSnapshotSchedule`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotSchedule {
    /// Schedule uuid.
    pub uuid: String,
    /// Schedule name.
    pub name: String,
    /// Recurrence rules.
    pub rrules: Vec<RecurrenceRule>,
}
