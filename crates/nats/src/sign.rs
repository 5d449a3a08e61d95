//! Keys and MACs. Registrations, calls, cancellations, progress messages and replies each carry
//! an HMAC-SHA256 made with a key derived from the fleet's join secret, so NATS credentials alone
//! can neither register a cluster, call one, nor answer for one. Replay is refused by timestamps
//! within a skew window plus a bounded memory of the ids seen inside it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use hyperfed_protocol::Secret;
use hyperfed_protocol::join::{MAX_CLOCK_SKEW, derive_key};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::subject::FleetName;

type HmacSha256 = Hmac<Sha256>;

/// Header: the request id (32 hex digits), on calls, cancellations, progress and replies.
pub const HEADER_ID: &str = "Hyperfed-Id";
/// Header: Unix milliseconds when a call was signed.
pub const HEADER_TS: &str = "Hyperfed-Ts";
/// Header: the subject a worker publishes progress of this call to.
pub const HEADER_PROGRESS: &str = "Hyperfed-Progress";
/// Header: the alias of the cluster that answers (replies and progress).
pub const HEADER_ALIAS: &str = "Hyperfed-Alias";
/// Header: base64url HMAC-SHA256 over the message's canonical form.
pub const HEADER_SIG: &str = "Hyperfed-Sig";

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The largest accepted distance between a signer's clock and the verifier's, in ms.
pub(crate) const SKEW_MS: u64 = MAX_CLOCK_SKEW.as_secs() * 1000;

/// 128 random bits as 32 hex digits: request ids, nonces and sessions.
pub(crate) fn random_id() -> (u128, String) {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    let v = u128::from_be_bytes(b);
    (v, format!("{v:032x}"))
}

/// Parses an id made by [`random_id`].
pub(crate) fn parse_id(s: &str) -> Option<u128> {
    (s.len() == 32)
        .then(|| u128::from_str_radix(s, 16).ok())
        .flatten()
}

/// sha256 hex of a tools/list result (or any bytes): what registrations carry as `tools_hash`.
pub fn tools_hash(tools_json: &[u8]) -> String {
    let digest = Sha256::digest(tools_json);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8; 32]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail; the fallback keeps the path panic-free.
    <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| {
        <HmacSha256 as Mac>::new_from_slice(&[0u8; 32]).unwrap_or_else(|_| unreachable!())
    })
}

/// MAC over length-prefixed parts, so no two different part lists share a canonical form.
fn mac_parts(key: &[u8; 32], parts: &[&[u8]]) -> HmacSha256 {
    let mut m = hmac(key);
    for p in parts {
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    m
}

/// base64url MAC of `parts`.
pub(crate) fn sign(key: &[u8; 32], parts: &[&[u8]]) -> String {
    URL_SAFE_NO_PAD.encode(mac_parts(key, parts).finalize().into_bytes())
}

/// True when `sig` is the base64url MAC of `parts` (compared in constant time).
pub(crate) fn verify(key: &[u8; 32], parts: &[&[u8]], sig: &str) -> bool {
    match URL_SAFE_NO_PAD.decode(sig) {
        Ok(raw) => mac_parts(key, parts).verify_slice(&raw).is_ok(),
        Err(_) => false,
    }
}

/// The keys of one fleet, derived from its join secret; Debug is redacted.
#[derive(Clone)]
pub struct FleetKeys {
    fleet: FleetName,
    registration: [u8; 32],
    call: [u8; 32],
    reply: [u8; 32],
}

impl std::fmt::Debug for FleetKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FleetKeys({}, [redacted])", self.fleet)
    }
}

impl FleetKeys {
    /// Derives the fleet's keys from the join secret (each purpose and fleet gets its own key).
    pub fn new(secret: &Secret, fleet: &FleetName) -> Self {
        let f = fleet.as_str();
        FleetKeys {
            fleet: fleet.clone(),
            registration: derive_key(secret, &format!("nats/registration/{f}")),
            call: derive_key(secret, &format!("nats/call/{f}")),
            reply: derive_key(secret, &format!("nats/reply/{f}")),
        }
    }

    /// The fleet these keys belong to.
    pub fn fleet(&self) -> &FleetName {
        &self.fleet
    }

    pub(crate) fn registration_key(&self) -> &[u8; 32] {
        &self.registration
    }

    pub(crate) fn call_key(&self) -> &[u8; 32] {
        &self.call
    }

    /// The key one registration session signs its replies with.
    pub(crate) fn session_key(&self, alias: &str, session: &str) -> SessionKey {
        let mut m = mac_parts(&self.reply, &[alias.as_bytes(), session.as_bytes()]);
        m.update(b"session");
        SessionKey(m.finalize().into_bytes().into())
    }
}

/// The key a worker signs replies and progress with for one registration session; Debug is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey(pub(crate) [u8; 32]);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey([redacted])")
    }
}

/// Why a signed message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Signature missing or wrong: made without the join secret.
    Forged,
    /// Timestamp outside the skew window.
    Stale,
    /// Id or nonce already used (or a registration older than the one accepted).
    Replayed,
    /// Missing or malformed fields.
    Malformed,
    /// The replay memory is full of ids still inside the window.
    Overloaded,
}

/// Most ids remembered at once by one [`ReplayGuard`].
const REPLAY_CAPACITY: usize = 1_000_000;

/// Remembers ids seen within the skew window, in time buckets that are dropped whole.
pub(crate) struct ReplayGuard {
    buckets: Mutex<VecDeque<(u64, HashSet<u128>)>>,
}

/// Width of one bucket of the replay memory.
const BUCKET_MS: u64 = 10_000;

impl ReplayGuard {
    pub(crate) fn new() -> Self {
        ReplayGuard {
            buckets: Mutex::new(VecDeque::new()),
        }
    }

    /// Accepts `id` signed at `ts_ms` once: refuses stale timestamps and ids already seen.
    pub(crate) fn check(&self, id: u128, ts_ms: u64, now_ms: u64) -> Result<(), Refusal> {
        if now_ms.abs_diff(ts_ms) > SKEW_MS {
            return Err(Refusal::Stale);
        }
        let Ok(mut buckets) = self.buckets.lock() else {
            return Err(Refusal::Overloaded);
        };
        // An id accepted now can be presented again until its timestamp leaves the window:
        // at most 2 x skew from now. Older buckets can go.
        let oldest = now_ms.saturating_sub(2 * SKEW_MS + BUCKET_MS) / BUCKET_MS;
        while buckets.front().is_some_and(|(b, _)| *b < oldest) {
            buckets.pop_front();
        }
        if buckets.iter().any(|(_, ids)| ids.contains(&id)) {
            return Err(Refusal::Replayed);
        }
        let total: usize = buckets.iter().map(|(_, ids)| ids.len()).sum();
        if total >= REPLAY_CAPACITY {
            return Err(Refusal::Overloaded);
        }
        let current = now_ms / BUCKET_MS;
        match buckets.back_mut() {
            Some((b, ids)) if *b == current => {
                ids.insert(id);
            }
            _ => buckets.push_back((current, HashSet::from([id]))),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_bind_every_part_and_key() {
        let keys = FleetKeys::new(&Secret::new("s3cret"), &FleetName::new("f").unwrap());
        let sig = sign(keys.call_key(), &[b"a", b"bc"]);
        assert!(verify(keys.call_key(), &[b"a", b"bc"], &sig));
        assert!(!verify(keys.call_key(), &[b"ab", b"c"], &sig));
        assert!(!verify(keys.registration_key(), &[b"a", b"bc"], &sig));
        let other = FleetKeys::new(&Secret::new("s3cret"), &FleetName::new("g").unwrap());
        assert!(!verify(other.call_key(), &[b"a", b"bc"], &sig));
        assert!(!verify(keys.call_key(), &[b"a", b"bc"], "not base64!"));
        assert_ne!(keys.session_key("a", "s1"), keys.session_key("a", "s2"));
        assert!(!format!("{keys:?}").contains("s3cret"));
    }

    #[test]
    fn replay_guard_refuses_reuse_and_stale() {
        let g = ReplayGuard::new();
        let now = 1_000_000_000;
        assert_eq!(g.check(1, now, now), Ok(()));
        assert_eq!(g.check(1, now, now + 5), Err(Refusal::Replayed));
        assert_eq!(g.check(2, now - SKEW_MS - 1, now), Err(Refusal::Stale));
        assert_eq!(g.check(3, now + SKEW_MS, now), Ok(()));
        // Much later, the old id is forgotten but its timestamp is then stale anyway.
        let later = now + 3 * SKEW_MS;
        assert_eq!(g.check(1, now, later), Err(Refusal::Stale));
        assert_eq!(g.check(1, later, later), Ok(()));
    }

    #[test]
    fn ids_round_trip() {
        let (v, s) = random_id();
        assert_eq!(parse_id(&s), Some(v));
        assert_eq!(parse_id("xyz"), None);
    }
}
