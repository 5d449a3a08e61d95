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

/// Largest JSON of a record's arguments kept whole; larger ones are replaced by their size,
/// SHA-256 and a short preview.
pub(crate) const MAX_ARGUMENTS_BYTES: usize = 8 * 1024;
/// Characters of a truncated argument list kept as a preview.
const PREVIEW_CHARS: usize = 256;
/// Longest error text a record keeps.
const MAX_ERROR_CHARS: usize = 2000;
/// Records `GET /v1/audit` returns without `limit`, and the most it returns with one.
pub(crate) const DEFAULT_PAGE: usize = 100;
/// The most records one `GET /v1/audit` returns.
pub(crate) const MAX_PAGE: usize = 1000;
/// Refused calls recorded per subject per minute; beyond it they are refused unrecorded.
pub(crate) const REFUSALS_PER_MINUTE: u32 = 20;

/// `arguments` as kept in a record: whole when small, else `{truncated, bytes, sha256, preview}`.
pub(crate) fn bounded_arguments(arguments: Value) -> Value {
    use sha2::Digest as _;
    let json = serde_json::to_string(&arguments).unwrap_or_default();
    if json.len() <= MAX_ARGUMENTS_BYTES {
        return arguments;
    }
    let digest: String = sha2::Sha256::digest(json.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    serde_json::json!({
        "truncated": true,
        "bytes": json.len(),
        "sha256": digest,
        "preview": json.chars().take(PREVIEW_CHARS).collect::<String>(),
    })
}

fn cap(s: &mut String, max: usize) {
    if let Some((at, _)) = s.char_indices().nth(max) {
        s.truncate(at);
        s.push_str("...");
    }
}

impl AuditEntry {
    /// The record with every field within its bound (arguments, error, names).
    pub(crate) fn bounded(mut self) -> Self {
        self.arguments = bounded_arguments(std::mem::take(&mut self.arguments));
        if let Some(e) = self.error.as_mut() {
            cap(e, MAX_ERROR_CHARS);
        }
        for field in [
            &mut self.subject,
            &mut self.cluster,
            &mut self.tool,
            &mut self.exported_tool,
        ] {
            cap(field, 256);
        }
        if let Some(t) = self.task_tag.as_mut() {
            cap(t, 64);
        }
        self
    }

    /// True when a client whose token subject is `sub` made this call (scoped tokens only).
    pub(crate) fn made_by(&self, sub: &str) -> bool {
        self.subject
            .strip_prefix(sub)
            .is_some_and(|rest| rest.starts_with(" (scope "))
    }
}

/// Counts refused calls per subject in one-minute windows.
#[derive(Default)]
pub(crate) struct RefusalLimiter {
    windows: dashmap::DashMap<String, (std::time::Instant, u32)>,
}

impl RefusalLimiter {
    /// True when one more refused call of `subject` may be recorded now.
    pub(crate) fn admit(&self, subject: &str) -> bool {
        let now = std::time::Instant::now();
        let minute = std::time::Duration::from_secs(60);
        if self.windows.len() > 10_000 {
            self.windows
                .retain(|_, (start, _)| now.duration_since(*start) < minute);
        }
        let key = subject.split(" via ").next().unwrap_or(subject).to_owned();
        let mut w = self.windows.entry(key).or_insert((now, 0));
        if now.duration_since(w.0) >= minute {
            *w = (now, 0);
        }
        w.1 += 1;
        w.1 <= REFUSALS_PER_MINUTE
    }
}

/// One page of the trail, newest first while scanning: records with an id below `before`,
/// kept when `keep` says so, at most `limit`; returned oldest first with the id to pass as
/// `before` for the next (older) page.
pub(crate) fn page(
    tree: &sled::Tree,
    before: Option<u64>,
    limit: usize,
    keep: impl Fn(&AuditEntry) -> bool,
) -> Result<(Vec<AuditEntry>, Option<u64>), HubError> {
    let end = before.unwrap_or(u64::MAX).to_be_bytes();
    let mut out = Vec::new();
    let mut more = None;
    for item in tree.range(..end).rev() {
        let (_, value) = item?;
        let Ok(entry) = serde_json::from_slice::<AuditEntry>(&value) else {
            continue;
        };
        if !keep(&entry) {
            continue;
        }
        if out.len() >= limit {
            more = out.last().map(|e: &AuditEntry| e.id);
            break;
        }
        out.push(entry);
    }
    out.reverse();
    Ok((out, more))
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
