//! The fleet's revoked client-token ids in a JetStream key-value bucket
//! (`hyperfed_<fleet>_revoked`): any hub replica adds an id, every replica watches the bucket
//! and refuses the token from then on. Keys are token ids; values the revocation time (ms).

use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures::StreamExt as _;
use tokio::sync::mpsc;

use crate::connect::NatsConnection;
use crate::error::{SetupError, StoreError};
use crate::subject::FleetName;

/// The fleet's revocation list.
#[derive(Clone)]
pub struct FleetRevocations {
    store: kv::Store,
}

impl std::fmt::Debug for FleetRevocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FleetRevocations")
    }
}

/// True when `id` can be a bucket key (token ids are hex or uuid text).
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl FleetRevocations {
    /// Opens the fleet's revocation bucket, creating it when absent.
    pub async fn open(conn: &NatsConnection, fleet: &FleetName) -> Result<Self, SetupError> {
        let js = conn.jetstream();
        let bucket = fleet.revocation_bucket();
        if let Ok(store) = js.get_key_value(&bucket).await {
            return Ok(FleetRevocations { store });
        }
        let created = js
            .create_key_value(kv::Config {
                bucket: bucket.clone(),
                description: format!("HyperFed fleet {fleet}: revoked client token ids"),
                history: 1,
                storage: async_nats::jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await;
        match created {
            Ok(store) => Ok(FleetRevocations { store }),
            Err(create_err) => js
                .get_key_value(&bucket)
                .await
                .map(|store| FleetRevocations { store })
                .map_err(|_| SetupError::JetStream {
                    what: format!("KV bucket {bucket}"),
                    cause: create_err.to_string(),
                }),
        }
    }

    /// Revokes token `id` fleet-wide (stored once the bucket acknowledged it).
    pub async fn revoke(&self, id: &str) -> Result<(), StoreError> {
        if !valid_id(id) {
            return Err(StoreError::Unavailable(format!(
                "{id:?} is not a token id (letters, digits, '-' and '_')"
            )));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        self.store
            .put(id, Bytes::from(now.to_string()))
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Every revoked id, the ones stored now first and then each new one, for as long as the
    /// receiver is kept (the watch resumes by itself after a lost connection).
    pub fn watch(&self) -> mpsc::UnboundedReceiver<String> {
        let (tx, rx) = mpsc::unbounded_channel();
        let store = self.store.clone();
        tokio::spawn(async move {
            loop {
                match store.watch_all().await {
                    Ok(mut w) => {
                        while let Some(item) = w.next().await {
                            if let Ok(entry) = item
                                && entry.operation == kv::Operation::Put
                                && tx.send(entry.key).is_err()
                            {
                                return;
                            }
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "revocation watch: retrying"),
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(valid_id("3f2a9c"));
        assert!(valid_id("a-b_c"));
        assert!(!valid_id(""));
        assert!(!valid_id("a.b"));
        assert!(!valid_id("a*"));
    }
}
