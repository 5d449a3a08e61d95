//! The worker's Prometheus metrics: its tool calls, every HyperCore REST request by endpoint
//! class, method and status class with its duration, read-cache hits and misses, and task
//! waits. It hears the HyperCore client through `hypercore::observe`, so the client crate does
//! not depend on a metrics library. Labels are static words or catalog tool names only.

use std::time::Duration;

use hypercore::observe::{Observer, RequestRecord, WaitOutcome};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolOutcomeLabels {
    tool: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    tool: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: &'static str,
    method: &'static str,
    status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
    method: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// Buckets for durations, in seconds (1 ms .. 60 s).
const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
];

/// Buckets for task waits, in seconds (100 ms .. 30 min).
const WAIT_BUCKETS: [f64; 10] = [0.1, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every series a worker keeps, registered once.
pub struct WorkerMetrics {
    registry: Registry,
    calls: Family<ToolOutcomeLabels, Counter>,
    call_seconds: Histograms<ToolLabels>,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Histograms<EndpointLabels>,
    waits: Family<OutcomeLabels, Counter>,
    wait_seconds: Histogram,
    cache: Family<ResultLabels, Counter>,
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("hyperfed_worker");
        let calls = Family::<ToolOutcomeLabels, Counter>::default();
        registry.register(
            "tool_calls",
            "Tool calls served, by tool and outcome (ok, tool_error)",
            calls.clone(),
        );
        let call_seconds: Histograms<ToolLabels> =
            Family::new_with_constructor(duration_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "tool_call_duration",
            "How long tool calls took, by tool",
            Unit::Seconds,
            call_seconds.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "hypercore_requests",
            "HyperCore REST requests (each attempt), by endpoint class, method and status class (2xx..5xx, error: no answer)",
            requests.clone(),
        );
        let request_seconds: Histograms<EndpointLabels> =
            Family::new_with_constructor(duration_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "hypercore_request_duration",
            "How long HyperCore REST requests took, by endpoint class and method",
            Unit::Seconds,
            request_seconds.clone(),
        );
        let waits = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "task_waits",
            "HyperCore task waits, by outcome (done, failed, timeout, cancelled, error)",
            waits.clone(),
        );
        let wait_seconds = Histogram::new(WAIT_BUCKETS);
        registry.register_with_unit(
            "task_wait_duration",
            "How long HyperCore task waits took",
            Unit::Seconds,
            wait_seconds.clone(),
        );
        let cache = Family::<ResultLabels, Counter>::default();
        registry.register(
            "read_cache_requests",
            "Collection reads, by whether the read cache answered them (hit: cached or joined a read in flight) or the cluster was asked (miss)",
            cache.clone(),
        );
        WorkerMetrics {
            registry,
            calls,
            call_seconds,
            requests,
            request_seconds,
            waits,
            wait_seconds,
            cache,
        }
    }
}

impl WorkerMetrics {
    /// Counts one tool call of catalog tool `tool` (`other` for an unknown name).
    pub(crate) fn tool_call(&self, tool: &'static str, ok: bool, took: Duration) {
        let outcome = if ok { "ok" } else { "tool_error" };
        self.calls
            .get_or_create(&ToolOutcomeLabels { tool, outcome })
            .inc();
        self.call_seconds
            .get_or_create(&ToolLabels { tool })
            .observe(took.as_secs_f64());
    }

    /// Counts one collection read answered by the cache (`hit`) or by the cluster.
    pub(crate) fn read_cache(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.cache.get_or_create(&ResultLabels { result }).inc();
    }

    /// The Prometheus text of every series.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
        {
            tracing::warn!(error = %e, "cannot encode the worker's metrics");
        }
        text
    }
}

impl Observer for WorkerMetrics {
    fn request(&self, record: &RequestRecord) {
        self.requests
            .get_or_create(&RequestLabels {
                endpoint: record.endpoint,
                method: record.method,
                status: record.status,
            })
            .inc();
        self.request_seconds
            .get_or_create(&EndpointLabels {
                endpoint: record.endpoint,
                method: record.method,
            })
            .observe(record.elapsed.as_secs_f64());
    }

    fn task_wait(&self, outcome: WaitOutcome, elapsed: Duration) {
        self.waits
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
        self.wait_seconds.observe(elapsed.as_secs_f64());
    }
}

impl std::fmt::Debug for WorkerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerMetrics").finish_non_exhaustive()
    }
}
