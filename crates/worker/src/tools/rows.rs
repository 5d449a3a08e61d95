//! Shaping typed HyperCore records into the compact snake_case rows several tools return
//! (VM rows and briefs, disks, NICs), and the redaction of texts that may carry credentials.

use hypercore::model::{VirDomain, VirDomainBlockDevice, VirDomainNetDevice, fill_placeholders};
use hyperfed_protocol::redact_uri;
use serde_json::{Value, json};

/// A `vm_list` row; `details` adds description, OS, machine type and device counts.
pub(super) fn vm_row(vm: &VirDomain, details: bool) -> Value {
    let mut row = json!({
        "uuid": vm.uuid,
        "name": vm.name,
        "state": vm.state.as_str(),
        "node_uuid": vm.node_uuid,
        "tags": vm.tag_list(),
        "vcpus": vm.num_vcpu,
        "mem_bytes": vm.mem,
    });
    if details {
        row["description"] = json!(vm.description);
        row["operating_system"] = json!(vm.operating_system);
        row["machine_type"] = json!(vm.machine_type);
        row["disks"] = json!(vm.block_devs.len());
        row["nics"] = json!(vm.net_devs.len());
        row["snapshots"] = json!(vm.snap_uuids.len());
        row["replication_target"] = json!(vm.is_replication_target());
    }
    row
}

/// The VM as an action result names it: uuid, name, state and node.
pub(super) fn vm_brief(vm: &VirDomain) -> Value {
    json!({
        "uuid": vm.uuid,
        "name": vm.name,
        "state": vm.state.as_str(),
        "node_uuid": vm.node_uuid,
    })
}

/// A disk, CD-ROM or NVRAM row.
pub(super) fn block_row(disk: &VirDomainBlockDevice) -> Value {
    json!({
        "uuid": disk.uuid,
        "vm_uuid": disk.vir_domain_uuid,
        "type": disk.kind.as_str(),
        "name": disk.name,
        "capacity_bytes": disk.capacity,
        "allocation_bytes": disk.allocation,
        "cache_mode": disk.cache_mode.as_str(),
        "slot": disk.slot,
        "path": disk.path,
        "read_only": disk.read_only,
    })
}

/// A network interface row.
pub(super) fn nic_row(nic: &VirDomainNetDevice) -> Value {
    json!({
        "uuid": nic.uuid,
        "vm_uuid": nic.vir_domain_uuid,
        "type": nic.kind.as_str(),
        "mac_address": nic.mac_address,
        "vlan": nic.vlan,
        "connected": nic.connected,
        "ipv4_addresses": nic.ipv4_addresses,
    })
}

/// A HyperCore formatted text with its `%@` placeholders filled (`?` where a parameter is
/// missing) and any credentials in URIs redacted.
pub(super) fn task_text(template: &str, params: &[String]) -> String {
    redact_words(&fill_placeholders(template, params, "?"))
}

/// Redacts credentials in any URI-looking word of a message.
pub(super) fn redact_words(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            if word.contains("://") && word.contains('@') {
                redact_uri(word)
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hypercore::model::PLACEHOLDER;

    #[test]
    fn fills_placeholders_and_redacts() {
        let params = ["smb://u:pw@h/s".to_owned(), "vm1".to_owned()];
        let out = task_text("Export to %@ of %@ failed", &params);
        assert_eq!(out, "Export to smb://u:[redacted]@h/s of vm1 failed");
        assert_eq!(task_text("a %@ b %@", &params[1..]), "a vm1 b ?");
        assert!(!task_text(PLACEHOLDER, &[]).contains(PLACEHOLDER));
    }
}
