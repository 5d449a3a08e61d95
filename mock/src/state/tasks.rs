//! The live cluster and its task engine: [`SimState`] holds the cluster data, task tags that
//! complete over scaled real time (evaluated lazily on each request) and ACPI shutdown timers,
//! and applies each task's effect exactly when it completes.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

use super::vm_update::{apply_disk_patch, apply_patch, assign_slot, set_state};
use crate::generate::{ClusterState, uuid_from};
use crate::model::*;

/// One VM power action of a `POST /VirDomain/action` batch.
#[derive(Debug, Clone, PartialEq)]
pub struct VmAction {
    /// Target VM.
    pub vm: String,
    /// START, SHUTDOWN, STOP, PAUSE, REBOOT, RESET, LIVEMIGRATE or NMI.
    pub action: String,
    /// Target node (LIVEMIGRATE, START, REBOOT).
    pub node: Option<String>,
}

/// A change applied when its task completes.
#[derive(Debug, Clone)]
pub(super) enum Effect {
    /// Power actions of one batch.
    Power(Vec<VmAction>),
    /// The snapshot (uuid) becomes CREATED and joins its VM.
    SnapshotCreated(String),
    /// The snapshot (uuid) is removed.
    SnapshotDeleted(String),
    /// The cloned VM appears.
    CloneCreated(Box<VirDomain>),
    /// A created or imported VM appears; its disks' capacity is charged to storage.
    VmCreated(Box<VirDomain>),
    /// The VM (uuid) is removed with its snapshots; its disks' storage is freed.
    VmDeleted(String),
    /// The block device joins its VM; its capacity is charged to storage.
    DiskAdded(Box<BlockDevice>),
    /// The PATCH body is applied to the block device (uuid); growth is charged to storage.
    DiskPatched(String, Map<String, Value>),
    /// The PATCH body is applied to the VM (uuid).
    VmPatched(String, Map<String, Value>),
    /// No change (exports, failed tasks).
    Nothing,
}

/// One task tag and what it does when it completes.
#[derive(Debug, Clone)]
struct Task {
    started: Instant,
    duration: Duration,
    created_unix: i64,
    description: String,
    description_parameters: Vec<String>,
    object_uuid: String,
    session_id: String,
    node_uuids: Vec<String>,
    /// `Some((message, parameters))` when the task ends in ERROR.
    failure: Option<(String, Vec<String>)>,
    effect: Effect,
    applied: bool,
    completed_unix: i64,
}

/// Memory and storage promised to a task that has not completed yet, so that concurrent
/// requests cannot together overcommit a node or the storage.
#[derive(Debug, Clone, Default)]
pub(super) struct Reservation {
    /// (node uuid, bytes) of VMs being started there.
    pub(super) memory: Vec<(String, i64)>,
    /// Bytes of disks being created or grown.
    pub(super) storage: i64,
}

/// An ACPI shutdown that turns the VM SHUTOFF when due, unless a newer one replaced it.
#[derive(Debug, Clone)]
pub(super) struct ShutdownTimer {
    /// When the guest has shut down.
    pub(super) due: Instant,
    /// The VM shutting down.
    pub(super) vm: String,
    /// Matches `SimState::shutdown_tokens` while this is the VM's latest shutdown.
    pub(super) token: u64,
}

/// The simulator's mutable cluster and its tasks, guarded by one lock.
pub struct SimState {
    /// The cluster data served over REST.
    pub cluster: ClusterState,
    tasks: BTreeMap<u64, Task>,
    next_tag: u64,
    /// Pending ACPI shutdowns.
    pub(super) timers: Vec<ShutdownTimer>,
    /// Each shutting-down VM's latest shutdown (a STOP or a newer SHUTDOWN cancels older ones).
    pub(super) shutdown_tokens: HashMap<String, u64>,
    /// Next shutdown token.
    pub(super) next_token: u64,
    /// Tags of tasks whose effect is not applied yet.
    pending: std::collections::BTreeSet<u64>,
    /// Earliest instant at which a pending task or timer falls due.
    next_due: Option<Instant>,
    /// The live state's own stream (new uuids, MACs, usage of started VMs).
    pub(super) rng: ChaCha8Rng,
    task_duration: Duration,
    /// How long an ACPI shutdown takes.
    pub(super) shutdown_duration: Duration,
    /// What each pending task has reserved, by tag.
    pub(super) reservations: BTreeMap<u64, Reservation>,
    /// The reservation the next [`SimState::start_task`] takes over.
    pub(super) next_reservation: Reservation,
    /// Storage bytes charged for each block device the simulator created or grew (a generated
    /// disk frees its `allocation` when deleted).
    pub(super) charged: HashMap<String, i64>,
    /// `smb://host/share/path` maps to `<smb_root>/host/share/path` when set.
    pub(super) smb_root: Option<PathBuf>,
    /// Generated VMs whose node generation left overcommitted, with that node: they may still
    /// start there when no node has room (generation placed them there; see `placement`).
    pub(super) grandfathered: HashMap<String, String>,
}

/// Usage statistics of a VM that has not run yet (idle disks).
pub(super) fn idle_stats(vm: &VirDomain) -> VirDomainStats {
    VirDomainStats {
        uuid: vm.uuid.clone(),
        vsd_stats: vm
            .block_devs
            .iter()
            .filter(|d| d.kind == "VIRTIO_DISK")
            .map(|d| idle_vsd(&d.uuid))
            .collect(),
        cpu_usage: 0.0,
        rx_bit_rate: 0,
        tx_bit_rate: 0,
    }
}

/// I/O statistics of an idle disk.
fn idle_vsd(uuid: &str) -> VsdStats {
    VsdStats {
        uuid: uuid.to_owned(),
        rates: vec![IoPerformanceRate {
            decay_seconds: 10,
            millireads_per_second: 0,
            milliwrites_per_second: 0,
            read_kibibytes_per_second: 0,
            write_kibibytes_per_second: 0,
            mean_read_size_bytes: 0,
            mean_write_size_bytes: 0,
            mean_read_latency_microseconds: 0,
            mean_write_latency_microseconds: 0,
        }],
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(super) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl SimState {
    /// Wraps a generated cluster for serving.
    pub fn new(
        cluster: ClusterState,
        task_duration: Duration,
        shutdown_duration: Duration,
    ) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(cluster.seed ^ 0x5EED_0FC0_FFEE);
        let overcommitted: Vec<String> = cluster
            .nodes
            .iter()
            .filter(|n| {
                let m = cluster.node_memory(n);
                m.system + m.allocated > m.total
            })
            .map(|n| n.uuid.clone())
            .collect();
        let grandfathered = cluster
            .vms
            .iter()
            .filter(|v| overcommitted.contains(&v.node_uuid))
            .map(|v| (v.uuid.clone(), v.node_uuid.clone()))
            .collect();
        SimState {
            cluster,
            tasks: BTreeMap::new(),
            next_tag: 1000 + 1,
            timers: Vec::new(),
            shutdown_tokens: HashMap::new(),
            next_token: 1,
            pending: std::collections::BTreeSet::new(),
            next_due: None,
            rng,
            task_duration,
            shutdown_duration,
            reservations: BTreeMap::new(),
            next_reservation: Reservation::default(),
            charged: HashMap::new(),
            smb_root: None,
            grandfathered,
        }
    }

    /// Maps SMB URIs into `root` (exports write there, imports read from there).
    pub fn with_smb_root(mut self, root: Option<PathBuf>) -> Self {
        self.smb_root = root;
        self
    }

    // ----- time -----------------------------------------------------------------------

    /// Applies every task effect and shutdown timer that is due at `now`, in due order.
    pub fn advance(&mut self, now: Instant) {
        enum Due {
            Task(u64),
            Timer(usize),
        }
        if !self.is_due(now) {
            return;
        }
        let mut due: Vec<(Instant, Due)> = self
            .pending
            .iter()
            .filter_map(|tag| self.tasks.get(tag).map(|t| (tag, t)))
            .filter(|(_, t)| now >= t.started + t.duration)
            .map(|(tag, t)| (t.started + t.duration, Due::Task(*tag)))
            .collect();
        due.extend(
            self.timers
                .iter()
                .enumerate()
                .filter(|(_, t)| now >= t.due)
                .map(|(i, t)| (t.due, Due::Timer(i))),
        );
        due.sort_by_key(|(at, _)| *at);
        let unix = unix_now();
        for (_, item) in due {
            match item {
                Due::Task(tag) => {
                    let Some(task) = self.tasks.get_mut(&tag) else {
                        continue;
                    };
                    task.applied = true;
                    task.completed_unix = unix;
                    self.pending.remove(&tag);
                    self.reservations.remove(&tag);
                    let effect = if task.failure.is_some() {
                        Effect::Nothing
                    } else {
                        std::mem::replace(&mut task.effect, Effect::Nothing)
                    };
                    self.apply(effect, unix);
                    self.record_latest_task(tag, now);
                }
                Due::Timer(i) => {
                    let timer = self.timers[i].clone();
                    if self.shutdown_tokens.get(&timer.vm) == Some(&timer.token) {
                        self.shutdown_tokens.remove(&timer.vm);
                        if let Some(vm) = self.vm_mut(&timer.vm)
                            && vm.state == "SHUTDOWN"
                        {
                            set_state(vm, "SHUTOFF", unix);
                            self.cluster.refresh_node_memory();
                        }
                    }
                }
            }
        }
        self.timers.retain(|t| now < t.due);
        self.recompute_next_due();
    }

    /// Whether a task or shutdown timer falls due at or before `now` (cheap; no scan).
    pub fn is_due(&self, now: Instant) -> bool {
        self.next_due.is_some_and(|due| now >= due)
    }

    /// Recomputes the next due instant from the pending tasks and timers.
    fn recompute_next_due(&mut self) {
        let tasks = self
            .pending
            .iter()
            .filter_map(|tag| self.tasks.get(tag))
            .map(|t| t.started + t.duration);
        let timers = self.timers.iter().map(|t| t.due);
        self.next_due = tasks.chain(timers).min();
    }

    /// Makes `due` the next due instant if it is earlier.
    pub(super) fn note_due(&mut self, due: Instant) {
        self.next_due = Some(self.next_due.map_or(due, |d| d.min(due)));
    }

    /// Applies a completed task's effect.
    fn apply(&mut self, effect: Effect, unix: i64) {
        match effect {
            Effect::Nothing => {}
            Effect::Power(actions) => {
                for a in actions {
                    self.apply_power(&a, unix);
                }
                self.cluster.refresh_node_memory();
            }
            Effect::SnapshotCreated(uuid) => {
                let Some(snap) = self.cluster.snapshots.iter_mut().find(|s| s.uuid == uuid) else {
                    return;
                };
                snap.state = "CREATED".into();
                let vm_uuid = snap.domain_uuid.clone();
                if let Some(vm) = self.vm_mut(&vm_uuid) {
                    vm.snap_uuids.push(uuid);
                    vm.snapshot_serial_number += 1;
                    vm.snapshot_list_serial_number += 1;
                    vm.modified = unix;
                }
            }
            Effect::SnapshotDeleted(uuid) => {
                let Some(pos) = self.cluster.snapshots.iter().position(|s| s.uuid == uuid) else {
                    return;
                };
                let snap = self.cluster.snapshots.remove(pos);
                if let Some(vm) = self.vm_mut(&snap.domain_uuid) {
                    vm.snap_uuids.retain(|s| s != &uuid);
                    vm.snapshot_list_serial_number += 1;
                    vm.modified = unix;
                }
            }
            Effect::CloneCreated(vm) => {
                let stats = VirDomainStats {
                    uuid: vm.uuid.clone(),
                    vsd_stats: vec![],
                    cpu_usage: 0.0,
                    rx_bit_rate: 0,
                    tx_bit_rate: 0,
                };
                self.cluster.vms.push(*vm);
                self.cluster.stats.push(stats);
            }
            Effect::VmPatched(uuid, patch) => {
                if let Some(vm) = self.vm_mut(&uuid) {
                    apply_patch(vm, &patch);
                    vm.modified = unix;
                }
                self.cluster.refresh_node_memory();
            }
            Effect::VmCreated(vm) => {
                for d in &vm.block_devs {
                    self.charge(&d.uuid, d.capacity);
                }
                self.cluster.stats.push(idle_stats(&vm));
                self.cluster.vms.push(*vm);
            }
            Effect::VmDeleted(uuid) => self.remove_vm(&uuid),
            Effect::DiskAdded(mut disk) => {
                let vm_uuid = disk.vir_domain_uuid.clone();
                if disk.slot < 0
                    && let Some(vm) = self.vm(&vm_uuid)
                {
                    // Auto slots are chosen when the device is attached (concurrent adds
                    // cannot collide); a full bus leaves it at -1.
                    disk.slot = assign_slot(&vm.block_devs, &disk.kind, -1).unwrap_or(-1);
                }
                self.charge(&disk.uuid, disk.capacity);
                if let Some(stats) = self.cluster.stats.iter_mut().find(|s| s.uuid == vm_uuid)
                    && disk.kind == "VIRTIO_DISK"
                {
                    stats.vsd_stats.push(idle_vsd(&disk.uuid));
                }
                if let Some(vm) = self.vm_mut(&vm_uuid) {
                    vm.block_devs.push(*disk);
                    vm.modified = unix;
                }
            }
            Effect::DiskPatched(uuid, patch) => {
                let found = self.cluster.vms.iter_mut().find_map(|v| {
                    let modified = &mut v.modified;
                    v.block_devs
                        .iter_mut()
                        .find(|d| d.uuid == uuid)
                        .map(|d| (d, modified))
                });
                let Some((disk, modified)) = found else {
                    return;
                };
                let before = disk.capacity;
                apply_disk_patch(disk, &patch);
                let growth = disk.capacity - before;
                *modified = unix;
                if growth > 0 {
                    self.charge(&uuid, growth);
                }
            }
        }
    }

    /// Charges `bytes` of storage to the drives on behalf of block device `disk`.
    fn charge(&mut self, disk: &str, bytes: i64) {
        if bytes <= 0 {
            return;
        }
        let unplaced = self.cluster.charge_storage(bytes);
        *self.charged.entry(disk.to_owned()).or_default() += bytes - unplaced;
    }

    /// Removes VM `uuid`, its stats and snapshots, and frees its disks' storage.
    fn remove_vm(&mut self, uuid: &str) {
        let Some(pos) = self.cluster.vms.iter().position(|v| v.uuid == uuid) else {
            return;
        };
        let vm = self.cluster.vms.remove(pos);
        for d in &vm.block_devs {
            let bytes = self.charged.remove(&d.uuid).unwrap_or(d.allocation);
            self.cluster.charge_storage(-bytes);
        }
        self.cluster.stats.retain(|s| s.uuid != uuid);
        self.cluster.snapshots.retain(|s| s.domain_uuid != uuid);
        self.shutdown_tokens.remove(uuid);
        self.cluster.refresh_node_memory();
    }

    /// Applies one power action (placement, state, usage on START).
    fn apply_power(&mut self, a: &VmAction, unix: i64) {
        let online_default = self
            .cluster
            .nodes
            .iter()
            .find(|n| n.network_status == "ONLINE")
            .map(|n| (n.uuid.clone(), n.lan_ip.clone()));
        let node_ip = |uuid: &str, nodes: &[Node]| {
            nodes
                .iter()
                .find(|n| n.uuid == uuid && n.network_status == "ONLINE")
                .map(|n| n.lan_ip.clone())
        };
        let nodes = self.cluster.nodes.clone();
        let Some(idx) = self.cluster.vms.iter().position(|v| v.uuid == a.vm) else {
            return;
        };
        let vm = &mut self.cluster.vms[idx];
        if a.action == "START" && vm.state == "RUNNING" {
            // Starting a running VM changes nothing (HyperCore accepts it).
            vm.ui_state = vm.state.clone();
            return;
        }
        let place = |vm: &mut VirDomain, target: Option<&String>| {
            let chosen = target
                .and_then(|t| node_ip(t, &nodes).map(|ip| (t.clone(), ip)))
                .or_else(|| node_ip(&vm.node_uuid, &nodes).map(|ip| (vm.node_uuid.clone(), ip)))
                .or_else(|| online_default.clone());
            if let Some((uuid, ip)) = chosen {
                vm.node_uuid = uuid.clone();
                vm.last_seen_running_on_node_uuid = uuid;
                vm.console.ip = ip;
            }
        };
        match a.action.as_str() {
            "START" => {
                place(vm, a.node.as_ref());
                set_state(vm, "RUNNING", unix);
            }
            "REBOOT" | "RESET" => {
                if a.node.is_some() {
                    place(vm, a.node.as_ref());
                }
                set_state(vm, "RUNNING", unix);
            }
            "LIVEMIGRATE" => {
                place(vm, a.node.as_ref());
                set_state(vm, "RUNNING", unix);
            }
            "STOP" => {
                self.shutdown_tokens.remove(&a.vm);
                set_state(vm, "SHUTOFF", unix);
            }
            "PAUSE" => set_state(vm, "PAUSED", unix),
            _ => vm.ui_state = vm.state.clone(),
        }
        if a.action == "START"
            && let Some(stats) = self.cluster.stats.iter_mut().find(|s| s.uuid == a.vm)
            && stats.cpu_usage == 0.0
        {
            stats.cpu_usage = self.rng.random_range(100..4000) as f64 / 100.0;
            stats.rx_bit_rate = self.rng.random_range(1_000..5_000_000);
            stats.tx_bit_rate = self.rng.random_range(1_000..5_000_000);
        }
    }

    // ----- tasks ----------------------------------------------------------------------

    /// Starts a task that applies `effect` after the task duration (at once when it is zero);
    /// returns its tag.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_task(
        &mut self,
        now: Instant,
        description: &str,
        parameters: Vec<String>,
        object_uuid: &str,
        session_id: &str,
        failure: Option<(String, Vec<String>)>,
        effect: Effect,
    ) -> String {
        let tag = self.next_tag;
        self.next_tag += 1;
        let reservation = std::mem::take(&mut self.next_reservation);
        if !reservation.memory.is_empty() || reservation.storage != 0 {
            self.reservations.insert(tag, reservation);
        }
        let node_uuids = self
            .cluster
            .nodes
            .iter()
            .find(|n| n.network_status == "ONLINE")
            .map(|n| vec![n.uuid.clone()])
            .unwrap_or_default();
        self.tasks.insert(
            tag,
            Task {
                started: now,
                duration: self.task_duration,
                created_unix: unix_now(),
                description: description.to_owned(),
                description_parameters: parameters,
                object_uuid: object_uuid.to_owned(),
                session_id: session_id.to_owned(),
                node_uuids,
                failure,
                effect,
                applied: false,
                completed_unix: 0,
            },
        );
        self.pending.insert(tag);
        self.note_due(now + self.task_duration);
        self.record_latest_task(tag, now);
        if self.task_duration.is_zero() {
            self.advance(now);
        }
        tag.to_string()
    }

    /// Copies a task's status into `latestTaskTag` of the VM it acts on.
    fn record_latest_task(&mut self, tag: u64, now: Instant) {
        let Some(task) = self.tasks.get(&tag) else {
            return;
        };
        let status = self.task_status(tag, task, now);
        if let Some(vm) = self.vm_mut(&status.object_uuid.clone()) {
            vm.latest_task_tag = status;
        }
    }

    /// A task's status at `now` (QUEUED, RUNNING with progress, COMPLETE or ERROR).
    fn task_status(&self, tag: u64, task: &Task, now: Instant) -> TaskTagStatus {
        let elapsed = now.saturating_duration_since(task.started);
        let (state, progress) = if task.applied || elapsed >= task.duration {
            if task.failure.is_some() {
                ("ERROR", 100)
            } else {
                ("COMPLETE", 100)
            }
        } else if elapsed * 5 < task.duration {
            ("QUEUED", 0)
        } else {
            let pct = (elapsed.as_micros() * 100 / task.duration.as_micros().max(1)) as i64;
            ("RUNNING", pct.clamp(1, 99))
        };
        let (message, message_parameters) = match (&task.failure, state) {
            (Some((m, p)), "ERROR") => (m.clone(), p.clone()),
            _ => (String::new(), vec![]),
        };
        let done = state == "COMPLETE" || state == "ERROR";
        TaskTagStatus {
            task_tag: tag.to_string(),
            progress_percent: progress,
            state: state.into(),
            formatted_description: task.description.clone(),
            description_parameters: task.description_parameters.clone(),
            formatted_message: message,
            message_parameters,
            object_uuid: task.object_uuid.clone(),
            created: task.created_unix,
            modified: if done {
                task.completed_unix.max(task.created_unix)
            } else {
                task.created_unix
            },
            completed: if done {
                task.completed_unix.max(task.created_unix)
            } else {
                0
            },
            session_id: task.session_id.clone(),
            node_uuids: task.node_uuids.clone(),
        }
    }

    /// Every task's status at `now`, oldest first.
    pub fn task_list(&self, now: Instant) -> Vec<TaskTagStatus> {
        self.tasks
            .iter()
            .map(|(tag, t)| self.task_status(*tag, t, now))
            .collect()
    }

    /// One task's status at `now` (empty for an unknown or non-numeric tag).
    pub fn task_get(&self, tag: &str, now: Instant) -> Vec<TaskTagStatus> {
        tag.parse::<u64>()
            .ok()
            .and_then(|n| self.tasks.get(&n).map(|t| self.task_status(n, t, now)))
            .into_iter()
            .collect()
    }

    // ----- lookups --------------------------------------------------------------------

    /// The VM `uuid`, to change.
    pub(super) fn vm_mut(&mut self, uuid: &str) -> Option<&mut VirDomain> {
        self.cluster.vms.iter_mut().find(|v| v.uuid == uuid)
    }

    /// The VM `uuid`.
    pub(super) fn vm(&self, uuid: &str) -> Option<&VirDomain> {
        self.cluster.vms.iter().find(|v| v.uuid == uuid)
    }

    /// Whether `uuid` is an online node that may run VMs.
    pub(super) fn online_node(&self, uuid: &str) -> bool {
        self.cluster
            .nodes
            .iter()
            .any(|n| n.uuid == uuid && n.network_status == "ONLINE" && n.allow_running_vms)
    }

    /// Draws a uuid from the live state's own stream.
    pub(super) fn new_uuid(&mut self) -> String {
        uuid_from(&mut self.rng)
    }
}
