//! Simulator configuration: which cluster to generate, the credentials it accepts, task
//! timing, and the fault-injection knobs (also changeable at run time via [`FaultControl`]).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::archetype::Archetype;

/// Injected misbehaviour, applied to every `/rest/v1` request (never to `/_sim`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Fixed delay added before each answer, in milliseconds.
    pub latency_ms: u64,
    /// Extra random delay in `0..=jitter_ms` milliseconds.
    pub jitter_ms: u64,
    /// Probability (0..1) that a request is answered 500 or 503 instead of being served.
    pub error_rate: f64,
    /// Idle lifetime of a session in milliseconds; `None` means sessions never expire.
    pub session_ttl_ms: Option<u64>,
    /// When true the cluster is "down": every `/rest/v1` request has its connection closed
    /// without an answer.
    pub down: bool,
    /// Probability (0..1) that a request has its connection closed without an answer.
    #[serde(alias = "drop_connections")]
    pub drop_connections_rate: f64,
    /// When true, guests ignore ACPI SHUTDOWN (like many Windows VMs): the request is
    /// accepted with an empty task tag and the VM keeps running.
    pub ignore_acpi: bool,
}

impl Faults {
    /// Checks that the rates are within 0..=1.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("error_rate", self.error_rate),
            ("drop_connections_rate", self.drop_connections_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{name} must be between 0 and 1, got {v}"));
            }
        }
        Ok(())
    }
}

/// Shared, run-time adjustable fault settings of one running simulator.
#[derive(Debug, Clone, Default)]
pub struct FaultControl {
    inner: Arc<RwLock<Faults>>,
}

impl FaultControl {
    /// Creates a control holding `faults`.
    pub fn new(faults: Faults) -> Self {
        FaultControl {
            inner: Arc::new(RwLock::new(faults)),
        }
    }

    /// Returns the current fault settings.
    pub fn get(&self) -> Faults {
        self.inner.read().clone()
    }

    /// Replaces the fault settings (takes effect on the next request).
    pub fn set(&self, faults: Faults) {
        *self.inner.write() = faults;
    }

    /// Changes the fault settings in place.
    pub fn update(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.inner.write());
    }

    /// Clears every fault.
    pub fn clear(&self) {
        self.set(Faults::default());
    }
}

/// Everything [`crate::Simulator::start`] needs to build and serve one simulated cluster.
#[derive(Clone)]
pub struct SimConfig {
    /// Cluster shape; `None` picks one from the seed with [`Archetype::pick`].
    pub archetype: Option<Archetype>,
    /// Generation seed: same archetype and seed give the same cluster.
    pub seed: u64,
    /// Accepted user name (default `admin`).
    pub username: String,
    /// Accepted password (default `admin`); never logged.
    pub password: String,
    /// Serve HTTPS with a generated self-signed certificate instead of HTTP.
    pub tls: bool,
    /// Initial fault settings.
    pub faults: Faults,
    /// How long a task takes from QUEUED to COMPLETE (default 1 s).
    pub task_duration: Duration,
    /// How long an ACPI SHUTDOWN takes to reach SHUTOFF (default 2 s).
    pub shutdown_duration: Duration,
    /// Overrides the archetype's VM count (e.g. 2,000 for benchmarks).
    pub vm_count: Option<usize>,
    /// Status for a missing/invalid/expired session: 401 (default) or 503 (schema-faithful).
    pub session_error_status: u16,
    /// Sessions kept at most; beyond it the least-recently-used one is dropped.
    pub session_limit: usize,
    /// Serve this file at `/rest/v1/openapi.json` instead of the generated document.
    pub openapi_file: Option<PathBuf>,
    /// SMB shares as a directory: `smb://host/share/path` maps to `<smb_root>/host/share/path`
    /// (exports write a VM definition there, imports read it). `None`: exports succeed
    /// without writing, imports find nothing.
    pub smb_root: Option<PathBuf>,
}

impl SimConfig {
    /// A configuration with the documented defaults (`admin`/`admin`, HTTP, no faults,
    /// 1 s tasks, 2 s ACPI shutdown, 401 on bad sessions, 100 sessions).
    pub fn new(archetype: Option<Archetype>, seed: u64) -> Self {
        SimConfig {
            archetype,
            seed,
            username: "admin".to_owned(),
            password: "admin".to_owned(),
            tls: false,
            faults: Faults::default(),
            task_duration: Duration::from_secs(1),
            shutdown_duration: Duration::from_secs(2),
            vm_count: None,
            session_error_status: 401,
            session_limit: 100,
            openapi_file: None,
            smb_root: None,
        }
    }

    /// The archetype this configuration generates (the explicit one, or the seeded pick).
    pub fn effective_archetype(&self) -> Archetype {
        self.archetype.unwrap_or_else(|| Archetype::pick(self.seed))
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig::new(None, 0)
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("archetype", &self.archetype)
            .field("seed", &self.seed)
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .field("tls", &self.tls)
            .field("faults", &self.faults)
            .field("task_duration", &self.task_duration)
            .field("shutdown_duration", &self.shutdown_duration)
            .field("vm_count", &self.vm_count)
            .field("session_error_status", &self.session_error_status)
            .field("session_limit", &self.session_limit)
            .field("openapi_file", &self.openapi_file)
            .field("smb_root", &self.smb_root)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_password() {
        let mut c = SimConfig::new(None, 1);
        c.password = "hunter2-secret".into();
        let s = format!("{c:?}");
        assert!(!s.contains("hunter2"), "{s}");
    }

    #[test]
    fn faults_json_accepts_alias_and_rejects_bad_rates() {
        let f: Faults = serde_json::from_str(r#"{"latency_ms":5,"drop_connections":0.5}"#).unwrap();
        assert_eq!(f.latency_ms, 5);
        assert_eq!(f.drop_connections_rate, 0.5);
        assert!(f.validate().is_ok());
        let bad = Faults {
            error_rate: 1.5,
            ..Faults::default()
        };
        assert!(bad.validate().is_err());
    }
}
