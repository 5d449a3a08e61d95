//! Resource subscriptions of one MCP session (`resources/subscribe`): the URIs it watches and
//! one task that re-reads them every second, sending `notifications/resources/updated` for
//! each whose content changed. A resource is thus announced at most once per second however
//! often it changes, and the task ends with the session or its last subscription.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::ResourceUpdatedNotificationParam;
use rmcp::service::{Peer, RoleServer};
use tokio_util::sync::CancellationToken;

/// How often subscribed resources are re-read: also the least time between two
/// `notifications/resources/updated` for one resource.
pub const WATCH_PERIOD: Duration = Duration::from_secs(1);
/// Most URIs one session may watch (more are refused, naming the limit).
pub const MAX_SUBSCRIPTIONS: usize = 1000;

/// A boxed fingerprint future (what a resource's content hashes to now).
pub type FingerprintFuture = Pin<Box<dyn Future<Output = u64> + Send>>;

/// Reads a resource and hashes what a subscriber would see (the same hash means no update).
pub trait Fingerprint: Send + Sync + 'static {
    /// The fingerprint of `uri` now; a read failure hashes its kind (not its varying text).
    fn fingerprint(&self, uri: String) -> FingerprintFuture;
}

/// Where updates go: the session's peer in production, a recorder in tests.
pub trait UpdateSink: Send + Sync + 'static {
    /// Sends one `notifications/resources/updated`; `false` when the session is gone.
    fn updated(&self, uri: String) -> Pin<Box<dyn Future<Output = bool> + Send + '_>>;
    /// Whether the session has ended (the watch then stops).
    fn closed(&self) -> bool;
}

impl UpdateSink for Peer<RoleServer> {
    fn updated(&self, uri: String) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(async move {
            self.notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                .await
                .is_ok()
        })
    }

    fn closed(&self) -> bool {
        self.is_transport_closed()
    }
}

/// Hashes any value: the fingerprint of a resource's content.
pub fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

#[derive(Default)]
struct Watched {
    uris: BTreeSet<String>,
    running: bool,
}

/// One session's subscriptions (cheap to clone; clones share them).
#[derive(Clone, Default)]
pub struct ResourceSubscriptions {
    watched: Arc<Mutex<Watched>>,
}

impl ResourceSubscriptions {
    /// Watches `uri` for this session, starting the session's watch task if needed. A URI that
    /// names no resource yet (a cluster that has not joined) is accepted and simply never
    /// changes until it exists.
    pub fn subscribe(
        &self,
        uri: String,
        sink: impl UpdateSink,
        source: Arc<dyn Fingerprint>,
        stop: CancellationToken,
    ) -> Result<(), String> {
        let start = {
            let mut w = self
                .watched
                .lock()
                .map_err(|_| "subscriptions unavailable")?;
            if !w.uris.contains(&uri) && w.uris.len() >= MAX_SUBSCRIPTIONS {
                return Err(format!(
                    "uri: this session already watches {MAX_SUBSCRIPTIONS} resources; unsubscribe from one first"
                ));
            }
            w.uris.insert(uri);
            !std::mem::replace(&mut w.running, true)
        };
        if start {
            let watched = self.watched.clone();
            tokio::spawn(watch(watched, sink, source, stop, WATCH_PERIOD));
        }
        Ok(())
    }

    /// Stops watching `uri` (not watched: nothing to do).
    pub fn unsubscribe(&self, uri: &str) {
        if let Ok(mut w) = self.watched.lock() {
            w.uris.remove(uri);
        }
    }

    /// The URIs watched now, sorted.
    pub fn uris(&self) -> Vec<String> {
        self.watched
            .lock()
            .map(|w| w.uris.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// The watch loop: every `period`, fingerprint every watched URI and announce the changed ones.
async fn watch(
    watched: Arc<Mutex<Watched>>,
    sink: impl UpdateSink,
    source: Arc<dyn Fingerprint>,
    stop: CancellationToken,
    period: Duration,
) {
    let mut last: HashMap<String, u64> = HashMap::new();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let uris: Vec<String> = match watched.lock() {
            Ok(mut w) if w.uris.is_empty() || sink.closed() => {
                w.running = false;
                return;
            }
            Ok(w) => w.uris.iter().cloned().collect(),
            Err(_) => return,
        };
        last.retain(|uri, _| uris.contains(uri));
        let prints =
            futures_join_all(uris.iter().map(|u| source.fingerprint(u.clone())).collect()).await;
        let mut gone = false;
        for (uri, print) in uris.into_iter().zip(prints) {
            // The first read is the baseline; only a later change is an update.
            let changed = last
                .insert(uri.clone(), print)
                .is_some_and(|before| before != print);
            if changed && !sink.updated(uri).await {
                gone = true;
                break;
            }
        }
        if gone {
            break;
        }
    }
    if let Ok(mut w) = watched.lock() {
        w.running = false;
    }
}

/// Awaits every fingerprint concurrently (the reads are independent).
async fn futures_join_all(futs: Vec<FingerprintFuture>) -> Vec<u64> {
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap_or(0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Content that changes on every read of `busy`, never for `calm`.
    struct Changing(AtomicU64);
    impl Fingerprint for Changing {
        fn fingerprint(&self, uri: String) -> FingerprintFuture {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move { if uri == "busy" { n } else { 7 } })
        }
    }

    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<String>>>);
    impl UpdateSink for Recorder {
        fn updated(&self, uri: String) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
            self.0.lock().unwrap().push(uri);
            Box::pin(async { true })
        }
        fn closed(&self) -> bool {
            false
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_resource_changing_constantly_is_announced_once_per_period_and_a_calm_one_never() {
        let subs = ResourceSubscriptions::default();
        let sink = Recorder::default();
        let stop = CancellationToken::new();
        let source: Arc<dyn Fingerprint> = Arc::new(Changing(AtomicU64::new(0)));
        subs.subscribe("busy".into(), sink.clone(), source.clone(), stop.clone())
            .unwrap();
        subs.subscribe("calm".into(), sink.clone(), source, stop.clone())
            .unwrap();
        // Ten periods: the baseline read, then at most one announcement per period.
        tokio::time::sleep(WATCH_PERIOD * 10 + Duration::from_millis(10)).await;
        let seen = sink.0.lock().unwrap().clone();
        assert!(seen.iter().all(|u| u == "busy"), "{seen:?}");
        assert!(
            (9..=10).contains(&seen.len()),
            "one update per period, got {}",
            seen.len()
        );
        subs.unsubscribe("busy");
        subs.unsubscribe("calm");
        tokio::time::sleep(WATCH_PERIOD * 3).await;
        let after = sink.0.lock().unwrap().len();
        assert!(after <= seen.len() + 1, "no updates after unsubscribing");
        assert!(subs.uris().is_empty());
        stop.cancel();
    }

    #[tokio::test]
    async fn a_session_watches_a_bounded_number_of_uris() {
        let subs = ResourceSubscriptions::default();
        let stop = CancellationToken::new();
        let source: Arc<dyn Fingerprint> = Arc::new(Changing(AtomicU64::new(0)));
        for i in 0..MAX_SUBSCRIPTIONS {
            subs.subscribe(
                format!("u{i}"),
                Recorder::default(),
                source.clone(),
                stop.clone(),
            )
            .unwrap();
        }
        let err = subs
            .subscribe("one-more".into(), Recorder::default(), source, stop.clone())
            .unwrap_err();
        assert!(err.starts_with("uri: "), "{err}");
        stop.cancel();
    }
}
