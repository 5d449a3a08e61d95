//! The audit trail of mutating calls: one sled record per call, written and flushed before the
//! call is forwarded and completed with its outcome afterwards. `read` serves `hyperfed audit`.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::HubError;

/// Name of the sled tree holding audit records.
pub(crate) const AUDIT_TREE: &str = "audit";

/// One mutating call made through the hub.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditEntry {
    /// Monotonic id (also the sled key).
    pub id: u64,
    /// When the call arrived (RFC 3339, UTC).
    pub time: String,
    /// Who called: the authenticated token subject (`bearer-token` or `anonymous`) and channel.
    pub subject: String,
    /// The cluster alias the call was forwarded to.
    pub cluster: String,
    /// The worker tool called (its plain name).
    pub tool: String,
    /// The name the caller used on the hub (namespaced, compact or routed).
    pub exported_tool: String,
    /// Arguments with secret-looking values redacted.
    pub arguments: Value,
    /// `pending`, `ok`, `error`, `confirmation_required` or `cancelled`.
    pub outcome: String,
    /// The error text, when the outcome is `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The HyperCore task tag the worker reported, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_tag: Option<String>,
    /// When the outcome was recorded (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<String>,
}

/// Current time as RFC 3339 with milliseconds.
pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// Decodes every record of an audit tree, oldest first.
pub(crate) fn entries(
    tree: &sled::Tree,
    limit: Option<usize>,
) -> Result<Vec<AuditEntry>, HubError> {
    let mut out = Vec::new();
    // Newest first when limited, then reversed, so `limit` keeps the latest records.
    for item in tree.iter().rev() {
        let (_, value) = item?;
        match serde_json::from_slice::<AuditEntry>(&value) {
            Ok(entry) => out.push(entry),
            Err(e) => tracing::warn!(error = %e, "skipping an unreadable audit record"),
        }
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
    }
    out.reverse();
    Ok(out)
}

/// Reads the audit trail from a hub data directory (the hub must not be running on it).
pub fn read(data_dir: &Path) -> Result<Vec<AuditEntry>, HubError> {
    read_latest(data_dir, None)
}

/// Reads at most the `limit` latest audit records from a hub data directory, oldest first.
pub fn read_latest(data_dir: &Path, limit: Option<usize>) -> Result<Vec<AuditEntry>, HubError> {
    if !data_dir.join("conf").exists() {
        return Err(HubError::Storage(format!(
            "{} is not a hub data directory (no sled database there)",
            data_dir.display()
        )));
    }
    let db = sled::Config::new().path(data_dir).open().map_err(|e| {
        HubError::Storage(format!(
            "cannot open the hub database in {} ({e}); if the hub is running on it, read GET /v1/audit instead",
            data_dir.display()
        ))
    })?;
    let tree = db.open_tree(AUDIT_TREE)?;
    entries(&tree, limit)
}
