//! VM configuration changes: `PATCH /VirDomain/{uuid}`, block-device create and resize, and
//! VM create, import and delete. Each answers the task to wait for (see `wait`).

use hyperfed_protocol::Secret;
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::Client;
use crate::decode::Context;
use crate::error::{Error, Result};
use crate::model::{TaskResult, join_tags};
use crate::reads::segment;

/// The fields of a VM to change (`None` leaves a field as it is).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmPatch {
    /// New vCPU count (only while SHUTOFF or CRASHED).
    pub vcpus: Option<u32>,
    /// New memory in bytes (only while SHUTOFF or CRASHED).
    pub memory_bytes: Option<u64>,
    /// New description.
    pub description: Option<String>,
    /// New tags (replace the old ones).
    pub tags: Option<Vec<String>>,
}

impl VmPatch {
    /// Whether the patch changes CPU or memory (which needs the VM off).
    pub fn needs_off(&self) -> bool {
        self.vcpus.is_some() || self.memory_bytes.is_some()
    }

    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        !self.needs_off() && self.description.is_none() && self.tags.is_none()
    }

    /// The PATCH body: only the fields given.
    pub fn body(&self) -> Value {
        let mut body = json!({});
        if let Some(v) = self.vcpus {
            body["numVCPU"] = json!(v);
        }
        if let Some(m) = self.memory_bytes {
            body["mem"] = json!(m);
        }
        if let Some(d) = &self.description {
            body["description"] = json!(d);
        }
        if let Some(t) = &self.tags {
            body["tags"] = json!(join_tags(t));
        }
        body
    }
}

/// A block device to add to a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSpec {
    /// `VirDomainBlockDeviceType` wire value, e.g. `VIRTIO_DISK`.
    pub kind: String,
    /// Capacity in bytes.
    pub capacity: u64,
    /// `VirDomainBlockDeviceCacheMode` wire value, if not the cluster's default.
    pub cache_mode: Option<String>,
}

impl DiskSpec {
    /// A disk body (without `virDomainUUID`), as create and attach take it.
    fn body(&self) -> Value {
        let mut body = json!({"type": self.kind, "capacity": self.capacity});
        if let Some(c) = self.cache_mode.as_deref().filter(|c| !c.is_empty()) {
            body["cacheMode"] = json!(c);
        }
        body
    }
}

/// A VM to create (`POST /VirDomain`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateSpec {
    /// Name (HyperCore does not make names unique: check first).
    pub name: String,
    /// vCPU count.
    pub vcpus: u32,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Disks in order (VIRTIO).
    pub disks: Vec<DiskSpec>,
    /// One VIRTIO NIC on this VLAN, if given.
    pub network_vlan: Option<u32>,
    /// Tags.
    pub tags: Vec<String>,
    /// `machineTypeKeyword` (`bios`, `uefi`, `tpm`, `tpm-compatible`), if given.
    pub machine_type: Option<String>,
    /// Description.
    pub description: Option<String>,
}

/// Where to import a VM from, and what to override.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSpec {
    /// `smb://[domain;]user:password@server/share/path` (a secret: it holds the password).
    pub source_uri: Secret,
    /// New name, if given.
    pub name: Option<String>,
    /// Tags, if given.
    pub tags: Option<Vec<String>>,
}

fn vm_ctx(id: &str) -> Context<'_> {
    Context::Resource {
        kind: "VirDomain",
        id,
    }
}

impl Client {
    /// Changes the given fields of a VM; a 500 means the VM's state does not allow it.
    pub async fn patch_vm(&self, vm_uuid: &str, patch: &VmPatch) -> Result<TaskResult> {
        let path = format!("VirDomain/{}", segment("vm_uuid", vm_uuid)?);
        if patch.is_empty() {
            return Err(Error::InvalidArgument {
                argument: "patch",
                message: "nothing to change".into(),
            });
        }
        let result = self
            .send_json(
                Method::PATCH,
                &path,
                Some(&patch.body()),
                Context::Action { id: vm_uuid },
            )
            .await;
        self.explain_missing_vm(result, vm_uuid).await
    }

    /// Adds a block device to a VM; `created_uuid` is the new device.
    pub async fn create_block_device(&self, vm_uuid: &str, disk: &DiskSpec) -> Result<TaskResult> {
        segment("vm_uuid", vm_uuid)?;
        let mut body = disk.body();
        body["virDomainUUID"] = json!(vm_uuid);
        let result = self
            .send_json(
                Method::POST,
                "VirDomainBlockDevice",
                Some(&body),
                vm_ctx(vm_uuid),
            )
            .await;
        self.explain_missing_vm(result, vm_uuid).await
    }

    /// Sets a block device's capacity (HyperCore only grows disks).
    pub async fn resize_block_device(&self, disk_uuid: &str, capacity: u64) -> Result<TaskResult> {
        let path = format!("VirDomainBlockDevice/{}", segment("disk_uuid", disk_uuid)?);
        self.send_json(
            Method::PATCH,
            &path,
            Some(&json!({"capacity": capacity})),
            Context::Resource {
                kind: "VirDomainBlockDevice",
                id: disk_uuid,
            },
        )
        .await
    }

    /// Creates a VM (SHUTOFF); `created_uuid` is its uuid.
    pub async fn create_vm(&self, spec: &CreateSpec) -> Result<TaskResult> {
        if spec.name.trim().is_empty() {
            return Err(Error::InvalidArgument {
                argument: "name",
                message: "the VM needs a name".into(),
            });
        }
        let mut dom = json!({
            "name": spec.name,
            "mem": spec.memory_bytes,
            "numVCPU": spec.vcpus,
            "blockDevs": spec.disks.iter().map(DiskSpec::body).collect::<Vec<_>>(),
            "netDevs": spec.network_vlan.map(|vlan| vec![json!({"type": "VIRTIO", "vlan": vlan})]).unwrap_or_default(),
            "bootDevices": [],
            "tags": join_tags(&spec.tags),
        });
        if let Some(d) = &spec.description {
            dom["description"] = json!(d);
        }
        let mut options = json!({"attachGuestToolsISO": false});
        if let Some(m) = spec.machine_type.as_deref().filter(|m| !m.is_empty()) {
            options["machineTypeKeyword"] = json!(m);
        }
        self.send_json(
            Method::POST,
            "VirDomain",
            Some(&json!({"dom": dom, "options": options})),
            vm_ctx(""),
        )
        .await
    }

    /// Imports a VM from an SMB (or HTTP) URI; the URI never appears in errors.
    pub async fn import_vm(&self, spec: &ImportSpec) -> Result<TaskResult> {
        let uri = spec.source_uri.expose();
        let lower = uri.to_ascii_lowercase();
        if !(lower.starts_with("smb://")
            || lower.starts_with("http://")
            || lower.starts_with("https://"))
        {
            return Err(Error::InvalidArgument {
                argument: "source_uri",
                message: format!(
                    "'{}' must look like smb://[domain;]user:password@server/share/path",
                    hyperfed_protocol::redact_uri(uri)
                ),
            });
        }
        let mut body = json!({"source": {"pathURI": uri}});
        let mut template = json!({});
        if let Some(n) = spec.name.as_deref().filter(|n| !n.is_empty()) {
            template["name"] = json!(n);
        }
        if let Some(t) = &spec.tags {
            template["tags"] = json!(join_tags(t));
        }
        if template.as_object().is_some_and(|t| !t.is_empty()) {
            body["template"] = template;
        }
        let result: Result<TaskResult> = self
            .send_json(Method::POST, "VirDomain/import", Some(&body), vm_ctx(""))
            .await;
        result.map_err(|e| {
            let e = e.scrub(uri);
            match crate::actions::uri_password(uri) {
                Some(pw) => e.scrub(pw),
                None => e,
            }
        })
    }

    /// Deletes a VM (it must be SHUTOFF or CRASHED; a 500 otherwise).
    pub async fn delete_vm(&self, vm_uuid: &str) -> Result<TaskResult> {
        let path = format!("VirDomain/{}", segment("vm_uuid", vm_uuid)?);
        let result = self
            .send_json(Method::DELETE, &path, None, Context::Action { id: vm_uuid })
            .await;
        self.explain_missing_vm(result, vm_uuid).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_body_has_only_given_fields() {
        let p = VmPatch {
            vcpus: Some(4),
            ..VmPatch::default()
        };
        assert_eq!(p.body(), json!({"numVCPU": 4}));
        assert!(p.needs_off());
        assert!(VmPatch::default().is_empty());
    }
}
