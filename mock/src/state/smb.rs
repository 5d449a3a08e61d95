//! SMB shares as a directory: with an SMB root, `smb://[domain;][user[:password]@]host/share/path`
//! maps to `<root>/host/share/path`; an export writes a JSON description of the VM there and
//! an import reads it back. Every reason returned here is free of the URI and of the local
//! path (a URI may hold a password).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::validate::check_smb_uri;
use crate::model::VirDomain;

/// Marks a definition file written by the simulator.
pub(super) const EXPORT_FORMAT: &str = "hypercore-sim-export";

/// The directory `uri` names under `root` (the URI is checked first; `..`, `.` and empty
/// segments are refused so nothing outside `root` is reachable).
pub(super) fn share_dir(root: &Path, uri: &str) -> Result<PathBuf, &'static str> {
    check_smb_uri(uri)?;
    let rest = uri
        .strip_prefix("smb://")
        .ok_or("URI must use the smb:// scheme")?;
    let (authority, path) = rest
        .split_once('/')
        .ok_or("URI must name a share and path")?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let mut dir = root.to_path_buf();
    for segment in std::iter::once(host).chain(path.split('/').filter(|s| !s.is_empty())) {
        let bad = segment == "."
            || segment == ".."
            || segment.contains('\\')
            || segment.contains('\0')
            || segment.contains(':');
        if bad {
            return Err("URI path is not valid on the SMB share");
        }
        dir.push(segment);
    }
    Ok(dir)
}

/// The definition file name an export writes when the request names none: the VM's name with
/// characters unsafe in file names replaced, plus `.json`.
pub(super) fn default_definition_name(vm_name: &str) -> String {
    let safe: String = vm_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = safe.trim_start_matches('.');
    format!("{}.json", if safe.is_empty() { "vm" } else { safe })
}

/// Checks a definition file name given in a request (a plain file name, no directories).
pub(super) fn check_file_name(name: &str) -> Result<(), &'static str> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.contains('\\')
        || name.contains('\0');
    if bad {
        Err("definitionFileName is not a valid file name")
    } else {
        Ok(())
    }
}

/// Writes `description` as `dir/file` (creating `dir`).
pub(super) fn write_export(
    dir: &Path,
    file: &str,
    description: &Value,
) -> Result<(), &'static str> {
    let bytes =
        serde_json::to_vec_pretty(description).map_err(|_| "unable to encode the VM definition")?;
    std::fs::create_dir_all(dir).map_err(|_| "unable to create the folder on the SMB share")?;
    std::fs::write(dir.join(file), bytes).map_err(|_| "unable to write to the SMB share")
}

/// Reads the VM definition in `dir`: `file` when given, else the only `*.json` file there.
pub(super) fn read_import(dir: &Path, file: Option<&str>) -> Result<Value, &'static str> {
    let path = match file {
        Some(name) => dir.join(name),
        None => {
            let entries =
                std::fs::read_dir(dir).map_err(|_| "no VM definition found at the SMB path")?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
                .collect();
            match found.len() {
                0 => return Err("no VM definition found at the SMB path"),
                1 => found.remove(0),
                _ => {
                    return Err(
                        "several VM definitions at the SMB path; name one in definitionFileName",
                    );
                }
            }
        }
    };
    let bytes = std::fs::read(&path).map_err(|_| "no VM definition found at the SMB path")?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|_| "the VM definition is not readable")?;
    if value.get("format").and_then(Value::as_str) != Some(EXPORT_FORMAT) {
        return Err("the VM definition is not in a supported format");
    }
    Ok(value)
}

/// The JSON description an export writes: the VM's settings, its disks (type, capacity,
/// slot, ...) and NICs, and the boot order as device positions.
pub(super) fn describe_vm(vm: &VirDomain, cluster_name: &str) -> Value {
    let boot: Vec<String> = vm
        .boot_devices
        .iter()
        .filter_map(|b| {
            vm.block_devs
                .iter()
                .position(|d| &d.uuid == b)
                .map(|i| format!("blockDevs/{i}"))
                .or_else(|| {
                    vm.net_devs
                        .iter()
                        .position(|d| &d.uuid == b)
                        .map(|i| format!("netDevs/{i}"))
                })
        })
        .collect();
    json!({
        "format": EXPORT_FORMAT,
        "version": 1,
        "sourceCluster": cluster_name,
        "sourceUUID": vm.uuid,
        "name": vm.name,
        "description": vm.description,
        "operatingSystem": vm.operating_system,
        "mem": vm.mem,
        "numVCPU": vm.num_vcpu,
        "tags": vm.tags,
        "machineType": vm.machine_type,
        "machineTypeKeyword": vm.machine_type_keyword,
        "cpuType": vm.cpu_type,
        "blockDevs": vm.block_devs.iter().map(|d| json!({
            "type": d.kind,
            "capacity": d.capacity,
            "cacheMode": d.cache_mode,
            "slot": d.slot,
            "name": d.name,
            "disableSnapshotting": d.disable_snapshotting,
            "tieringPriorityFactor": d.tiering_priority_factor,
            "file": format!("{}.qcow2", d.uuid),
        })).collect::<Vec<_>>(),
        "netDevs": vm.net_devs.iter().map(|n| json!({
            "type": n.kind,
            "vlan": n.vlan,
            "connected": n.connected,
            "macAddress": n.mac_address,
        })).collect::<Vec<_>>(),
        "bootDevices": boot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_map_under_the_root_only() {
        let root = Path::new("/srv/smb");
        assert_eq!(
            share_dir(root, "smb://CORP;u:pw@nas.example.com/share/a/b").unwrap(),
            Path::new("/srv/smb/nas.example.com/share/a/b")
        );
        assert!(share_dir(root, "smb://nas/share/../../etc").is_err());
        assert!(share_dir(root, "smb://nas/share/./x").is_err());
        assert!(share_dir(root, "http://nas/share/x").is_err());
        let reason = share_dir(root, "smb://u:hunter2@nas/share/../x").unwrap_err();
        assert!(!reason.contains("hunter2"));
    }

    #[test]
    fn definition_names_are_plain_files() {
        assert_eq!(default_definition_name("web 01/a"), "web_01_a.json");
        assert_eq!(default_definition_name(".."), "vm.json");
        assert!(check_file_name("../x").is_err());
        assert!(check_file_name("vm.json").is_ok());
    }
}
