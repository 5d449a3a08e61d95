//! The generated data set of one cluster ([`ClusterState`]) and the settings collections it
//! serves verbatim.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::archetype::Archetype;
use crate::model::*;

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
