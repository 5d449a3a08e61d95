//! The live, mutable cluster behind a running simulator: sessions, task tags that complete
//! over scaled real time (evaluated lazily on each request), the VM power state machine,
//! snapshots, clones, exports and VM updates.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

use crate::generate::{ClusterState, mac_from, uuid_from};
use crate::model::*;

/// Why a request was refused, mapped to HyperCore's status codes and body shapes.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// 400 with a plain-text body in the style of HyperCore's request validator.
    Validation(String),
    /// 400 with a JSON `{"error"}` body.
    BadRequest(String),
    /// 500 `{"error":"An internal error occurred"}` (invalid transitions, unknown objects).
    Internal,
}

/// What a mutation answers: HyperCore's `Result`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskResult {
    /// Task to poll ("" when nothing to wait for).
    pub task_tag: String,
    /// Uuid of the object created ("" otherwise).
    pub created_uuid: String,
}

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
enum Effect {
    Power(Vec<VmAction>),
    SnapshotCreated(String),
    SnapshotDeleted(String),
    CloneCreated(Box<VirDomain>),
    VmPatched(String, Map<String, Value>),
    Nothing,
}

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

#[derive(Debug, Clone)]
struct ShutdownTimer {
    due: Instant,
    vm: String,
    token: u64,
}

#[derive(Debug, Clone)]
struct Session {
    last_used: Instant,
}

/// Outcome of checking a session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCheck {
    /// Known and fresh.
    Valid,
    /// Unknown, evicted or expired.
    Invalid,
}

/// Live login sessions, bounded like HyperCore's `sessionLimit`: beyond the limit the
/// least-recently-used session is dropped.
pub struct SessionStore {
    sessions: HashMap<String, Session>,
    session_limit: usize,
}

impl SessionStore {
    /// An empty store holding at most `limit` sessions.
    pub fn new(limit: usize) -> Self {
        SessionStore {
            sessions: HashMap::new(),
            session_limit: limit.max(1),
        }
    }

    /// Records a new session, evicting the least-recently-used one beyond the limit.
    pub fn add(&mut self, id: String, now: Instant) {
        while self.sessions.len() >= self.session_limit {
            let oldest = self
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    self.sessions.remove(&k);
                }
                None => break,
            }
        }
        self.sessions.insert(id, Session { last_used: now });
    }

    /// Checks (and touches) a session; `ttl` is the idle lifetime, if any.
    pub fn check(&mut self, id: &str, now: Instant, ttl: Option<Duration>) -> SessionCheck {
        let expired = match self.sessions.get_mut(id) {
            None => return SessionCheck::Invalid,
            Some(s) => match ttl {
                Some(ttl) if now.duration_since(s.last_used) > ttl => true,
                _ => {
                    s.last_used = now;
                    false
                }
            },
        };
        if expired {
            self.sessions.remove(id);
            return SessionCheck::Invalid;
        }
        SessionCheck::Valid
    }

    /// Destroys a session.
    pub fn remove(&mut self, id: &str) {
        self.sessions.remove(id);
    }

    /// Number of live sessions.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.sessions.len()
    }
}

/// The simulator's mutable cluster and its tasks, guarded by one lock.
pub struct SimState {
    /// The cluster data served over REST.
    pub cluster: ClusterState,
    tasks: BTreeMap<u64, Task>,
    next_tag: u64,
    timers: Vec<ShutdownTimer>,
    shutdown_tokens: HashMap<String, u64>,
    next_token: u64,
    /// Tags of tasks whose effect is not applied yet.
    pending: std::collections::BTreeSet<u64>,
    /// Earliest instant at which a pending task or timer falls due.
    next_due: Option<Instant>,
    rng: ChaCha8Rng,
    task_duration: Duration,
    shutdown_duration: Duration,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

const READ_ONLY_VM_FIELDS: &[&str] = &[
    "uuid",
    "nodeUUID",
    "state",
    "created",
    "modified",
    "uiState",
    "snapUUIDs",
    "sourceVirDomainUUID",
    "snapshotAllocationBlocks",
    "lastSeenRunningOnNodeUUID",
    "machineTypeKeyword",
    "latestTaskTag",
];
const PATCHABLE_VM_FIELDS: &[&str] = &[
    "name",
    "description",
    "operatingSystem",
    "mem",
    "numVCPU",
    "tags",
    "bootDevices",
    "snapshotScheduleUUID",
    "machineType",
    "cpuType",
    "affinityStrategy",
    "cloudInitData",
    "desiredDisposition",
    "blockDevs",
    "netDevs",
];

impl SimState {
    /// Wraps a generated cluster for serving.
    pub fn new(
        cluster: ClusterState,
        task_duration: Duration,
        shutdown_duration: Duration,
    ) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(cluster.seed ^ 0x5EED_0FC0_FFEE);
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
        }
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

    fn recompute_next_due(&mut self) {
        let tasks = self
            .pending
            .iter()
            .filter_map(|tag| self.tasks.get(tag))
            .map(|t| t.started + t.duration);
        let timers = self.timers.iter().map(|t| t.due);
        self.next_due = tasks.chain(timers).min();
    }

    fn note_due(&mut self, due: Instant) {
        self.next_due = Some(self.next_due.map_or(due, |d| d.min(due)));
    }

    fn apply(&mut self, effect: Effect, unix: i64) {
        match effect {
            Effect::Nothing => {}
            Effect::Power(actions) => {
                for a in actions {
                    self.apply_power(&a, unix);
                }
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
            }
        }
    }

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

    #[allow(clippy::too_many_arguments)]
    fn start_task(
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

    fn vm_mut(&mut self, uuid: &str) -> Option<&mut VirDomain> {
        self.cluster.vms.iter_mut().find(|v| v.uuid == uuid)
    }

    fn vm(&self, uuid: &str) -> Option<&VirDomain> {
        self.cluster.vms.iter().find(|v| v.uuid == uuid)
    }

    fn online_node(&self, uuid: &str) -> bool {
        self.cluster
            .nodes
            .iter()
            .any(|n| n.uuid == uuid && n.network_status == "ONLINE" && n.allow_running_vms)
    }

    fn new_uuid(&mut self) -> String {
        uuid_from(&mut self.rng)
    }

    // ----- mutations ------------------------------------------------------------------

    /// `POST /VirDomain/action`: validates the whole batch against the state machine, then
    /// starts one task for it (ACPI SHUTDOWN alone answers an empty tag).
    pub fn vm_actions(
        &mut self,
        actions: Vec<VmAction>,
        session_id: &str,
        now: Instant,
        ignore_acpi: bool,
    ) -> Result<TaskResult, ApiError> {
        if actions.is_empty() {
            return Err(ApiError::Validation(
                "Request has one or more errors\n  In body\n    Expected at least one action"
                    .into(),
            ));
        }
        for a in &actions {
            let vm = self.vm(&a.vm).ok_or(ApiError::Internal)?;
            let state = vm.state.as_str();
            let allowed: &[&str] = match a.action.as_str() {
                "START" => &["PAUSED", "SHUTOFF", "CRASHED"],
                "SHUTDOWN" | "REBOOT" | "LIVEMIGRATE" | "PAUSE" | "NMI" => &["RUNNING"],
                "STOP" => &["RUNNING", "SHUTDOWN", "PAUSED", "BLOCKED", "CRASHED"],
                "RESET" => &["RUNNING", "SHUTDOWN"],
                _ => return Err(ApiError::Internal),
            };
            if !allowed.contains(&state) {
                return Err(ApiError::Internal);
            }
            if a.action == "START" && !vm.source_vir_domain_uuid.is_empty() {
                return Err(ApiError::Internal);
            }
            if a.action == "LIVEMIGRATE" {
                match &a.node {
                    Some(n) if n != &vm.node_uuid && self.online_node(n) => {}
                    _ => return Err(ApiError::Internal),
                }
            }
            if matches!(a.action.as_str(), "START" | "REBOOT")
                && let Some(n) = &a.node
                && !self.online_node(n)
            {
                return Err(ApiError::Internal);
            }
        }
        let unix = unix_now();
        let mut queued = Vec::new();
        for a in actions {
            if a.action == "SHUTDOWN" && ignore_acpi {
                // The guest ignores the ACPI request: accepted, nothing happens.
                continue;
            }
            if a.action == "SHUTDOWN" {
                let token = self.next_token;
                self.next_token += 1;
                self.shutdown_tokens.insert(a.vm.clone(), token);
                self.timers.push(ShutdownTimer {
                    due: now + self.shutdown_duration,
                    vm: a.vm.clone(),
                    token,
                });
                self.note_due(now + self.shutdown_duration);
                if let Some(vm) = self.vm_mut(&a.vm) {
                    set_state(vm, "SHUTDOWN", unix);
                    vm.ui_state = "STOPPING".into();
                }
            } else {
                if let Some(vm) = self.vm_mut(&a.vm) {
                    vm.ui_state = match a.action.as_str() {
                        "START" => "STARTING",
                        "STOP" => "STOPPING",
                        "LIVEMIGRATE" => "MIGRATING",
                        "PAUSE" => "PAUSING",
                        _ => vm.state.as_str(),
                    }
                    .to_owned();
                }
                queued.push(a);
            }
        }
        if queued.is_empty() {
            if self.shutdown_duration.is_zero() {
                self.advance(now);
            }
            return Ok(TaskResult {
                task_tag: String::new(),
                created_uuid: String::new(),
            });
        }
        let first = &queued[0];
        let vm_name = self
            .vm(&first.vm)
            .map(|v| v.name.clone())
            .unwrap_or_default();
        let description = format!("{} Virtual Machine %@", title_case(&first.action));
        let object = first.vm.clone();
        let tag = self.start_task(
            now,
            &description,
            vec![vm_name],
            &object,
            session_id,
            None,
            Effect::Power(queued),
        );
        Ok(TaskResult {
            task_tag: tag,
            created_uuid: String::new(),
        })
    }

    /// `POST /VirDomainSnapshot`: the snapshot appears CREATING at once and CREATED (listed in
    /// the VM's `snapUUIDs`) when its task completes.
    pub fn snapshot_create(
        &mut self,
        body: &Map<String, Value>,
        session_id: &str,
        now: Instant,
    ) -> Result<TaskResult, ApiError> {
        const ALLOWED: &[&str] = &[
            "domainUUID",
            "label",
            "type",
            "automatedTriggerTimestamp",
            "localRetainUntilTimestamp",
            "remoteRetainUntilTimestamp",
            "blockCountDiffFromSerialNumber",
            "replication",
        ];
        check_keys(body, ALLOWED, &[])?;
        let domain_uuid = req_str(body, "domainUUID")?;
        let label = opt_str(body, "label")?.unwrap_or_default();
        let kind = opt_str(body, "type")?.unwrap_or_else(|| "USER".into());
        if !["USER", "AUTOMATED", "SUPPORT"].contains(&kind.as_str()) {
            return Err(enum_error("type", &kind));
        }
        let local = opt_number(body, "localRetainUntilTimestamp")?.unwrap_or(0);
        let remote = opt_number(body, "remoteRetainUntilTimestamp")?.unwrap_or(0);
        let trigger = opt_number(body, "automatedTriggerTimestamp")?.unwrap_or(0);
        let replication = opt_bool(body, "replication")?.unwrap_or(true);
        let serial_from = opt_number(body, "blockCountDiffFromSerialNumber")?.unwrap_or(-1);
        let vm = self.vm(&domain_uuid).ok_or(ApiError::Internal)?.clone();
        let uuid = self.new_uuid();
        let unix = unix_now();
        let serial = vm.snapshot_serial_number + 1;
        let snapshot = Snapshot {
            uuid: uuid.clone(),
            domain_uuid: domain_uuid.clone(),
            timestamp: unix,
            label,
            device_snapshots: vm
                .block_devs
                .iter()
                .filter(|d| d.kind != "IDE_CDROM")
                .map(|d| DeviceSnapshot {
                    uuid: d.uuid.clone(),
                    timestamp: unix,
                    serial_number: serial,
                    block_count_diff: 0,
                    identifier: format!("{}:{serial}", d.uuid),
                    checksum: String::new(),
                })
                .collect(),
            quiesced: vm.guest_agent_state == "AVAILABLE",
            domain: Box::new(vm.clone()),
            unavailable: false,
            kind,
            block_count_diff: 0,
            automated_trigger_timestamp: trigger,
            local_retain_until_timestamp: local,
            state: "CREATING".into(),
            remote_retain_until_timestamp: remote,
            block_count_diff_from_serial_number: serial_from,
            replication,
        };
        self.cluster.snapshots.push(snapshot);
        let tag = self.start_task(
            now,
            "Create snapshot of Virtual Machine %@",
            vec![vm.name.clone()],
            &domain_uuid,
            session_id,
            None,
            Effect::SnapshotCreated(uuid.clone()),
        );
        Ok(TaskResult {
            task_tag: tag,
            created_uuid: uuid,
        })
    }

    /// `DELETE /VirDomainSnapshot/{uuid}`: DELETING at once, gone when the task completes.
    pub fn snapshot_delete(
        &mut self,
        uuid: &str,
        session_id: &str,
        now: Instant,
    ) -> Result<TaskResult, ApiError> {
        let snap = self
            .cluster
            .snapshots
            .iter_mut()
            .find(|s| s.uuid == uuid && s.state == "CREATED")
            .ok_or(ApiError::Internal)?;
        snap.state = "DELETING".into();
        let label = snap.label.clone();
        let vm_name = snap.domain.name.clone();
        let tag = self.start_task(
            now,
            "Delete snapshot %@ of Virtual Machine %@",
            vec![label, vm_name],
            uuid,
            session_id,
            None,
            Effect::SnapshotDeleted(uuid.to_owned()),
        );
        Ok(TaskResult {
            task_tag: tag,
            created_uuid: String::new(),
        })
    }

    /// `POST /VirDomain/{uuid}/clone`: a new SHUTOFF VM with fresh device uuids, visible when
    /// the task completes.
    pub fn vm_clone(
        &mut self,
        source: &str,
        body: &Map<String, Value>,
        session_id: &str,
        now: Instant,
    ) -> Result<TaskResult, ApiError> {
        check_keys(body, &["snapUUID", "template"], &[])?;
        let template = match body.get("template") {
            Some(Value::Object(t)) => t.clone(),
            Some(_) => return Err(type_error("template", "object")),
            None => {
                return Err(ApiError::Validation(
                    "Request has one or more errors\n  In body\n    Missing required property: template".into(),
                ));
            }
        };
        let mut allowed: Vec<&str> = PATCHABLE_VM_FIELDS.to_vec();
        allowed.push("isTransient");
        check_keys(&template, &allowed, READ_ONLY_VM_FIELDS)?;
        let snap_uuid = opt_str(body, "snapUUID")?;
        let src = self.vm(source).ok_or(ApiError::Internal)?.clone();
        let base = match &snap_uuid {
            Some(s) if !s.is_empty() => self
                .cluster
                .snapshots
                .iter()
                .find(|x| &x.uuid == s && x.domain_uuid == source && x.state == "CREATED")
                .map(|x| (*x.domain).clone())
                .ok_or(ApiError::Internal)?,
            _ => src.clone(),
        };
        validate_patch_types(&template)?;
        let unix = unix_now();
        let mut vm = base;
        let new_uuid = self.new_uuid();
        let mut remap: HashMap<String, String> = HashMap::new();
        for d in &mut vm.block_devs {
            let id = self.new_uuid();
            remap.insert(d.uuid.clone(), id.clone());
            if d.kind != "IDE_CDROM" {
                d.path = format!("scribe/{id}");
            }
            d.uuid = id;
            d.vir_domain_uuid = new_uuid.clone();
            d.created_timestamp = unix;
            d.mount_points.clear();
        }
        for d in &mut vm.net_devs {
            let id = self.new_uuid();
            remap.insert(d.uuid.clone(), id.clone());
            d.uuid = id;
            d.vir_domain_uuid = new_uuid.clone();
            d.mac_address = mac_from(&mut self.rng);
            d.ipv4_addresses.clear();
        }
        vm.boot_devices = vm
            .boot_devices
            .iter()
            .filter_map(|b| remap.get(b).cloned())
            .collect();
        vm.uuid = new_uuid.clone();
        vm.name = format!("{}-clone", src.name);
        vm.tags = String::new();
        vm.snap_uuids.clear();
        vm.snapshot_serial_number = 0;
        vm.snapshot_list_serial_number = 0;
        vm.replication_uuids.clear();
        vm.source_vir_domain_uuid = String::new();
        vm.initial_clone_snapshot_uuid = snap_uuid.clone().unwrap_or_default();
        vm.created = unix;
        vm.modified = unix;
        vm.guest_agent_state = "UNKNOWN".into();
        vm.latest_task_tag = TaskTagStatus::idle(&new_uuid, unix);
        vm.state = "SHUTOFF".into();
        vm.ui_state = "SHUTOFF".into();
        vm.desired_disposition = "SHUTOFF".into();
        for s in &mut vm.deprecated_stats {
            if s.kind != "VIR_DOMAIN_MEM_CURRENT" {
                s.current_value = 0;
            }
        }
        // Template netDevs keep requested MACs/VLANs, position by position.
        if let Some(Value::Array(nics)) = template.get("netDevs") {
            for (dev, want) in vm.net_devs.iter_mut().zip(nics) {
                if let Some(mac) = want.get("macAddress").and_then(Value::as_str) {
                    dev.mac_address = mac.to_owned();
                }
                if let Some(vlan) = want.get("vlan").and_then(Value::as_i64) {
                    dev.vlan = vlan;
                }
                if let Some(kind) = want.get("type").and_then(Value::as_str) {
                    dev.kind = kind.to_owned();
                }
            }
        }
        apply_patch(&mut vm, &template);
        let name = vm.name.clone();
        let tag = self.start_task(
            now,
            "Clone Virtual Machine %@ to %@",
            vec![src.name.clone(), name],
            source,
            session_id,
            None,
            Effect::CloneCreated(Box::new(vm)),
        );
        Ok(TaskResult {
            task_tag: tag,
            created_uuid: new_uuid,
        })
    }

    /// `POST /VirDomain/{uuid}/export`: validates the request; a bad or unreachable SMB target
    /// makes the task end in ERROR (the URI itself never appears in the task).
    pub fn vm_export(
        &mut self,
        uuid: &str,
        body: &Map<String, Value>,
        session_id: &str,
        now: Instant,
    ) -> Result<TaskResult, ApiError> {
        check_keys(body, &["target", "snapUUID", "template"], &[])?;
        let target = match body.get("target") {
            Some(Value::Object(t)) => t,
            Some(_) => return Err(type_error("target", "object")),
            None => {
                return Err(ApiError::Validation(
                    "Request has one or more errors\n  In body\n    Missing required property: target".into(),
                ));
            }
        };
        check_keys(
            target,
            &[
                "pathURI",
                "format",
                "definitionFileName",
                "compress",
                "compat",
                "allowNonSequentialWrites",
                "parallelCountPerTransfer",
            ],
            &[],
        )?;
        let uri = req_str(target, "pathURI")?;
        let vm = self.vm(uuid).ok_or(ApiError::Internal)?.clone();
        if let Some(snap) = opt_str(body, "snapUUID")?
            && !snap.is_empty()
            && !vm.snap_uuids.contains(&snap)
        {
            return Err(ApiError::Internal);
        }
        let failure = check_smb_uri(&uri).err().map(|reason| {
            (
                "Export of Virtual Machine '%@' failed: %@".to_owned(),
                vec![vm.name.clone(), reason.to_owned()],
            )
        });
        let tag = self.start_task(
            now,
            "Export Virtual Machine %@",
            vec![vm.name.clone()],
            uuid,
            session_id,
            failure,
            Effect::Nothing,
        );
        Ok(TaskResult {
            task_tag: tag,
            created_uuid: String::new(),
        })
    }

    /// `PATCH /VirDomain/{uuid}`: validates keys and types; `mem`/`numVCPU` only while the VM is
    /// SHUTOFF or CRASHED; applied when the task completes.
    pub fn vm_patch(
        &mut self,
        uuid: &str,
        body: &Map<String, Value>,
        session_id: &str,
        now: Instant,
    ) -> Result<TaskResult, ApiError> {
        check_keys(body, PATCHABLE_VM_FIELDS, READ_ONLY_VM_FIELDS)?;
        validate_patch_types(body)?;
        let vm = self.vm(uuid).ok_or(ApiError::Internal)?;
        let off = vm.state == "SHUTOFF" || vm.state == "CRASHED";
        let changes_hw = body
            .get("mem")
            .and_then(Value::as_i64)
            .is_some_and(|m| m != vm.mem)
            || body
                .get("numVCPU")
                .and_then(Value::as_i64)
                .is_some_and(|n| n != vm.num_vcpu);
        if changes_hw && !off {
            return Err(ApiError::Internal);
        }
        if let Some(Value::Array(boot)) = body.get("bootDevices") {
            for b in boot {
                let id = b.as_str().unwrap_or_default();
                let known = vm.block_devs.iter().any(|d| d.uuid == id)
                    || vm.net_devs.iter().any(|d| d.uuid == id);
                if !known {
                    return Err(ApiError::BadRequest(format!(
                        "bootDevices: {id:?} is not a device of this VM"
                    )));
                }
            }
        }
        let name = vm.name.clone();
        let tag = self.start_task(
            now,
            "Update Virtual Machine %@",
            vec![name],
            uuid,
            session_id,
            None,
            Effect::VmPatched(uuid.to_owned(), body.clone()),
        );
        Ok(TaskResult {
            task_tag: tag,
            created_uuid: String::new(),
        })
    }
}

fn title_case(action: &str) -> String {
    match action {
        "LIVEMIGRATE" => "Live migrate".into(),
        "NMI" => "Send NMI to".into(),
        other => {
            let lower = other.to_ascii_lowercase();
            let mut c = lower.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        }
    }
}

fn set_state(vm: &mut VirDomain, state: &str, unix: i64) {
    vm.state = state.to_owned();
    vm.ui_state = state.to_owned();
    vm.desired_disposition = match state {
        "RUNNING" | "SHUTDOWN" => "RUNNING",
        "PAUSED" => "PAUSED",
        _ => "SHUTOFF",
    }
    .to_owned();
    let running = state == "RUNNING";
    if !running {
        for nic in &mut vm.net_devs {
            nic.ipv4_addresses.clear();
        }
        vm.guest_agent_state = "UNKNOWN".into();
    }
    for s in &mut vm.deprecated_stats {
        match s.kind.as_str() {
            "VIR_DOMAIN_MEM_CURRENT" => s.current_value = if running { vm.mem } else { 0 },
            "VIR_DOMAIN_CPU" | "VIR_DOMAIN_UPTIME" if !running => s.current_value = 0,
            _ => {}
        }
    }
    vm.modified = unix;
}

fn apply_patch(vm: &mut VirDomain, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match key.as_str() {
            "name" => set_string(&mut vm.name, value),
            "description" => set_string(&mut vm.description, value),
            "operatingSystem" => set_string(&mut vm.operating_system, value),
            "tags" => set_string(&mut vm.tags, value),
            "machineType" => set_string(&mut vm.machine_type, value),
            "cpuType" => set_string(&mut vm.cpu_type, value),
            "snapshotScheduleUUID" => set_string(&mut vm.snapshot_schedule_uuid, value),
            "mem" => {
                if let Some(m) = value.as_i64() {
                    vm.mem = m;
                }
            }
            "numVCPU" => {
                if let Some(n) = value.as_i64() {
                    vm.num_vcpu = n;
                }
            }
            "bootDevices" => {
                if let Some(list) = value.as_array() {
                    vm.boot_devices = list
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect();
                }
            }
            "affinityStrategy" => {
                if let Some(o) = value.as_object() {
                    if let Some(b) = o.get("strictAffinity").and_then(Value::as_bool) {
                        vm.affinity_strategy.strict_affinity = b;
                    }
                    if let Some(s) = o.get("preferredNodeUUID").and_then(Value::as_str) {
                        vm.affinity_strategy.preferred_node_uuid = s.to_owned();
                    }
                    if let Some(s) = o.get("backupNodeUUID").and_then(Value::as_str) {
                        vm.affinity_strategy.backup_node_uuid = s.to_owned();
                    }
                }
            }
            "cloudInitData" => {
                if let Some(o) = value.as_object() {
                    if let Some(s) = o.get("userData").and_then(Value::as_str) {
                        vm.cloud_init_data.user_data = s.to_owned();
                    }
                    if let Some(s) = o.get("metaData").and_then(Value::as_str) {
                        vm.cloud_init_data.meta_data = s.to_owned();
                    }
                }
            }
            _ => {}
        }
    }
}

fn set_string(field: &mut String, value: &Value) {
    if let Some(s) = value.as_str() {
        *field = s.to_owned();
    }
}

fn validator_error(detail: String) -> ApiError {
    ApiError::Validation(format!(
        "Request has one or more errors\n  In body\n    {detail}"
    ))
}

fn type_error(key: &str, expected: &str) -> ApiError {
    validator_error(format!("For property: {key}\n      Expected a {expected}"))
}

fn enum_error(key: &str, got: &str) -> ApiError {
    validator_error(format!(
        "For property: {key}\n      Value {got:?} did not match any of the enum options"
    ))
}

fn check_keys(
    body: &Map<String, Value>,
    allowed: &[&str],
    read_only: &[&str],
) -> Result<(), ApiError> {
    for key in body.keys() {
        if read_only.contains(&key.as_str()) {
            return Err(validator_error(format!(
                "For property: {key}\n      Cannot write to a read only property"
            )));
        }
        if !allowed.contains(&key.as_str()) {
            return Err(validator_error(format!("Property not allowed: {key}")));
        }
    }
    Ok(())
}

fn req_str(body: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    opt_str(body, key)?.ok_or_else(|| validator_error(format!("Missing required property: {key}")))
}

fn opt_str(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(type_error(key, "string")),
    }
}

fn opt_bool(body: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(type_error(key, "boolean")),
    }
}

fn opt_number(body: &Map<String, Value>, key: &str) -> Result<Option<i64>, ApiError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))),
        Some(_) => Err(type_error(key, "number")),
    }
}

fn validate_patch_types(body: &Map<String, Value>) -> Result<(), ApiError> {
    for (key, value) in body {
        let ok = match key.as_str() {
            "name"
            | "description"
            | "operatingSystem"
            | "tags"
            | "machineType"
            | "cpuType"
            | "snapshotScheduleUUID" => value.is_string(),
            "mem" | "numVCPU" => value.as_i64().is_some_and(|n| n > 0),
            "bootDevices" => value
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string)),
            "affinityStrategy" | "cloudInitData" => value.is_object(),
            "blockDevs" | "netDevs" => value.is_array(),
            "desiredDisposition" => value
                .as_str()
                .is_some_and(|s| ["SHUTOFF", "RUNNING", "PAUSED"].contains(&s)),
            "isTransient" => value.is_boolean(),
            _ => true,
        };
        if !ok {
            return Err(validator_error(format!(
                "For property: {key}\n      Value has the wrong type or is out of range"
            )));
        }
    }
    Ok(())
}

/// Checks an export target `smb://[domain;][user[:password]@]server/share[/path]`.
/// The reason it returns never contains the URI (which may hold a password).
pub fn check_smb_uri(uri: &str) -> Result<(), &'static str> {
    let rest = uri
        .strip_prefix("smb://")
        .ok_or("target URI must use the smb:// scheme")?;
    let (authority, path) = rest
        .split_once('/')
        .ok_or("target URI must name a share and path")?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() {
        return Err("target URI has no server");
    }
    if path.split('/').filter(|p| !p.is_empty()).count() < 1 {
        return Err("target URI must name a share and path");
    }
    if host.ends_with(".invalid") || host.starts_with("unreachable") {
        return Err("SMB server unreachable");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smb_uri_rules() {
        assert!(check_smb_uri("smb://user:pw@nas.example.com/share/dir").is_ok());
        assert!(check_smb_uri("smb://CORP;user:pw@10.0.0.5/backups/vm1").is_ok());
        assert!(check_smb_uri("http://nas/share").is_err());
        assert!(check_smb_uri("smb://user:pw@/share").is_err());
        assert!(check_smb_uri("smb://nas").is_err());
        assert_eq!(
            check_smb_uri("smb://u:p@nas.invalid/share/x"),
            Err("SMB server unreachable")
        );
    }

    #[test]
    fn session_lru_eviction() {
        let mut s = SessionStore::new(2);
        let t0 = Instant::now();
        s.add("a".into(), t0);
        s.add("b".into(), t0 + Duration::from_millis(1));
        // Touch "a" so "b" becomes least recently used.
        assert_eq!(
            s.check("a", t0 + Duration::from_millis(2), None),
            SessionCheck::Valid
        );
        s.add("c".into(), t0 + Duration::from_millis(3));
        assert_eq!(s.len(), 2);
        assert_eq!(
            s.check("b", t0 + Duration::from_millis(4), None),
            SessionCheck::Invalid
        );
        assert_eq!(
            s.check("a", t0 + Duration::from_millis(4), None),
            SessionCheck::Valid
        );
    }

    #[test]
    fn task_progresses_and_applies_its_effect_exactly_when_complete() {
        let c = crate::generate(crate::Archetype::Datacenter, 7);
        let vm = c
            .vms
            .iter()
            .find(|v| v.state == "SHUTOFF" && v.source_vir_domain_uuid.is_empty())
            .map(|v| v.uuid.clone())
            .unwrap();
        let mut s = SimState::new(c, Duration::from_secs(10), Duration::from_secs(4));
        let t0 = Instant::now();
        let action = |a: &str| VmAction {
            vm: vm.clone(),
            action: a.into(),
            node: None,
        };
        let r = s
            .vm_actions(vec![action("START")], "sess", t0, false)
            .unwrap();
        let mut at = |secs: u64| {
            let now = t0 + Duration::from_secs(secs);
            s.advance(now);
            let st = s.task_get(&r.task_tag, now).remove(0);
            let state = s.vm(&vm).unwrap().state.clone();
            (st.state, st.progress_percent, state)
        };
        assert_eq!(at(0), ("QUEUED".into(), 0, "SHUTOFF".into()));
        assert_eq!(at(5), ("RUNNING".into(), 50, "SHUTOFF".into()));
        assert_eq!(at(10), ("COMPLETE".into(), 100, "RUNNING".into()));

        // ACPI shutdown: no tag, SHUTDOWN until shutdown_duration has passed, then SHUTOFF.
        let t1 = t0 + Duration::from_secs(20);
        let r = s
            .vm_actions(vec![action("SHUTDOWN")], "sess", t1, false)
            .unwrap();
        assert_eq!(r.task_tag, "");
        s.advance(t1 + Duration::from_secs(3));
        assert_eq!(s.vm(&vm).unwrap().state, "SHUTDOWN");
        s.advance(t1 + Duration::from_secs(4));
        assert_eq!(s.vm(&vm).unwrap().state, "SHUTOFF");
    }
}
