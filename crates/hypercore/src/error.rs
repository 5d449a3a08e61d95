//! The typed error of the HyperCore client: what went wrong, in terms a caller can act on.
//! Messages carry the server's text (truncated and redacted), never a password, session id,
//! Basic header or SMB credential.

use std::time::Duration;

/// Longest server text kept in an error message, in characters.
pub(crate) const MAX_SERVER_TEXT: usize = 500;

/// Which kind of transport failure happened before any HTTP status was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// TCP connection refused, reset or unreachable.
    Connect,
    /// TLS handshake or certificate verification failed.
    Tls,
    /// The host name could not be resolved.
    Dns,
    /// The connection broke while the request or response was in flight.
    Io,
    /// Anything else reqwest reported.
    Other,
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "connection failed",
            TransportKind::Tls => "TLS error",
            TransportKind::Dns => "DNS error",
            TransportKind::Io => "connection error",
            TransportKind::Other => "transport error",
        })
    }
}

/// Everything a HyperCore call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cluster rejected the username or password.
    #[error("HyperCore rejected the credentials of user '{username}': {message}")]
    Auth {
        /// The user that tried to log in (never the password).
        username: String,
        /// The server's explanation.
        message: String,
    },
    /// The user is authenticated but its role lacks the function (HTTP 403).
    #[error("permission denied by HyperCore: {message}")]
    PermissionDenied {
        /// The server's explanation.
        message: String,
    },
    /// The object does not exist.
    #[error("{kind} '{id}' not found")]
    NotFound {
        /// The resource type, e.g. `VirDomain`.
        kind: String,
        /// The id that was looked up.
        id: String,
    },
    /// The action is not allowed in the object's current state (HyperCore answers 500).
    #[error("HyperCore refused the action in the current state: {message}")]
    InvalidState {
        /// The server's text.
        message: String,
    },
    /// The request was rejected as invalid (HTTP 400 and other 4xx).
    #[error("HyperCore rejected the request (HTTP {status}): {message}")]
    Validation {
        /// The HTTP status.
        status: u16,
        /// The server's text (may be plain text), truncated.
        message: String,
    },
    /// The session expired and logging in again did not help.
    #[error("HyperCore session expired and re-login failed: {message}")]
    Session {
        /// What happened on the re-login attempt.
        message: String,
    },
    /// The server failed (HTTP 5xx or an unexpected status).
    #[error("HyperCore server error (HTTP {status}): {message}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// The server's text, truncated.
        message: String,
    },
    /// No HTTP answer: connection refused, TLS failure, DNS failure.
    #[error("cannot reach HyperCore at {url} ({kind}): {message}")]
    Transport {
        /// Which kind of failure.
        kind: TransportKind,
        /// The cluster base URL (never carries credentials).
        url: String,
        /// The underlying cause.
        message: String,
    },
    /// A mutation's connection broke (or timed out) after the request may have reached the
    /// cluster: the change may or may not have been applied. Never retried automatically.
    #[error(
        "outcome unknown for {what}: the connection to HyperCore at {url} failed after the request \
         was sent ({message}); the cluster may or may not have applied the change: check the \
         current state before trying again"
    )]
    OutcomeUnknown {
        /// The request, e.g. `POST /VirDomain/action` (no query string, no body).
        what: String,
        /// The cluster base URL (never carries credentials).
        url: String,
        /// The underlying cause.
        message: String,
    },
    /// Something did not finish in time.
    #[error("timed out after {} waiting for {what}", humanize(*after))]
    Timeout {
        /// What was being waited for.
        what: String,
        /// How long we waited.
        after: Duration,
    },
    /// The caller stopped waiting (its request was cancelled); what it waited for goes on.
    #[error("stopped waiting for {what}: the request was cancelled")]
    Cancelled {
        /// What was being waited for.
        what: String,
    },
    /// A HyperCore task ended in ERROR or UNINITIALIZED.
    #[error("HyperCore task {tag} failed: {message}")]
    Task {
        /// The task tag.
        tag: String,
        /// The task's formatted message with its parameters filled in.
        message: String,
    },
    /// The response did not have the expected shape.
    #[error("cannot decode HyperCore response from {what}: {message}")]
    Decode {
        /// Which call produced it.
        what: String,
        /// The decoder's complaint.
        message: String,
    },
    /// The client configuration is unusable.
    #[error("invalid HyperCore client configuration: {message}")]
    Config {
        /// Which setting and why.
        message: String,
    },
    /// An argument passed to a client method is unusable.
    #[error("invalid argument '{argument}': {message}")]
    InvalidArgument {
        /// The argument's name.
        argument: &'static str,
        /// Why it was refused.
        message: String,
    },
}

/// A duration as people read it: `150 ms`, `2.5 s`.
pub(crate) fn humanize(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

impl Error {
    /// True when repeating the same read could succeed (transport, timeout, 5xx); false for
    /// [`Error::OutcomeUnknown`], which must not be retried blindly.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport { .. } | Error::Timeout { .. } => true,
            Error::Server { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The HTTP status behind this error, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Validation { status, .. } | Error::Server { status, .. } => Some(*status),
            Error::Auth { .. } => Some(401),
            Error::PermissionDenied { .. } => Some(403),
            Error::NotFound { .. } => Some(404),
            Error::InvalidState { .. } => Some(500),
            _ => None,
        }
    }

    /// Removes every occurrence of `secret` from the error's texts (used around export calls).
    pub(crate) fn scrub(self, secret: &str) -> Error {
        if secret.is_empty() {
            return self;
        }
        let redact = |m: String| m.replace(secret, "[redacted]");
        match self {
            Error::Auth { username, message } => Error::Auth {
                username,
                message: redact(message),
            },
            Error::PermissionDenied { message } => Error::PermissionDenied {
                message: redact(message),
            },
            Error::InvalidState { message } => Error::InvalidState {
                message: redact(message),
            },
            Error::Validation { status, message } => Error::Validation {
                status,
                message: redact(message),
            },
            Error::Session { message } => Error::Session {
                message: redact(message),
            },
            Error::Server { status, message } => Error::Server {
                status,
                message: redact(message),
            },
            Error::Transport { kind, url, message } => Error::Transport {
                kind,
                url,
                message: redact(message),
            },
            Error::OutcomeUnknown { what, url, message } => Error::OutcomeUnknown {
                what,
                url,
                message: redact(message),
            },
            Error::Task { tag, message } => Error::Task {
                tag,
                message: redact(message),
            },
            Error::Decode { what, message } => Error::Decode {
                what,
                message: redact(message),
            },
            other => other,
        }
    }
}

/// Shortens and redacts server text before it goes into an error.
pub(crate) fn clean_server_text(text: &str) -> String {
    let trimmed = text.trim();
    let mut out: String = trimmed
        .split_inclusive(char::is_whitespace)
        .map(|word| {
            if word.contains("://") && word.contains('@') {
                let core = word.trim_end();
                let tail = &word[core.len()..];
                format!("{}{}", hyperfed_protocol::redact_uri(core), tail)
            } else {
                word.to_owned()
            }
        })
        .collect();
    if out.chars().count() > MAX_SERVER_TEXT {
        out = out.chars().take(MAX_SERVER_TEXT).collect();
        out.push_str("...");
    }
    if out.is_empty() {
        out.push_str("(empty response body)");
    }
    out
}

/// Extracts the `error` text from a HyperCore error body, falling back to the raw text.
pub(crate) fn server_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(&text) {
        for key in ["error", "message", "description"] {
            if let Some(serde_json::Value::String(s)) = map.get(key) {
                return clean_server_text(s);
            }
        }
    }
    clean_server_text(&text)
}

/// A result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error and its sources, joined with ": " (consecutive duplicates dropped).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        let text = err.to_string();
        // reqwest and hyper wrap the real cause in generic layers that only add noise.
        let generic = text == "error sending request" || text.starts_with("client error (");
        if !generic && parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        current = err.source();
    }
    if parts.is_empty() {
        return clean_server_text(&e.to_string());
    }
    clean_server_text(&parts.join(": "))
}

pub(crate) fn classify(e: &reqwest::Error) -> TransportKind {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut text = String::new();
    while let Some(err) = current {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return TransportKind::Tls;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
        {
            return TransportKind::Tls;
        }
        text.push_str(&err.to_string().to_ascii_lowercase());
        text.push(' ');
        current = err.source();
    }
    if text.contains("dns error") || text.contains("failed to lookup") {
        TransportKind::Dns
    } else if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
        TransportKind::Tls
    } else if e.is_connect() {
        TransportKind::Connect
    } else if e.is_request() || e.is_body() {
        TransportKind::Io
    } else {
        TransportKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_message_prefers_json_error_and_keeps_plain_text() {
        assert_eq!(
            server_message(br#"{"error":"An internal error occurred"}"#),
            "An internal error occurred"
        );
        let plain = b"Request has one or more errors\n  In body: missing pathURI";
        assert!(server_message(plain).starts_with("Request has one or more errors"));
        assert_eq!(server_message(b""), "(empty response body)");
    }

    #[test]
    fn long_text_is_truncated_and_uris_redacted() {
        let long = "x".repeat(5000);
        let m = server_message(long.as_bytes());
        assert!(m.len() < 600);
        let m = server_message(br#"{"error":"cannot reach smb://CORP;bob:hunter2@nas/share now"}"#);
        assert!(!m.contains("hunter2"), "{m}");
        assert!(m.contains("smb://CORP;bob:[redacted]@nas/share now"));
    }

    #[test]
    fn retryable_classification() {
        assert!(
            Error::Server {
                status: 502,
                message: String::new()
            }
            .is_retryable()
        );
        assert!(
            !Error::InvalidState {
                message: String::new()
            }
            .is_retryable()
        );
        assert!(
            Error::Timeout {
                what: "x".into(),
                after: Duration::from_secs(1)
            }
            .is_retryable()
        );
        assert!(
            !Error::Validation {
                status: 400,
                message: String::new()
            }
            .is_retryable()
        );
    }

    #[test]
    fn outcome_unknown_is_not_retryable_and_says_so() {
        let e = Error::OutcomeUnknown {
            what: "POST /VirDomain/action".into(),
            url: "https://h/rest/v1".into(),
            message: "connection closed before message completed".into(),
        };
        assert!(!e.is_retryable());
        assert_eq!(e.status(), None);
        let text = e.to_string();
        assert!(
            text.contains("may or may not have applied the change")
                && text.contains("POST /VirDomain/action"),
            "{text}"
        );
    }

    #[test]
    fn scrub_removes_secret() {
        let e = Error::Task {
            tag: "1".into(),
            message: "failed to mount with pw s3cr3t".into(),
        }
        .scrub("s3cr3t");
        assert!(!e.to_string().contains("s3cr3t"));
    }
}
