//! The hub's Prometheus series, behind methods: counting (for the modules that serve calls)
//! and the text of every series with the clusters' state read at scrape time.

use hyperfed_protocol::join::unix_now;

use super::Hub;
use crate::metrics::HubMetrics;

impl Hub {
    /// The Prometheus series this hub keeps.
    pub(crate) fn metrics(&self) -> &HubMetrics {
        &self.metrics
    }

    /// The Prometheus text of every series, cluster states read now.
    pub(crate) fn render_metrics(&self) -> String {
        self.metrics.render(&self.registry.summaries(), unix_now())
    }
}
