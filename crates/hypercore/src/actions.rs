//! The mutations: VM power and placement actions, snapshot create and delete, clone and
//! export. Each answers the task to wait for (see `wait`); none is ever retried.

use hyperfed_protocol::Secret;
use reqwest::Method;
use serde_json::json;

use crate::client::Client;
use crate::decode::Context;
use crate::error::{Error, Result};
use crate::model::{TaskResult, join_tags};
use crate::reads::segment;

/// A VM power or placement action (`POST /VirDomain/action`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmAction {
    /// Power on (from SHUTOFF, PAUSED or CRASHED).
    Start,
    /// ACPI shutdown request (the guest may ignore it).
    Shutdown,
    /// Immediate power-off.
    Stop,
    /// ACPI reboot.
    Reboot,
    /// Hard reset.
    Reset,
    /// Live-migrate to another node.
    LiveMigrate {
        /// Target node uuid.
        node_uuid: String,
    },
    /// Pause.
    Pause,
    /// Non-maskable interrupt (diagnostics).
    Nmi,
}

impl VmAction {
    /// The `actionType` wire value.
    pub fn action_type(&self) -> &'static str {
        match self {
            VmAction::Start => "START",
            VmAction::Shutdown => "SHUTDOWN",
            VmAction::Stop => "STOP",
            VmAction::Reboot => "REBOOT",
            VmAction::Reset => "RESET",
            VmAction::LiveMigrate { .. } => "LIVEMIGRATE",
            VmAction::Pause => "PAUSE",
            VmAction::Nmi => "NMI",
        }
    }
}

/// What the clone of a VM should look like.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloneSpec {
    /// Name of the new VM (required).
    pub name: String,
    /// Description of the new VM.
    pub description: Option<String>,
    /// Tags of the new VM (a clone does not inherit tags).
    pub tags: Vec<String>,
    /// Clone from this snapshot instead of a fresh one.
    pub snap_uuid: Option<String>,
}

/// Where and how to export a VM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportSpec {
    /// `smb://[domain;]user:password@server/share/path` (a secret: it holds the password).
    pub target_uri: Secret,
    /// Export from this snapshot instead of a fresh one.
    pub snap_uuid: Option<String>,
    /// Image format ("" or None = qcow2).
    pub format: Option<String>,
    /// Compress the exported image.
    pub compress: bool,
}

/// Extracts the password of `scheme://[domain;]user:password@host/...`, if any.
pub(crate) fn uri_password(uri: &str) -> Option<&str> {
    let rest = &uri[uri.find("://")? + 3..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    let colon = userinfo.find(':')?;
    Some(&userinfo[colon + 1..])
}

impl Client {
    /// Runs a power or placement action on one VM; a 500 means the state does not allow it.
    pub async fn vm_action(&self, vm_uuid: &str, action: VmAction) -> Result<TaskResult> {
        segment("vm_uuid", vm_uuid)?;
        let mut item = json!({ "virDomainUUID": vm_uuid, "actionType": action.action_type() });
        if let VmAction::LiveMigrate { node_uuid } = &action {
            if node_uuid.is_empty() {
                return Err(Error::InvalidArgument {
                    argument: "node_uuid",
                    message: "live migration needs a target node".into(),
                });
            }
            item["nodeUUID"] = json!(node_uuid);
        }
        let result = self
            .send_json(
                Method::POST,
                "VirDomain/action",
                Some(&json!([item])),
                Context::Action { id: vm_uuid },
            )
            .await;
        self.explain_missing_vm(result, vm_uuid).await
    }

    /// HyperCore answers 500 for a missing VM too: turn that into `NotFound` when the VM is gone.
    pub(crate) async fn explain_missing_vm<T>(
        &self,
        result: Result<T>,
        vm_uuid: &str,
    ) -> Result<T> {
        match result {
            Err(e @ (Error::InvalidState { .. } | Error::Server { status: 500, .. })) => {
                match self.get_vm(vm_uuid).await {
                    Ok(None) => Err(Error::NotFound {
                        kind: "VirDomain".into(),
                        id: vm_uuid.to_owned(),
                    }),
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    /// Takes a USER snapshot of a VM; `created_uuid` is the snapshot uuid.
    pub async fn create_snapshot(&self, vm_uuid: &str, label: &str) -> Result<TaskResult> {
        segment("vm_uuid", vm_uuid)?;
        let body =
            json!({ "domainUUID": vm_uuid, "label": label, "type": "USER", "replication": true });
        let result = self
            .send_json(
                Method::POST,
                "VirDomainSnapshot",
                Some(&body),
                Context::Resource {
                    kind: "VirDomain",
                    id: vm_uuid,
                },
            )
            .await;
        self.explain_missing_vm(result, vm_uuid).await
    }

    /// Deletes a snapshot.
    pub async fn delete_snapshot(&self, snapshot_uuid: &str) -> Result<TaskResult> {
        let path = format!(
            "VirDomainSnapshot/{}",
            segment("snapshot_uuid", snapshot_uuid)?
        );
        self.send_json(
            Method::DELETE,
            &path,
            None,
            Context::Resource {
                kind: "VirDomainSnapshot",
                id: snapshot_uuid,
            },
        )
        .await
    }

    /// Clones a VM (from a fresh snapshot, or `spec.snap_uuid`); `created_uuid` is the new VM.
    pub async fn clone_vm(&self, source_uuid: &str, spec: CloneSpec) -> Result<TaskResult> {
        let path = format!("VirDomain/{}/clone", segment("source_uuid", source_uuid)?);
        if spec.name.trim().is_empty() {
            return Err(Error::InvalidArgument {
                argument: "name",
                message: "the clone needs a name".into(),
            });
        }
        let mut template = json!({ "name": spec.name });
        if let Some(d) = &spec.description {
            template["description"] = json!(d);
        }
        if !spec.tags.is_empty() {
            template["tags"] = json!(join_tags(&spec.tags));
        }
        let mut body = json!({ "template": template });
        if let Some(s) = spec.snap_uuid.as_deref().filter(|s| !s.is_empty()) {
            body["snapUUID"] = json!(s);
        }
        let result = self
            .send_json(
                Method::POST,
                &path,
                Some(&body),
                Context::Resource {
                    kind: "VirDomain",
                    id: source_uuid,
                },
            )
            .await;
        self.explain_missing_vm(result, source_uuid).await
    }

    /// Exports a VM to an SMB share; the URI's password never appears in errors or logs.
    pub async fn export_vm(&self, vm_uuid: &str, spec: ExportSpec) -> Result<TaskResult> {
        let path = format!("VirDomain/{}/export", segment("vm_uuid", vm_uuid)?);
        let uri = spec.target_uri.expose();
        let lower = uri.to_ascii_lowercase();
        if !(lower.starts_with("smb://")
            || lower.starts_with("http://")
            || lower.starts_with("https://"))
            || uri.len() <= "smb://".len()
        {
            return Err(Error::InvalidArgument {
                argument: "target_uri",
                message: format!(
                    "'{}' must look like smb://[domain;]user:password@server/share/path",
                    hyperfed_protocol::redact_uri(uri)
                ),
            });
        }
        let mut target = json!({ "pathURI": uri, "compress": spec.compress });
        if let Some(f) = spec.format.as_deref().filter(|f| !f.is_empty()) {
            target["format"] = json!(f);
        }
        let mut body = json!({ "target": target });
        if let Some(s) = spec.snap_uuid.as_deref().filter(|s| !s.is_empty()) {
            body["snapUUID"] = json!(s);
        }
        let result = self
            .send_json(
                Method::POST,
                &path,
                Some(&body),
                Context::Resource {
                    kind: "VirDomain",
                    id: vm_uuid,
                },
            )
            .await;
        let result = result.map_err(|e| {
            let e = e.scrub(uri);
            match uri_password(uri) {
                Some(pw) => e.scrub(pw),
                None => e,
            }
        });
        self.explain_missing_vm(result, vm_uuid).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_password_is_found() {
        assert_eq!(uri_password("smb://CORP;bob:pw@nas/share"), Some("pw"));
        assert_eq!(uri_password("smb://nas/share"), None);
    }

    #[test]
    fn export_spec_debug_hides_uri() {
        let spec = ExportSpec {
            target_uri: Secret::new("smb://u:topsecret@nas/share"),
            ..ExportSpec::default()
        };
        assert!(!format!("{spec:?}").contains("topsecret"));
    }
}
