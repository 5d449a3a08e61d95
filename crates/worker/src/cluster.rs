//! The worker's view of its cluster: JSON reads through the shared HyperCore client (so tool
//! output keeps every wire field the model may need), a short-lived shared cache of whole
//! collections with request coalescing, and the typed client for mutations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hypercore::{Client, RawBody};
use serde_json::Value;
use tokio::sync::OnceCell;

/// Default lifetime of a cached collection read.
pub const DEFAULT_READ_CACHE_TTL: Duration = Duration::from_secs(1);

/// A whole collection as parsed once and shared by every reader.
pub type Records = Arc<Vec<Value>>;

/// HTTP methods `api_request` may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PATCH.
    Patch,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
}

impl Method {
    fn to_http(self) -> hypercore::Method {
        match self {
            Method::Get => hypercore::Method::GET,
            Method::Post => hypercore::Method::POST,
            Method::Patch => hypercore::Method::PATCH,
            Method::Put => hypercore::Method::PUT,
            Method::Delete => hypercore::Method::DELETE,
        }
    }
}

/// One cluster, reached through one shared [`hypercore::Client`].
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    cache: Arc<ReadCache>,
}

/// How a collection read ended: when and what it read, or why it failed.
type Outcome = Result<(Instant, Records), Arc<hypercore::Error>>;

/// One upstream collection GET that concurrent readers share; its outcome stays readable
/// until the TTL passes or the cache is invalidated.
#[derive(Default)]
struct Flight {
    outcome: OnceCell<Outcome>,
}

/// Collection reads by name. Invalidation drops every entry (finished or in flight), so a
/// read that starts afterwards always asks the cluster again.
struct ReadCache {
    ttl: Duration,
    flights: Mutex<HashMap<String, Arc<Flight>>>,
    /// The last parse of each collection with the fingerprint of the bytes it came from: most
    /// collections answer the same bytes poll after poll, and those are not parsed again.
    parsed: Mutex<HashMap<String, (Fingerprint, Records)>>,
}

/// Length and SipHash of a response body.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Fingerprint(usize, u64);

impl Fingerprint {
    fn of(bytes: &[u8]) -> Self {
        use std::hash::Hasher as _;
        let mut h = std::hash::DefaultHasher::new();
        h.write(bytes);
        Fingerprint(bytes.len(), h.finish())
    }
}

impl ReadCache {
    /// The flight a reader of `collection` should join: a fresh cached one, the one in the air,
    /// or a new one.
    fn flight(&self, collection: &str) -> Arc<Flight> {
        let Ok(mut map) = self.flights.lock() else {
            return Arc::new(Flight::default());
        };
        if let Some(f) = map.get(collection) {
            match f.outcome.get() {
                None => return f.clone(),
                Some(Ok((at, _))) if at.elapsed() < self.ttl => return f.clone(),
                Some(_) => {}
            }
        }
        let f = Arc::new(Flight::default());
        map.insert(collection.to_owned(), f.clone());
        f
    }

    fn clear(&self) {
        if let Ok(mut map) = self.flights.lock() {
            map.clear();
        }
    }
}

/// A copy of a shared error for one more reader (hypercore errors are not `Clone`).
fn copy_error(e: &hypercore::Error) -> hypercore::Error {
    use hypercore::Error as E;
    match e {
        E::Auth { username, message } => E::Auth {
            username: username.clone(),
            message: message.clone(),
        },
        E::PermissionDenied { message } => E::PermissionDenied {
            message: message.clone(),
        },
        E::NotFound { kind, id } => E::NotFound {
            kind: kind.clone(),
            id: id.clone(),
        },
        E::InvalidState { message } => E::InvalidState {
            message: message.clone(),
        },
        E::Validation { status, message } => E::Validation {
            status: *status,
            message: message.clone(),
        },
        E::Session { message } => E::Session {
            message: message.clone(),
        },
        E::Server { status, message } => E::Server {
            status: *status,
            message: message.clone(),
        },
        E::Transport { kind, url, message } => E::Transport {
            kind: *kind,
            url: url.clone(),
            message: message.clone(),
        },
        E::OutcomeUnknown { what, url, message } => E::OutcomeUnknown {
            what: what.clone(),
            url: url.clone(),
            message: message.clone(),
        },
        E::Timeout { what, after } => E::Timeout {
            what: what.clone(),
            after: *after,
        },
        E::Cancelled { what } => E::Cancelled { what: what.clone() },
        E::Task { tag, message } => E::Task {
            tag: tag.clone(),
            message: message.clone(),
        },
        E::Decode { what, message } => E::Decode {
            what: what.clone(),
            message: message.clone(),
        },
        E::Config { message } => E::Config {
            message: message.clone(),
        },
        E::InvalidArgument { argument, message } => E::InvalidArgument {
            argument,
            message: message.clone(),
        },
    }
}

fn status_error(status: u16, body: &RawBody, what: &str) -> hypercore::Error {
    let message = match body {
        RawBody::Json(v) => v
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string()),
        RawBody::Text(t) => t.chars().take(300).collect(),
    };
    match status {
        403 => hypercore::Error::PermissionDenied { message },
        400..=499 => hypercore::Error::Validation { status, message },
        _ => hypercore::Error::Server {
            status,
            message: format!("{what}: {message}"),
        },
    }
}

impl Cluster {
    /// Wraps a client, caching collection reads for [`DEFAULT_READ_CACHE_TTL`].
    pub fn new(client: Client) -> Self {
        Self::with_read_cache_ttl(client, DEFAULT_READ_CACHE_TTL)
    }

    /// Wraps a client, caching collection reads for `ttl` (zero: no caching; concurrent
    /// identical reads still share one request).
    pub fn with_read_cache_ttl(client: Client, ttl: Duration) -> Self {
        Cluster {
            client,
            cache: Arc::new(ReadCache {
                ttl,
                flights: Mutex::new(HashMap::new()),
                parsed: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// How long a collection read is reused.
    pub fn read_cache_ttl(&self) -> Duration {
        self.cache.ttl
    }

    /// Forgets every cached read; called after each mutation this worker makes, before its
    /// result is returned, so the worker's own changes are visible to the next read.
    pub fn invalidate(&self) {
        self.cache.clear();
    }

    /// The typed client (mutations, waiting, logout).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Every record of a collection (`GET /rest/v1/{collection}`), at most the read cache's
    /// TTL old; concurrent callers share one request and one parsed result.
    pub async fn get_all(&self, collection: &str) -> Result<Records, hypercore::Error> {
        let flight = self.cache.flight(collection);
        let outcome = flight
            .outcome
            .get_or_init(|| self.read_now(collection))
            .await;
        match outcome {
            Ok((_, records)) => Ok(records.clone()),
            Err(e) => Err(copy_error(e)),
        }
    }

    /// Reads a collection now; the time recorded is when the request started.
    async fn read_now(&self, collection: &str) -> Outcome {
        let started = Instant::now();
        self.fetch_all(collection)
            .await
            .map(|items| (started, items))
            .map_err(Arc::new)
    }

    /// Every record of a collection, straight from the cluster (parsed again only when the
    /// cluster's answer differs from the last one).
    async fn fetch_all(&self, collection: &str) -> Result<Records, hypercore::Error> {
        let (status, bytes) = self
            .client
            .raw_bytes(hypercore::Method::GET, collection, None)
            .await?;
        if !(200..300).contains(&status) {
            return Err(status_error(status, &RawBody::decode(&bytes), collection));
        }
        let print = Fingerprint::of(&bytes);
        if let Ok(parsed) = self.cache.parsed.lock()
            && let Some((p, records)) = parsed.get(collection)
            && *p == print
        {
            return Ok(records.clone());
        }
        let records = match RawBody::decode(&bytes) {
            RawBody::Json(Value::Array(items)) => Arc::new(items),
            RawBody::Json(Value::Null) => Arc::new(Vec::new()),
            RawBody::Json(other @ Value::Object(_)) => Arc::new(vec![other]),
            _ => {
                return Err(hypercore::Error::Decode {
                    what: format!("/{collection}"),
                    message: "expected a JSON array".into(),
                });
            }
        };
        if let Ok(mut parsed) = self.cache.parsed.lock() {
            parsed.insert(collection.to_owned(), (print, records.clone()));
        }
        Ok(records)
    }

    /// One record by id; `None` when HyperCore answers `[]` or 404.
    pub async fn get_one(
        &self,
        collection: &str,
        id: &str,
    ) -> Result<Option<Value>, hypercore::Error> {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || id.contains("..")
        {
            return Ok(None);
        }
        let path = format!("{collection}/{id}");
        let resp = self.client.raw(hypercore::Method::GET, &path, None).await?;
        if resp.status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&resp.status) {
            return Err(status_error(resp.status, &resp.body, collection));
        }
        Ok(match resp.body {
            RawBody::Json(Value::Array(items)) => items.into_iter().next(),
            RawBody::Json(v @ Value::Object(_)) => Some(v),
            _ => None,
        })
    }

    /// Any request under `/rest/v1`; the status and body come back as they are.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), hypercore::Error> {
        let resp = self.client.raw(method.to_http(), path, body).await;
        if method != Method::Get {
            self.invalidate();
        }
        let resp = resp?;
        let body = match resp.body {
            RawBody::Json(v) => v,
            RawBody::Text(t) => Value::String(t),
        };
        Ok((resp.status, body))
    }

    /// The cluster's OpenAPI document.
    pub async fn openapi(&self) -> Result<Value, hypercore::Error> {
        self.client.openapi().await
    }
}
