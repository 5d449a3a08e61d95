//! Sending one request: authentication on every attempt, one re-login when the session was
//! rejected, the per-client mutation lock, bounded jittered retries of reads (never of
//! mutations), transport-failure classification and debug logging (method, path, status,
//! elapsed, retries; never bodies or credentials).

use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, COOKIE};
use reqwest::{Method, StatusCode};

use crate::client::{Auth, Client};
use crate::error::{Error, Result, TransportKind, classify, error_chain, humanize, server_message};

/// An HTTP answer after authentication handling.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
    /// How many attempts it took (more than 1 only for retried reads).
    pub(crate) attempts: u32,
}

/// Longest single pause between two read attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

impl Client {
    /// Sends one request with authentication. Reads (GET) that fail transiently are retried
    /// with bounded, jittered exponential backoff within the request timeout; other methods are
    /// sent exactly once.
    pub(crate) async fn execute(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Reply> {
        if method != Method::GET {
            return self.execute_once(&method, path, body, None).await;
        }
        let started = Instant::now();
        let deadline = started + self.inner.request_timeout;
        let mut attempt: u32 = 1;
        loop {
            let budget = deadline.saturating_duration_since(Instant::now());
            let outcome = self
                .execute_once(&method, path, body.clone(), Some(budget))
                .await;
            let cause = match &outcome {
                Ok(reply) if transient_status(reply) => format!(
                    "HTTP {}: {}",
                    reply.status.as_u16(),
                    server_message(&reply.body)
                ),
                Err(e) if e.is_retryable() => e.to_string(),
                _ => {
                    return outcome.map(|reply| Reply {
                        attempts: attempt,
                        ..reply
                    });
                }
            };
            let delay = backoff_delay(self.inner.retry_backoff, attempt);
            if attempt > self.inner.read_retries || Instant::now() + delay >= deadline {
                return gave_up(outcome, attempt);
            }
            tracing::debug!(method = %method, path = %log_path(path), attempt, cause = %cause,
                delay_ms = delay.as_millis() as u64, "hypercore read failed; retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Sends one request with authentication, re-logging in once when the session was rejected.
    /// Mutating methods hold the per-client mutation lock for the whole exchange. `budget`
    /// bounds this attempt (None: the client's request timeout).
    async fn execute_once(
        &self,
        method: &Method,
        path: &str,
        body: Option<Vec<u8>>,
        budget: Option<Duration>,
    ) -> Result<Reply> {
        let _guard = if method == Method::GET || method == Method::HEAD {
            None
        } else {
            Some(self.inner.mutations.lock().await)
        };
        let auth = self.auth().await?;
        let reply = self
            .send_once(method, path, body.clone(), &auth, budget)
            .await?;
        let Auth::Cookie { generation, .. } = auth else {
            return Ok(reply);
        };
        if !session_rejected(&reply) {
            return Ok(reply);
        }
        tracing::debug!(path = %log_path(path), status = reply.status.as_u16(), "session rejected; logging in again");
        let fresh = match self.session_auth(Some(generation)).await {
            Ok(a) => a,
            Err(Error::Auth { message, .. }) => {
                return Err(Error::Session {
                    message: format!("login as '{}' was refused: {message}", self.inner.username),
                });
            }
            Err(other) => return Err(other),
        };
        let reply = self.send_once(method, path, body, &fresh, budget).await?;
        if session_rejected(&reply) {
            return Err(Error::Session {
                message: format!(
                    "the server rejected the new session too (HTTP {}): {}",
                    reply.status.as_u16(),
                    server_message(&reply.body)
                ),
            });
        }
        Ok(reply)
    }

    async fn send_once(
        &self,
        method: &Method,
        path: &str,
        body: Option<Vec<u8>>,
        auth: &Auth,
        budget: Option<Duration>,
    ) -> Result<Reply> {
        let what = format!("{method} /{}", log_path(path));
        let mutation = method != Method::GET && method != Method::HEAD;
        let mut req = self
            .inner
            .http
            .request(method.clone(), self.url(path))
            .header(ACCEPT, "application/json");
        req = match auth {
            Auth::Cookie { header, .. } => req.header(COOKIE, header.clone()),
            Auth::Basic(header) => req.header(AUTHORIZATION, header.clone()),
        };
        if let Some(body) = body {
            req = req.header(CONTENT_TYPE, "application/json").body(body);
        }
        if let Some(budget) = budget {
            req = req.timeout(budget);
        }
        let started = Instant::now();
        let label = crate::observe::method_label(method);
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                self.observe_request(label, path, None, started);
                return Err(self.send_error(e, &what, mutation));
            }
        };
        let status = resp.status();
        let body = match resp.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) => {
                self.observe_request(label, path, None, started);
                return Err(self.send_error(e, &what, mutation));
            }
        };
        self.observe_request(label, path, Some(status.as_u16()), started);
        tracing::debug!(method = %method, path = %log_path(path), status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64, "hypercore request");
        Ok(Reply {
            status,
            body,
            attempts: 1,
        })
    }

    /// Maps a failure of a request in flight; for a mutation that may have reached the
    /// cluster (anything but a failed connect) the outcome is unknown.
    fn send_error(&self, e: reqwest::Error, what: &str, mutation: bool) -> Error {
        if !mutation || e.is_connect() {
            return self.transport_error(e, what);
        }
        let timed_out = e.is_timeout();
        let message = match self.transport_error(e, what) {
            // The connection never came up: the request was not sent.
            err @ Error::Transport {
                kind: TransportKind::Connect | TransportKind::Dns | TransportKind::Tls,
                ..
            } => return err,
            Error::Transport { message, .. } => message,
            _ if timed_out => format!(
                "no complete answer within {}",
                humanize(self.inner.request_timeout)
            ),
            other => other.to_string(),
        };
        Error::OutcomeUnknown {
            what: what.to_owned(),
            url: self.inner.base.clone(),
            message,
        }
    }

    pub(crate) fn transport_error(&self, e: reqwest::Error, what: &str) -> Error {
        if e.is_timeout() {
            return Error::Timeout {
                what: what.to_owned(),
                after: self.inner.request_timeout,
            };
        }
        let e = e.without_url();
        let kind = classify(&e);
        Error::Transport {
            kind,
            url: self.inner.base.clone(),
            message: error_chain(&e),
        }
    }
}

/// True for a 401, or a 503 whose body talks about the session.
fn session_rejected(reply: &Reply) -> bool {
    match reply.status {
        StatusCode::UNAUTHORIZED => true,
        StatusCode::SERVICE_UNAVAILABLE => String::from_utf8_lossy(&reply.body)
            .to_ascii_lowercase()
            .contains("session"),
        _ => false,
    }
}

/// True for a 500/502/503/504 answer that is not a session rejection: worth another read.
fn transient_status(reply: &Reply) -> bool {
    matches!(reply.status.as_u16(), 500 | 502 | 503 | 504) && !session_rejected(reply)
}

/// The pause before retry number `attempt` (1-based): `base` doubled per retry, capped at
/// [`MAX_BACKOFF`], then jittered into its upper half.
fn backoff_delay(base: Duration, attempt: u32) -> Duration {
    use std::hash::BuildHasher;
    let full = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    // A random fraction in [0, 1) from the std library's per-instance random hash keys.
    let random = std::collections::hash_map::RandomState::new().hash_one(attempt);
    let fraction = (random >> 11) as f64 / (1u64 << 53) as f64;
    full / 2 + full.mul_f64(fraction / 2.0)
}

/// The final outcome of a read that kept failing, noting how many attempts were made.
pub(crate) fn gave_up(outcome: Result<Reply>, attempts: u32) -> Result<Reply> {
    if attempts <= 1 {
        return outcome;
    }
    let note = format!("gave up after {attempts} attempts");
    match outcome {
        Ok(reply) => Ok(Reply { attempts, ..reply }),
        Err(Error::Transport { kind, url, message }) => Err(Error::Transport {
            kind,
            url,
            message: format!("{message} ({note})"),
        }),
        Err(Error::Timeout { what, after }) => Err(Error::Timeout {
            what: format!("{what} ({note})"),
            after,
        }),
        Err(Error::Server { status, message }) => Err(Error::Server {
            status,
            message: format!("{message} ({note})"),
        }),
        Err(other) => Err(other),
    }
}

/// The path as logged: no query string (it could carry anything).
pub(crate) fn log_path(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            body: body.as_bytes().to_vec(),
            attempts: 1,
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        for _ in 0..50 {
            let d1 = backoff_delay(base, 1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= base, "{d1:?}");
            let d3 = backoff_delay(base, 3);
            assert!(
                d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400),
                "{d3:?}"
            );
            assert!(backoff_delay(base, 40) <= MAX_BACKOFF);
        }
        assert_eq!(backoff_delay(Duration::ZERO, 2), Duration::ZERO);
    }

    #[test]
    fn only_non_session_5xx_answers_are_transient() {
        for status in [500, 502, 503, 504] {
            assert!(transient_status(&reply(status, "{}")), "{status}");
        }
        for status in [200, 400, 401, 404, 501] {
            assert!(!transient_status(&reply(status, "{}")), "{status}");
        }
        assert!(!transient_status(&reply(
            503,
            r#"{"error":"expired session or no session passed"}"#
        )));
    }

    #[test]
    fn session_rejection_detection() {
        assert!(session_rejected(&reply(401, "")));
        assert!(session_rejected(&reply(
            503,
            r#"{"error":"expired session or no session passed"}"#
        )));
        assert!(!session_rejected(&reply(503, r#"{"error":"busy"}"#)));
        assert!(!session_rejected(&reply(500, "session")));
    }
}
