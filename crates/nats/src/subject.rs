//! Subject and JetStream names of one fleet. Every name is built here from validated tokens, so
//! no alias, fleet or tool name can inject `.`, `*`, `>` or whitespace into a subject.

use crate::error::SetupError;

/// Longest fleet name, alias or tool token accepted.
pub const MAX_TOKEN_LEN: usize = 64;

/// True when `s` is one subject token within `[A-Za-z0-9_-]{1,64}` (also a valid KV key and
/// stream-name fragment).
pub fn is_subject_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_TOKEN_LEN
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

/// Checks one token, naming what it is in the error.
pub(crate) fn check_token(what: &'static str, value: &str) -> Result<(), SetupError> {
    if is_subject_token(value) {
        Ok(())
    } else {
        Err(SetupError::InvalidName {
            what,
            value: value.chars().take(80).collect(),
        })
    }
}

/// A fleet's name: the second token of all its subjects, so several fleets can share one NATS.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FleetName(String);

impl FleetName {
    /// The fleet used when none is given.
    pub const DEFAULT: &'static str = "default";

    /// Validates a fleet name (`[A-Za-z0-9_-]{1,64}`).
    pub fn new(name: &str) -> Result<Self, SetupError> {
        check_token("fleet name", name)?;
        Ok(FleetName(name.to_owned()))
    }

    /// The fleet name text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Requests to one worker: `hyperfed.<fleet>.w.<alias>.call`.
    pub fn call_subject(&self, alias: &str) -> String {
        format!("hyperfed.{}.w.{alias}.call", self.0)
    }

    /// Cancellation of one request to one worker: `hyperfed.<fleet>.w.<alias>.cancel.<id>`.
    pub fn cancel_subject(&self, alias: &str, request_id: &str) -> String {
        format!("hyperfed.{}.w.{alias}.cancel.{request_id}", self.0)
    }

    /// What a worker subscribes to for its cancellations: `hyperfed.<fleet>.w.<alias>.cancel.*`.
    pub(crate) fn cancel_wildcard(&self, alias: &str) -> String {
        format!("hyperfed.{}.w.{alias}.cancel.*", self.0)
    }

    /// One publish that reaches every worker: `hyperfed.<fleet>.fanout.<tool>`.
    pub fn fanout_subject(&self, tool: &str) -> String {
        format!("hyperfed.{}.fanout.{tool}", self.0)
    }

    /// What a worker subscribes to for fan-outs: `hyperfed.<fleet>.fanout.*`.
    pub(crate) fn fanout_wildcard(&self) -> String {
        format!("hyperfed.{}.fanout.*", self.0)
    }

    /// The JetStream KV bucket holding the fleet's registrations: `hyperfed_<fleet>_registry`.
    pub fn registry_bucket(&self) -> String {
        format!("hyperfed_{}_registry", self.0)
    }

    /// The KV bucket holding the fleet's revoked client-token ids: `hyperfed_<fleet>_revoked`.
    pub fn revocation_bucket(&self) -> String {
        format!("hyperfed_{}_revoked", self.0)
    }

    /// The JetStream stream holding the fleet's audit log: `hyperfed_<fleet>_audit`.
    pub fn audit_stream(&self) -> String {
        format!("hyperfed_{}_audit", self.0)
    }

    /// Subject of audit records of one stage: `hyperfed.<fleet>.audit.<stage>`.
    pub fn audit_subject(&self, stage: &str) -> String {
        format!("hyperfed.{}.audit.{stage}", self.0)
    }

    /// Every audit subject of the fleet: `hyperfed.<fleet>.audit.*`.
    pub(crate) fn audit_wildcard(&self) -> String {
        format!("hyperfed.{}.audit.*", self.0)
    }
}

impl std::fmt::Display for FleetName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_refuse_subject_syntax() {
        for bad in ["", "a.b", "a*", ">", "a b", "ä", "a\n", &"x".repeat(65)] {
            assert!(!is_subject_token(bad), "{bad:?}");
            assert!(FleetName::new(bad).is_err());
        }
        for good in ["default", "store-0001", "EU_west", &"x".repeat(64)] {
            assert!(is_subject_token(good), "{good:?}");
        }
    }

    #[test]
    fn subjects_are_per_fleet() {
        let f = FleetName::new("retail").unwrap();
        assert_eq!(f.call_subject("s1"), "hyperfed.retail.w.s1.call");
        assert_eq!(
            f.fanout_subject("fleet_status"),
            "hyperfed.retail.fanout.fleet_status"
        );
        assert_eq!(
            f.cancel_subject("s1", "ab"),
            "hyperfed.retail.w.s1.cancel.ab"
        );
        assert_eq!(f.registry_bucket(), "hyperfed_retail_registry");
    }
}
