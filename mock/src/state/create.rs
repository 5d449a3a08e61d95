//! VMs that appear and disappear: `POST /VirDomain` (create from `{dom, options}`),
//! `POST /VirDomain/import` (from an SMB definition) and `DELETE /VirDomain/{uuid}`. A new
//! VM is SHUTOFF and appears when its task completes; disks that do not fit the free storage
//! end the task in ERROR.

use std::time::Instant;

use serde_json::{Map, Value};

use super::disks::{DiskSpec, parse_disk};
use super::outcome::{ApiError, TaskResult};
use super::smb::{check_file_name, read_import, share_dir};
use super::tasks::{Effect, Reservation, SimState, unix_now};
use super::validate::{
    PATCHABLE_VM_FIELDS, READ_ONLY_VM_FIELDS, check_keys, check_smb_uri, enum_error, opt_bool,
    opt_str, req_str, type_error, validate_patch_types,
};
use super::vm_update::{apply_patch, assign_slot};
use crate::generate::mac_from;
use crate::model::*;

/// `options.machineTypeKeyword` values and the machine type each selects.
const MACHINE_TYPES: &[(&str, &str)] = &[
    ("bios", "scale-bios-9.3"),
    ("uefi", "scale-uefi-9.3"),
    ("tpm", "scale-uefi-tpm-9.3"),
    ("tpm-compatible", "scale-uefi-tpm-compatible-9.3"),
];
/// `VirDomainNetDeviceType` values.
const NIC_TYPES: &[&str] = &["RTL8139", "INTEL_E1000", "VIRTIO", "PCNET"];

/// A VM as requested (create body or import definition), before it has uuids.
struct VmSpec {
    dom: Map<String, Value>,
    machine_type: String,
    disks: Vec<DiskSpec>,
    nics: Vec<Map<String, Value>>,
    /// Boot order as (`blockDevs`|`netDevs`, position).
    boot: Vec<(bool, usize)>,
}

impl SimState {
    /// `POST /VirDomain`: `{dom, options}` (both required, nothing else); the VM is created
    /// SHUTOFF with its disks and NICs. Duplicate names are accepted, as on HyperCore.
    pub fn vm_create(
        &mut self,
        body: &Map<String, Value>,
        session_id: &str,
        now: Instant,
    ) -> Result<TaskResult, ApiError> {
        check_keys(body, &["dom", "options"], &[])?;
        let dom = req_object(body, "dom")?;
        let options = req_object(body, "options")?;
        check_keys(
            &options,
            &["attachGuestToolsISO", "machineTypeKeyword"],
            &[],
        )?;
        let mut allowed: Vec<&str> = PATCHABLE_VM_FIELDS.to_vec();
        allowed.push("isTransient");
        check_keys(&dom, &allowed, READ_ONLY_VM_FIELDS)?;
        validate_patch_types(&dom)?;
        for key in ["name", "mem", "numVCPU"] {
            if !dom.contains_key(key) {
                return Err(ApiError::BadRequest(format!("dom.{key} is required")));
            }
        }
        if dom
            .get("bootDevices")
            .and_then(Value::as_array)
            .is_some_and(|b| !b.is_empty())
        {
            return Err(ApiError::BadRequest(
                "bootDevices must be empty at create; set the boot order with PATCH".into(),
            ));
        }
        let keyword = opt_str(&options, "machineTypeKeyword")?.unwrap_or_default();
        let machine_type = if keyword.is_empty() {
            opt_str(&dom, "machineType")?.unwrap_or_else(|| "scale-7.2".into())
        } else {
            MACHINE_TYPES
                .iter()
                .find(|(k, _)| *k == keyword)
                .map(|(_, m)| (*m).to_owned())
                .ok_or_else(|| enum_error("machineTypeKeyword", &keyword))?
        };
        let guest_tools = opt_bool(&options, "attachGuestToolsISO")?.unwrap_or(true);
        let mut disks = Vec::new();
        for item in array_of_objects(&dom, "blockDevs")? {
            if item
                .get("virDomainUUID")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
            {
                return Err(ApiError::BadRequest(
                    "blockDevs of a new VM cannot name a virDomainUUID".into(),
                ));
            }
            disks.push(parse_disk(&item, false)?);
        }
        let nics = array_of_objects(&dom, "netDevs")?;
        for nic in &nics {
            check_nic(nic)?;
        }
        let is_windows = dom
            .get("operatingSystem")
            .and_then(Value::as_str)
            .is_some_and(|os| os.starts_with("os_windows"));
        if guest_tools
            && is_windows
            && let Some(iso) = self
                .cluster
                .isos
                .iter()
                .find(|i| i.name.starts_with("SCALE_guest_tools"))
        {
            let mut cd = DiskSpec::firmware("IDE_CDROM");
            cd.capacity = 0;
            cd.path = iso.path.clone();
            cd.name = iso.name.clone();
            disks.push(cd);
        }
        let spec = VmSpec {
            dom,
            machine_type,
            disks,
            nics,
            boot: vec![],
        };
        let name = spec
            .dom
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        self.start_vm_task(
            spec,
            "Create Virtual Machine %@",
            name,
            session_id,
            now,
            None,
        )
    }

    /// `POST /VirDomain/import`: `{source: {pathURI, ...}, template?}`. With an SMB root the
    /// definition an export wrote is read from the mapped directory; without one (or when it is
    /// missing) the task ends in ERROR, as a cluster that finds nothing at the URI does.
    pub fn vm_import(
        &mut self,
        body: &Map<String, Value>,
        session_id: &str,
        now: Instant,
    ) -> Result<TaskResult, ApiError> {
        check_keys(body, &["source", "template"], &[])?;
        let source = req_object(body, "source")?;
        check_keys(
            &source,
            &[
                "pathURI",
                "format",
                "definitionFileName",
                "allowNonSequentialWrites",
                "parallelCountPerTransfer",
            ],
            &[],
        )?;
        let uri = req_str(&source, "pathURI")?;
        let file = opt_str(&source, "definitionFileName")?.filter(|f| !f.is_empty());
        let template = match body.get("template") {
            None => Map::new(),
            Some(Value::Object(t)) => t.clone(),
            Some(_) => return Err(type_error("template", "object")),
        };
        let mut allowed: Vec<&str> = PATCHABLE_VM_FIELDS.to_vec();
        allowed.push("isTransient");
        check_keys(&template, &allowed, READ_ONLY_VM_FIELDS)?;
        validate_patch_types(&template)?;
        let found = match (&self.smb_root, check_smb_uri(&uri)) {
            (_, Err(reason)) => Err(reason),
            (None, Ok(())) => Err("no VM definition found at the SMB path"),
            (Some(root), Ok(())) => file
                .as_deref()
                .map_or(Ok(()), check_file_name)
                .and_then(|()| share_dir(root, &uri))
                .and_then(|dir| read_import(&dir, file.as_deref())),
        };
        let spec = match found
            .map_err(str::to_owned)
            .and_then(|d| spec_from_definition(&d))
        {
            Ok(mut spec) => {
                for (k, v) in &template {
                    spec.dom.insert(k.clone(), v.clone());
                }
                spec
            }
            Err(reason) => {
                let name = opt_str(&template, "name")?.unwrap_or_default();
                let tag = self.start_task(
                    now,
                    "Import Virtual Machine %@",
                    vec![name],
                    "",
                    session_id,
                    Some(("Import of Virtual Machine failed: %@".into(), vec![reason])),
                    Effect::Nothing,
                );
                return Ok(TaskResult {
                    task_tag: tag,
                    created_uuid: String::new(),
                });
            }
        };
        let name = spec
            .dom
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        self.start_vm_task(
            spec,
            "Import Virtual Machine %@",
            name,
            session_id,
            now,
            Some(template),
        )
    }

    /// `DELETE /VirDomain/{uuid}`: only a SHUTOFF or CRASHED VM (500 otherwise, as for
    /// invalid power transitions); the VM, its snapshots and its disks' storage go when the
    /// task completes.
    pub fn vm_delete(
        &mut self,
        uuid: &str,
        session_id: &str,
        now: Instant,
    ) -> Result<TaskResult, ApiError> {
        let vm = self.vm(uuid).ok_or(ApiError::Internal)?;
        if vm.state != "SHUTOFF" && vm.state != "CRASHED" {
            return Err(ApiError::Internal);
        }
        let name = vm.name.clone();
        let tag = self.start_task(
            now,
            "Delete Virtual Machine %@",
            vec![name],
            uuid,
            session_id,
            None,
            Effect::VmDeleted(uuid.to_owned()),
        );
        Ok(TaskResult {
            task_tag: tag,
            created_uuid: String::new(),
        })
    }

    /// Builds the VM of `spec` and starts the task that adds it (ERROR when its disks do not
    /// fit the free storage). `template` (import) overrides NICs position by position.
    fn start_vm_task(
        &mut self,
        spec: VmSpec,
        description: &str,
        name: String,
        session_id: &str,
        now: Instant,
        template: Option<Map<String, Value>>,
    ) -> Result<TaskResult, ApiError> {
        let vm = self.build_vm(&spec, template.as_ref())?;
        let storage: i64 = vm.block_devs.iter().map(|d| d.capacity).sum();
        let failure = self.check_storage(storage).err().map(|reason| {
            (
                format!("Unable to {} Virtual Machine %@: %@", verb(description)),
                vec![name.clone(), reason],
            )
        });
        if failure.is_none() {
            self.next_reservation = Reservation {
                memory: vec![],
                storage,
            };
        }
        let uuid = vm.uuid.clone();
        let tag = self.start_task(
            now,
            description,
            vec![name],
            &uuid,
            session_id,
            failure,
            Effect::VmCreated(Box::new(vm)),
        );
        Ok(TaskResult {
            task_tag: tag,
            created_uuid: uuid,
        })
    }

    /// The new SHUTOFF VM of `spec`: fresh uuids, slots assigned, NVRAM (and vTPM) added when
    /// the machine type needs them, MACs generated where none was given.
    fn build_vm(
        &mut self,
        spec: &VmSpec,
        template: Option<&Map<String, Value>>,
    ) -> Result<VirDomain, ApiError> {
        let unix = unix_now();
        let uuid = self.new_uuid();
        let keyword = keyword_of(&spec.machine_type);
        let mut disks = spec.disks.clone();
        let needs: &[&str] = match keyword {
            "bios" => &[],
            "uefi" => &["NVRAM"],
            _ => &["NVRAM", "VTPM"],
        };
        for kind in needs {
            if !disks.iter().any(|d| d.kind == *kind) {
                disks.push(DiskSpec::firmware(kind));
            }
        }
        let mut block_devs: Vec<BlockDevice> = Vec::new();
        for d in &disks {
            let slot = assign_slot(&block_devs, &d.kind, d.slot).map_err(ApiError::BadRequest)?;
            let dev_uuid = self.new_uuid();
            let mut dev = d.build(dev_uuid, &uuid, unix);
            dev.slot = slot;
            block_devs.push(dev);
        }
        let overrides: Vec<Value> = template
            .and_then(|t| t.get("netDevs"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut net_devs = Vec::new();
        for (i, nic) in spec.nics.iter().enumerate() {
            let mut nic = nic.clone();
            if let Some(Value::Object(o)) = overrides.get(i) {
                for (k, v) in o {
                    nic.insert(k.clone(), v.clone());
                }
            }
            let mac = match nic.get("macAddress").and_then(Value::as_str) {
                Some(m) if !m.is_empty() => m.to_owned(),
                _ => mac_from(&mut self.rng),
            };
            net_devs.push(NetDevice {
                uuid: self.new_uuid(),
                vir_domain_uuid: uuid.clone(),
                kind: str_or(&nic, "type", "VIRTIO"),
                mac_address: mac,
                vlan: nic.get("vlan").and_then(Value::as_i64).unwrap_or(0),
                connected: nic
                    .get("connected")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
                ipv4_addresses: vec![],
            });
        }
        let boot_devices = spec
            .boot
            .iter()
            .filter_map(|(block, i)| {
                if *block {
                    block_devs.get(*i).map(|d| d.uuid.clone())
                } else {
                    net_devs.get(*i).map(|d| d.uuid.clone())
                }
            })
            .collect();
        let mem = spec.dom.get("mem").and_then(Value::as_i64).unwrap_or(0);
        let mut vm = VirDomain {
            uuid: uuid.clone(),
            node_uuid: String::new(),
            name: String::new(),
            description: String::new(),
            operating_system: "os_other".into(),
            state: "SHUTOFF".into(),
            desired_disposition: "SHUTOFF".into(),
            console: Console {
                kind: "VNC".into(),
                ip: String::new(),
                port: 5900,
                keymap: "en-us".into(),
            },
            mem,
            num_vcpu: 1,
            block_devs,
            net_devs,
            deprecated_stats: [
                "VIR_DOMAIN_CPU",
                "VIR_DOMAIN_MEM_CURRENT",
                "VIR_DOMAIN_MEM_SWAPPED",
                "VIR_DOMAIN_UPTIME",
            ]
            .iter()
            .map(|kind| StatsDatum {
                kind: (*kind).into(),
                current_value: 0,
                max_value: match *kind {
                    "VIR_DOMAIN_CPU" => 10_000,
                    "VIR_DOMAIN_MEM_CURRENT" => mem,
                    _ => 0,
                },
            })
            .collect(),
            created: unix,
            modified: unix,
            latest_task_tag: TaskTagStatus::idle(&uuid, unix),
            tags: String::new(),
            boot_devices,
            ui_state: "SHUTOFF".into(),
            snap_uuids: vec![],
            snapshot_serial_number: 0,
            replication_uuids: vec![],
            source_vir_domain_uuid: String::new(),
            snapshot_list_serial_number: 0,
            snapshot_schedule_uuid: String::new(),
            machine_type: spec.machine_type.clone(),
            cpu_type: "clusterBaseline-7.3".into(),
            snapshot_allocation_blocks: 0,
            guest_agent_state: "UNKNOWN".into(),
            last_seen_running_on_node_uuid: String::new(),
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
        };
        let mut fields = spec.dom.clone();
        for key in ["blockDevs", "netDevs", "bootDevices", "machineType"] {
            fields.remove(key);
        }
        apply_patch(&mut vm, &fields);
        Ok(vm)
    }
}

/// "create" or "import": the verb of a create task's failure message.
fn verb(description: &str) -> &'static str {
    if description.starts_with("Import") {
        "import"
    } else {
        "create"
    }
}

/// The `machineTypeKeyword` of a machine type.
fn keyword_of(machine_type: &str) -> &'static str {
    if machine_type.contains("tpm-compatible") {
        "tpm-compatible"
    } else if machine_type.contains("tpm") {
        "tpm"
    } else if machine_type.contains("uefi") || machine_type == "scale-8.10" {
        "uefi"
    } else {
        "bios"
    }
}

/// A required object property.
fn req_object(body: &Map<String, Value>, key: &str) -> Result<Map<String, Value>, ApiError> {
    match body.get(key) {
        Some(Value::Object(o)) => Ok(o.clone()),
        Some(_) => Err(type_error(key, "object")),
        None => Err(ApiError::Validation(format!(
            "Request has one or more errors\n  In body\n    Missing required property: {key}"
        ))),
    }
}

/// The objects of an optional array property.
fn array_of_objects(
    body: &Map<String, Value>,
    key: &str,
) -> Result<Vec<Map<String, Value>>, ApiError> {
    match body.get(key) {
        None => Ok(vec![]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::Object(o) => Ok(o.clone()),
                _ => Err(type_error(key, "array of objects")),
            })
            .collect(),
        Some(_) => Err(type_error(key, "array")),
    }
}

/// Checks one NIC of a create body.
fn check_nic(nic: &Map<String, Value>) -> Result<(), ApiError> {
    check_keys(
        nic,
        &["virDomainUUID", "type", "macAddress", "vlan", "connected"],
        &["uuid", "ipv4Addresses"],
    )?;
    if let Some(kind) = opt_str(nic, "type")?
        && !NIC_TYPES.contains(&kind.as_str())
    {
        return Err(enum_error("type", &kind));
    }
    match nic.get("vlan") {
        None => {}
        Some(v) if v.as_i64().is_some_and(|n| (0..=4094).contains(&n)) => {}
        Some(_) => return Err(type_error("vlan", "integer between 0 and 4094")),
    }
    opt_str(nic, "macAddress")?;
    opt_bool(nic, "connected")?;
    Ok(())
}

/// A string property or `default`.
fn str_or(map: &Map<String, Value>, key: &str, default: &str) -> String {
    map.get(key)
        .and_then(Value::as_str)
        .unwrap_or(default)
        .to_owned()
}

/// The VM an export's definition describes (settings, disks, NICs, boot order).
fn spec_from_definition(def: &Value) -> Result<VmSpec, String> {
    let bad = || "the VM definition is incomplete".to_owned();
    let mut dom = Map::new();
    for key in ["name", "description", "operatingSystem", "tags", "cpuType"] {
        if let Some(v) = def.get(key).filter(|v| v.is_string()) {
            dom.insert(key.into(), v.clone());
        }
    }
    for key in ["mem", "numVCPU"] {
        let v = def
            .get(key)
            .and_then(Value::as_i64)
            .filter(|n| *n > 0)
            .ok_or_else(bad)?;
        dom.insert(key.into(), Value::from(v));
    }
    let mut disks = Vec::new();
    for d in def
        .get("blockDevs")
        .and_then(Value::as_array)
        .ok_or_else(bad)?
    {
        let o = d.as_object().ok_or_else(bad)?;
        let mut spec = Map::new();
        for key in [
            "type",
            "capacity",
            "cacheMode",
            "disableSnapshotting",
            "tieringPriorityFactor",
        ] {
            if let Some(v) = o.get(key) {
                spec.insert(key.into(), v.clone());
            }
        }
        // A CD-ROM comes back empty: the ISO stays on the source cluster.
        let is_cdrom = o.get("type").and_then(Value::as_str) == Some("IDE_CDROM");
        if let Some(slot) = o.get("slot").filter(|_| !is_cdrom) {
            spec.insert("slot".into(), slot.clone());
        }
        disks.push(parse_disk(&spec, false).map_err(|_| bad())?);
    }
    let mut nics = Vec::new();
    for n in def
        .get("netDevs")
        .and_then(Value::as_array)
        .ok_or_else(bad)?
    {
        let o = n.as_object().ok_or_else(bad)?;
        check_nic(o).map_err(|_| bad())?;
        nics.push(o.clone());
    }
    let boot = def
        .get("bootDevices")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .filter_map(|b| {
                    let (kind, i) = b.split_once('/')?;
                    Some((kind == "blockDevs", i.parse().ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    let machine_type = def
        .get("machineType")
        .and_then(Value::as_str)
        .unwrap_or("scale-7.2")
        .to_owned();
    Ok(VmSpec {
        dom,
        machine_type,
        disks,
        nics,
        boot,
    })
}
