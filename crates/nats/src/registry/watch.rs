//! The hub side of the registry: a verified watch of the KV bucket and the live map it keeps.

use super::*;

/// A change in the fleet, as seen by one hub replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryEvent {
    /// A cluster joined, or its worker restarted (new session): (re)connect and list its tools.
    Joined(Registration),
    /// Same session, new tools hash: list its tools again.
    ToolsChanged(Registration),
    /// The worker removed its registration.
    Left {
        /// The alias.
        alias: String,
    },
    /// Heartbeats stopped for longer than the expiry (or the entry was purged).
    Expired {
        /// The alias.
        alias: String,
    },
}

struct LiveEntry {
    registration: Registration,
    session_key: SessionKey,
}

/// The verified, live registrations of a fleet, shared by a [`RegistryWatch`] and callers.
#[derive(Clone, Default)]
pub struct LiveRegistrations(Arc<RwLock<HashMap<String, LiveEntry>>>);

impl std::fmt::Debug for LiveRegistrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LiveRegistrations({} live)", self.len())
    }
}

impl LiveRegistrations {
    /// Aliases of all live clusters, sorted.
    pub fn aliases(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .0
            .read()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The live registration of one alias.
    pub fn get(&self, alias: &str) -> Option<Registration> {
        self.0
            .read()
            .ok()
            .and_then(|m| m.get(alias).map(|e| e.registration.clone()))
    }

    /// How many clusters are live.
    pub fn len(&self) -> usize {
        self.0.read().map(|m| m.len()).unwrap_or(0)
    }

    /// True when no cluster is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn session_key(&self, alias: &str) -> Option<SessionKey> {
        self.0
            .read()
            .ok()
            .and_then(|m| m.get(alias).map(|e| e.session_key.clone()))
    }

    fn remove(&self, alias: &str) -> bool {
        self.0
            .write()
            .map(|mut m| m.remove(alias).is_some())
            .unwrap_or(false)
    }
}

/// Counts of registry entries a watch refused, by reason.
#[derive(Debug, Default)]
pub struct RefusalCounts {
    forged: AtomicU64,
    replayed: AtomicU64,
    stale: AtomicU64,
    malformed: AtomicU64,
}

impl RefusalCounts {
    /// Entries whose proof was not made with the fleet's secret.
    pub fn forged(&self) -> u64 {
        self.forged.load(Ordering::Relaxed)
    }

    /// Entries whose nonce was seen before, or older than the accepted one.
    pub fn replayed(&self) -> u64 {
        self.replayed.load(Ordering::Relaxed)
    }

    /// Entries signed outside the clock-skew window.
    pub fn stale(&self) -> u64 {
        self.stale.load(Ordering::Relaxed)
    }

    /// Entries that were not a registration at all.
    pub fn malformed(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }

    fn count(&self, r: Refusal) {
        let c = match r {
            Refusal::Forged => &self.forged,
            Refusal::Replayed => &self.replayed,
            Refusal::Stale => &self.stale,
            Refusal::Malformed | Refusal::Overloaded => &self.malformed,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// One hub replica's view of the fleet registry: verified events and the live map.
pub struct RegistryWatch {
    events: mpsc::UnboundedReceiver<RegistryEvent>,
    live: LiveRegistrations,
    refused: Arc<RefusalCounts>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for RegistryWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RegistryWatch({:?})", self.live)
    }
}

impl Drop for RegistryWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Verifies registry entries in order and keeps the live map.
struct Verifier {
    keys: FleetKeys,
    live: LiveRegistrations,
    nonces: ReplayGuard,
    refused: Arc<RefusalCounts>,
}

impl Verifier {
    fn apply(&self, entry: &kv::Entry) -> Option<RegistryEvent> {
        let alias = entry.key.clone();
        match entry.operation {
            Operation::Delete => self
                .live
                .remove(&alias)
                .then_some(RegistryEvent::Left { alias }),
            Operation::Purge => self
                .live
                .remove(&alias)
                .then_some(RegistryEvent::Expired { alias }),
            Operation::Put => match self.verify(&entry.value, &alias) {
                Ok(event) => event,
                Err(r) => {
                    tracing::warn!(alias = %alias.chars().take(64).collect::<String>(), reason = ?r, "refused a registry entry");
                    self.refused.count(r);
                    None
                }
            },
        }
    }

    fn verify(&self, value: &[u8], key: &str) -> Result<Option<RegistryEvent>, Refusal> {
        let reg: Registration = serde_json::from_slice(value).map_err(|_| Refusal::Malformed)?;
        reg.verify_proof(&self.keys, key)?;
        let nonce = parse_id(&reg.nonce).ok_or(Refusal::Malformed)?;
        self.nonces.check(nonce, reg.timestamp_ms, unix_ms())?;
        let mut map = self.live.0.write().map_err(|_| Refusal::Overloaded)?;
        let event = match map.get(key) {
            Some(old) if old.registration.timestamp_ms > reg.timestamp_ms => {
                return Err(Refusal::Replayed);
            }
            Some(old) if old.registration.session == reg.session => (old.registration.tools_hash
                != reg.tools_hash)
                .then(|| RegistryEvent::ToolsChanged(reg.clone())),
            _ => Some(RegistryEvent::Joined(reg.clone())),
        };
        let session_key = self.keys.session_key(&reg.alias, &reg.session);
        map.insert(
            key.to_owned(),
            LiveEntry {
                registration: reg,
                session_key,
            },
        );
        Ok(event)
    }
}

impl RegistryWatch {
    /// Opens (or creates) the fleet bucket and starts watching it: current entries first, then
    /// every change, each verified with the fleet's secret.
    pub async fn start(
        conn: &NatsConnection,
        fleet: &FleetName,
        secret: &Secret,
        config: RegistryConfig,
    ) -> Result<Self, SetupError> {
        let store = open_bucket(conn, fleet, &config).await?;
        let live = LiveRegistrations::default();
        let refused = Arc::new(RefusalCounts::default());
        let verifier = Verifier {
            keys: FleetKeys::new(secret, fleet),
            live: live.clone(),
            nonces: ReplayGuard::new(),
            refused: refused.clone(),
        };
        let first = store.watch_all().await.map_err(|e| SetupError::JetStream {
            what: format!("watch of KV bucket {}", fleet.registry_bucket()),
            cause: e.to_string(),
        })?;
        // Unbounded: the live map must stay current even when nobody drains the events
        // (heartbeats make none, so only joins, changes and leaves accumulate).
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(watch_loop(store, first, verifier, tx));
        Ok(RegistryWatch {
            events: rx,
            live,
            refused,
            task,
        })
    }

    /// The next verified event; None once the watch has stopped.
    pub async fn next(&mut self) -> Option<RegistryEvent> {
        self.events.recv().await
    }

    /// The live registrations (shared; stays current while the watch runs).
    pub fn live(&self) -> LiveRegistrations {
        self.live.clone()
    }

    /// How many entries were refused, by reason.
    pub fn refused(&self) -> &RefusalCounts {
        &self.refused
    }
}

async fn watch_loop(
    store: kv::Store,
    mut watch: kv::Watch,
    verifier: Verifier,
    tx: mpsc::UnboundedSender<RegistryEvent>,
) {
    let mut last_revision = 0u64;
    loop {
        while let Some(item) = watch.next().await {
            let entry = match item {
                Ok(entry) => entry,
                Err(e) => {
                    tracing::debug!(error = %e, "registry watch error");
                    continue;
                }
            };
            last_revision = last_revision.max(entry.revision);
            if let Some(event) = verifier.apply(&entry)
                && tx.send(event).is_err()
            {
                return;
            }
        }
        // The watch ended (e.g. the consumer was lost): resume after the last revision seen, so
        // nothing is applied twice and nothing is missed.
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            match store.watch_all_from_revision(last_revision + 1).await {
                Ok(w) => {
                    watch = w;
                    break;
                }
                Err(e) => tracing::debug!(error = %e, "registry watch: retrying"),
            }
        }
    }
}
