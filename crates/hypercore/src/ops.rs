//! The HyperCore operations: typed reads (list and get of each resource), VM actions,
//! snapshots, clone, export, task waiting, the OpenAPI document and raw requests.

use std::time::{Duration, Instant};

use hyperfed_protocol::Secret;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{Client, Context, decode_list};
use crate::error::{Error, Result, clean_server_text};
use crate::model::{
    Cluster, Condition, Drive, Iso, Node, Ping, TaskResult, TaskTag, User, VirDomain,
    VirDomainBlockDevice, VirDomainNetDevice, VirDomainSnapshot, VirDomainStats, VirtualDisk,
    VmState, join_tags,
};

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

/// How long and how often to poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitOptions {
    /// Give up after this long.
    pub timeout: Duration,
    /// Time between polls.
    pub poll_interval: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            timeout: Duration::from_secs(300),
            poll_interval: Duration::from_secs(1),
        }
    }
}

impl WaitOptions {
    /// Waits up to `timeout`, polling every second.
    pub fn new(timeout: Duration) -> Self {
        WaitOptions {
            timeout,
            ..WaitOptions::default()
        }
    }

    /// Sets the poll interval.
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }
}

/// The body of a raw answer.
#[derive(Debug, Clone, PartialEq)]
pub enum RawBody {
    /// A JSON body.
    Json(Value),
    /// A non-JSON body, as text (lossy UTF-8).
    Text(String),
}

impl RawBody {
    /// A body as JSON when it parses (empty is `null`), else as lossy UTF-8 text.
    pub fn decode(bytes: &[u8]) -> Self {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(v) => RawBody::Json(v),
            Err(_) if bytes.is_empty() => RawBody::Json(Value::Null),
            Err(_) => RawBody::Text(String::from_utf8_lossy(bytes).into_owned()),
        }
    }

    /// The body as JSON (text becomes a JSON string).
    pub fn to_value(&self) -> Value {
        match self {
            RawBody::Json(v) => v.clone(),
            RawBody::Text(t) => Value::String(t.clone()),
        }
    }
}

/// The answer to [`Client::raw`]: any status, not mapped to an error.
#[derive(Debug, Clone, PartialEq)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: RawBody,
}

/// Consecutive retryable failures tolerated while polling.
const POLL_RETRIES: u32 = 3;

/// Percent-encodes one path segment and refuses ids that could change the path.
fn segment(argument: &'static str, id: &str) -> Result<String> {
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

/// Validates a raw API path and returns it relative to `/rest/v1`.
fn raw_path(path: &str) -> Result<String> {
    let bad = |message: &str| Error::InvalidArgument {
        argument: "path",
        message: message.to_owned(),
    };
    if path.contains("://") || path.starts_with("//") || path.contains('\\') {
        return Err(bad("must be a path relative to /rest/v1, not a URL"));
    }
    if path.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("must not contain whitespace or control characters"));
    }
    let route = path.split(['?', '#']).next().unwrap_or("");
    if route.split('/').any(|s| s == ".." || s == ".")
        || route.to_ascii_lowercase().contains("%2e")
        || path.contains("..")
    {
        return Err(bad("must not contain '..'"));
    }
    if path.contains('#') {
        return Err(bad("must not contain a fragment"));
    }
    let first = route
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    if first.contains(':') {
        return Err(bad("must not carry a scheme"));
    }
    let mut rel = path.trim_start_matches('/');
    if let Some(rest) = rel.strip_prefix("rest/v1/") {
        rel = rest;
    } else if rel == "rest/v1" {
        rel = "";
    }
    if rel.is_empty() {
        return Err(bad("is empty"));
    }
    Ok(rel.to_owned())
}

/// Extracts the password of `scheme://[domain;]user:password@host/...`, if any.
fn uri_password(uri: &str) -> Option<&str> {
    let rest = &uri[uri.find("://")? + 3..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    let colon = userinfo.find(':')?;
    Some(&userinfo[colon + 1..])
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
        crate::client::decode_one(&reply.body, "ping")
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
    async fn explain_missing_vm<T>(&self, result: Result<T>, vm_uuid: &str) -> Result<T> {
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

    /// The status of one task; `None` for an empty tag or when HyperCore no longer knows it.
    pub async fn task(&self, tag: &str) -> Result<Option<TaskTag>> {
        if tag.is_empty() {
            return Ok(None);
        }
        self.get_task(tag).await
    }

    /// Polls a task until it completes (`Ok`), fails (`Error::Task`) or the timeout passes
    /// (`Error::Timeout`). `progress` sees every status read. An empty tag or an unknown task
    /// counts as done (`Ok(None)`).
    pub async fn wait_task(
        &self,
        tag: &str,
        options: WaitOptions,
        mut progress: impl FnMut(&TaskTag),
    ) -> Result<Option<TaskTag>> {
        if tag.is_empty() {
            return Ok(None);
        }
        let started = Instant::now();
        let mut failures = 0;
        loop {
            match self.task(tag).await {
                Ok(None) => return Ok(None),
                Ok(Some(status)) => {
                    failures = 0;
                    progress(&status);
                    if status.is_failed() {
                        let mut message = status.message();
                        if message.trim().is_empty() {
                            message = format!(
                                "task ended in state {} ({})",
                                status.state,
                                status.description()
                            );
                        }
                        return Err(Error::Task {
                            tag: tag.to_owned(),
                            message: clean_server_text(&message),
                        });
                    }
                    if !status.is_pending() {
                        return Ok(Some(status));
                    }
                }
                Err(e) if e.is_retryable() && failures < POLL_RETRIES => {
                    failures += 1;
                    tracing::debug!(task = tag, error = %e, "task poll failed; retrying");
                }
                Err(e) => return Err(e),
            }
            let elapsed = started.elapsed();
            if elapsed >= options.timeout {
                return Err(Error::Timeout {
                    what: format!("task {tag}"),
                    after: options.timeout,
                });
            }
            tokio::time::sleep(options.poll_interval.min(options.timeout - elapsed)).await;
        }
    }

    /// Polls a VM until it reaches `state` (asking for SHUTDOWN waits for SHUTOFF).
    pub async fn wait_vm_state(
        &self,
        vm_uuid: &str,
        state: VmState,
        timeout: Duration,
        poll_interval: Duration,
    ) -> Result<VirDomain> {
        let target = if state == VmState::Shutdown {
            VmState::Shutoff
        } else {
            state
        };
        let started = Instant::now();
        let mut failures = 0;
        loop {
            match self.get_vm(vm_uuid).await {
                Ok(Some(vm)) => {
                    failures = 0;
                    if vm.state == target {
                        return Ok(vm);
                    }
                }
                Ok(None) => {
                    return Err(Error::NotFound {
                        kind: "VirDomain".into(),
                        id: vm_uuid.to_owned(),
                    });
                }
                Err(e) if e.is_retryable() && failures < POLL_RETRIES => failures += 1,
                Err(e) => return Err(e),
            }
            let elapsed = started.elapsed();
            if elapsed >= timeout {
                return Err(Error::Timeout {
                    what: format!("VM {vm_uuid} to reach {target}"),
                    after: timeout,
                });
            }
            tokio::time::sleep(poll_interval.min(timeout - elapsed)).await;
        }
    }

    /// Sends any request under `/rest/v1` (path relative to it) and returns the status and body
    /// as they are; only authentication and transport failures become errors.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<RawResponse> {
        let (status, bytes) = self.raw_bytes(method, path, body).await?;
        Ok(RawResponse {
            status,
            body: RawBody::decode(&bytes),
        })
    }

    /// [`Client::raw`] without decoding: the status and the body bytes as they arrived.
    pub async fn raw_bytes(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Vec<u8>)> {
        let rel = raw_path(path)?;
        let bytes = match &body {
            Some(v) => Some(serde_json::to_vec(v).map_err(|e| Error::InvalidArgument {
                argument: "body",
                message: e.to_string(),
            })?),
            None => None,
        };
        let reply = self.execute(method, &rel, bytes).await?;
        if reply.status == StatusCode::UNAUTHORIZED {
            return Err(self.status_error(
                &reply,
                Context::Resource {
                    kind: "raw",
                    id: "",
                },
            ));
        }
        Ok((reply.status.as_u16(), reply.body))
    }

    /// Decodes a JSON array answer from [`Client::raw`] into typed records.
    pub fn decode_records<T: serde::de::DeserializeOwned>(
        response: &RawResponse,
    ) -> Result<Vec<T>> {
        let bytes = serde_json::to_vec(&response.body.to_value()).map_err(|e| Error::Decode {
            what: "raw response".into(),
            message: e.to_string(),
        })?;
        decode_list(&bytes, "raw")
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

    #[test]
    fn raw_paths_are_checked() {
        assert_eq!(raw_path("/VirDomain").unwrap(), "VirDomain");
        assert_eq!(raw_path("rest/v1/Node").unwrap(), "Node");
        assert_eq!(
            raw_path("/rest/v1/Condition/filter?includeSet=true").unwrap(),
            "Condition/filter?includeSet=true"
        );
        for bad in [
            "../etc/passwd",
            "VirDomain/../../x",
            "http://evil/x",
            "//evil/x",
            "https:foo",
            "",
            "/",
            "a b",
            "%2e%2e/x",
        ] {
            assert!(raw_path(bad).is_err(), "{bad}");
        }
    }

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
