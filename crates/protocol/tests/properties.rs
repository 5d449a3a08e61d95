//! Property tests (proptest) over the protocol crate's parsers and proofs: aliases, durations,
//! tool names, credential redaction, secrets, join proofs and JWT claims.

use std::time::Duration;

use hyperfed_protocol::{
    CallClaims, ClusterAlias, JoinError, JoinRequest, MAX_EXPORTED_TOOL_NAME, Secret, WorkerClaims,
    is_valid_tool_name, parse_duration, redact_json, redact_uri,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn secret() -> Secret {
    Secret::new("property-test-secret")
}

/// Arbitrary JSON values a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn normalised_aliases_are_valid_and_stable(s in "\\PC{0,64}") {
        match ClusterAlias::normalise(&s) {
            Ok(a) => {
                prop_assert!(ClusterAlias::is_valid(a.as_str()));
                prop_assert_eq!(ClusterAlias::normalise(a.as_str()).map(|x| x.to_string()), Ok(a.to_string()));
            }
            Err(_) => prop_assert!(!s.chars().any(|c| c.is_ascii_alphanumeric())),
        }
    }

    #[test]
    fn valid_aliases_normalise_to_themselves(a in "[a-z0-9][a-z0-9]{0,15}") {
        prop_assert_eq!(ClusterAlias::normalise(&a).map(|x| x.to_string()), Ok(a.clone()));
        prop_assert!(ClusterAlias::parse_exact(&a).is_some());
    }

    #[test]
    fn alias_deserialisation_accepts_exactly_the_valid_ones(s in "[a-zA-Z0-9_ .-]{0,20}") {
        let parsed = serde_json::from_value::<ClusterAlias>(json!(s));
        prop_assert_eq!(parsed.is_ok(), ClusterAlias::is_valid(&s));
    }

    #[test]
    fn durations_parse_in_every_unit(n in 0u64..1_000_000) {
        prop_assert_eq!(parse_duration(&n.to_string()), Ok(Duration::from_secs(n)));
        prop_assert_eq!(parse_duration(&format!("{n}ms")), Ok(Duration::from_millis(n)));
        prop_assert_eq!(parse_duration(&format!(" {n}s ")), Ok(Duration::from_secs(n)));
        prop_assert_eq!(parse_duration(&format!("{n}m")), Ok(Duration::from_secs(n * 60)));
        prop_assert_eq!(parse_duration(&format!("{n}h")), Ok(Duration::from_secs(n * 3600)));
    }

    #[test]
    fn duration_garbage_is_an_error_never_a_panic(s in "\\PC{0,30}") {
        if let Err(e) = parse_duration(&s) {
            prop_assert!(e.contains("duration"));
        }
    }

    #[test]
    fn tool_names_follow_the_client_rule(s in "[A-Za-z0-9_./ -]{0,60}") {
        let expected = !s.is_empty()
            && s.len() <= MAX_EXPORTED_TOOL_NAME
            && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
        prop_assert_eq!(is_valid_tool_name(&s, MAX_EXPORTED_TOOL_NAME), expected);
    }

    #[test]
    fn smb_passwords_never_survive_redaction(
        domain in "([A-Z]{1,8};)?",
        user in "[a-z][a-z0-9.]{0,10}",
        pw in "[A-Za-z0-9!$%^&*()_+=,.:;]{1,20}",
        host in "[a-z][a-z0-9.-]{0,15}",
        path in "(/[a-z0-9]{1,8}){1,3}",
    ) {
        let pw = format!("PW{pw}");
        let uri = format!("smb://{domain}{user}:{pw}@{host}{path}");
        let shown = redact_uri(&uri);
        prop_assert!(!shown.contains(&pw), "{} -> {}", uri, shown);
        prop_assert!(shown.contains(&user) && shown.contains(&host) && shown.ends_with(&path));
        prop_assert_eq!(redact_uri(&shown), shown.clone());
        let v = redact_json(&json!({"args": {"uri": uri}}));
        prop_assert!(!v.to_string().contains(&pw));
    }

    #[test]
    fn secret_keys_are_redacted_at_any_depth(v in json_value(), secret_text in "[a-z]{6,12}") {
        let marker = format!("SECRETVALUE{secret_text}");
        let doc = json!({"outer": [v.clone(), {"password": marker, "Token": marker}], "x": v});
        let r = redact_json(&doc);
        prop_assert!(!r.to_string().contains(&marker));
        prop_assert_eq!(redact_json(&r), r.clone());
    }

    #[test]
    fn secrets_print_redacted(s in "[ -~]{1,40}") {
        let value = format!("zz{s}zz");
        let sec = Secret::new(value.clone());
        let debug = format!("{sec:?}");
        let shown = sec.to_string();
        let json = serde_json::to_string(&sec).unwrap_or_default();
        prop_assert!(!debug.contains(&value));
        prop_assert!(!shown.contains(&value));
        prop_assert!(!json.contains(&value));
        prop_assert!(sec.matches(&value));
        let other = format!("{value}x");
        prop_assert!(!sec.matches(&other));
    }

    #[test]
    fn join_proofs_bind_every_field(
        alias in "\\PC{0,20}",
        uuid in "[a-f0-9-]{0,40}",
        name in "\\PC{0,40}",
        url in "http://127\\.0\\.0\\.1:[0-9]{1,5}/mcp",
        field in 0usize..5,
    ) {
        let req = JoinRequest::sign(&secret(), &alias, &uuid, &name, &url);
        let now = req.timestamp;
        prop_assert_eq!(req.verify(&secret(), now), Ok(()));
        prop_assert!(!serde_json::to_string(&req).unwrap_or_default().contains("property-test-secret"));
        prop_assert_eq!(req.verify(&Secret::new("another"), now), Err(JoinError::BadProof));
        prop_assert!(matches!(req.verify(&secret(), now + 61), Err(JoinError::Stale(_))));
        let mut t = req.clone();
        match field {
            0 => t.alias.push('x'),
            1 => t.cluster_uuid.push('x'),
            2 => t.cluster_name.push('x'),
            3 => t.worker_url.push('x'),
            _ => t.nonce = format!("{}x", &t.nonce[1..]),
        }
        prop_assert_eq!(t.verify(&secret(), now), Err(JoinError::BadProof));
    }

    #[test]
    fn tokens_are_bound_to_their_kind_and_audience(alias in "[a-z0-9-]{1,16}", cid in "[a-f0-9-]{1,36}") {
        let w = WorkerClaims::issue(&secret(), &alias, &cid, Duration::from_secs(60));
        let claims = WorkerClaims::verify(&secret(), &w).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(claims.sub, alias);
        prop_assert_eq!(claims.cid, cid.clone());
        prop_assert!(CallClaims::verify(&secret(), &cid, &w).is_err());
        let c = CallClaims::issue(&secret(), &cid, Duration::from_secs(60));
        prop_assert!(CallClaims::verify(&secret(), &cid, &c).is_ok());
        let other_cid = format!("{cid}x");
        prop_assert!(CallClaims::verify(&secret(), &other_cid, &c).is_err());
        prop_assert!(WorkerClaims::verify(&secret(), &c).is_err());
        prop_assert!(CallClaims::verify(&Secret::new("other"), &cid, &c).is_err());
    }
}
