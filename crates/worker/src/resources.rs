//! The worker's MCP resources: the cluster's status, VM inventory and raised conditions as
//! JSON (the same reads as cluster_info, vm_list and condition_list), and subscriptions to
//! them: a subscribed resource is re-read once a second (through the worker's read cache)
//! and `notifications/resources/updated` goes out when its content changed (a VM changed
//! state, a condition was raised, the cluster stopped answering).

use std::sync::Arc;

use hyperfed_http::resource_watch::{Fingerprint, FingerprintFuture, hash_of};
use rmcp::ErrorData;
use rmcp::model::{ListResourcesResult, ReadResourceResult, Resource, ResourceContents};
use serde_json::Value;

use crate::state::WorkerState;

/// URI of the cluster summary resource.
pub const RESOURCE_STATUS: &str = "hypercore://cluster/status";
/// URI of the VM list resource.
pub const RESOURCE_VMS: &str = "hypercore://vms";
/// URI of the raised-conditions resource.
pub const RESOURCE_CONDITIONS: &str = "hypercore://conditions";

/// The tool whose read a resource shows.
fn tool_of(uri: &str) -> Option<&'static str> {
    match uri {
        RESOURCE_STATUS => Some("cluster_info"),
        RESOURCE_VMS => Some("vm_list"),
        RESOURCE_CONDITIONS => Some("condition_list"),
        _ => None,
    }
}

/// Every resource this worker serves.
pub(crate) fn list() -> ListResourcesResult {
    ListResourcesResult::with_all_items(vec![
        Resource::new(RESOURCE_STATUS, "cluster_status")
            .with_title("Cluster status")
            .with_description("The cluster summary (same as the cluster_info tool). Subscribe to hear when it changes.")
            .with_mime_type("application/json"),
        Resource::new(RESOURCE_VMS, "vms")
            .with_title("VMs")
            .with_description("Every VM as a compact row (same as vm_list). Subscribe to hear when a VM changes state.")
            .with_mime_type("application/json"),
        Resource::new(RESOURCE_CONDITIONS, "conditions")
            .with_title("Raised conditions")
            .with_description("Raised health conditions (same as condition_list). Subscribe to hear when one is raised or cleared.")
            .with_mime_type("application/json"),
    ])
}

fn json_contents(uri: &str, value: &Value) -> ResourceContents {
    ResourceContents::TextResourceContents {
        uri: uri.to_owned(),
        mime_type: Some("application/json".to_owned()),
        text: serde_json::to_string_pretty(value).unwrap_or_default(),
        meta: None,
    }
}

/// Reads one resource.
pub(crate) async fn read(state: &WorkerState, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let Some(tool) = tool_of(uri) else {
        return Err(ErrorData::resource_not_found(
            format!(
                "uri: unknown resource '{uri}'; this worker serves {RESOURCE_STATUS}, {RESOURCE_VMS} and {RESOURCE_CONDITIONS}"
            ),
            None,
        ));
    };
    match state.read(tool).await {
        Ok(v) => Ok(ReadResourceResult::new(vec![json_contents(uri, &v)])),
        Err(msg) => Err(ErrorData::internal_error(msg, None)),
    }
}

/// What a subscription compares: the hash of a resource's JSON, or of "unreadable".
pub(crate) struct WorkerFingerprint(pub Arc<WorkerState>);

impl Fingerprint for WorkerFingerprint {
    fn fingerprint(&self, uri: String) -> FingerprintFuture {
        let state = self.0.clone();
        Box::pin(async move {
            let Some(tool) = tool_of(&uri) else {
                return 0;
            };
            match state.read(tool).await {
                Ok(v) => hash_of(&v.to_string()),
                // The error text varies (timeouts, retries): only "it fails now" is a change.
                Err(_) => hash_of("unreadable"),
            }
        })
    }
}
