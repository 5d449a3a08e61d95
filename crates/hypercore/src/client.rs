//! The client itself: one reqwest client per cluster with its settings, and the shared session
//! (lazy login, one transparent re-login on a rejected session, Basic auth, logout).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hyperfed_protocol::Secret;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, COOKIE, HeaderValue, SET_COOKIE};

use crate::config::{AuthMode, ClusterConfig};
use crate::error::{Error, Result, error_chain, server_message};
use crate::observe::{Observer, RequestRecord, WaitOutcome, endpoint_class, status_class};

/// An async HyperCore REST client for one cluster; cheap to clone (all clones share one session).
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

/// What every clone of a [`Client`] shares: settings, the HTTP client and the session.
pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) username: String,
    password: Secret,
    auth_mode: AuthMode,
    basic_header: Option<HeaderValue>,
    pub(crate) request_timeout: Duration,
    pub(crate) read_retries: u32,
    pub(crate) retry_backoff: Duration,
    session: tokio::sync::Mutex<SessionSlot>,
    pub(crate) mutations: tokio::sync::Mutex<()>,
    logins: AtomicU64,
    /// Hears about every request and task wait (set once, e.g. by the worker's metrics).
    observer: std::sync::OnceLock<Arc<dyn Observer>>,
}

#[derive(Default)]
struct SessionSlot {
    id: Option<Secret>,
    generation: u64,
}

/// Counters that describe what a client has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Successful `POST /login` calls.
    pub logins: u64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.inner.base)
            .field("username", &self.inner.username)
            .field("auth_mode", &self.inner.auth_mode)
            .finish_non_exhaustive()
    }
}

/// How one request is authenticated.
pub(crate) enum Auth {
    /// The session cookie of session `generation`.
    Cookie {
        generation: u64,
        header: HeaderValue,
    },
    /// A Basic authorization header.
    Basic(HeaderValue),
}

fn sensitive(value: &str) -> Result<HeaderValue> {
    let mut header = HeaderValue::from_str(value).map_err(|_| Error::Config {
        message: "credentials contain characters that cannot be sent in an HTTP header".into(),
    })?;
    header.set_sensitive(true);
    Ok(header)
}

impl Client {
    /// Builds a client; no network traffic happens until the first call.
    pub fn new(config: ClusterConfig) -> Result<Client> {
        let base = config.api_base()?;
        if config.credentials.username.is_empty() {
            return Err(Error::Config {
                message: "credentials.username is empty".into(),
            });
        }
        let tls = crate::tls::client_config(&config.tls)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("hyperfed-hypercore/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config {
                message: format!("cannot build the HTTP client: {}", error_chain(&e)),
            })?;
        let basic_header = match config.auth_mode {
            AuthMode::Basic => {
                let raw = format!(
                    "{}:{}",
                    config.credentials.username,
                    config.credentials.password.expose()
                );
                let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
                Some(sensitive(&format!("Basic {encoded}"))?)
            }
            AuthMode::Session => None,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                username: config.credentials.username.clone(),
                password: config.credentials.password.clone(),
                auth_mode: config.auth_mode,
                basic_header,
                request_timeout: config.request_timeout,
                read_retries: config.read_retries.min(crate::config::MAX_READ_RETRIES),
                retry_backoff: config.retry_backoff,
                session: tokio::sync::Mutex::new(SessionSlot::default()),
                mutations: tokio::sync::Mutex::new(()),
                logins: AtomicU64::new(0),
                observer: std::sync::OnceLock::new(),
            }),
        })
    }

    /// The `/rest/v1` base URL this client talks to.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// The configured auth mode.
    pub fn auth_mode(&self) -> AuthMode {
        self.inner.auth_mode
    }

    /// Reports every request and task wait of this client (and its clones) to `observer`;
    /// only the first observer set is kept. Returns false when one was already set.
    pub fn set_observer(&self, observer: Arc<dyn Observer>) -> bool {
        self.inner.observer.set(observer).is_ok()
    }

    /// Tells the observer (if any) about one HTTP attempt.
    pub(crate) fn observe_request(
        &self,
        method: &'static str,
        path: &str,
        status: Option<u16>,
        started: Instant,
    ) {
        if let Some(o) = self.inner.observer.get() {
            o.request(&RequestRecord {
                endpoint: endpoint_class(path),
                method,
                status: status.map_or("error", status_class),
                elapsed: started.elapsed(),
            });
        }
    }

    /// Tells the observer (if any) how a task wait ended.
    pub(crate) fn observe_wait(&self, outcome: WaitOutcome, started: Instant) {
        if let Some(o) = self.inner.observer.get() {
            o.task_wait(outcome, started.elapsed());
        }
    }

    /// Counters (e.g. how many logins happened).
    pub fn stats(&self) -> ClientStats {
        ClientStats {
            logins: self.inner.logins.load(Ordering::Relaxed),
        }
    }

    /// Makes sure the client is authenticated: logs in (Session) or checks the credentials (Basic).
    pub async fn login(&self) -> Result<()> {
        match self.inner.auth_mode {
            AuthMode::Session => self.session_auth(None).await.map(|_| ()),
            AuthMode::Basic => self
                .get_list::<serde_json::Value>("Cluster", "Cluster", None)
                .await
                .map(|_| ()),
        }
    }

    /// Ends the session (`POST /logout`); the next call logs in again. No-op in Basic mode.
    pub async fn logout(&self) -> Result<()> {
        let mut slot = self.inner.session.lock().await;
        let Some(id) = slot.id.take() else {
            return Ok(());
        };
        let header = sensitive(&format!("sessionID={}", id.expose()))?;
        let started = Instant::now();
        let result = self
            .inner
            .http
            .post(self.url("logout"))
            .header(COOKIE, header)
            .header(ACCEPT, "application/json")
            .send()
            .await;
        self.observe_request(
            "POST",
            "logout",
            result.as_ref().ok().map(|r| r.status().as_u16()),
            started,
        );
        match result {
            Ok(resp) => {
                tracing::debug!(
                    method = "POST",
                    path = "/logout",
                    status = resp.status().as_u16(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "hypercore request"
                );
                Ok(())
            }
            Err(e) => Err(self.transport_error(e, "POST /logout")),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/{}", self.inner.base, path)
    }

    /// Returns the cookie for the current session, logging in when there is none or when the
    /// session of generation `stale` was rejected.
    pub(crate) async fn session_auth(&self, stale: Option<u64>) -> Result<Auth> {
        let mut slot = self.inner.session.lock().await;
        if let Some(id) = &slot.id
            && stale != Some(slot.generation)
        {
            return Ok(Auth::Cookie {
                generation: slot.generation,
                header: sensitive(&format!("sessionID={}", id.expose()))?,
            });
        }
        slot.id = None;
        let id = self.post_login().await?;
        slot.generation += 1;
        let header = sensitive(&format!("sessionID={}", id.expose()))?;
        slot.id = Some(id);
        Ok(Auth::Cookie {
            generation: slot.generation,
            header,
        })
    }

    async fn post_login(&self) -> Result<Secret> {
        let body = serde_json::json!({
            "username": self.inner.username,
            "password": self.inner.password.expose(),
            "useOIDC": false,
        });
        let started = Instant::now();
        let resp = self
            .inner
            .http
            .post(self.url("login"))
            .header(ACCEPT, "application/json")
            .json(&body)
            .send()
            .await;
        self.observe_request(
            "POST",
            "login",
            resp.as_ref().ok().map(|r| r.status().as_u16()),
            started,
        );
        let resp = resp.map_err(|e| self.transport_error(e, "POST /login"))?;
        let status = resp.status();
        tracing::debug!(
            method = "POST",
            path = "/login",
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "hypercore request"
        );
        let cookie_session = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| {
                v.split(';')
                    .next()
                    .and_then(|kv| kv.trim().strip_prefix("sessionID="))
                    .map(str::to_owned)
            });
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| self.transport_error(e, "POST /login"))?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Error::Auth {
                username: self.inner.username.clone(),
                message: server_message(&bytes).replace(self.inner.password.expose(), "[redacted]"),
            });
        }
        if !status.is_success() {
            return Err(Error::Server {
                status: status.as_u16(),
                message: format!("login failed: {}", server_message(&bytes))
                    .replace(self.inner.password.expose(), "[redacted]"),
            });
        }
        let from_body = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("sessionID")
                    .and_then(|s| s.as_str())
                    .map(str::to_owned)
            });
        let id = from_body
            .or(cookie_session)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::Decode {
                what: "POST /login".into(),
                message: "the answer carries no sessionID".into(),
            })?;
        self.inner.logins.fetch_add(1, Ordering::Relaxed);
        Ok(Secret::new(id))
    }

    pub(crate) async fn auth(&self) -> Result<Auth> {
        match &self.inner.basic_header {
            Some(h) => Ok(Auth::Basic(h.clone())),
            None => self.session_auth(None).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Credentials;

    #[test]
    fn debug_shows_no_credentials() {
        let c = Client::new(
            ClusterConfig::new("http://127.0.0.1:9", Credentials::new("admin", "hunter2"))
                .with_auth_mode(AuthMode::Basic),
        )
        .unwrap();
        let d = format!("{c:?}");
        assert!(
            !d.contains("hunter2") && !d.contains("YWRtaW46aHVudGVyMg"),
            "{d}"
        );
    }
}
