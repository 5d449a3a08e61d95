//! The join protocol: a worker proves it knows the shared secret without sending it, and
//! the hub and worker then authenticate each other with short-lived JWTs signed with keys
//! derived from that secret.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::secret::{Secret, ct_eq};

type HmacSha256 = Hmac<Sha256>;

/// Largest clock difference accepted between a worker's proof and the hub.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Why a join or a token was refused. The text never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The proof does not match the shared secret.
    #[error("join proof does not match the shared secret")]
    BadProof,
    /// The proof's timestamp is too far from the hub's clock.
    #[error("join proof is stale or from the future (clock skew over {0} s)")]
    Stale(u64),
    /// The nonce was already used.
    #[error("join proof was already used (replay)")]
    Replayed,
    /// A field of the request is malformed.
    #[error("invalid join request: {0}")]
    Invalid(String),
    /// A JWT was missing, expired, for another audience or badly signed.
    #[error("invalid token: {0}")]
    Token(String),
}

/// Prefix of the cluster uuid a worker joins with while its cluster has never answered, so the
/// hub lists the cluster (as unreachable) instead of not at all. The hub lets the cluster's real
/// uuid replace such a registration under the same alias.
pub const PENDING_CLUSTER_PREFIX: &str = "pending-";

/// The stand-in cluster uuid of a worker at `worker_url` whose cluster has not answered yet.
pub fn pending_cluster_uuid(worker_url: &str) -> String {
    use sha2::Digest as _;
    let digest = Sha256::digest(worker_url.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{PENDING_CLUSTER_PREFIX}{hex}")
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Derives a 32-byte key for one purpose from the shared secret, so the secret itself signs nothing.
pub fn derive_key(secret: &Secret, purpose: &str) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable_hmac());
    mac.update(b"hyperfed/v1/");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

// HMAC accepts keys of any length, so construction cannot fail.
fn unreachable_hmac() -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(&[0u8; 32]).unwrap_or_else(|_| unreachable!())
}

/// A worker's request to join a hub, carrying an HMAC proof of the shared secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct JoinRequest {
    /// Requested alias (already normalised by the worker; the hub normalises again).
    pub alias: String,
    /// The cluster's uuid (its identity: a re-join with the same uuid replaces the old entry).
    pub cluster_uuid: String,
    /// The cluster's clusterName.
    pub cluster_name: String,
    /// Where the hub reaches the worker's MCP endpoint, e.g. `http://127.0.0.1:7801/mcp`.
    pub worker_url: String,
    /// Unix seconds when the proof was made.
    pub timestamp: u64,
    /// Random, single-use.
    pub nonce: String,
    /// base64url(HMAC-SHA256(derive_key(secret, "join"), canonical form)).
    pub proof: String,
}

impl JoinRequest {
    /// Builds and signs a join request.
    pub fn sign(
        secret: &Secret,
        alias: &str,
        cluster_uuid: &str,
        cluster_name: &str,
        worker_url: &str,
    ) -> Self {
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        let mut req = JoinRequest {
            alias: alias.to_owned(),
            cluster_uuid: cluster_uuid.to_owned(),
            cluster_name: cluster_name.to_owned(),
            worker_url: worker_url.to_owned(),
            timestamp: unix_now(),
            nonce: URL_SAFE_NO_PAD.encode(nonce),
            proof: String::new(),
        };
        req.proof = URL_SAFE_NO_PAD.encode(req.mac(secret));
        req
    }

    fn canonical(&self) -> String {
        // Length-prefixed fields: no separator ambiguity.
        let mut out = String::new();
        for f in [
            self.alias.as_str(),
            self.cluster_uuid.as_str(),
            self.cluster_name.as_str(),
            self.worker_url.as_str(),
            &self.timestamp.to_string(),
            self.nonce.as_str(),
        ] {
            out.push_str(&f.len().to_string());
            out.push(':');
            out.push_str(f);
            out.push('\n');
        }
        out
    }

    fn mac(&self, secret: &Secret) -> [u8; 32] {
        let key = derive_key(secret, "join");
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&key).unwrap_or_else(|_| unreachable_hmac());
        mac.update(self.canonical().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Checks size limits, the clock skew and the proof; the caller checks the nonce for replay.
    pub fn verify(&self, secret: &Secret, now: u64) -> Result<(), JoinError> {
        for (name, value, max) in [
            ("alias", &self.alias, 64),
            ("cluster_uuid", &self.cluster_uuid, 128),
            ("cluster_name", &self.cluster_name, 256),
            ("worker_url", &self.worker_url, 512),
            ("nonce", &self.nonce, 64),
            ("proof", &self.proof, 64),
        ] {
            if value.len() > max {
                return Err(JoinError::Invalid(format!(
                    "{name} is longer than {max} bytes"
                )));
            }
        }
        if self.nonce.len() < 16 {
            return Err(JoinError::Invalid("nonce is shorter than 16 bytes".into()));
        }
        let skew = now.abs_diff(self.timestamp);
        if skew > MAX_CLOCK_SKEW.as_secs() {
            return Err(JoinError::Stale(MAX_CLOCK_SKEW.as_secs()));
        }
        let expected = URL_SAFE_NO_PAD.encode(self.mac(secret));
        if ct_eq(expected.as_bytes(), self.proof.as_bytes()) {
            Ok(())
        } else {
            Err(JoinError::BadProof)
        }
    }
}

/// The hub's answer to a successful join.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct JoinResponse {
    /// The alias the cluster was registered under.
    pub alias: String,
    /// JWT the worker presents on heartbeats (`Authorization: Bearer`).
    pub worker_token: String,
    /// How often the hub expects a heartbeat.
    pub heartbeat_interval_ms: u64,
}

/// The hub's answer to a heartbeat: a renewed worker token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct HeartbeatResponse {
    /// A fresh worker token.
    pub worker_token: String,
}

/// Claims of the token the hub gives a joined worker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkerClaims {
    /// The alias.
    pub sub: String,
    /// The cluster uuid.
    pub cid: String,
    /// Always "hyperfed-worker".
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
}

/// Claims of the token the hub presents on its MCP calls to a worker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallClaims {
    /// Always "hyperfed-hub".
    pub sub: String,
    /// The cluster uuid of the worker being called.
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
}

const WORKER_AUD: &str = "hyperfed-worker";

impl WorkerClaims {
    /// Signs a worker token with `derive_key(secret, "worker-token")`.
    pub fn issue(secret: &Secret, alias: &str, cluster_uuid: &str, ttl: Duration) -> String {
        let now = unix_now();
        let claims = WorkerClaims {
            sub: alias.to_owned(),
            cid: cluster_uuid.to_owned(),
            aud: WORKER_AUD.to_owned(),
            exp: now + ttl.as_secs(),
            iat: now,
        };
        encode(&claims, &derive_key(secret, "worker-token"))
    }

    /// Verifies a worker token's signature, expiry and audience.
    pub fn verify(secret: &Secret, token: &str) -> Result<Self, JoinError> {
        decode(token, &derive_key(secret, "worker-token"), WORKER_AUD)
    }
}

impl CallClaims {
    /// Signs a hub-to-worker call token for one cluster with `derive_key(secret, "hub-call")`.
    pub fn issue(secret: &Secret, cluster_uuid: &str, ttl: Duration) -> String {
        let now = unix_now();
        let claims = CallClaims {
            sub: "hyperfed-hub".to_owned(),
            aud: cluster_uuid.to_owned(),
            exp: now + ttl.as_secs(),
            iat: now,
        };
        encode(&claims, &derive_key(secret, "hub-call"))
    }

    /// Verifies a hub call token for this worker's cluster.
    pub fn verify(secret: &Secret, cluster_uuid: &str, token: &str) -> Result<Self, JoinError> {
        decode(token, &derive_key(secret, "hub-call"), cluster_uuid)
    }
}

fn encode<T: Serialize>(claims: &T, key: &[u8; 32]) -> String {
    // HS256 over a serde struct cannot fail; fall back to an unusable token if it ever did.
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(key),
    )
    .unwrap_or_default()
}

fn decode<T: serde::de::DeserializeOwned>(
    token: &str,
    key: &[u8; 32],
    audience: &str,
) -> Result<T, JoinError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[audience]);
    validation.leeway = 5;
    jsonwebtoken::decode::<T>(token, &DecodingKey::from_secret(key), &validation)
        .map(|d| d.claims)
        .map_err(|e| JoinError::Token(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new("correct horse battery staple")
    }

    #[test]
    fn proof_verifies_and_binds_every_field() {
        let req = JoinRequest::sign(&secret(), "dc1", "uuid-1", "DC1", "http://127.0.0.1:1/mcp");
        assert!(req.verify(&secret(), unix_now()).is_ok());
        assert!(!serde_json::to_string(&req).unwrap().contains("horse"));
        assert_eq!(
            req.verify(&Secret::new("wrong"), unix_now()),
            Err(JoinError::BadProof)
        );
        let mut tampered = req.clone();
        tampered.worker_url = "http://127.0.0.1:2/mcp".into();
        assert_eq!(
            tampered.verify(&secret(), unix_now()),
            Err(JoinError::BadProof)
        );
        assert!(matches!(
            req.verify(&secret(), unix_now() + 3600),
            Err(JoinError::Stale(_))
        ));
    }

    #[test]
    fn tokens_round_trip_and_are_bound() {
        let t = WorkerClaims::issue(&secret(), "dc1", "u1", Duration::from_secs(60));
        assert_eq!(WorkerClaims::verify(&secret(), &t).unwrap().sub, "dc1");
        assert!(WorkerClaims::verify(&Secret::new("x"), &t).is_err());
        let c = CallClaims::issue(&secret(), "u1", Duration::from_secs(60));
        assert!(CallClaims::verify(&secret(), "u1", &c).is_ok());
        assert!(CallClaims::verify(&secret(), "u2", &c).is_err());
        // A worker token is not a call token.
        assert!(CallClaims::verify(&secret(), "u1", &t).is_err());
    }
}
