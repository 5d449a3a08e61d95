//! The typed reads: list and get of every resource, the cluster record, `/ping` and the
//! OpenAPI document the cluster serves.

use reqwest::Method;
use serde_json::Value;

use crate::client::Client;
use crate::decode::Context;
use crate::error::{Error, Result};
use crate::model::{
    Cluster, Condition, Drive, Iso, Node, Ping, Role, TaskTag, User, VirDomain,
    VirDomainBlockDevice, VirDomainNetDevice, VirDomainSnapshot, VirDomainStats, VirtualDisk,
};

/// Percent-encodes one path segment and refuses ids that could change the path.
pub(crate) fn segment(argument: &'static str, id: &str) -> Result<String> {
    if id.is_empty() {
        return Err(Error::InvalidArgument {
            argument,
            message: "must not be empty".into(),
        });
    }
    if id == "." || id == ".." {
        return Err(Error::InvalidArgument {
            argument,
            message: "must not be '.' or '..'".into(),
        });
    }
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

macro_rules! list_and_get {
    ($list:ident, $get:ident, $ty:ty, $path:literal, $arg:literal, $doc:literal) => {
        #[doc = concat!("Lists every ", $doc, " (`GET /", $path, "`).")]
        pub async fn $list(&self) -> Result<Vec<$ty>> {
            self.get_list($path, $path, None).await
        }

        #[doc = concat!("One ", $doc, " by id; `None` when it does not exist.")]
        pub async fn $get(&self, id: &str) -> Result<Option<$ty>> {
            let path = format!("{}/{}", $path, segment($arg, id)?);
            Ok(self
                .get_list(&path, $path, Some(id))
                .await?
                .into_iter()
                .next())
        }
    };
}

impl Client {
    list_and_get!(list_vms, get_vm, VirDomain, "VirDomain", "vm_uuid", "VM");
    list_and_get!(
        list_vm_stats,
        get_vm_stats,
        VirDomainStats,
        "VirDomainStats",
        "vm_uuid",
        "VM's live statistics"
    );
    list_and_get!(
        list_snapshots,
        get_snapshot,
        VirDomainSnapshot,
        "VirDomainSnapshot",
        "snapshot_uuid",
        "VM snapshot"
    );
    list_and_get!(
        list_block_devices,
        get_block_device,
        VirDomainBlockDevice,
        "VirDomainBlockDevice",
        "block_device_uuid",
        "VM block device"
    );
    list_and_get!(
        list_net_devices,
        get_net_device,
        VirDomainNetDevice,
        "VirDomainNetDevice",
        "net_device_uuid",
        "VM network device"
    );
    list_and_get!(list_nodes, get_node, Node, "Node", "node_uuid", "node");
    list_and_get!(
        list_clusters,
        get_cluster,
        Cluster,
        "Cluster",
        "cluster_uuid",
        "cluster record"
    );
    list_and_get!(
        list_conditions,
        get_condition,
        Condition,
        "Condition",
        "condition_name",
        "condition (health alarm; the id is a name, matched by HyperCore as a regex)"
    );
    list_and_get!(
        list_drives,
        get_drive,
        Drive,
        "Drive",
        "drive_uuid",
        "physical drive"
    );
    list_and_get!(
        list_virtual_disks,
        get_virtual_disk,
        VirtualDisk,
        "VirtualDisk",
        "virtual_disk_uuid",
        "uploaded virtual disk"
    );
    list_and_get!(list_isos, get_iso, Iso, "ISO", "iso_uuid", "ISO image");
    list_and_get!(list_users, get_user, User, "User", "user_uuid", "user");
    list_and_get!(
        list_tasks,
        get_task,
        TaskTag,
        "TaskTag",
        "task_tag",
        "recent task status"
    );
    list_and_get!(list_roles, get_role, Role, "Role", "role_uuid", "role");

    /// The cluster record (`GET /Cluster` answers a one-element list).
    pub async fn cluster(&self) -> Result<Cluster> {
        self.list_clusters()
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Decode {
                what: "/Cluster".into(),
                message: "the cluster list is empty".into(),
            })
    }

    /// `GET /ping`: the service status text.
    pub async fn ping(&self) -> Result<Ping> {
        let reply = self.execute(Method::GET, "ping", None).await?;
        if !reply.status.is_success() {
            return Err(self.status_error(
                &reply,
                Context::Resource {
                    kind: "ping",
                    id: "",
                },
            ));
        }
        crate::decode::decode_one(&reply.body, "ping")
    }

    /// The OpenAPI document the cluster serves (`GET /rest/v1/openapi.json`).
    pub async fn openapi(&self) -> Result<Value> {
        let reply = self.execute(Method::GET, "openapi.json", None).await?;
        if !reply.status.is_success() {
            return Err(self.status_error(
                &reply,
                Context::Resource {
                    kind: "openapi.json",
                    id: "",
                },
            ));
        }
        serde_json::from_slice(&reply.body).map_err(|e| Error::Decode {
            what: "/openapi.json".into(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_and_dots_refused() {
        assert_eq!(segment("id", "abc-1_2.3~").unwrap(), "abc-1_2.3~");
        assert_eq!(segment("id", "a/b c").unwrap(), "a%2Fb%20c");
        assert_eq!(segment("id", "Disk.*").unwrap(), "Disk.%2A");
        assert!(segment("id", "").is_err());
        assert!(segment("id", "..").is_err());
    }
}
