//! Confirmation tokens for destructive tools: a call without a token gets a preview and a
//! short-lived, single-use token bound to exactly that cluster, tool, target and arguments.

use std::time::{Duration, Instant};

use dashmap::DashMap;
use rand::RngCore as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// What a confirmation token authorises: one action on one target of one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Cluster uuid.
    pub cluster_uuid: String,
    /// Tool name.
    pub tool: String,
    /// Target object uuid (VM, snapshot) or raw request path.
    pub target: String,
    /// Hash of the remaining arguments (everything but `confirm_token` and `wait*`).
    pub args_hash: [u8; 32],
}

impl Binding {
    /// Builds a binding, hashing the arguments in a canonical (key-sorted) form.
    pub fn new(cluster_uuid: &str, tool: &str, target: &str, args: &Map<String, Value>) -> Self {
        let mut filtered = Map::new();
        for (k, v) in args {
            if k == "confirm_token" || k == "wait" || k == "wait_timeout_s" {
                continue;
            }
            filtered.insert(k.clone(), v.clone());
        }
        let mut canonical = String::new();
        write_canonical(&Value::Object(filtered), &mut canonical);
        Binding {
            cluster_uuid: cluster_uuid.to_owned(),
            tool: tool.to_owned(),
            target: target.to_owned(),
            args_hash: Sha256::digest(canonical.as_bytes()).into(),
        }
    }
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for k in keys {
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&m[k], out);
                out.push(',');
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for x in a {
                write_canonical(x, out);
                out.push(',');
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Why a confirmation token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfirmError {
    /// Never issued, already used, or from another worker.
    #[error(
        "confirmation token is unknown or was already used: call again without confirm_token to get a fresh preview and token"
    )]
    Unknown,
    /// Issued, but its lifetime is over.
    #[error(
        "confirmation token expired: call again without confirm_token to get a fresh preview and token"
    )]
    Expired,
    /// Issued for a different action, target or arguments.
    #[error(
        "confirmation token was issued for {issued}, not for this call ({attempted}): a token only confirms the exact action it was previewed for"
    )]
    Mismatch {
        /// What the token was issued for.
        issued: String,
        /// What this call asks for.
        attempted: String,
    },
}

struct Pending {
    binding: Binding,
    expires: Instant,
}

/// Issues and redeems confirmation tokens.
pub struct Confirmations {
    ttl: Duration,
    pending: DashMap<String, Pending>,
}

impl Confirmations {
    /// A store whose tokens live for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Confirmations {
            ttl,
            pending: DashMap::new(),
        }
    }

    /// Token lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a fresh token for `binding`.
    pub fn issue(&self, binding: Binding) -> String {
        self.prune();
        let mut raw = [0u8; 16];
        rand::rng().fill_bytes(&mut raw);
        let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let token = format!("ct_{token}");
        self.pending.insert(
            token.clone(),
            Pending {
                binding,
                expires: Instant::now() + self.ttl,
            },
        );
        token
    }

    /// Redeems `token` for `binding`: succeeds once; a mismatch leaves the token usable.
    pub fn redeem(&self, token: &str, binding: &Binding) -> Result<(), ConfirmError> {
        let entry = self.pending.remove(token);
        let Some((key, pending)) = entry else {
            return Err(ConfirmError::Unknown);
        };
        if pending.expires <= Instant::now() {
            return Err(ConfirmError::Expired);
        }
        if pending.binding != *binding {
            let describe = |b: &Binding| {
                if b.tool == binding.tool && b.target == binding.target {
                    format!("{} on {} with other arguments", b.tool, b.target)
                } else {
                    format!("{} on {}", b.tool, b.target)
                }
            };
            let err = ConfirmError::Mismatch {
                issued: describe(&pending.binding),
                attempted: format!("{} on {}", binding.tool, binding.target),
            };
            self.pending.insert(key, pending);
            return Err(err);
        }
        Ok(())
    }

    fn prune(&self) {
        let now = Instant::now();
        self.pending.retain(|_, p| p.expires > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn token_is_single_use_and_bound() {
        let c = Confirmations::new(Duration::from_secs(60));
        let b = Binding::new("c1", "vm_stop", "vm-a", &args(json!({"vm": "a"})));
        let t = c.issue(b.clone());
        let other = Binding::new("c1", "vm_stop", "vm-b", &args(json!({"vm": "b"})));
        assert!(matches!(
            c.redeem(&t, &other),
            Err(ConfirmError::Mismatch { .. })
        ));
        let other_action = Binding::new("c1", "vm_reset", "vm-a", &args(json!({"vm": "a"})));
        assert!(matches!(
            c.redeem(&t, &other_action),
            Err(ConfirmError::Mismatch { .. })
        ));
        // confirm_token and wait do not change the binding.
        let same = Binding::new(
            "c1",
            "vm_stop",
            "vm-a",
            &args(json!({"vm": "a", "confirm_token": t, "wait": false})),
        );
        assert_eq!(c.redeem(&t, &same), Ok(()));
        assert_eq!(c.redeem(&t, &same), Err(ConfirmError::Unknown));
    }

    #[test]
    fn expired_token_is_refused() {
        let c = Confirmations::new(Duration::ZERO);
        let b = Binding::new("c1", "vm_stop", "vm-a", &Map::new());
        let t = c.issue(b.clone());
        assert_eq!(c.redeem(&t, &b), Err(ConfirmError::Expired));
    }

    #[test]
    fn argument_order_does_not_matter() {
        let a = Binding::new("c", "t", "x", &args(json!({"a": 1, "b": {"y": 2, "x": 1}})));
        let b = Binding::new("c", "t", "x", &args(json!({"b": {"x": 1, "y": 2}, "a": 1})));
        assert_eq!(a, b);
    }
}
