//! The crate's error layers: startup (`SetupError`), one call (`NatsLinkError`) and the
//! JetStream-backed stores (`StoreError`). No message ever contains a secret.

use std::time::Duration;

/// A problem found while connecting or setting up subscriptions, buckets and streams.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// A fleet name, alias or tool is not one subject token.
    #[error("invalid {what} {value:?}: use 1 to 64 of [A-Za-z0-9_-]")]
    InvalidName {
        /// What the name is (fleet name, alias, tool).
        what: &'static str,
        /// The refused value (cut to 80 characters).
        value: String,
    },
    /// The NATS credentials file could not be read or parsed.
    #[error("cannot use the NATS credentials file {path}: {cause}")]
    Credentials {
        /// The file given with `--nats-creds`.
        path: String,
        /// Why it was refused.
        cause: String,
    },
    /// The first connection failed.
    #[error("cannot connect to NATS at {servers}: {cause}")]
    Connect {
        /// The server URLs tried.
        servers: String,
        /// The client's reason.
        cause: String,
    },
    /// JetStream refused to create or open a bucket or stream.
    #[error("NATS JetStream is unavailable for {what}: {cause} (is nats-server running with -js?)")]
    JetStream {
        /// The bucket or stream.
        what: String,
        /// The server's reason.
        cause: String,
    },
    /// A subscription could not be made.
    #[error("NATS subscription to {subject} failed: {cause}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// The client's reason.
        cause: String,
    },
    /// Settings that cannot work together.
    #[error("invalid NATS transport settings: {0}")]
    Config(String),
}

/// Why one request or fan-out over NATS failed; every variant names its cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NatsLinkError {
    /// Nobody subscribes to the cluster's subject: its worker is down or not connected.
    #[error("cluster '{alias}' is not connected: no worker answers for it on NATS")]
    NoResponders {
        /// The cluster alias (or fan-out tool) addressed.
        alias: String,
    },
    /// No authentic reply came before the deadline.
    #[error("cluster '{alias}' did not answer within {} ms{}", after.as_millis(), forged_note(*forged))]
    Timeout {
        /// The cluster alias.
        alias: String,
        /// The timeout that passed.
        after: Duration,
        /// Replies refused because their signature did not verify.
        forged: u32,
    },
    /// This process is not connected to NATS (calls fail fast instead of queueing).
    #[error("NATS is unreachable: {cause}")]
    Disconnected {
        /// What the client last reported.
        cause: String,
    },
    /// The caller cancelled; the worker was told to stop.
    #[error("the call was cancelled")]
    Cancelled,
    /// The alias has no live registration, so its replies cannot be verified.
    #[error("cluster '{alias}' is not registered in this fleet")]
    NotRegistered {
        /// The cluster alias.
        alias: String,
    },
    /// The request does not fit the server's max_payload.
    #[error("the request is {size} bytes, over the NATS server's max_payload of {max} bytes")]
    TooLarge {
        /// Request size in bytes.
        size: usize,
        /// The server's limit.
        max: usize,
    },
    /// A name is not one subject token.
    #[error("invalid {what} {value:?}: use 1 to 64 of [A-Za-z0-9_-]")]
    InvalidName {
        /// What the name is.
        what: &'static str,
        /// The refused value.
        value: String,
    },
    /// The client refused to publish.
    #[error("NATS publish failed: {0}")]
    Publish(String),
}

fn forged_note(forged: u32) -> String {
    if forged == 0 {
        String::new()
    } else {
        format!(" ({forged} forged replies refused)")
    }
}

impl From<SetupError> for NatsLinkError {
    fn from(e: SetupError) -> Self {
        match e {
            SetupError::InvalidName { what, value } => NatsLinkError::InvalidName { what, value },
            other => NatsLinkError::Publish(other.to_string()),
        }
    }
}

/// Why a registry or audit operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Another live cluster holds the alias.
    #[error(
        "cluster alias '{alias}' is already used by cluster {cluster_name}; choose another with --name"
    )]
    AliasTaken {
        /// The alias.
        alias: String,
        /// The clusterName of the cluster holding it.
        cluster_name: String,
    },
    /// This process is not connected to NATS.
    #[error("NATS is unreachable: {0}")]
    Disconnected(String),
    /// JetStream refused or did not acknowledge the operation.
    #[error("JetStream did not store it: {0}")]
    Unavailable(String),
    /// A name is not one subject token.
    #[error(transparent)]
    Setup(#[from] SetupError),
}
