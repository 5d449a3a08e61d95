//! The fleet's audit log as a JetStream stream: a record's `started` entry is stored (acked,
//! replicated when the stream has replicas) before the action is forwarded and its `completed`
//! entry after. `Nats-Msg-Id` makes a retried append a no-op, so two hub replicas or a retry
//! after a lost ack never store one stage twice. Bodies are opaque bytes.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use futures::StreamExt as _;
use std::time::Duration;

use crate::connect::NatsConnection;
use crate::error::{SetupError, StoreError};
use crate::subject::{FleetName, check_token};

/// Header carrying the record id of an audit entry.
pub const HEADER_AUDIT_ID: &str = "Hyperfed-Audit-Id";

/// How the audit stream is kept.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Stream replicas (1 on one server, 3 on a 3-node cluster).
    pub replicas: usize,
    /// Records older than this are dropped (zero: kept until `max_bytes`).
    pub max_age: Duration,
    /// Largest size of the stream in bytes before the oldest records go (-1: unlimited).
    pub max_bytes: i64,
    /// How long a `Nats-Msg-Id` is remembered to drop a duplicate append.
    pub duplicate_window: Duration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            replicas: 1,
            max_age: Duration::ZERO,
            max_bytes: 1 << 30,
            duplicate_window: Duration::from_secs(120),
        }
    }
}

/// The stage of an audited action an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditStage {
    /// Stored before the action is forwarded.
    Started,
    /// Stored after the action's outcome is known.
    Completed,
}

impl AuditStage {
    /// The subject token of the stage.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditStage::Started => "started",
            AuditStage::Completed => "completed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "started" => Some(AuditStage::Started),
            "completed" => Some(AuditStage::Completed),
            _ => None,
        }
    }
}

/// One stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Stream sequence (1-based, increasing).
    pub seq: u64,
    /// The record id given to `append`.
    pub record_id: String,
    /// Which stage this entry records.
    pub stage: AuditStage,
    /// When the server stored it, Unix ms.
    pub stored_ms: u64,
    /// The body given to `append`.
    pub body: Bytes,
}

/// A fleet's audit stream, readable and writable from any hub replica.
#[derive(Clone)]
pub struct AuditLog {
    js: jetstream::Context,
    fleet: FleetName,
    stream: String,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditLog({})", self.stream)
    }
}

impl AuditLog {
    /// Opens the fleet's audit stream, creating it when absent.
    pub async fn open(
        conn: &NatsConnection,
        fleet: &FleetName,
        config: AuditConfig,
    ) -> Result<Self, SetupError> {
        if config.replicas == 0 || config.replicas > 5 {
            return Err(SetupError::Config("audit replicas must be 1 to 5".into()));
        }
        let js = conn.jetstream();
        let name = fleet.audit_stream();
        js.get_or_create_stream(stream::Config {
            name: name.clone(),
            description: Some(format!("HyperFed fleet {fleet}: audit log")),
            subjects: vec![fleet.audit_wildcard()],
            storage: stream::StorageType::File,
            num_replicas: config.replicas,
            max_age: config.max_age,
            max_bytes: config.max_bytes,
            duplicate_window: config.duplicate_window,
            allow_direct: true,
            ..Default::default()
        })
        .await
        .map_err(|e| SetupError::JetStream {
            what: format!("stream {name}"),
            cause: e.to_string(),
        })?;
        Ok(AuditLog {
            js,
            fleet: fleet.clone(),
            stream: name,
        })
    }

    /// Stores one stage of a record and waits for the stream's ack; returns its sequence. A
    /// repeat of the same (record id, stage) inside the duplicate window returns the first one's.
    pub async fn append(
        &self,
        record_id: &str,
        stage: AuditStage,
        body: Bytes,
    ) -> Result<u64, StoreError> {
        check_token("audit record id", record_id)?;
        let mut h = HeaderMap::new();
        h.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("{record_id}.{}", stage.as_str()).as_str(),
        );
        h.insert(HEADER_AUDIT_ID, record_id);
        let ack = self
            .js
            .publish_with_headers(self.fleet.audit_subject(stage.as_str()), h, body)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(ack.sequence)
    }

    /// The sequence of the newest stored entry (0 when none is).
    pub async fn last_sequence(&self) -> Result<u64, StoreError> {
        let unavailable = |e: &dyn std::fmt::Display| StoreError::Unavailable(e.to_string());
        let stream = self
            .js
            .get_stream(&self.stream)
            .await
            .map_err(|e| unavailable(&e))?;
        let info = stream.get_info().await.map_err(|e| unavailable(&e))?;
        Ok(info.state.last_sequence)
    }

    /// Reads up to `limit` entries from sequence `from` (1 for the oldest kept) up to the last
    /// stored when the read began.
    pub async fn read(&self, from: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let unavailable = |e: &dyn std::fmt::Display| StoreError::Unavailable(e.to_string());
        let stream = self
            .js
            .get_stream(&self.stream)
            .await
            .map_err(|e| unavailable(&e))?;
        let info = stream.get_info().await.map_err(|e| unavailable(&e))?;
        let last = info.state.last_sequence;
        let from = from.max(info.state.first_sequence).max(1);
        if limit == 0 || info.state.messages == 0 || from > last {
            return Ok(Vec::new());
        }
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: from,
                },
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable(&e))?;
        let mut messages = consumer.messages().await.map_err(|e| unavailable(&e))?;
        let mut out = Vec::new();
        while out.len() < limit {
            let next = tokio::time::timeout(Duration::from_secs(5), messages.next()).await;
            let msg = match next {
                Ok(Some(Ok(msg))) => msg,
                Ok(Some(Err(e))) => return Err(unavailable(&e)),
                Ok(None) => break,
                Err(_) => return Err(StoreError::Unavailable("audit read timed out".into())),
            };
            let Ok(meta) = msg.info() else {
                continue;
            };
            let seq = meta.stream_sequence;
            let stored_ms =
                u64::try_from(meta.published.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
            let stage = msg.subject.rsplit('.').next().and_then(AuditStage::parse);
            let record_id = msg
                .headers
                .as_ref()
                .and_then(|h| h.get(HEADER_AUDIT_ID))
                .map(|v| v.as_str().to_owned());
            if let (Some(stage), Some(record_id)) = (stage, record_id) {
                out.push(AuditEntry {
                    seq,
                    record_id,
                    stage,
                    stored_ms,
                    body: msg.payload.clone(),
                });
            }
            if seq >= last {
                break;
            }
        }
        Ok(out)
    }
}
