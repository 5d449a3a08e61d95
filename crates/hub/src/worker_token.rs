//! The token a joined worker presents on heartbeats and leave. It is signed with a random key
//! of this hub run (not with a key derived from the join secret, which every worker holds) and
//! names the join it was issued for, so one secret holder can neither forge another worker's
//! token nor keep another registration alive.

use std::time::Duration;

use hyperfed_protocol::join::unix_now;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

const AUDIENCE: &str = "hyperfed-worker";

/// Claims of a worker token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct WorkerTokenClaims {
    /// The alias.
    pub sub: String,
    /// The cluster uuid.
    pub cid: String,
    /// The join this token belongs to (random per join).
    pub jid: String,
    /// Always `hyperfed-worker`.
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
}

/// Issues and verifies worker tokens with a key only this hub run knows.
pub(crate) struct WorkerTokens {
    key: [u8; 32],
}

/// A fresh random join id (hex).
pub(crate) fn new_join_id() -> String {
    let mut id = [0u8; 16];
    rand::rng().fill_bytes(&mut id);
    id.iter().map(|b| format!("{b:02x}")).collect()
}

impl WorkerTokens {
    /// A signer with a fresh random key.
    pub(crate) fn new() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        WorkerTokens { key }
    }

    /// A token for the join `jid` of `alias` (cluster `cid`), valid for `ttl`.
    pub(crate) fn issue(&self, alias: &str, cid: &str, jid: &str, ttl: Duration) -> String {
        let now = unix_now();
        let claims = WorkerTokenClaims {
            sub: alias.to_owned(),
            cid: cid.to_owned(),
            jid: jid.to_owned(),
            aud: AUDIENCE.to_owned(),
            exp: now.saturating_add(ttl.as_secs()),
            iat: now,
        };
        // HS256 over a serde struct cannot fail; an empty token is never accepted.
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.key),
        )
        .unwrap_or_default()
    }

    /// The claims of `token` if this hub run signed it and it has not expired.
    pub(crate) fn verify(&self, token: &str) -> Option<WorkerTokenClaims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        jsonwebtoken::decode::<WorkerTokenClaims>(
            token,
            &DecodingKey::from_secret(&self.key),
            &validation,
        )
        .ok()
        .map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_this_run_and_join() {
        let tokens = WorkerTokens::new();
        let t = tokens.issue("c1", "uuid-1", "j1", Duration::from_secs(60));
        let c = tokens.verify(&t).unwrap();
        assert_eq!(
            (c.sub.as_str(), c.cid.as_str(), c.jid.as_str()),
            ("c1", "uuid-1", "j1")
        );
        assert!(
            WorkerTokens::new().verify(&t).is_none(),
            "another run's key"
        );
        // A token minted with the join secret (what any secret holder can do) is refused.
        let secret = hyperfed_protocol::Secret::new("s");
        let forged = hyperfed_protocol::WorkerClaims::issue(
            &secret,
            "c1",
            "uuid-1",
            Duration::from_secs(60),
        );
        assert!(tokens.verify(&forged).is_none());
        assert_ne!(new_join_id(), new_join_id());
    }
}
