//! The JSON bodies of the hub's REST answers, typed so that the handlers serialize exactly
//! what the OpenAPI document (`GET /v1/openapi.json`) derives from them.

use serde::Serialize;

use crate::audit::AuditEntry;
use crate::cluster::ClusterSummary;

/// `GET /health`: the hub serves, with its cluster counts.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct HubHealth {
    /// Always `ok` while the hub answers.
    pub status: &'static str,
    /// Registered clusters.
    pub clusters: usize,
    /// Clusters that are up.
    pub up: usize,
}

/// `GET /v1/clusters`: every registered cluster.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ClusterList {
    /// One entry per cluster, by alias.
    pub clusters: Vec<ClusterSummary>,
}

/// `GET /v1/audit`: one page of audit records.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AuditPage {
    /// Records on this page.
    pub count: usize,
    /// The records, oldest first.
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next older page (null on the last page).
    pub next_before: Option<u64>,
}
