//! Removing credentials from URIs and JSON before anything is logged, audited or returned.

use serde_json::Value;

const REDACTED: &str = "[redacted]";

/// Replaces the password in `scheme://[domain;]user:password@host/...` with `[redacted]`.
pub fn redact_uri(uri: &str) -> String {
    let Some(scheme_end) = uri.find("://") else {
        return uri.to_owned();
    };
    let rest = &uri[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return uri.to_owned();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return uri.to_owned();
    };
    format!(
        "{}{}:{}{}",
        &uri[..scheme_end + 3],
        &userinfo[..colon],
        REDACTED,
        &rest[at..]
    )
}

fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password")
        || k.contains("secret")
        || k.contains("token") && !k.contains("task") && !k.contains("progress")
        || k == "authorization"
        || k == "cookie"
        || k == "sessionid"
        || k == "privatekey"
}

/// Returns a copy of `value` with secret-looking keys replaced and URI passwords redacted.
pub fn redact_json(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(k) && !v.is_null() {
                        Value::String(REDACTED.into())
                    } else {
                        redact_json(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_json).collect()),
        Value::String(s) if s.contains("://") && s.contains('@') => Value::String(redact_uri(s)),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_smb_passwords() {
        assert_eq!(
            redact_uri("smb://CORP;backup:s3cr3t@nas.example/share/vm1"),
            "smb://CORP;backup:[redacted]@nas.example/share/vm1"
        );
        assert_eq!(redact_uri("smb://nas/share"), "smb://nas/share");
        assert_eq!(redact_uri("smb://user@nas/share"), "smb://user@nas/share");
        assert_eq!(redact_uri("not a uri"), "not a uri");
    }

    #[test]
    fn redacts_json_keys_and_uris() {
        let v = json!({"vm": "a", "password": "p", "confirm_token": "t", "task_tag": "12",
            "target": {"uri": "smb://u:pw@h/s"}, "list": ["smb://u:pw@h/x"]});
        let r = redact_json(&v).to_string();
        assert!(!r.contains("\"p\""));
        assert!(!r.contains("pw"));
        assert!(r.contains("\"12\""));
        assert!(!r.contains("\"t\""));
    }
}
