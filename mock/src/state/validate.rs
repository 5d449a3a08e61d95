//! Request-body validation in the style of HyperCore's validator: allowed and read-only keys,
//! property types, and the SMB export target.

use serde_json::{Map, Value};

use super::outcome::ApiError;

/// VM fields a client may send but never write.
pub(super) const READ_ONLY_VM_FIELDS: &[&str] = &[
    "uuid",
    "nodeUUID",
    "state",
    "created",
    "modified",
    "uiState",
    "snapUUIDs",
    "sourceVirDomainUUID",
    "snapshotAllocationBlocks",
    "lastSeenRunningOnNodeUUID",
    "machineTypeKeyword",
    "latestTaskTag",
];
/// VM fields a PATCH (or a clone template) may change.
pub(super) const PATCHABLE_VM_FIELDS: &[&str] = &[
    "name",
    "description",
    "operatingSystem",
    "mem",
    "numVCPU",
    "tags",
    "bootDevices",
    "snapshotScheduleUUID",
    "machineType",
    "cpuType",
    "affinityStrategy",
    "cloudInitData",
    "desiredDisposition",
    "blockDevs",
    "netDevs",
];

/// A 400 in the style of HyperCore's request validator.
fn validator_error(detail: String) -> ApiError {
    ApiError::Validation(format!(
        "Request has one or more errors\n  In body\n    {detail}"
    ))
}

/// `key` has the wrong JSON type.
pub(super) fn type_error(key: &str, expected: &str) -> ApiError {
    validator_error(format!("For property: {key}\n      Expected a {expected}"))
}

/// `key` is not one of its enum values.
pub(super) fn enum_error(key: &str, got: &str) -> ApiError {
    validator_error(format!(
        "For property: {key}\n      Value {got:?} did not match any of the enum options"
    ))
}

/// Refuses read-only keys and keys outside `allowed`.
pub(super) fn check_keys(
    body: &Map<String, Value>,
    allowed: &[&str],
    read_only: &[&str],
) -> Result<(), ApiError> {
    for key in body.keys() {
        if read_only.contains(&key.as_str()) {
            return Err(validator_error(format!(
                "For property: {key}\n      Cannot write to a read only property"
            )));
        }
        if !allowed.contains(&key.as_str()) {
            return Err(validator_error(format!("Property not allowed: {key}")));
        }
    }
    Ok(())
}

/// A required string property.
pub(super) fn req_str(body: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    opt_str(body, key)?.ok_or_else(|| validator_error(format!("Missing required property: {key}")))
}

/// An optional string property.
pub(super) fn opt_str(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(type_error(key, "string")),
    }
}

/// An optional boolean property.
pub(super) fn opt_bool(body: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(type_error(key, "boolean")),
    }
}

/// An optional number property (truncated to an integer).
pub(super) fn opt_number(body: &Map<String, Value>, key: &str) -> Result<Option<i64>, ApiError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))),
        Some(_) => Err(type_error(key, "number")),
    }
}

/// Checks the types and ranges of a PATCH body's (or clone template's) values.
pub(super) fn validate_patch_types(body: &Map<String, Value>) -> Result<(), ApiError> {
    for (key, value) in body {
        let ok = match key.as_str() {
            "name"
            | "description"
            | "operatingSystem"
            | "tags"
            | "machineType"
            | "cpuType"
            | "snapshotScheduleUUID" => value.is_string(),
            "mem" | "numVCPU" => value.as_i64().is_some_and(|n| n > 0),
            "bootDevices" => value
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string)),
            "affinityStrategy" | "cloudInitData" => value.is_object(),
            "blockDevs" | "netDevs" => value.is_array(),
            "desiredDisposition" => value
                .as_str()
                .is_some_and(|s| ["SHUTOFF", "RUNNING", "PAUSED"].contains(&s)),
            "isTransient" => value.is_boolean(),
            _ => true,
        };
        if !ok {
            return Err(validator_error(format!(
                "For property: {key}\n      Value has the wrong type or is out of range"
            )));
        }
    }
    Ok(())
}

/// Checks an SMB URI `smb://[domain;][user[:password]@]server/share[/path]`.
/// The reason it returns never contains the URI (which may hold a password).
pub fn check_smb_uri(uri: &str) -> Result<(), &'static str> {
    let rest = uri
        .strip_prefix("smb://")
        .ok_or("URI must use the smb:// scheme")?;
    let (authority, path) = rest
        .split_once('/')
        .ok_or("URI must name a share and path")?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() {
        return Err("URI has no server");
    }
    if path.split('/').filter(|p| !p.is_empty()).count() < 1 {
        return Err("URI must name a share and path");
    }
    if host.ends_with(".invalid") || host.starts_with("unreachable") {
        return Err("SMB server unreachable");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smb_uri_rules() {
        assert!(check_smb_uri("smb://user:pw@nas.example.com/share/dir").is_ok());
        assert!(check_smb_uri("smb://CORP;user:pw@10.0.0.5/backups/vm1").is_ok());
        assert!(check_smb_uri("http://nas/share").is_err());
        assert!(check_smb_uri("smb://user:pw@/share").is_err());
        assert!(check_smb_uri("smb://nas").is_err());
        assert_eq!(
            check_smb_uri("smb://u:p@nas.invalid/share/x"),
            Err("SMB server unreachable")
        );
    }
}
