//! Connection settings for one HyperCore cluster: URL, credentials, auth mode, TLS trust,
//! timeouts and the read retry policy. Debug output never shows the password.

use std::path::PathBuf;
use std::time::Duration;

use hyperfed_protocol::Secret;

use crate::error::{Error, Result};

/// Username and password for one cluster.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// HyperCore user name.
    pub username: String,
    /// Password (redacted in Debug).
    pub password: Secret,
}

impl Credentials {
    /// Builds credentials from a username and a password.
    pub fn new(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }
}

/// How the client authenticates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthMode {
    /// `POST /login` once, then send the `sessionID` cookie (re-login once on expiry).
    #[default]
    Session,
    /// Send `Authorization: Basic` on every request; no session.
    Basic,
}

/// Which server certificates the client trusts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// Verify against the system's root certificates.
    #[default]
    Verify,
    /// Accept any certificate (handshake signatures are still checked). Explicit opt-in only.
    Insecure,
    /// Verify against the system roots plus the CA certificates in this PEM file.
    CaFile(PathBuf),
    /// Verify against the system roots plus these PEM-encoded CA certificates.
    CaPem(String),
}

/// Everything needed to talk to one cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// Cluster URL, e.g. `https://10.0.0.5` (with or without `/rest/v1`).
    pub url: String,
    /// Login credentials.
    pub credentials: Credentials,
    /// Session or Basic authentication.
    pub auth_mode: AuthMode,
    /// Certificate trust.
    pub tls: TlsMode,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Extra attempts for a read (GET) that failed transiently; 0 disables read retries.
    /// Capped at [`MAX_READ_RETRIES`]; all attempts together stay within `request_timeout`.
    /// Mutations are never retried.
    pub read_retries: u32,
    /// Delay before the first read retry; it doubles on each further retry (with jitter).
    pub retry_backoff: Duration,
}

/// Default whole-request timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default number of read retries (3 attempts in total).
pub const DEFAULT_READ_RETRIES: u32 = 2;
/// Highest accepted number of read retries; larger settings are lowered to it.
pub const MAX_READ_RETRIES: u32 = 20;
/// Default delay before the first read retry.
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(100);

impl ClusterConfig {
    /// A config with session auth, verified TLS and default timeouts.
    pub fn new(url: impl Into<String>, credentials: Credentials) -> Self {
        ClusterConfig {
            url: url.into(),
            credentials,
            auth_mode: AuthMode::default(),
            tls: TlsMode::default(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_retries: DEFAULT_READ_RETRIES,
            retry_backoff: DEFAULT_RETRY_BACKOFF,
        }
    }

    /// Sets the auth mode.
    pub fn with_auth_mode(mut self, mode: AuthMode) -> Self {
        self.auth_mode = mode;
        self
    }

    /// Sets the TLS trust mode.
    pub fn with_tls(mut self, tls: TlsMode) -> Self {
        self.tls = tls;
        self
    }

    /// Sets the whole-request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the connect timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets how many times a transiently failed read is retried (0 disables retries).
    pub fn with_read_retries(mut self, retries: u32) -> Self {
        self.read_retries = retries;
        self
    }

    /// Sets the delay before the first read retry (it doubles per retry, with jitter).
    pub fn with_retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// The `/rest/v1` base URL without a trailing slash, after validating `url`.
    pub fn api_base(&self) -> Result<String> {
        normalise_base_url(&self.url)
    }
}

/// Validates a cluster URL and returns its `/rest/v1` base (no trailing slash).
pub(crate) fn normalise_base_url(url: &str) -> Result<String> {
    let bad = |why: &str| Error::Config {
        message: format!("cluster url '{}' {why}", hyperfed_protocol::redact_uri(url)),
    };
    let trimmed = url.trim();
    let lower = trimmed.to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &trimmed[8..]
    } else if lower.starts_with("http://") {
        &trimmed[7..]
    } else {
        return Err(bad("must start with http:// or https://"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(bad("has no host"));
    }
    if authority.contains('@') {
        return Err(bad(
            "must not carry credentials; put them in the credentials settings",
        ));
    }
    if rest.contains(['?', '#']) {
        return Err(bad("must not carry a query or fragment"));
    }
    if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains whitespace"));
    }
    let mut base = trimmed.trim_end_matches('/').to_owned();
    if base.to_ascii_lowercase().ends_with("/rest/v1") {
        base.truncate(base.len() - "/rest/v1".len());
    }
    Ok(format!("{base}/rest/v1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_accepts_with_and_without_rest_v1() {
        assert_eq!(
            normalise_base_url("https://10.0.0.5").unwrap(),
            "https://10.0.0.5/rest/v1"
        );
        assert_eq!(
            normalise_base_url("http://127.0.0.1:8080/rest/v1/").unwrap(),
            "http://127.0.0.1:8080/rest/v1"
        );
        assert_eq!(
            normalise_base_url("HTTPS://h:443/").unwrap(),
            "HTTPS://h:443/rest/v1"
        );
    }

    #[test]
    fn base_url_rejects_other_schemes_and_credentials() {
        for bad in [
            "ftp://x",
            "10.0.0.5",
            "https://",
            "smb://u:p@h/s",
            "https://u:pw@h",
        ] {
            let e = normalise_base_url(bad).unwrap_err().to_string();
            assert!(!e.contains(":pw@") && !e.contains(":p@"), "{e}");
        }
    }

    #[test]
    fn debug_hides_password() {
        let c = ClusterConfig::new("https://h", Credentials::new("admin", "hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
