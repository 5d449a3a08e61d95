//! Which cluster owns which VM, learnt from fan-out `vm_list` answers, and name resolution:
//! a VM given as a uuid, an exact name or `alias/vm-name` is routed to its cluster.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde_json::Value;

use crate::error::HubError;

/// How old the VM index may be before a by-name lookup refreshes it first.
const INDEX_FRESH_FOR: Duration = Duration::from_secs(15);

/// A VM known to live on a cluster.
#[derive(Debug, Clone)]
pub(crate) struct VmRef {
    /// The VM's uuid.
    pub uuid: String,
    /// The VM's name.
    pub name: String,
    /// The VM's tags (for completions).
    pub tags: Vec<String>,
}

/// The VMs of a `vm_list` answer (`{vms: [{uuid, name, ...}]}`).
pub(crate) fn vm_refs(list: &Value) -> Vec<VmRef> {
    list.get("vms")
        .and_then(Value::as_array)
        .map(|vms| {
            vms.iter()
                .filter_map(|v| {
                    Some(VmRef {
                        uuid: v.get("uuid")?.as_str()?.to_owned(),
                        name: v.get("name")?.as_str()?.to_owned(),
                        tags: v
                            .get("tags")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(|t| t.as_str().map(str::to_owned))
                            .collect(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Which cluster owns which VM, refreshed by fan-out and on demand.
#[derive(Default)]
pub(crate) struct VmIndex {
    by_cluster: DashMap<String, Arc<Vec<VmRef>>>,
    refreshed: Mutex<Option<Instant>>,
    /// When a refresh for completions was last started (at most one per freshness window).
    completion_refresh: Mutex<Option<Instant>>,
}

impl VmIndex {
    /// Drops what is known about a cluster (it re-joined or left).
    pub(crate) fn forget(&self, alias: &str) {
        self.by_cluster.remove(alias);
    }

    /// Replaces what is known about a cluster with a complete list of its VMs.
    pub(crate) fn replace(&self, alias: &str, vms: Vec<VmRef>) {
        self.by_cluster.insert(alias.to_owned(), Arc::new(vms));
    }

    /// Adds (or updates) some VMs of a cluster (from a filtered list).
    pub(crate) fn merge(&self, alias: &str, vms: Vec<VmRef>) {
        let mut current: Vec<VmRef> = self
            .by_cluster
            .get(alias)
            .map(|v| v.as_ref().clone())
            .unwrap_or_default();
        for vm in vms {
            current.retain(|c| c.uuid != vm.uuid);
            current.push(vm);
        }
        self.replace(alias, current);
    }

    fn by_uuid(&self, uuid: &str) -> Option<String> {
        self.by_cluster
            .iter()
            .find(|e| e.value().iter().any(|v| v.uuid == uuid))
            .map(|e| e.key().clone())
    }

    fn by_name(&self, name: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .by_cluster
            .iter()
            .flat_map(|e| {
                e.value()
                    .iter()
                    .filter(|v| v.name == name)
                    .map(|v| (e.key().clone(), v.uuid.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort();
        out
    }

    fn is_fresh(&self) -> bool {
        self.refreshed
            .lock()
            .ok()
            .and_then(|g| *g)
            .is_some_and(|t| t.elapsed() < INDEX_FRESH_FOR)
    }

    /// The VMs known on `alias` (every cluster when `None`), as `(name, tags)`.
    pub(crate) fn known(&self, alias: Option<&str>) -> Vec<(String, Vec<String>)> {
        self.by_cluster
            .iter()
            .filter(|e| alias.is_none_or(|a| e.key() == a))
            .flat_map(|e| {
                e.value()
                    .iter()
                    .map(|v| (v.name.clone(), v.tags.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// True for the one caller that should refresh a stale index for completions; false
    /// while the index is fresh or another refresh started within the freshness window.
    pub(crate) fn claim_completion_refresh(&self) -> bool {
        if self.is_fresh() {
            return false;
        }
        let Ok(mut last) = self.completion_refresh.lock() else {
            return false;
        };
        if last.is_some_and(|t| t.elapsed() < INDEX_FRESH_FOR) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    /// Notes that every cluster's VMs were just listed in full.
    pub(crate) fn mark_refreshed(&self) {
        if let Ok(mut g) = self.refreshed.lock() {
            *g = Some(Instant::now());
        }
    }

    /// Finds the cluster owning `vm` (a uuid, an exact name, or `alias/vm-name` where
    /// `is_cluster(alias)`) and the `vm` value to send that cluster. `refresh` re-lists every
    /// cluster's VMs into this index: run first when the index is stale, and once more when
    /// nothing matches.
    pub(crate) async fn resolve<F, Fut>(
        &self,
        vm: &str,
        is_cluster: impl Fn(&str) -> bool,
        mut refresh: F,
    ) -> Result<(String, String), HubError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ()>,
    {
        if let Some((alias, name)) = vm.split_once('/')
            && is_cluster(alias)
            && !name.is_empty()
        {
            return Ok((alias.to_owned(), name.to_owned()));
        }
        if let Some(alias) = self.by_uuid(vm) {
            return Ok((alias, vm.to_owned()));
        }
        let mut refreshed = false;
        if !self.is_fresh() {
            refresh().await;
            refreshed = true;
        }
        loop {
            if let Some(alias) = self.by_uuid(vm) {
                return Ok((alias, vm.to_owned()));
            }
            let matches = self.by_name(vm);
            match matches.len() {
                1 => return Ok((matches[0].0.clone(), vm.to_owned())),
                0 if !refreshed => {
                    refresh().await;
                    refreshed = true;
                }
                0 => {
                    return Err(HubError::BadRequest(format!(
                        "VM '{vm}' was not found on any cluster that answered; give it as a uuid or `alias/vm-name`, or pass `cluster`"
                    )));
                }
                _ => {
                    let list: Vec<String> = matches
                        .iter()
                        .map(|(a, u)| format!("{a}/{vm} (uuid {u})"))
                        .collect();
                    return Err(HubError::BadRequest(format!(
                        "VM name '{vm}' exists on several clusters: {}; give `alias/vm-name` or the uuid",
                        list.join(", ")
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn vm(uuid: &str, name: &str) -> VmRef {
        VmRef {
            uuid: uuid.into(),
            name: name.into(),
            tags: vec!["t".into()],
        }
    }

    fn index() -> VmIndex {
        let index = VmIndex::default();
        index.replace("dc1", vec![vm("u-1", "web"), vm("u-2", "db")]);
        index.replace("edge", vec![vm("u-3", "web"), vm("u-4", "cache")]);
        index.mark_refreshed();
        index
    }

    fn is_cluster(alias: &str) -> bool {
        matches!(alias, "dc1" | "edge")
    }

    async fn resolve(
        index: &VmIndex,
        vm: &str,
        refreshes: &Cell<u32>,
    ) -> Result<(String, String), String> {
        index
            .resolve(vm, is_cluster, || {
                refreshes.set(refreshes.get() + 1);
                async {}
            })
            .await
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn uuids_unique_names_and_alias_qualified_names_resolve() {
        let index = index();
        let n = Cell::new(0);
        assert_eq!(
            resolve(&index, "u-3", &n).await,
            Ok(("edge".into(), "u-3".into()))
        );
        assert_eq!(
            resolve(&index, "db", &n).await,
            Ok(("dc1".into(), "db".into()))
        );
        assert_eq!(
            resolve(&index, "edge/web", &n).await,
            Ok(("edge".into(), "web".into())),
            "alias-qualified: the cluster gets the bare name"
        );
        // Qualified by something that is not a cluster: looked up as a whole name.
        assert!(resolve(&index, "nowhere/web", &n).await.is_err());
        assert_eq!(
            n.get(),
            1,
            "a fresh index is refreshed only when nothing matches"
        );
    }

    #[tokio::test]
    async fn a_name_on_several_clusters_is_ambiguous() {
        let index = index();
        let n = Cell::new(0);
        let err = resolve(&index, "web", &n).await.unwrap_err();
        assert_eq!(
            err,
            "VM name 'web' exists on several clusters: dc1/web (uuid u-1), edge/web (uuid u-3); give `alias/vm-name` or the uuid"
        );
        assert_eq!(n.get(), 0);
    }

    #[tokio::test]
    async fn unknown_names_refresh_once_then_fail() {
        let index = index();
        let n = Cell::new(0);
        let err = resolve(&index, "ghost", &n).await.unwrap_err();
        assert!(
            err.starts_with("VM 'ghost' was not found on any cluster that answered"),
            "{err}"
        );
        assert_eq!(n.get(), 1);
    }

    #[tokio::test]
    async fn a_stale_index_is_refreshed_first_and_sees_new_vms() {
        let index = VmIndex::default();
        let n = Cell::new(0);
        let found = index
            .resolve("fresh-vm", is_cluster, || {
                n.set(n.get() + 1);
                index.replace("dc1", vec![vm("u-9", "fresh-vm")]);
                async {}
            })
            .await
            .unwrap();
        assert_eq!(found, ("dc1".into(), "fresh-vm".into()));
        assert_eq!(n.get(), 1);
    }

    #[test]
    fn filtered_lists_merge_and_full_lists_replace() {
        let index = index();
        index.merge("dc1", vec![vm("u-5", "new")]);
        assert_eq!(index.by_name("db").len(), 1);
        assert_eq!(index.by_uuid("u-5").as_deref(), Some("dc1"));
        index.replace("dc1", vec![vm("u-5", "new")]);
        assert!(index.by_name("db").is_empty());
        index.forget("dc1");
        assert!(index.by_uuid("u-5").is_none());
        let refs = vm_refs(
            &serde_json::json!({"vms": [{"uuid": "a", "name": "x", "tags": ["web"]}, {"name": "no-uuid"}]}),
        );
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].tags, ["web"]);
        assert!(index.known(Some("dc1")).is_empty(), "forgotten");
        assert_eq!(index.known(Some("edge"))[0].1, ["t"]);
        assert_eq!(index.known(None).len(), 2);
        assert!(
            !index.claim_completion_refresh(),
            "fresh: nothing to refresh"
        );
    }
}
