//! Invariants of HyperFed's identifier and argument parsing, checked on arbitrary bytes:
//! cluster aliases, durations, URI/JSON redaction, join requests and tool names. Shared by the
//! libFuzzer target and the stable `replay` binary; a broken invariant panics.

use hyperfed_protocol::{
    ClusterAlias, JoinError, JoinRequest, MAX_EXPORTED_TOOL_NAME, Secret, is_valid_tool_name,
    parse_duration, redact_json, redact_uri,
};
use serde_json::Value;

const REDACTED: &str = "[redacted]";

/// Runs every check on one input.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_alias(&text);
    check_duration(&text);
    check_redact_uri(&text, data);
    check_tool_name(&text);
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        check_redact_json(&v);
    }
    if let Ok(req) = serde_json::from_slice::<JoinRequest>(data) {
        check_join_from_wire(&req);
    }
    check_join_roundtrip(&text);
}

/// A few deterministic mutations of an input, so a small corpus covers more ground on replay.
pub fn variants(data: &[u8]) -> Vec<Vec<u8>> {
    let half = data.len() / 2;
    let mut reversed = data.to_vec();
    reversed.reverse();
    vec![
        data[..half].to_vec(),
        data[half..].to_vec(),
        reversed,
        [data, data].concat(),
        [b"smb://".as_slice(), data, b"@host/share".as_slice()].concat(),
        [b"{\"password\":".as_slice(), data, b"}".as_slice()].concat(),
    ]
}

fn check_alias(s: &str) {
    match ClusterAlias::normalise(s) {
        Ok(a) => {
            let a = a.as_str();
            assert!(
                ClusterAlias::is_valid(a),
                "normalise({s:?}) = {a:?} is not valid"
            );
            assert!(a.len() <= ClusterAlias::MAX_LEN);
            let again = ClusterAlias::normalise(a).map(|x| x.to_string());
            assert_eq!(
                again.as_deref(),
                Ok(a),
                "normalise is not idempotent on {a:?}"
            );
        }
        Err(e) => {
            // Only inputs without any ASCII letter or digit have no alias.
            assert!(
                !s.chars().any(|c| c.is_ascii_alphanumeric()),
                "normalise({s:?}) failed: {e}"
            );
        }
    }
    let valid = ClusterAlias::is_valid(s);
    assert_eq!(ClusterAlias::parse_exact(s).is_some(), valid);
    let json = serde_json::to_string(s).unwrap_or_default();
    assert_eq!(serde_json::from_str::<ClusterAlias>(&json).is_ok(), valid);
}

fn check_duration(s: &str) {
    let parsed = parse_duration(s);
    let t = s.trim();
    if !t.is_empty()
        && t.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = t.parse::<u64>()
    {
        assert_eq!(parsed, Ok(std::time::Duration::from_secs(n)), "{s:?}");
    }
    if let Err(e) = parsed {
        assert!(!e.is_empty());
    }
}

fn check_redact_uri(s: &str, data: &[u8]) {
    let once = redact_uri(s);
    assert_eq!(
        redact_uri(&once),
        once,
        "redact_uri is not idempotent on {s:?}"
    );
    if once != s {
        assert!(once.contains(REDACTED), "{s:?} -> {once:?}");
    }
    // A password built from the input never survives redaction.
    let pw: String = data.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let pw = format!("Pw{pw}Z");
    let user: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == ';')
        .take(20)
        .collect();
    let uri = format!("smb://{user}:{pw}@nas.example/share/x");
    let shown = redact_uri(&uri);
    assert!(!shown.contains(&pw), "{uri:?} -> {shown:?}");
}

fn check_redact_json(v: &Value) {
    let once = redact_json(v);
    assert_eq!(redact_json(&once), once, "redact_json is not idempotent");
    let wrapped = serde_json::json!({"password": v, "nested": {"Authorization": v}});
    let r = redact_json(&wrapped);
    if !v.is_null() {
        assert_eq!(r["password"], REDACTED);
        assert_eq!(r["nested"]["Authorization"], REDACTED);
    }
}

fn check_tool_name(s: &str) {
    let ok = is_valid_tool_name(s, MAX_EXPORTED_TOOL_NAME);
    let expected = !s.is_empty()
        && s.len() <= MAX_EXPORTED_TOOL_NAME
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    assert_eq!(ok, expected, "{s:?}");
}

fn check_join_from_wire(req: &JoinRequest) {
    // Arbitrary bytes cannot carry a proof for this secret.
    let secret = Secret::new("fuzz-secret");
    let r = req.verify(&secret, req.timestamp);
    assert!(r.is_err(), "a fuzzed join request verified: {req:?}");
    if let Err(e) = r {
        assert!(!e.to_string().contains("fuzz-secret"));
    }
}

fn check_join_roundtrip(s: &str) {
    let secret = Secret::new("fuzz-secret");
    // Within the 64-byte alias limit, whatever the characters' UTF-8 length.
    let mut field = String::new();
    for c in s.chars() {
        if field.len() + c.len_utf8() > 60 {
            break;
        }
        field.push(c);
    }
    let req = JoinRequest::sign(&secret, &field, &field, &field, &field);
    let now = req.timestamp;
    assert_eq!(
        req.verify(&secret, now),
        Ok(()),
        "a signed request did not verify"
    );
    let wire = serde_json::to_string(&req).unwrap_or_default();
    assert!(!wire.contains("fuzz-secret"));
    let back: JoinRequest = serde_json::from_str(&wire).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.verify(&secret, now), Ok(()));
    let mut tampered = back.clone();
    tampered.cluster_name.push('x');
    assert_eq!(tampered.verify(&secret, now), Err(JoinError::BadProof));
    assert!(back.verify(&Secret::new("other"), now).is_err());
}
