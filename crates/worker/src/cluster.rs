//! The worker's view of its cluster: typed reads of whole collections through the shared
//! HyperCore client, kept in a short-lived shared cache with request coalescing (a collection
//! is parsed again only when the cluster's answer changed), typed single-record reads, raw
//! requests for `api_request`, and the typed client for mutations and waits.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::metrics::WorkerMetrics;
use hypercore::{Client, Collection, RawBody};
use serde_json::Value;
use tokio::sync::OnceCell;

/// Default lifetime of a cached collection read.
pub const DEFAULT_READ_CACHE_TTL: Duration = Duration::from_secs(1);

/// A whole collection as parsed once and shared by every reader.
pub type Records<T> = Arc<Vec<T>>;

/// A parsed collection of some record type (the collection's path says which).
type AnyRecords = Arc<dyn Any + Send + Sync>;

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
    /// Counts read-cache hits and misses, when set.
    metrics: Option<Arc<WorkerMetrics>>,
}

/// How a collection read ended: when and what it read, or why it failed.
type Outcome = Result<(Instant, AnyRecords), Arc<hypercore::Error>>;

/// One upstream collection GET that concurrent readers share; its outcome stays readable
/// until the TTL passes or the cache is invalidated.
#[derive(Default)]
struct Flight {
    outcome: OnceCell<Outcome>,
}

/// Collection reads by path. Invalidation drops every entry (finished or in flight), so a
/// read that starts afterwards always asks the cluster again.
struct ReadCache {
    ttl: Duration,
    flights: Mutex<HashMap<&'static str, Arc<Flight>>>,
    /// The last parse of each collection with the fingerprint of the bytes it came from: most
    /// collections answer the same bytes poll after poll, and those are not parsed again.
    parsed: Mutex<HashMap<&'static str, (Fingerprint, AnyRecords)>>,
}

/// Length and SipHash of a response body.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Fingerprint(usize, u64);

impl Fingerprint {
    fn of(bytes: &[u8]) -> Self {
        use std::hash::Hasher as _;
        let mut hasher = std::hash::DefaultHasher::new();
        hasher.write(bytes);
        Fingerprint(bytes.len(), hasher.finish())
    }
}

impl ReadCache {
    /// The flight a reader of `collection` should join: a fresh cached one, the one in the air,
    /// or a new one.
    /// The flag is true when the reader joins an existing flight (a cache hit).
    fn flight(&self, collection: &'static str) -> (Arc<Flight>, bool) {
        let Ok(mut map) = self.flights.lock() else {
            return (Arc::new(Flight::default()), false);
        };
        if let Some(flight) = map.get(collection) {
            match flight.outcome.get() {
                None => return (flight.clone(), true),
                Some(Ok((at, _))) if at.elapsed() < self.ttl => return (flight.clone(), true),
                Some(_) => {}
            }
        }
        let flight = Arc::new(Flight::default());
        map.insert(collection, flight.clone());
        (flight, false)
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
            metrics: None,
        }
    }

    /// Counts this cluster's read-cache hits and misses in `metrics`.
    pub fn counting(mut self, metrics: Arc<WorkerMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
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

    /// Every record of collection `T` (`GET /rest/v1/{T::PATH}`), at most the read cache's
    /// TTL old; concurrent callers share one request and one parsed result.
    pub async fn list<T: Collection>(&self) -> Result<Records<T>, hypercore::Error> {
        let (flight, hit) = self.cache.flight(T::PATH);
        if let Some(m) = &self.metrics {
            m.read_cache(hit);
        }
        let outcome = flight.outcome.get_or_init(|| self.read_now::<T>()).await;
        match outcome {
            Ok((_, records)) => {
                records
                    .clone()
                    .downcast::<Vec<T>>()
                    .map_err(|_| hypercore::Error::Decode {
                        what: format!("/{}", T::PATH),
                        message: "cached records of another type".into(),
                    })
            }
            Err(e) => Err(copy_error(e)),
        }
    }

    /// Reads a collection now; the time recorded is when the request started.
    async fn read_now<T: Collection>(&self) -> Outcome {
        let started = Instant::now();
        self.fetch_all::<T>()
            .await
            .map(|records| (started, records))
            .map_err(Arc::new)
    }

    /// Every record of a collection, straight from the cluster (parsed again only when the
    /// cluster's answer differs from the last one).
    async fn fetch_all<T: Collection>(&self) -> Result<AnyRecords, hypercore::Error> {
        let (status, bytes) = self
            .client
            .raw_bytes(hypercore::Method::GET, T::PATH, None)
            .await?;
        if !(200..300).contains(&status) {
            return Err(status_error(status, &RawBody::decode(&bytes), T::PATH));
        }
        let print = Fingerprint::of(&bytes);
        if let Ok(parsed) = self.cache.parsed.lock()
            && let Some((known, records)) = parsed.get(T::PATH)
            && *known == print
        {
            return Ok(records.clone());
        }
        let records: AnyRecords = Arc::new(hypercore::parse_records::<T>(&bytes, T::PATH)?);
        if let Ok(mut parsed) = self.cache.parsed.lock() {
            parsed.insert(T::PATH, (print, records.clone()));
        }
        Ok(records)
    }

    /// One record of `T` by id, always asked of the cluster; `None` when HyperCore answers
    /// `[]` or 404, or the id could not name a record.
    pub async fn get<T: Collection>(&self, id: &str) -> Result<Option<T>, hypercore::Error> {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || id.contains("..")
        {
            return Ok(None);
        }
        let path = format!("{}/{id}", T::PATH);
        let (status, bytes) = self
            .client
            .raw_bytes(hypercore::Method::GET, &path, None)
            .await?;
        if status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            return Err(status_error(status, &RawBody::decode(&bytes), T::PATH));
        }
        Ok(hypercore::parse_records::<T>(&bytes, &path)?
            .into_iter()
            .next())
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
