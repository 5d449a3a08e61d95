//! The hub's error type: startup failures, storage failures and the reasons a call or a
//! join is refused. Texts name the cluster or argument at fault and never carry a secret.

/// Why the hub could not start, store something, or serve a request.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The configuration cannot work (e.g. an empty secret).
    #[error("invalid hub configuration: {0}")]
    Config(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The sled database failed.
    #[error("hub database error: {0}")]
    Storage(String),
    /// The named cluster is not registered.
    #[error("unknown cluster '{0}'")]
    UnknownCluster(String),
    /// The named cluster is registered but cannot take calls now.
    #[error("cluster '{alias}' is {state}: {hint}")]
    Unavailable {
        /// The cluster alias.
        alias: String,
        /// `down` or `reconnecting`.
        state: &'static str,
        /// What the operator can do.
        hint: &'static str,
    },
    /// The worker failed or did not answer in time.
    #[error("cluster '{alias}': {message}")]
    Upstream {
        /// The cluster alias.
        alias: String,
        /// What went wrong.
        message: String,
    },
    /// The worker was lost (connection failed, no answer in time, hub stopping) mid-call.
    #[error("cluster '{alias}': {message}")]
    UpstreamLost {
        /// The cluster alias.
        alias: String,
        /// What went wrong.
        message: String,
    },
    /// The caller's token scope does not allow this call (nothing was changed).
    #[error("{0}")]
    Forbidden(String),
    /// The caller's request is wrong (unknown tool, bad argument, ambiguous VM).
    #[error("{0}")]
    BadRequest(String),
}

/// The note a call timeout's message ends with (how [`HubError::is_timeout`] knows one).
pub(crate) const CALL_TIMEOUT_NOTE: &str = "(call timeout)";

impl HubError {
    /// True for a call lost because its worker gave no answer within the call timeout.
    pub(crate) fn is_timeout(&self) -> bool {
        matches!(self, HubError::UpstreamLost { message, .. } if message.contains(CALL_TIMEOUT_NOTE))
    }
}

impl From<sled::Error> for HubError {
    fn from(e: sled::Error) -> Self {
        HubError::Storage(e.to_string())
    }
}
