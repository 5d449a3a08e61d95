//! The OpenAPI 3.0 document the simulator serves at `/rest/v1/openapi.json`, generated from
//! its own route table (method, path, tag, summary) rather than copied from a real cluster.

use serde_json::{Map, Value, json};

/// One implemented operation: method, path under `/rest/v1`, tag, summary.
pub const ROUTES: &[(&str, &str, &str, &str)] = &[
    ("get", "/ping", "Health", "Check the state of the REST API"),
    (
        "post",
        "/login",
        "Session",
        "Create a session (also sets the sessionID cookie)",
    ),
    ("post", "/logout", "Session", "Destroy the current session"),
    ("get", "/Cluster", "Cluster", "List the cluster"),
    (
        "get",
        "/Cluster/{uuid}",
        "Cluster",
        "Get the cluster by uuid",
    ),
    ("get", "/Node", "Node", "List nodes"),
    ("get", "/Node/{uuid}", "Node", "Get a node"),
    ("get", "/Drive", "Drive", "List physical drives"),
    ("get", "/Drive/{uuid}", "Drive", "Get a physical drive"),
    ("get", "/VirDomain", "VirDomain", "List VMs"),
    ("post", "/VirDomain", "VirDomain", "Create a new VM"),
    ("post", "/VirDomain/import", "VirDomain", "Import a VM"),
    (
        "delete",
        "/VirDomain/{virDomainUUID}",
        "VirDomain",
        "Delete a VM",
    ),
    ("get", "/VirDomain/{virDomainUUID}", "VirDomain", "Get a VM"),
    (
        "patch",
        "/VirDomain/{virDomainUUID}",
        "VirDomain",
        "Update a VM",
    ),
    (
        "post",
        "/VirDomain/action",
        "VirDomain",
        "Take power actions on VMs",
    ),
    (
        "post",
        "/VirDomain/{virDomainUUID}/clone",
        "VirDomain",
        "Clone a VM",
    ),
    (
        "post",
        "/VirDomain/{virDomainUUID}/export",
        "VirDomain",
        "Export a VM to SMB",
    ),
    (
        "get",
        "/VirDomainStats",
        "VirDomainStats",
        "List VM usage statistics",
    ),
    (
        "get",
        "/VirDomainStats/{virDomainUUID}",
        "VirDomainStats",
        "Get one VM's statistics",
    ),
    (
        "get",
        "/VirDomainSnapshot",
        "VirDomainSnapshot",
        "List snapshots",
    ),
    (
        "post",
        "/VirDomainSnapshot",
        "VirDomainSnapshot",
        "Create a snapshot",
    ),
    (
        "get",
        "/VirDomainSnapshot/{uuid}",
        "VirDomainSnapshot",
        "Get a snapshot",
    ),
    (
        "delete",
        "/VirDomainSnapshot/{uuid}",
        "VirDomainSnapshot",
        "Delete a snapshot",
    ),
    (
        "get",
        "/VirDomainBlockDevice",
        "VirDomainBlockDevice",
        "List VM block devices",
    ),
    (
        "get",
        "/VirDomainBlockDevice/{uuid}",
        "VirDomainBlockDevice",
        "Get a block device",
    ),
    (
        "post",
        "/VirDomainBlockDevice",
        "VirDomainBlockDevice",
        "Create a new block device",
    ),
    (
        "patch",
        "/VirDomainBlockDevice/{uuid}",
        "VirDomainBlockDevice",
        "Edit a block device",
    ),
    (
        "get",
        "/VirDomainNetDevice",
        "VirDomainNetDevice",
        "List VM network devices",
    ),
    (
        "get",
        "/VirDomainNetDevice/{uuid}",
        "VirDomainNetDevice",
        "Get a network device",
    ),
    ("get", "/Condition", "Condition", "List health conditions"),
    (
        "get",
        "/Condition/{name}",
        "Condition",
        "Get a condition by name",
    ),
    (
        "get",
        "/Condition/filter",
        "Condition",
        "Filter conditions (includeSet, includeNotOK)",
    ),
    (
        "get",
        "/VirtualDisk",
        "VirtualDisk",
        "List uploaded virtual disks",
    ),
    (
        "get",
        "/VirtualDisk/{uuid}",
        "VirtualDisk",
        "Get an uploaded virtual disk",
    ),
    ("get", "/ISO", "ISO", "List ISO images"),
    ("get", "/ISO/{uuid}", "ISO", "Get an ISO image"),
    ("get", "/User", "User", "List users"),
    ("get", "/User/{uuid}", "User", "Get a user"),
    ("get", "/Role", "Role", "List roles"),
    ("get", "/Role/{uuid}", "Role", "Get a role"),
    ("get", "/TaskTag", "TaskTag", "List task statuses"),
    ("get", "/TaskTag/{taskTag}", "TaskTag", "Get a task status"),
    ("get", "/openapi.json", "Health", "This document"),
    ("get", "/DNSConfig", "DNSConfig", "List DNS settings"),
    ("get", "/DNSConfig/{uuid}", "DNSConfig", "Get DNS settings"),
    ("get", "/TimeSource", "TimeSource", "List NTP time sources"),
    (
        "get",
        "/TimeSource/{uuid}",
        "TimeSource",
        "Get an NTP time source",
    ),
    ("get", "/TimeZone", "TimeZone", "List the time zone setting"),
    (
        "get",
        "/TimeZone/{uuid}",
        "TimeZone",
        "Get the time zone setting",
    ),
    (
        "get",
        "/AlertSMTPConfig",
        "AlertSMTPConfig",
        "List SMTP alert settings (empty)",
    ),
    (
        "get",
        "/AlertEmailTarget",
        "AlertEmailTarget",
        "List alert e-mail targets (empty)",
    ),
    (
        "get",
        "/AlertSyslogTarget",
        "AlertSyslogTarget",
        "List alert syslog targets (empty)",
    ),
    (
        "get",
        "/NucleusKey",
        "NucleusKey",
        "List nucleus keys (empty)",
    ),
    ("get", "/GPU", "GPU", "List GPUs (none simulated)"),
    (
        "get",
        "/Update",
        "Update",
        "List available HyperCore updates (none)",
    ),
    (
        "get",
        "/MonitoringConfig",
        "MonitoringConfig",
        "List monitoring settings (empty)",
    ),
    (
        "get",
        "/OIDCConfig",
        "OIDCConfig",
        "List OIDC settings (empty)",
    ),
    (
        "get",
        "/Registration",
        "Registration",
        "List registration records (empty)",
    ),
    (
        "get",
        "/RemoteClusterConnection",
        "RemoteClusterConnection",
        "List remote cluster connections (empty)",
    ),
    (
        "get",
        "/VirDomainReplication",
        "VirDomainReplication",
        "List VM replications (empty)",
    ),
];

/// Builds the OpenAPI document describing [`ROUTES`].
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for (method, path, tag, summary) in ROUTES {
        let op_id = format!(
            "{}{}",
            method,
            path.replace(['{', '}'], "").replace('/', "_")
        );
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
            })
            .collect();
        let mut op = json!({
            "tags": [tag],
            "summary": summary,
            "operationId": op_id,
            "responses": {"200": {"description": "Success"}},
        });
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if *path == "/login" || *path == "/ping" || *path == "/openapi.json" {
            op["security"] = json!([]);
        }
        let entry = paths
            .entry((*path).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[*method] = op;
    }
    json!({
        "openapi": "3.0.0",
        "info": {
            "title": "HyperCore simulator API",
            "description": "The subset of the HyperCore REST API that hypercore-sim implements.",
            "version": "1.2.0",
        },
        "servers": [{"url": "/rest/v1"}],
        "components": {"securitySchemes": {"basic": {"type": "http", "scheme": "basic"}}},
        "security": [{"basic": []}],
        "paths": paths,
    })
}
