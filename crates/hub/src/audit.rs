//! The audit trail of mutating calls: one sled record per call, written and flushed before the
//! call is forwarded and completed with its outcome afterwards. `read` serves `hyperfed audit`.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::HubError;

/// Name of the sled tree holding audit records.
pub(crate) const AUDIT_TREE: &str = "audit";

/// One mutating call made through the hub.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
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
    /// `pending`, `ok`, `error`, `confirmation_required`, `declined` (the person said no when
    /// asked to confirm) or `cancelled`.
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
    /// The hub operation this call is one stage of (vm_place, vm_move), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
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

/// Which audit records to show: by subject (substring), cluster, outcome and time. Times are
/// RFC 3339 (`2026-05-01T12:00:00Z`) or a duration ago (`30m`, `24h`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditFilter {
    /// Part of the subject, e.g. a scoped token's name (case-insensitive).
    pub subject: Option<String>,
    /// The cluster alias, exactly.
    pub cluster: Option<String>,
    /// The outcome, exactly (`ok`, `error`, `refused`, `unknown`, ...).
    pub outcome: Option<String>,
    /// Only records at or after this time.
    pub since: Option<String>,
    /// Only records at or before this time.
    pub until: Option<String>,
}

/// An [`AuditFilter`] with its times resolved.
#[derive(Debug, Clone)]
pub struct AuditMatcher {
    filter: AuditFilter,
    since: Option<std::time::SystemTime>,
    until: Option<std::time::SystemTime>,
}

fn parse_time(name: &str, value: &str) -> Result<std::time::SystemTime, String> {
    let v = value.trim();
    if let Ok(t) = humantime::parse_rfc3339_weak(v) {
        return Ok(t);
    }
    hyperfed_protocol::parse_duration(v)
        .ok()
        .and_then(|d| std::time::SystemTime::now().checked_sub(d))
        .ok_or_else(|| {
            format!("{name} {v:?}: expected an RFC 3339 time like 2026-05-01T12:00:00Z or a duration ago like 30m or 24h")
        })
}

impl AuditFilter {
    /// Resolves the times; the error names the bad parameter.
    pub fn matcher(self) -> Result<AuditMatcher, String> {
        let since = self
            .since
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| parse_time("since", s))
            .transpose()?;
        let until = self
            .until
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| parse_time("until", s))
            .transpose()?;
        Ok(AuditMatcher {
            filter: self,
            since,
            until,
        })
    }
}

impl AuditMatcher {
    /// True when `e` passes every given condition.
    pub fn matches(&self, e: &AuditEntry) -> bool {
        let f = &self.filter;
        let given = |o: &Option<String>| o.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
        if let Some(s) = given(&f.subject)
            && !e.subject.to_lowercase().contains(&s.to_lowercase())
        {
            return false;
        }
        if given(&f.cluster).is_some_and(|c| c != e.cluster)
            || given(&f.outcome).is_some_and(|o| o != e.outcome)
        {
            return false;
        }
        if self.since.is_some() || self.until.is_some() {
            let Ok(t) = humantime::parse_rfc3339_weak(&e.time) else {
                return false;
            };
            if self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t > u) {
                return false;
            }
        }
        true
    }

    /// The matching records of `all` (oldest first), at most the `limit` latest.
    pub fn select(&self, all: Vec<AuditEntry>, limit: Option<usize>) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = all.into_iter().filter(|e| self.matches(e)).collect();
        if let Some(l) = limit
            && out.len() > l
        {
            out.drain(..out.len() - l);
        }
        out
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, time: &str, subject: &str, cluster: &str, outcome: &str) -> AuditEntry {
        AuditEntry {
            id,
            time: time.into(),
            subject: subject.into(),
            cluster: cluster.into(),
            tool: "vm_start".into(),
            exported_tool: "vm_start".into(),
            arguments: Value::Null,
            outcome: outcome.into(),
            error: None,
            task_tag: None,
            completed: None,
            operation: None,
        }
    }

    #[test]
    fn filters_by_subject_cluster_outcome_and_time() {
        let all = vec![
            entry(
                1,
                "2026-01-01T10:00:00.000Z",
                "alice (scope operate) via rest",
                "dc1",
                "ok",
            ),
            entry(
                2,
                "2026-01-02T10:00:00.000Z",
                "bob via mcp",
                "dc2",
                "refused",
            ),
            entry(
                3,
                "2026-01-03T10:00:00.000Z",
                "alice (scope operate) via mcp",
                "dc2",
                "error",
            ),
        ];
        let pick = |f: AuditFilter| -> Vec<u64> {
            f.matcher()
                .unwrap()
                .select(all.clone(), None)
                .iter()
                .map(|e| e.id)
                .collect()
        };
        let f =
            |s: Option<&str>, c: Option<&str>, o: Option<&str>, since: Option<&str>| AuditFilter {
                subject: s.map(Into::into),
                cluster: c.map(Into::into),
                outcome: o.map(Into::into),
                since: since.map(Into::into),
                until: None,
            };
        assert_eq!(pick(f(Some("ALICE"), None, None, None)), [1, 3]);
        assert_eq!(pick(f(None, Some("dc2"), None, None)), [2, 3]);
        assert_eq!(pick(f(None, None, Some("refused"), None)), [2]);
        assert_eq!(
            pick(f(None, None, None, Some("2026-01-02T00:00:00Z"))),
            [2, 3]
        );
        assert_eq!(pick(f(None, None, None, Some("1h"))), Vec::<u64>::new());
        let m = f(None, None, None, None).matcher().unwrap();
        assert_eq!(m.select(all.clone(), Some(1)).len(), 1);
        let bad = f(None, None, None, Some("yesterday"))
            .matcher()
            .unwrap_err();
        assert!(bad.starts_with("since") && bad.contains("24h"), "{bad}");
    }
}
