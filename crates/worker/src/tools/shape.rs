//! Shaping HyperCore records (camelCase wire JSON) into the compact snake_case rows the
//! tools return, plus the small field readers, uuid checks and message redaction they share.

use hyperfed_protocol::redact_uri;
use serde_json::{Map, Value, json};

pub(super) fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

pub(super) fn n(v: &Value, key: &str) -> i64 {
    v.get(key)
        .and_then(|x| x.as_i64().or_else(|| x.as_f64().map(|f| f as i64)))
        .unwrap_or(0)
}

pub(super) fn f(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

pub(super) fn b(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

pub(super) fn tags_of(vm: &Value) -> Vec<String> {
    match vm.get("tags") {
        Some(Value::String(t)) => t
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

pub(super) fn arr_len(v: &Value, key: &str) -> usize {
    v.get(key).and_then(Value::as_array).map_or(0, Vec::len)
}

pub(super) fn str_arg<'a>(args: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

/// True when `s` is a canonical hyphenated uuid.
pub(super) fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::parse_str(s).is_ok()
}

/// True when `s` looks like an attempt at a uuid (hex and dashes, uuid-ish length, or
/// uuid length with its dashes where a uuid has them).
pub(super) fn looks_like_uuid(s: &str) -> bool {
    let dashes_in_place = [8, 13, 18, 23]
        .iter()
        .filter(|&&i| s.as_bytes().get(i) == Some(&b'-'))
        .count();
    s.len() >= 30
        && s.matches('-').count() >= 3
        && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        || (s.len() == 36 && (s.matches('-').count() == 4 || dashes_in_place >= 3))
}

pub(super) fn severity_rank(sev: &str) -> usize {
    const ORDER: [&str; 8] = [
        "EMERGENCY",
        "ALERT",
        "CRITICAL",
        "ERROR",
        "WARNING",
        "NOTICE",
        "INFO",
        "DEBUG",
    ];
    ORDER.iter().position(|x| *x == sev).unwrap_or(ORDER.len())
}

pub(super) fn vm_row(vm: &Value, details: bool) -> Value {
    let mut row = json!({
        "uuid": s(vm, "uuid"),
        "name": s(vm, "name"),
        "state": s(vm, "state"),
        "node_uuid": s(vm, "nodeUUID"),
        "tags": tags_of(vm),
        "vcpus": n(vm, "numVCPU"),
        "mem_bytes": n(vm, "mem"),
    });
    if details {
        row["description"] = json!(s(vm, "description"));
        row["operating_system"] = json!(s(vm, "operatingSystem"));
        row["machine_type"] = json!(s(vm, "machineType"));
        row["disks"] = json!(arr_len(vm, "blockDevs"));
        row["nics"] = json!(arr_len(vm, "netDevs"));
        row["snapshots"] = json!(arr_len(vm, "snapUUIDs"));
        row["replication_target"] = json!(!s(vm, "sourceVirDomainUUID").is_empty());
    }
    row
}

pub(super) fn vm_brief(vm: &Value) -> Value {
    json!({
        "uuid": s(vm, "uuid"),
        "name": s(vm, "name"),
        "state": s(vm, "state"),
        "node_uuid": s(vm, "nodeUUID"),
    })
}

pub(super) fn vm_full(vm: &Value) -> Value {
    let disks: Vec<Value> = vm
        .get("blockDevs")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(block_row).collect())
        .unwrap_or_default();
    let nics: Vec<Value> = vm
        .get("netDevs")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(nic_row).collect())
        .unwrap_or_default();
    json!({
        "uuid": s(vm, "uuid"),
        "name": s(vm, "name"),
        "description": s(vm, "description"),
        "state": s(vm, "state"),
        "ui_state": s(vm, "uiState"),
        "node_uuid": s(vm, "nodeUUID"),
        "last_node_uuid": s(vm, "lastSeenRunningOnNodeUUID"),
        "tags": tags_of(vm),
        "vcpus": n(vm, "numVCPU"),
        "mem_bytes": n(vm, "mem"),
        "operating_system": s(vm, "operatingSystem"),
        "machine_type": s(vm, "machineType"),
        "guest_agent_state": s(vm, "guestAgentState"),
        "disks": disks,
        "nics": nics,
        "snapshot_uuids": vm.get("snapUUIDs").cloned().unwrap_or_else(|| json!([])),
        "snapshot_schedule_uuid": s(vm, "snapshotScheduleUUID"),
        "replication_target": !s(vm, "sourceVirDomainUUID").is_empty(),
        "source_vm_uuid": s(vm, "sourceVirDomainUUID"),
        "created": n(vm, "created"),
    })
}

pub(super) fn block_row(d: &Value) -> Value {
    json!({
        "uuid": s(d, "uuid"),
        "vm_uuid": s(d, "virDomainUUID"),
        "type": s(d, "type"),
        "name": s(d, "name"),
        "capacity_bytes": n(d, "capacity"),
        "allocation_bytes": n(d, "allocation"),
        "cache_mode": s(d, "cacheMode"),
        "slot": n(d, "slot"),
        "path": s(d, "path"),
        "read_only": b(d, "readOnly"),
    })
}

pub(super) fn nic_row(d: &Value) -> Value {
    json!({
        "uuid": s(d, "uuid"),
        "vm_uuid": s(d, "virDomainUUID"),
        "type": s(d, "type"),
        "mac_address": s(d, "macAddress"),
        "vlan": n(d, "vlan"),
        "connected": d.get("connected").and_then(Value::as_bool).unwrap_or(true),
        "ipv4_addresses": d.get("ipv4Addresses").cloned().unwrap_or_else(|| json!([])),
    })
}

pub(super) fn virtual_disk_row(d: &Value) -> Value {
    json!({
        "uuid": s(d, "uuid"),
        "name": s(d, "name"),
        "capacity_bytes": n(d, "capacityBytes"),
        "allocation_bytes": n(d, "totalAllocationBytes"),
    })
}

pub(super) fn iso_row(d: &Value) -> Value {
    json!({
        "uuid": s(d, "uuid"),
        "name": s(d, "name"),
        "size_bytes": n(d, "size"),
        "ready_for_insert": b(d, "readyForInsert"),
        "path": s(d, "path"),
        "mounts": d.get("mounts").cloned().unwrap_or_else(|| json!([])),
    })
}

pub(super) fn cluster_err(label: &str, e: hypercore::Error) -> String {
    match e {
        hypercore::Error::Transport { .. } | hypercore::Error::Timeout { .. } => {
            format!("cluster '{label}' is unavailable right now ({e}); try again shortly")
        }
        hypercore::Error::Server { status, .. } if status >= 500 => {
            format!(
                "cluster '{label}' is unavailable right now: it failed to answer ({e}); try again shortly"
            )
        }
        other => format!("cluster '{label}': {other}"),
    }
}

pub(super) fn wants_wait(a: &Map<String, Value>) -> bool {
    a.get("wait").and_then(Value::as_bool).unwrap_or(true)
}

/// Fills `%@` placeholders of a HyperCore formatted text with its parameters.
pub(super) fn fill(template: &str, params: Option<&Value>) -> String {
    let params: Vec<String> = params
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut out = String::new();
    let mut it = params.iter();
    let mut rest = template;
    while let Some(i) = rest.find("%@") {
        out.push_str(&rest[..i]);
        out.push_str(it.next().map(String::as_str).unwrap_or("?"));
        rest = &rest[i + 2..];
    }
    out.push_str(rest);
    redact_words(&out)
}

/// Redacts credentials in any URI-looking word of a message.
pub(super) fn redact_words(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            if w.contains("://") && w.contains('@') {
                redact_uri(w)
            } else {
                w.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_placeholders_and_redacts() {
        let p = json!(["smb://u:pw@h/s", "vm1"]);
        let out = fill("Export to %@ of %@ failed", Some(&p));
        assert_eq!(out, "Export to smb://u:[redacted]@h/s of vm1 failed");
    }

    #[test]
    fn uuid_heuristics() {
        assert!(is_uuid("123e4567-e89b-12d3-a456-426614174000"));
        assert!(!is_uuid("web-01"));
        assert!(looks_like_uuid("123e4567-e89b-12d3-a456-42661417400z"));
        assert!(looks_like_uuid("123e4567-e89b-12d3-a456-4266141740"));
        assert!(!looks_like_uuid("web-frontend-01"));
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// How `resolve_vm` treats a (trimmed) key: a uuid lookup, a refused malformed uuid, or a
    /// name lookup.
    #[derive(Debug, PartialEq)]
    enum Key {
        Uuid,
        Malformed,
        Name,
    }

    fn classify(key: &str) -> Key {
        if is_uuid(key) {
            Key::Uuid
        } else if looks_like_uuid(key) {
            Key::Malformed
        } else {
            Key::Name
        }
    }

    fn canonical() -> impl Strategy<Value = String> {
        (any::<u128>(), any::<bool>()).prop_map(|(n, upper)| {
            let s = uuid::Uuid::from_u128(n).hyphenated().to_string();
            if upper { s.to_uppercase() } else { s }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any string: the uuid path is taken exactly for canonical hyphenated uuids.
        #[test]
        fn uuid_exactly_when_canonical(key in ".{0,48}") {
            let canonical = uuid::Uuid::parse_str(&key)
                .map(|u| u.hyphenated().to_string() == key.to_ascii_lowercase())
                .unwrap_or(false);
            prop_assert_eq!(is_uuid(&key), canonical, "{:?}", key);
            prop_assert_eq!(classify(&key), classify(&key));
        }

        /// Canonical uuids (either case) are looked up as uuids.
        #[test]
        fn canonical_uuids_are_uuids(key in canonical()) {
            prop_assert_eq!(classify(&key), Key::Uuid);
        }

        /// A canonical uuid with one character spoiled is refused as malformed, never looked
        /// up as a name.
        #[test]
        fn spoiled_uuids_are_malformed(key in canonical(), at in 0usize..36, bad in "[g-zG-Z_. ]") {
            let mut chars: Vec<char> = key.chars().collect();
            chars[at] = bad.chars().next().unwrap_or('z');
            let spoiled: String = chars.into_iter().collect();
            prop_assert_eq!(classify(&spoiled), Key::Malformed, "{:?}", spoiled);
        }

        /// A uuid cut short (at least 30 characters kept) is refused as malformed.
        #[test]
        fn truncated_uuids_are_malformed(key in canonical(), keep in 30usize..36) {
            let cut = &key[..keep];
            prop_assume!(cut.matches('-').count() >= 3);
            prop_assert_eq!(classify(cut), Key::Malformed, "{:?}", cut);
        }

        /// Ordinary VM names (fewer than three dashes) are looked up by name.
        #[test]
        fn plain_names_are_names(key in "[A-Za-z0-9_. ]{1,20}(-[A-Za-z0-9_. ]{1,12}){0,2}") {
            prop_assert_eq!(classify(&key), Key::Name, "{:?}", key);
        }
    }
}
