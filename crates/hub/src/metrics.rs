//! The hub's Prometheus metrics: tool calls by tool, cluster and outcome with their duration,
//! fan-outs and their unanswered clusters, joins, leaves and refused joins, audit records, and
//! (read at scrape time from the registry) each cluster's up/down state and heartbeat age.
//! Labels come only from the catalog and the registry (or fixed words), never from a client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::cluster::{ClusterSummary, Health};
use crate::error::HubError;

/// A label value shared by every series that uses it (cloning it allocates nothing).
pub(crate) type Label = Arc<str>;

/// The label of a tool or cluster the catalog does not know (client input is never a label).
pub(crate) const OTHER: &str = "other";
/// The cluster label of the hub's own fleet tools (they span clusters).
pub(crate) const FLEET: &str = "fleet";

/// How one tool call ended, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallOutcome {
    /// A result that is not an error.
    Ok,
    /// The tool (or the worker) answered with an error, or the call's arguments were wrong.
    ToolError,
    /// The hub refused it: scope, unknown tool, or a cluster that cannot take calls.
    Refused,
    /// No answer within the call timeout.
    Timeout,
    /// The worker was lost mid-call (link ended, cluster went down, hub stopping).
    Lost,
}

impl CallOutcome {
    fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::ToolError => "tool_error",
            CallOutcome::Refused => "refused",
            CallOutcome::Timeout => "timeout",
            CallOutcome::Lost => "lost",
        }
    }

    /// The outcome of a call that failed with `e`.
    pub(crate) fn of_error(e: &HubError) -> Self {
        match e {
            HubError::UpstreamLost { .. } if e.is_timeout() => CallOutcome::Timeout,
            HubError::UpstreamLost { .. } => CallOutcome::Lost,
            HubError::Forbidden(_) | HubError::UnknownCluster(_) | HubError::Unavailable { .. } => {
                CallOutcome::Refused
            }
            HubError::BadRequest(_) | HubError::Upstream { .. } => CallOutcome::ToolError,
            // The hub could not run it (e.g. its audit record could not be written).
            HubError::Config(_) | HubError::Bind { .. } | HubError::Storage(_) => {
                CallOutcome::Refused
            }
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    tool: Label,
    cluster: Label,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolOutcomeLabels {
    tool: Label,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    tool: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterLabels {
    cluster: Label,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    cluster: String,
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AliasLabels {
    cluster: String,
}

/// Buckets for call and fan-out durations, in seconds (1 ms .. 60 s).
const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The audit outcomes counted by name; any other outcome is counted as `other`.
const AUDIT_OUTCOMES: &[&str] = &[
    "pending",
    "ok",
    "error",
    "unknown",
    "cancelled",
    "confirmation_required",
    "refused",
];

/// Every series the hub keeps, registered once.
pub(crate) struct HubMetrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    call_seconds: Family<ToolOutcomeLabels, Histogram, fn() -> Histogram>,
    fan_out_seconds: Family<ToolLabels, Histogram, fn() -> Histogram>,
    unanswered: Family<ClusterLabels, Counter>,
    joins: Counter,
    leaves: Counter,
    join_refusals: Family<ReasonLabels, Counter>,
    audit: Family<OutcomeLabels, Counter>,
}

impl Default for HubMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("hyperfed_hub");
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "tool_calls",
            "Tool calls served, by tool, cluster and outcome (ok, tool_error, refused, timeout, lost)",
            calls.clone(),
        );
        let call_seconds = Family::new_with_constructor(duration_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "tool_call_duration",
            "How long tool calls took, by tool and outcome",
            Unit::Seconds,
            call_seconds.clone(),
        );
        let fan_out_seconds = Family::new_with_constructor(duration_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "fan_out_duration",
            "How long fan-out reads across clusters took, by the worker tool fanned out",
            Unit::Seconds,
            fan_out_seconds.clone(),
        );
        let unanswered = Family::<ClusterLabels, Counter>::default();
        registry.register(
            "fan_out_unanswered",
            "Clusters that gave no answer to a fan-out (error or fan-out timeout), by cluster",
            unanswered.clone(),
        );
        let joins = Counter::default();
        registry.register("joins", "Worker joins accepted", joins.clone());
        let leaves = Counter::default();
        registry.register("leaves", "Workers that left on purpose", leaves.clone());
        let join_refusals = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "join_refusals",
            "Worker joins refused, by reason (unauthorized, bad_request, conflict, unreachable)",
            join_refusals.clone(),
        );
        let audit = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "audit_records",
            "Audit records written, by outcome (pending when a mutating call starts, then its outcome)",
            audit.clone(),
        );
        HubMetrics {
            registry,
            calls,
            call_seconds,
            fan_out_seconds,
            unanswered,
            joins,
            leaves,
            join_refusals,
            audit,
        }
    }
}

impl HubMetrics {
    /// Counts one tool call (labels from the catalog) and its duration.
    pub(crate) fn call(&self, tool: &Label, cluster: &Label, outcome: CallOutcome, took: Duration) {
        let outcome = outcome.as_str();
        self.calls
            .get_or_create(&CallLabels {
                tool: tool.clone(),
                cluster: cluster.clone(),
                outcome,
            })
            .inc();
        self.call_seconds
            .get_or_create(&ToolOutcomeLabels {
                tool: tool.clone(),
                outcome,
            })
            .observe(took.as_secs_f64());
    }

    /// Counts one fan-out of `tool` that started at `started`, and its unanswered clusters
    /// (their labels come from the registry via `label_of`).
    pub(crate) fn fan_out(
        &self,
        tool: &'static str,
        started: Instant,
        unanswered: impl IntoIterator<Item = Label>,
    ) {
        self.fan_out_seconds
            .get_or_create(&ToolLabels { tool })
            .observe(started.elapsed().as_secs_f64());
        for cluster in unanswered {
            self.unanswered
                .get_or_create(&ClusterLabels { cluster })
                .inc();
        }
    }

    /// Counts a join: accepted (`None`), or refused for `reason`.
    pub(crate) fn join(&self, refused: Option<&'static str>) {
        match refused {
            None => {
                self.joins.inc();
            }
            Some(reason) => self.join_refused(reason),
        }
    }

    /// Counts a worker leaving on purpose.
    pub(crate) fn left(&self) {
        self.leaves.inc();
    }

    /// Counts a refused join by its reason.
    fn join_refused(&self, reason: &'static str) {
        self.join_refusals
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Counts one audit record written with `outcome`.
    pub(crate) fn audit(&self, outcome: &str) {
        let outcome = AUDIT_OUTCOMES
            .iter()
            .find(|o| **o == outcome)
            .copied()
            .unwrap_or(OTHER);
        self.audit.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// The Prometheus text of every series, with the per-cluster state read from `clusters`.
    pub(crate) fn render(&self, clusters: &[ClusterSummary], now_unix: u64) -> String {
        let mut text = String::new();
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
        {
            tracing::warn!(error = %e, "cannot encode the hub's metrics");
        }
        let mut live = Registry::with_prefix("hyperfed_hub");
        let up = Family::<AliasLabels, Gauge>::default();
        live.register(
            "cluster_up",
            "1 while a registered cluster is up (answering heartbeats), else 0",
            up.clone(),
        );
        let state = Family::<StateLabels, Gauge>::default();
        live.register(
            "cluster_state",
            "1 for the state each registered cluster is in (up, down, reconnecting)",
            state.clone(),
        );
        let age = Family::<AliasLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        live.register_with_unit(
            "cluster_heartbeat_age",
            "Time since each registered cluster's last heartbeat or join",
            Unit::Seconds,
            age.clone(),
        );
        let clusters_total = Gauge::<i64>::default();
        live.register(
            "clusters",
            "Registered clusters (any state)",
            clusters_total.clone(),
        );
        clusters_total.set(i64::try_from(clusters.len()).unwrap_or(i64::MAX));
        for c in clusters {
            let alias = AliasLabels {
                cluster: c.alias.clone(),
            };
            up.get_or_create(&alias)
                .set(i64::from(c.state == Health::Up));
            let name = match c.state {
                Health::Up => "up",
                Health::Down => "down",
                Health::Reconnecting => "reconnecting",
            };
            state
                .get_or_create(&StateLabels {
                    cluster: c.alias.clone(),
                    state: name,
                })
                .set(1);
            #[allow(clippy::cast_precision_loss)]
            age.get_or_create(&alias)
                .set(now_unix.saturating_sub(c.last_seen) as f64);
        }
        if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut text, &live) {
            tracing::warn!(error = %e, "cannot encode the hub's cluster metrics");
        }
        text
    }
}
