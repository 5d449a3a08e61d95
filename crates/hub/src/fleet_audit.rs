//! The fleet-wide audit trail of hub replicas on NATS (issue #11): every record a replica
//! writes to its own database is also stored in the fleet's JetStream audit stream, its
//! `started` stage before the action is forwarded (a replica that cannot store it refuses the
//! action) and its `completed` stage once the outcome is known. Any replica reads the whole
//! fleet's trail back from the stream, so `GET /v1/audit` answers the same on every replica
//! and a replica that dies loses nothing it acknowledged.

use std::collections::HashMap;

use axum::body::Bytes;
use hyperfed_nats::{AuditConfig, AuditLog, AuditStage, FleetName, NatsConnection};

use crate::audit::AuditEntry;
use crate::error::HubError;

/// Most stream messages one audit query reads (the newest ones): about half as many records.
const READ_WINDOW: u64 = 20_000;

/// A replica's handle on the fleet's audit stream.
pub(crate) struct FleetAudit {
    log: AuditLog,
    /// This replica's stable id (kept in its database), so record ids are unique fleet-wide
    /// and a record completed after a restart still matches its `started` stage.
    replica: String,
}

fn unavailable(e: impl std::fmt::Display) -> HubError {
    HubError::Storage(format!(
        "the fleet's audit stream on NATS is unavailable: {e}"
    ))
}

impl FleetAudit {
    /// Opens (or creates) the fleet's audit stream.
    pub(crate) async fn open(
        conn: &NatsConnection,
        fleet: &FleetName,
        replica: String,
    ) -> Result<Self, HubError> {
        let log = AuditLog::open(conn, fleet, AuditConfig::default())
            .await
            .map_err(|e| HubError::Config(format!("NATS: {e}")))?;
        Ok(FleetAudit { log, replica })
    }

    fn record_id(&self, entry: &AuditEntry) -> String {
        format!("{}-{}", self.replica, entry.id)
    }

    async fn append(&self, entry: &AuditEntry, stage: AuditStage) -> Result<(), HubError> {
        let body = serde_json::to_vec(entry).map_err(|e| HubError::Storage(e.to_string()))?;
        self.log
            .append(&self.record_id(entry), stage, Bytes::from(body))
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// Stores the `started` stage of a record; the stream has acknowledged it on `Ok`.
    pub(crate) async fn started(&self, entry: &AuditEntry) -> Result<(), HubError> {
        self.append(entry, AuditStage::Started).await
    }

    /// Stores the `completed` stage of a record whose outcome is known (a pending record's
    /// interim updates, such as its task tag, stay in the replica's own database).
    pub(crate) async fn completed(&self, entry: &AuditEntry) -> Result<(), HubError> {
        if entry.outcome == "pending" {
            return Ok(());
        }
        self.append(entry, AuditStage::Completed).await
    }

    /// One page of the fleet's trail, as `audit::page` pages a replica's own: ids are the
    /// stream sequence of each record's first stage (unique and ordered fleet-wide).
    pub(crate) async fn page(
        &self,
        before: Option<u64>,
        limit: usize,
        keep: impl Fn(&AuditEntry) -> bool,
    ) -> Result<(Vec<AuditEntry>, Option<u64>), HubError> {
        let end = match before {
            Some(b) => b,
            None => self.log.last_sequence().await.map_err(unavailable)? + 1,
        };
        // The window ends at `before`; a record's completion may come later, so read past it.
        let from = end.saturating_sub(READ_WINDOW).max(1);
        let read = usize::try_from(READ_WINDOW * 2).unwrap_or(usize::MAX);
        let entries = self.log.read(from, read).await.map_err(unavailable)?;
        // Fold the stages of each record: the latest stage's body, the first stage's sequence.
        let mut records: HashMap<String, (u64, AuditEntry)> = HashMap::new();
        for e in entries {
            let Ok(mut entry) = serde_json::from_slice::<AuditEntry>(&e.body) else {
                continue;
            };
            match records.get_mut(&e.record_id) {
                Some((first, kept)) => {
                    entry.id = *first;
                    *kept = entry;
                }
                None => {
                    entry.id = e.seq;
                    records.insert(e.record_id, (e.seq, entry));
                }
            }
        }
        let mut all: Vec<AuditEntry> = records
            .into_values()
            .map(|(_, e)| e)
            .filter(|e| e.id < end)
            .collect();
        all.sort_by_key(|e| std::cmp::Reverse(e.id));
        let mut out = Vec::new();
        let mut more = None;
        for entry in all {
            if !keep(&entry) {
                continue;
            }
            if out.len() >= limit {
                more = out.last().map(|e: &AuditEntry| e.id);
                break;
            }
            out.push(entry);
        }
        out.reverse();
        Ok((out, more))
    }
}

/// Reads the newest `limit` records of a fleet's audit trail (all kept ones when `None`) from
/// its JetStream stream, oldest first; works while the hub replicas run.
pub async fn read_fleet(
    options: &hyperfed_nats::NatsOptions,
    fleet: &FleetName,
    limit: Option<usize>,
) -> Result<Vec<AuditEntry>, HubError> {
    let conn = NatsConnection::connect(options)
        .await
        .map_err(|e| HubError::Config(format!("NATS: {e}")))?;
    let reader = FleetAudit::open(&conn, fleet, "reader".into()).await?;
    let (entries, _) = reader
        .page(None, limit.unwrap_or(usize::MAX), |_| true)
        .await?;
    Ok(entries)
}
