//! The HTTP core of the client: one reqwest client per cluster, the shared session (lazy login,
//! one transparent re-login), Basic auth, the per-client mutation lock, bounded retries of reads
//! (never of mutations), status-to-error mapping and debug logging (method, path, status,
//! elapsed, retries; never bodies or credentials).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hyperfed_protocol::Secret;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderValue, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::config::{AuthMode, ClusterConfig};
use crate::error::{Error, Result, TransportKind, clean_server_text, humanize, server_message};
use crate::model::strip_nulls;

/// An async HyperCore REST client for one cluster; cheap to clone (all clones share one session).
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    http: reqwest::Client,
    base: String,
    username: String,
    password: Secret,
    auth_mode: AuthMode,
    basic_header: Option<HeaderValue>,
    request_timeout: Duration,
    read_retries: u32,
    retry_backoff: Duration,
    session: tokio::sync::Mutex<SessionSlot>,
    mutations: tokio::sync::Mutex<()>,
    logins: AtomicU64,
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

/// An HTTP answer after authentication handling.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
    /// How many attempts it took (more than 1 only for retried reads).
    pub(crate) attempts: u32,
}

/// Longest single pause between two read attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// How a non-success status is turned into an [`Error`].
#[derive(Clone, Copy)]
pub(crate) enum Context<'a> {
    /// A read or a plain mutation of `kind` `id`.
    Resource { kind: &'a str, id: &'a str },
    /// A VM power action: a 500 means an invalid state transition.
    Action { id: &'a str },
}

enum Auth {
    Cookie {
        generation: u64,
        header: HeaderValue,
    },
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
    async fn session_auth(&self, stale: Option<u64>) -> Result<Auth> {
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
            .await
            .map_err(|e| self.transport_error(e, "POST /login"))?;
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

    async fn auth(&self) -> Result<Auth> {
        match &self.inner.basic_header {
            Some(h) => Ok(Auth::Basic(h.clone())),
            None => self.session_auth(None).await,
        }
    }

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
        let resp = req
            .send()
            .await
            .map_err(|e| self.send_error(e, &what, mutation))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.send_error(e, &what, mutation))?
            .to_vec();
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

    /// Maps a non-success reply to an error for `ctx`.
    pub(crate) fn status_error(&self, reply: &Reply, ctx: Context<'_>) -> Error {
        let status = reply.status.as_u16();
        let message = server_message(&reply.body);
        match (status, ctx) {
            (401, _) => Error::Auth {
                username: self.inner.username.clone(),
                message,
            },
            (403, _) => Error::PermissionDenied { message },
            (404, Context::Resource { kind, id }) => Error::NotFound {
                kind: kind.to_owned(),
                id: id.to_owned(),
            },
            (404, Context::Action { id }) => Error::NotFound {
                kind: "VirDomain".into(),
                id: id.to_owned(),
            },
            (500, Context::Action { .. }) => Error::InvalidState { message },
            (400..=499, _) => Error::Validation { status, message },
            _ if reply.attempts > 1 => Error::Server {
                status,
                message: format!("{message} (gave up after {} attempts)", reply.attempts),
            },
            _ => Error::Server { status, message },
        }
    }

    /// GETs a collection (or one id of it) and decodes the array; 404 on an id means empty.
    pub(crate) async fn get_list<T: DeserializeOwned>(
        &self,
        path: &str,
        kind: &str,
        id: Option<&str>,
    ) -> Result<Vec<T>> {
        let reply = self.execute(Method::GET, path, None).await?;
        if reply.status == StatusCode::NOT_FOUND && id.is_some() {
            return Ok(Vec::new());
        }
        if !reply.status.is_success() {
            return Err(self.status_error(
                &reply,
                Context::Resource {
                    kind,
                    id: id.unwrap_or(""),
                },
            ));
        }
        decode_list(&reply.body, path)
    }

    /// Sends a JSON body and decodes the JSON answer, mapping error statuses with `ctx`.
    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        ctx: Context<'_>,
    ) -> Result<T> {
        let bytes = match body {
            Some(v) => Some(serde_json::to_vec(v).map_err(|e| Error::Decode {
                what: path.to_owned(),
                message: e.to_string(),
            })?),
            None => None,
        };
        let reply = self.execute(method, path, bytes).await?;
        if !reply.status.is_success() {
            return Err(self.status_error(&reply, ctx));
        }
        decode_one(&reply.body, path)
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
fn gave_up(outcome: Result<Reply>, attempts: u32) -> Result<Reply> {
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
fn log_path(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

fn parse_value(body: &[u8], what: &str) -> Result<serde_json::Value> {
    let mut value: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(body).map_err(|e| Error::Decode {
            what: format!("/{}", log_path(what)),
            message: format!(
                "not JSON ({e}): {}",
                clean_server_text(&String::from_utf8_lossy(&body[..body.len().min(200)]))
            ),
        })?
    };
    strip_nulls(&mut value);
    Ok(value)
}

pub(crate) fn decode_list<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<Vec<T>> {
    // Fast path: a well-formed array decodes straight from the bytes; anything unusual
    // (nulls, a bare object, an empty body) takes the tolerant route below.
    if let Ok(items) = serde_json::from_slice::<Vec<T>>(body) {
        return Ok(items);
    }
    let value = parse_value(body, what)?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Null => Vec::new(),
        single @ serde_json::Value::Object(_) => vec![single],
        other => {
            return Err(Error::Decode {
                what: format!("/{}", log_path(what)),
                message: format!("expected a JSON array, got {}", type_name(&other)),
            });
        }
    };
    items
        .into_iter()
        .map(|item| {
            serde_json::from_value(item).map_err(|e| Error::Decode {
                what: format!("/{}", log_path(what)),
                message: e.to_string(),
            })
        })
        .collect()
}

pub(crate) fn decode_one<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T> {
    let mut value = parse_value(body, what)?;
    // Some answers wrap a single record in a one-element array.
    if let serde_json::Value::Array(items) = &mut value
        && items.len() == 1
    {
        value = items.remove(0);
    }
    if value.is_null() {
        value = serde_json::Value::Object(Default::default());
    }
    serde_json::from_value(value).map_err(|e| Error::Decode {
        what: format!("/{}", log_path(what)),
        message: e.to_string(),
    })
}

fn type_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The error and its sources, joined with ": " (consecutive duplicates dropped).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
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

fn classify(e: &reqwest::Error) -> TransportKind {
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
    use crate::config::Credentials;

    fn client() -> Client {
        Client::new(ClusterConfig::new(
            "http://127.0.0.1:9",
            Credentials::new("admin", "hunter2"),
        ))
        .unwrap()
    }

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            body: body.as_bytes().to_vec(),
            attempts: 1,
        }
    }

    #[test]
    fn statuses_map_to_typed_errors() {
        let c = client();
        let res = Context::Resource {
            kind: "VirDomainSnapshot",
            id: "s1",
        };
        let act = Context::Action { id: "v1" };
        let e = c.status_error(
            &reply(400, "Request has one or more errors\n  In body: bad"),
            res,
        );
        assert!(
            matches!(&e, Error::Validation { status: 400, message } if message.contains("In body: bad")),
            "{e:?}"
        );
        let e = c.status_error(&reply(403, r#"{"error":"no"}"#), res);
        assert!(matches!(e, Error::PermissionDenied { .. }));
        let e = c.status_error(&reply(404, ""), res);
        assert!(
            matches!(&e, Error::NotFound { kind, id } if kind == "VirDomainSnapshot" && id == "s1")
        );
        let e = c.status_error(
            &reply(500, r#"{"error":"An internal error occurred"}"#),
            act,
        );
        assert!(
            matches!(&e, Error::InvalidState { message } if message == "An internal error occurred")
        );
        let e = c.status_error(&reply(500, "{}"), res);
        assert!(matches!(e, Error::Server { status: 500, .. }) && e.is_retryable());
        let e = c.status_error(&reply(503, "busy"), res);
        assert!(e.is_retryable());
        let e = c.status_error(&reply(401, "{}"), res);
        assert!(matches!(e, Error::Auth { .. }));
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
    fn giving_up_names_the_attempts() {
        let e = gave_up(
            Err(Error::Transport {
                kind: TransportKind::Io,
                url: "u".into(),
                message: "reset".into(),
            }),
            3,
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("gave up after 3 attempts"), "{e}");
        let r = gave_up(Ok(reply(503, "busy")), 3).ok().unwrap();
        let e = client().status_error(
            &r,
            Context::Resource {
                kind: "Node",
                id: "",
            },
        );
        assert!(
            matches!(&e, Error::Server { status: 503, message } if message.contains("gave up after 3 attempts")),
            "{e:?}"
        );
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

    #[test]
    fn decoding_tolerates_objects_nulls_and_empty_bodies() {
        let v: Vec<crate::model::Cluster> =
            decode_list(br#"{"uuid":"c","clusterName":null}"#, "Cluster").unwrap();
        assert_eq!(v[0].uuid, "c");
        let v: Vec<crate::model::Cluster> = decode_list(b"", "Cluster").unwrap();
        assert!(v.is_empty());
        let e = decode_list::<crate::model::Cluster>(b"<html>oops</html>", "Cluster").unwrap_err();
        assert!(matches!(e, Error::Decode { .. }));
        let r: crate::model::TaskResult =
            decode_one(br#"[{"taskTag":"5","createdUUID":""}]"#, "x").unwrap();
        assert_eq!(r.task_tag, "5");
    }

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
