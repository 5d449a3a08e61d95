//! The hub's MCP resources: the fleet status (`hyperfed://fleet/status`) and, for each
//! cluster, its worker's status and VM inventory re-exported under its alias
//! (`hyperfed://cluster/<alias>/status`, `.../vms`; the `cluster/` segment keeps an alias
//! such as `fleet` from colliding with the fleet's URI). Cluster resources are read with the
//! same stateless calls as the worker's resources show (cluster_info, vm_list, every page),
//! checked like tool results (a JSON object, bounded in size) and named by cluster in errors.
//! Subscriptions compare fingerprints once a second; one read per resource per second serves
//! every session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hyperfed_http::resource_watch::{Fingerprint, FingerprintFuture, WATCH_PERIOD, hash_of};
use rmcp::ErrorData;
use rmcp::model::{
    JsonObject, ListResourcesResult, ReadResourceResult, Resource, ResourceContents,
};
use serde_json::Value;

use crate::catalog::{page, parse_cursor};
use crate::fan_out::{fan_out, fan_out_rows};
use crate::fleet_overview::fleet_status;
use crate::hub::Hub;
use crate::vm_index::vm_refs;

/// URI of the fleet status resource.
pub(crate) const FLEET_STATUS: &str = "hyperfed://fleet/status";
/// Prefix of a cluster's resources: `hyperfed://cluster/<alias>/{status,vms}`.
const CLUSTER_PREFIX: &str = "hyperfed://cluster/";
/// Resources per resources/list page.
pub(crate) const RESOURCES_PAGE: usize = 1000;
/// Largest resource content accepted from a worker, in bytes of JSON.
const MAX_RESOURCE_BYTES: usize = 8 * 1024 * 1024;

/// What a resource URI names.
#[derive(Debug, PartialEq, Eq)]
enum Named<'a> {
    Fleet,
    Status(&'a str),
    Vms(&'a str),
}

fn parse(uri: &str) -> Option<Named<'_>> {
    if uri == FLEET_STATUS {
        return Some(Named::Fleet);
    }
    let (alias, what) = uri.strip_prefix(CLUSTER_PREFIX)?.split_once('/')?;
    if alias.is_empty() {
        return None;
    }
    match what {
        "status" => Some(Named::Status(alias)),
        "vms" => Some(Named::Vms(alias)),
        _ => None,
    }
}

fn cluster_resources(alias: &str) -> [Resource; 2] {
    [
        Resource::new(format!("{CLUSTER_PREFIX}{alias}/status"), format!("{alias}_status"))
            .with_title(format!("{alias}: status"))
            .with_description(format!(
                "Cluster '{alias}': nodes, VMs, raised conditions, storage and health (cluster_info). Subscribe to hear when it changes or the cluster stops answering."
            ))
            .with_mime_type("application/json"),
        Resource::new(format!("{CLUSTER_PREFIX}{alias}/vms"), format!("{alias}_vms"))
            .with_title(format!("{alias}: VMs"))
            .with_description(format!(
                "Cluster '{alias}': every VM as a compact row (vm_list). Subscribe to hear when a VM changes state."
            ))
            .with_mime_type("application/json"),
    ]
}

/// One resources/list page over `aliases` (sorted) from offset `start`.
fn list_page(aliases: &[String], start: usize) -> ListResourcesResult {
    let len = 1 + 2 * aliases.len();
    let (range, next) = page(len, start, RESOURCES_PAGE);
    let resources = range
        .map(|i| match i {
            0 => Resource::new(FLEET_STATUS, "fleet_status")
                .with_title("Fleet status")
                .with_description("Every cluster by health with fleet totals (fleet_status, first page). Subscribe to hear when a cluster joins, leaves, goes down or comes back, or its status changes.")
                .with_mime_type("application/json"),
            i => {
                let [status, vms] = cluster_resources(&aliases[(i - 1) / 2]);
                if i % 2 == 1 { status } else { vms }
            }
        })
        .collect();
    let mut result = ListResourcesResult::with_all_items(resources);
    result.next_cursor = next;
    result
}

/// The resources/list page at `cursor`.
pub(crate) fn list(hub: &Hub, cursor: Option<&str>) -> Result<ListResourcesResult, ErrorData> {
    let start = match cursor {
        None => 0,
        Some(c) => parse_cursor(c).ok_or_else(|| {
            ErrorData::invalid_params(
                "cursor: invalid resources/list cursor; pass back the nextCursor of the previous page",
                None,
            )
        })?,
    };
    let aliases: Vec<String> = hub.clusters().into_iter().map(|c| c.alias).collect();
    Ok(list_page(&aliases, start))
}

/// A cluster resource's JSON: the tool's result, checked like a tool result.
async fn cluster_value(hub: &Hub, alias: &str, vms: bool) -> Result<Value, String> {
    if !hub.registry().contains(alias) {
        return Err(format!("no cluster named '{alias}'"));
    }
    let aliases = vec![alias.to_owned()];
    let mut answers = if vms {
        fan_out_rows(hub, aliases, "vm_list", JsonObject::new(), "vms").await
    } else {
        fan_out(hub, aliases, "cluster_info", JsonObject::new()).await
    };
    let answer = answers.pop().ok_or("no answer")?;
    let value = answer
        .result
        .map_err(|e| format!("cluster '{alias}': {e}"))?;
    if !value.is_object() {
        return Err(format!(
            "cluster '{alias}': the worker's result is not a JSON object"
        ));
    }
    if hyperfed_protocol::budget::json_len_of(&value) > MAX_RESOURCE_BYTES {
        return Err(format!(
            "cluster '{alias}': the worker's result is over {} MiB",
            MAX_RESOURCE_BYTES >> 20
        ));
    }
    if vms {
        hub.vm_index().replace(alias, vm_refs(&value));
    }
    Ok(value)
}

async fn value_of(hub: &Hub, uri: &str) -> Result<Value, ErrorData> {
    let not_found = || {
        ErrorData::resource_not_found(
            format!(
                "uri: unknown resource '{uri}'; the hub serves {FLEET_STATUS} and {CLUSTER_PREFIX}<alias>/status and /vms for each cluster (resources/list)"
            ),
            None,
        )
    };
    match parse(uri).ok_or_else(not_found)? {
        Named::Fleet => fleet_status(hub, &JsonObject::new())
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None)),
        Named::Status(alias) | Named::Vms(alias) if !hub.registry().contains(alias) => {
            Err(not_found())
        }
        Named::Status(alias) => cluster_value(hub, alias, false)
            .await
            .map_err(|e| ErrorData::internal_error(e, None)),
        Named::Vms(alias) => cluster_value(hub, alias, true)
            .await
            .map_err(|e| ErrorData::internal_error(e, None)),
    }
}

/// Reads one resource.
pub(crate) async fn read(hub: &Hub, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let value = value_of(hub, uri).await?;
    Ok(ReadResourceResult::new(vec![
        ResourceContents::TextResourceContents {
            uri: uri.to_owned(),
            mime_type: Some("application/json".to_owned()),
            text: serde_json::to_string_pretty(&value).unwrap_or_default(),
            meta: None,
        },
    ]))
}

/// Fingerprints of the hub's resources for subscriptions, each read at most once a second
/// whatever the number of sessions watching it.
#[derive(Clone)]
pub(crate) struct HubFingerprints(Arc<Recent>);

/// The hub and the fingerprints computed in the last second.
struct Recent {
    hub: Arc<Hub>,
    recent: Mutex<HashMap<String, (Instant, u64)>>,
}

impl HubFingerprints {
    /// Fingerprints for `hub`'s resources (one per hub, shared by its sessions).
    pub(crate) fn new(hub: Arc<Hub>) -> Self {
        HubFingerprints(Arc::new(Recent {
            hub,
            recent: Mutex::new(HashMap::new()),
        }))
    }

    /// The hub they are for.
    pub(crate) fn hub(&self) -> &Arc<Hub> {
        &self.0.hub
    }
}

impl Recent {
    fn cached(&self, uri: &str) -> Option<u64> {
        let recent = self.recent.lock().ok()?;
        recent
            .get(uri)
            .filter(|(at, _)| at.elapsed() < WATCH_PERIOD)
            .map(|(_, print)| *print)
    }

    fn remember(&self, uri: String, print: u64) {
        if let Ok(mut recent) = self.recent.lock() {
            recent.retain(|_, (at, _)| at.elapsed() < WATCH_PERIOD * 10);
            recent.insert(uri, (Instant::now(), print));
        }
    }

    /// What `uri` hashes to now: its content, or for a cluster that does not answer its
    /// registry state (the varying error text is not a change).
    async fn compute(&self, uri: &str) -> u64 {
        let hub = &self.hub;
        match parse(uri) {
            None => 0,
            Some(Named::Fleet) => {
                // Membership and health from the registry, each cluster's status from one
                // fan-out (not fleet_status, whose page may carry a fresh cursor each time).
                let members: Vec<(String, String)> = hub
                    .clusters()
                    .into_iter()
                    .map(|c| (c.alias, c.state.as_str().to_owned()))
                    .collect();
                let aliases = members.iter().map(|(a, _)| a.clone()).collect();
                let answers = fan_out(hub, aliases, "cluster_info", JsonObject::new()).await;
                let statuses: Vec<(String, String)> = answers
                    .into_iter()
                    .map(|a| {
                        let seen = a
                            .result
                            .map_or_else(|_| "no answer".to_owned(), |v| v.to_string());
                        (a.alias, seen)
                    })
                    .collect();
                hash_of(&(members, statuses))
            }
            Some(Named::Status(alias) | Named::Vms(alias)) => {
                let vms = matches!(parse(uri), Some(Named::Vms(_)));
                match cluster_value(hub, alias, vms).await {
                    Ok(v) => hash_of(&v.to_string()),
                    Err(_) => hash_of(&("no answer", hub.registry().health_of(alias))),
                }
            }
        }
    }
}

impl Fingerprint for HubFingerprints {
    fn fingerprint(&self, uri: String) -> FingerprintFuture {
        let recent = self.0.clone();
        Box::pin(async move {
            if let Some(print) = recent.cached(&uri) {
                return print;
            }
            let print = recent.compute(&uri).await;
            recent.remember(uri, print);
            print
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_name_the_fleet_or_one_cluster() {
        assert_eq!(parse(FLEET_STATUS), Some(Named::Fleet));
        assert_eq!(
            parse("hyperfed://cluster/fleet/status"),
            Some(Named::Status("fleet"))
        );
        assert_eq!(parse("hyperfed://cluster/dc1/vms"), Some(Named::Vms("dc1")));
        for bad in [
            "hyperfed://cluster//vms",
            "hyperfed://cluster/dc1/x",
            "hyperfed://dc1/status",
            "x",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn resources_page_with_our_cursor_and_every_cluster_has_two() {
        let aliases: Vec<String> = (0..700).map(|i| format!("c{i:03}")).collect();
        let first = list_page(&aliases, 0);
        assert_eq!(first.resources.len(), RESOURCES_PAGE);
        assert_eq!(first.resources[0].uri, FLEET_STATUS);
        assert_eq!(first.resources[1].uri, "hyperfed://cluster/c000/status");
        assert_eq!(first.resources[2].uri, "hyperfed://cluster/c000/vms");
        let next = parse_cursor(first.next_cursor.as_deref().unwrap()).unwrap();
        let second = list_page(&aliases, next);
        assert_eq!(second.resources.len(), 1 + 2 * 700 - RESOURCES_PAGE);
        assert_eq!(second.next_cursor, None);
        assert_eq!(
            second.resources.last().unwrap().uri,
            "hyperfed://cluster/c699/vms"
        );
    }
}
