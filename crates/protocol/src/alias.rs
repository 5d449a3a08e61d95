//! Cluster aliases: the short, stable names that prefix a cluster's tools on the hub.

use serde::{Deserialize, Serialize};

/// Why a requested alias cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasError {
    /// Nothing usable was left after normalisation.
    #[error("alias {0:?} has no letters or digits to build an alias from")]
    Empty(String),
}

/// A cluster alias matching `^[a-z0-9][a-z0-9-]{0,15}$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClusterAlias(String);

impl ClusterAlias {
    /// Longest alias allowed.
    pub const MAX_LEN: usize = 16;

    /// Normalises any name (a `--name` flag or a clusterName) into an alias.
    ///
    /// Lower-cases, turns every run of other characters into one `-`, drops leading and
    /// trailing dashes and cuts to 16 characters.
    pub fn normalise(input: &str) -> Result<Self, AliasError> {
        let mut out = String::with_capacity(Self::MAX_LEN);
        let mut dash = false;
        for c in input.chars() {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                if dash && !out.is_empty() {
                    out.push('-');
                }
                dash = false;
                out.push(c);
            } else {
                dash = true;
            }
            if out.len() >= Self::MAX_LEN {
                break;
            }
        }
        out.truncate(Self::MAX_LEN);
        while out.ends_with('-') {
            out.pop();
        }
        if out.is_empty() {
            return Err(AliasError::Empty(input.chars().take(64).collect()));
        }
        Ok(ClusterAlias(out))
    }

    /// Accepts only a string that is already a valid alias.
    pub fn parse_exact(input: &str) -> Option<Self> {
        Self::is_valid(input).then(|| ClusterAlias(input.to_owned()))
    }

    /// True when `s` matches `^[a-z0-9][a-z0-9-]{0,15}$`.
    pub fn is_valid(s: &str) -> bool {
        let b = s.as_bytes();
        !b.is_empty()
            && b.len() <= Self::MAX_LEN
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
    }

    /// The alias text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClusterAlias {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ClusterAlias {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        if Self::is_valid(&value) {
            Ok(ClusterAlias(value))
        } else {
            Err(format!(
                "invalid cluster alias {value:?}: expected ^[a-z0-9][a-z0-9-]{{0,15}}$"
            ))
        }
    }
}

impl From<ClusterAlias> for String {
    fn from(value: ClusterAlias) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalises_cluster_names() {
        assert_eq!(
            ClusterAlias::normalise("Edge Site #12").unwrap().as_str(),
            "edge-site-12"
        );
        assert_eq!(ClusterAlias::normalise("--DC1--").unwrap().as_str(), "dc1");
        assert_eq!(
            ClusterAlias::normalise("a-very-long-cluster-name-indeed")
                .unwrap()
                .as_str(),
            "a-very-long-clus"
        );
        assert!(ClusterAlias::normalise("***").is_err());
    }

    proptest! {
        #[test]
        fn normalised_aliases_are_always_valid(s in ".{0,80}") {
            if let Ok(a) = ClusterAlias::normalise(&s) {
                prop_assert!(ClusterAlias::is_valid(a.as_str()));
            }
        }
    }
}
