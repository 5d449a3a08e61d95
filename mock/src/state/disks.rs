//! Block devices: the body of a device (in `POST /VirDomainBlockDevice` or a VM create's
//! `dom.blockDevs`), `POST /VirDomainBlockDevice` (slot assignment, storage checked) and
//! `PATCH /VirDomainBlockDevice/{uuid}` (capacity grows only).

use std::time::Instant;

use serde_json::{Map, Value};

use super::outcome::{ApiError, TaskResult};
use super::tasks::{Effect, Reservation, SimState, unix_now};
use super::validate::{check_keys, enum_error, opt_bool, opt_number, opt_str, type_error};
use super::vm_update::{SLOTLESS_TYPES, assign_slot};
use crate::model::BlockDevice;

/// `VirDomainBlockDeviceType` values.
pub(super) const BLOCK_TYPES: &[&str] = &[
    "IDE_DISK",
    "SCSI_DISK",
    "VIRTIO_DISK",
    "IDE_CDROM",
    "IDE_FLOPPY",
    "NVRAM",
    "VTPM",
];
/// `VirDomainBlockDeviceCacheMode` values.
const CACHE_MODES: &[&str] = &["NONE", "WRITEBACK", "WRITETHROUGH"];
/// Keys of a block-device create or update body.
pub(super) const DISK_KEYS: &[&str] = &[
    "virDomainUUID",
    "type",
    "cacheMode",
    "capacity",
    "shareUUID",
    "path",
    "slot",
    "name",
    "disableSnapshotting",
    "tieringPriorityFactor",
];
/// Block-device keys a client may never write.
pub(super) const READ_ONLY_DISK_KEYS: &[&str] = &[
    "uuid",
    "allocation",
    "physical",
    "mountPoints",
    "createdTimestamp",
    "readOnly",
];
/// Fixed sizes of the firmware devices (bytes), as HyperCore reports them.
const NVRAM_BYTES: i64 = 540_672;
const VTPM_BYTES: i64 = 1024;

/// A block device as requested (before it has a uuid).
#[derive(Debug, Clone)]
pub(super) struct DiskSpec {
    pub(super) kind: String,
    pub(super) cache_mode: String,
    pub(super) capacity: i64,
    pub(super) path: String,
    pub(super) name: String,
    pub(super) slot: i64,
    pub(super) disable_snapshotting: bool,
    pub(super) tiering_priority_factor: i64,
}

impl DiskSpec {
    /// A firmware device (NVRAM or VTPM) of its fixed size.
    pub(super) fn firmware(kind: &str) -> DiskSpec {
        DiskSpec {
            kind: kind.to_owned(),
            cache_mode: "WRITETHROUGH".into(),
            capacity: if kind == "VTPM" {
                VTPM_BYTES
            } else {
                NVRAM_BYTES
            },
            path: String::new(),
            name: String::new(),
            slot: -1,
            disable_snapshotting: false,
            tiering_priority_factor: 8,
        }
    }

    /// The device record, attached to `vm` (slot -1 of a slotted type is assigned later).
    pub(super) fn build(&self, uuid: String, vm: &str, unix: i64) -> BlockDevice {
        BlockDevice {
            path: if self.kind == "IDE_CDROM" {
                self.path.clone()
            } else {
                format!("scribe/{uuid}")
            },
            uuid,
            vir_domain_uuid: vm.to_owned(),
            kind: self.kind.clone(),
            cache_mode: self.cache_mode.clone(),
            capacity: self.capacity,
            allocation: 0,
            physical: 0,
            share_uuid: String::new(),
            slot: if SLOTLESS_TYPES.contains(&self.kind.as_str()) {
                -1
            } else {
                self.slot
            },
            name: self.name.clone(),
            disable_snapshotting: self.disable_snapshotting,
            tiering_priority_factor: self.tiering_priority_factor,
            mount_points: vec![],
            created_timestamp: unix,
            read_only: false,
        }
    }
}

/// Parses a block-device body; `type` and `capacity` are required in a
/// `POST /VirDomainBlockDevice` (`standalone`) and default to `VIRTIO_DISK` and 0 inside a VM
/// create. Firmware devices get their fixed size; other disks need a positive capacity.
pub(super) fn parse_disk(
    body: &Map<String, Value>,
    standalone: bool,
) -> Result<DiskSpec, ApiError> {
    check_keys(body, DISK_KEYS, READ_ONLY_DISK_KEYS)?;
    let missing = |key: &str| {
        ApiError::Validation(format!(
            "Request has one or more errors\n  In body\n    Missing required property: {key}"
        ))
    };
    let kind = match opt_str(body, "type")? {
        Some(k) => k,
        None if standalone => return Err(missing("type")),
        None => "VIRTIO_DISK".into(),
    };
    if !BLOCK_TYPES.contains(&kind.as_str()) {
        return Err(enum_error("type", &kind));
    }
    let capacity = match opt_number(body, "capacity")? {
        Some(c) => c,
        None if standalone => return Err(missing("capacity")),
        None => 0,
    };
    let cache_mode = opt_str(body, "cacheMode")?.unwrap_or_else(|| "WRITETHROUGH".into());
    if !CACHE_MODES.contains(&cache_mode.as_str()) {
        return Err(enum_error("cacheMode", &cache_mode));
    }
    let spec = DiskSpec {
        capacity: match kind.as_str() {
            "NVRAM" => NVRAM_BYTES,
            "VTPM" => VTPM_BYTES,
            _ => capacity,
        },
        path: opt_str(body, "path")?.unwrap_or_default(),
        name: opt_str(body, "name")?.unwrap_or_default(),
        slot: opt_number(body, "slot")?.unwrap_or(-1),
        disable_snapshotting: opt_bool(body, "disableSnapshotting")?.unwrap_or(false),
        tiering_priority_factor: opt_number(body, "tieringPriorityFactor")?.unwrap_or(8),
        kind,
        cache_mode,
    };
    if capacity < 0 {
        return Err(type_error("capacity", "non-negative integer"));
    }
    let is_cdrom = spec.kind == "IDE_CDROM";
    if !is_cdrom && !SLOTLESS_TYPES.contains(&spec.kind.as_str()) && spec.capacity <= 0 {
        return Err(ApiError::BadRequest(format!(
            "capacity of a {} must be greater than 0 bytes",
            spec.kind
        )));
    }
    if !spec.name.is_empty() && (!is_cdrom || !spec.name.ends_with(".iso")) {
        return Err(ApiError::BadRequest(
            "only an IDE_CDROM has a name, and it must end in '.iso'".into(),
        ));
    }
    if !spec.path.is_empty() && !is_cdrom {
        return Err(ApiError::BadRequest(
            "only an IDE_CDROM can be given a path".into(),
        ));
    }
    Ok(spec)
}

impl SimState {
    /// `POST /VirDomainBlockDevice`: a new device on a VM (slot chosen when it is attached,
    /// unless one is asked for); a disk larger than the free storage ends the task in ERROR.
    pub fn disk_create(
        &mut self,
        body: &Map<String, Value>,
        session_id: &str,
        now: Instant,
    ) -> Result<TaskResult, ApiError> {
        let spec = parse_disk(body, true)?;
        let vm_uuid = opt_str(body, "virDomainUUID")?.unwrap_or_default();
        let vm = self.vm(&vm_uuid).ok_or(ApiError::Internal)?;
        if spec.slot >= 0 {
            assign_slot(&vm.block_devs, &spec.kind, spec.slot).map_err(ApiError::BadRequest)?;
        }
        if spec.kind == "IDE_CDROM" && !spec.path.is_empty() && !self.iso_path(&spec.path) {
            return Err(ApiError::BadRequest(
                "path must be the path of an ISO on this cluster".into(),
            ));
        }
        let vm_name = vm.name.clone();
        let uuid = self.new_uuid();
        let disk = spec.build(uuid.clone(), &vm_uuid, unix_now());
        let failure = self.check_storage(spec.capacity).err().map(|reason| {
            (
                "Unable to create block device for Virtual Machine %@: %@".to_owned(),
                vec![vm_name.clone(), reason],
            )
        });
        if failure.is_none() {
            self.next_reservation = Reservation {
                memory: vec![],
                storage: spec.capacity,
            };
        }
        let tag = self.start_task(
            now,
            "Create block device %@ for Virtual Machine %@",
            vec![spec.kind.clone(), vm_name],
            &vm_uuid,
            session_id,
            failure,
            Effect::DiskAdded(Box::new(disk)),
        );
        Ok(TaskResult {
            task_tag: tag,
            created_uuid: uuid,
        })
    }

    /// `PATCH /VirDomainBlockDevice/{uuid}`: capacity can only grow (a smaller one is a 400
    /// naming both sizes), firmware devices keep their size, growth beyond the free storage
    /// ends the task in ERROR; a type change needs the VM off.
    pub fn disk_patch(
        &mut self,
        uuid: &str,
        body: &Map<String, Value>,
        session_id: &str,
        now: Instant,
    ) -> Result<TaskResult, ApiError> {
        check_keys(body, DISK_KEYS, READ_ONLY_DISK_KEYS)?;
        let (vm, disk) = self
            .cluster
            .vms
            .iter()
            .find_map(|v| v.block_devs.iter().find(|d| d.uuid == uuid).map(|d| (v, d)))
            .ok_or(ApiError::Internal)?;
        let mut merged = body.clone();
        // `type` and `capacity` are not required on update: fill them from the device.
        merged
            .entry("type")
            .or_insert_with(|| Value::String(disk.kind.clone()));
        merged
            .entry("capacity")
            .or_insert_with(|| Value::from(disk.capacity));
        if disk.kind != "IDE_CDROM" {
            merged.remove("path");
            merged.remove("name");
        }
        let spec = parse_disk(&merged, true)?;
        let requested = opt_number(body, "capacity")?;
        if let Some(c) = requested
            && SLOTLESS_TYPES.contains(&disk.kind.as_str())
            && c != disk.capacity
        {
            return Err(ApiError::BadRequest(format!(
                "the capacity of a {} device cannot be changed",
                disk.kind
            )));
        }
        if let Some(c) = requested
            && c < disk.capacity
        {
            return Err(ApiError::BadRequest(format!(
                "capacity can only grow: {c} bytes requested, the block device has {} bytes",
                disk.capacity
            )));
        }
        if (body.contains_key("path") || body.contains_key("name")) && disk.kind != "IDE_CDROM" {
            return Err(ApiError::BadRequest(
                "only an IDE_CDROM can have its path or name changed".into(),
            ));
        }
        let off = vm.state == "SHUTOFF" || vm.state == "CRASHED";
        if spec.kind != disk.kind && !off {
            return Err(ApiError::Internal);
        }
        if spec.kind == "IDE_CDROM" && !spec.path.is_empty() && !self.iso_path(&spec.path) {
            return Err(ApiError::BadRequest(
                "path must be the path of an ISO on this cluster".into(),
            ));
        }
        let growth = requested.map_or(0, |c| c - disk.capacity);
        let vm_uuid = vm.uuid.clone();
        let vm_name = vm.name.clone();
        let failure = self.check_storage(growth).err().map(|reason| {
            (
                "Unable to update block device %@ of Virtual Machine %@: %@".to_owned(),
                vec![uuid.to_owned(), vm_name.clone(), reason],
            )
        });
        if failure.is_none() && growth > 0 {
            self.next_reservation = Reservation {
                memory: vec![],
                storage: growth,
            };
        }
        let mut patch = body.clone();
        patch.remove("virDomainUUID");
        patch.remove("slot");
        let tag = self.start_task(
            now,
            "Update block device %@ for Virtual Machine %@",
            vec![uuid.to_owned(), vm_name],
            &vm_uuid,
            session_id,
            failure,
            Effect::DiskPatched(uuid.to_owned(), patch),
        );
        Ok(TaskResult {
            task_tag: tag,
            created_uuid: String::new(),
        })
    }

    /// Whether `path` is the path of an ISO on this cluster.
    pub(super) fn iso_path(&self, path: &str) -> bool {
        self.cluster.isos.iter().any(|i| i.path == path)
    }
}
