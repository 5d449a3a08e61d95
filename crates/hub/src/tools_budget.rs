//! The `auto` tools mode: the namespaced list while it stays within the tool-list budget
//! (128 tools and 64 KiB of JSON), the compact list beyond it. The choice is made at every
//! catalog rebuild, so it follows clusters joining and leaving (each of which already pushes
//! `list_changed`), and the catalog says which mode it is in and why.

use hyperfed_protocol::budget::json_len_of;

use crate::catalog::{self, Catalog, CatalogCluster, ModeNote};
use crate::config::ToolsMode;

/// Most tools the auto mode lists namespaced.
pub(crate) const MAX_TOOLS: usize = 128;
/// Most bytes of tool definitions (compact JSON) the auto mode lists namespaced.
pub(crate) const MAX_LIST_BYTES: usize = 64 * 1024;

/// Builds the catalog for `clusters` in `mode`, resolving `auto` against the budget.
pub(crate) fn build(mode: ToolsMode, clusters: &[CatalogCluster]) -> Catalog {
    if mode != ToolsMode::Auto {
        return catalog::build(mode, clusters);
    }
    let namespaced = catalog::build(ToolsMode::Namespaced, clusters);
    let count = namespaced.tools.len();
    // Past the tool budget the bytes do not matter (and at hundreds of clusters are MBs).
    let bytes = (count <= MAX_TOOLS).then(|| json_len_of(&*namespaced.tools));
    let why = match bytes {
        Some(b) if b <= MAX_LIST_BYTES => {
            let mut fits = namespaced;
            fits.mode = ModeNote {
                active: ToolsMode::Namespaced,
                why: format!(
                    "--tools auto: the namespaced list ({count} tools, {} KiB) fits the budget of {MAX_TOOLS} tools and {} KiB",
                    b.div_ceil(1024),
                    MAX_LIST_BYTES / 1024
                ),
            };
            return fits;
        }
        Some(b) => format!(
            "--tools auto: the namespaced list would be {} KiB, over the budget of {} KiB",
            b.div_ceil(1024),
            MAX_LIST_BYTES / 1024
        ),
        None => format!(
            "--tools auto: the namespaced list would be {count} tools, over the budget of {MAX_TOOLS}"
        ),
    };
    let mut compact = catalog::build(ToolsMode::Compact, clusters);
    compact.mode = ModeNote {
        active: ToolsMode::Compact,
        why,
    };
    compact
}

/// The server instructions for a catalog in its mode.
pub(crate) fn instructions(note: &ModeNote) -> String {
    let naming = match note.active {
        ToolsMode::Compact => {
            "Each operation is one tool with a `cluster` argument (an alias from fleet_status); \
             VM tools find the cluster from `vm` (a VM uuid or <cluster>/<vm-name>)."
        }
        ToolsMode::Both => {
            "Cluster tools are named <cluster>__<tool>, and each operation is also one tool \
             with a `cluster` argument; VM actions accept a VM uuid or <cluster>/<vm-name>."
        }
        _ => {
            "Cluster tools are named <cluster>__<tool>; VM actions (vm_start, vm_stop, ...) \
             accept a VM uuid or <cluster>/<vm-name> and are routed to the owning cluster."
        }
    };
    format!(
        "HyperFed hub: many SCALE Computing HyperCore clusters behind one endpoint. Start with \
         fleet_status; vm_search finds VMs across clusters; placement_select ranks the clusters \
         where a new VM fits, vm_place creates it on the best, vm_move moves a VM between \
         clusters. {naming} List tools return total, \
         count and next_cursor and stay within 16 KiB by default: narrow with their filters, \
         pass cursor for the next page, limit for more rows, fields for fewer columns. \
         Destructive actions answer with a confirm_token first: call again with it to proceed. \
         Tools mode {} ({}).",
        note.active, note.why
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Health;
    use rmcp::model::{Tool, ToolAnnotations};
    use serde_json::json;
    use std::sync::Arc;

    fn cluster(i: usize, tools: usize) -> CatalogCluster {
        let tools = (0..tools)
            .map(|t| {
                Tool::new(
                    format!("tool_{t}"),
                    "does a thing",
                    Arc::new(
                        json!({"type": "object"})
                            .as_object()
                            .cloned()
                            .unwrap_or_default(),
                    ),
                )
                .with_annotations(ToolAnnotations::from_raw(
                    None,
                    Some(true),
                    Some(false),
                    Some(true),
                    Some(false),
                ))
            })
            .collect();
        CatalogCluster {
            alias: format!("c{i}"),
            cluster_name: format!("Cluster {i}"),
            health: Health::Up,
            tools: Arc::new(tools),
        }
    }

    #[test]
    fn auto_is_namespaced_within_the_budget_and_compact_beyond() {
        let small: Vec<_> = (0..2).map(|i| cluster(i, 10)).collect();
        let c = build(ToolsMode::Auto, &small);
        assert_eq!(c.mode.active, ToolsMode::Namespaced, "{}", c.mode.why);
        assert!(c.routes.contains_key("c0__tool_1"));
        let big: Vec<_> = (0..20).map(|i| cluster(i, 10)).collect();
        let c = build(ToolsMode::Auto, &big);
        assert_eq!(c.mode.active, ToolsMode::Compact);
        // 200 cluster tools plus the hub's own.
        let count = 200 + crate::fleet_decl::fleet_tools().len();
        assert!(c.mode.why.contains(&count.to_string()), "{}", c.mode.why);
        assert!(c.tools.len() <= MAX_TOOLS);
        assert!(!c.routes.contains_key("c0__tool_1"));
        assert!(instructions(&c.mode).contains("Tools mode compact"));
        let forced = build(ToolsMode::Namespaced, &big);
        assert_eq!(forced.mode.active, ToolsMode::Namespaced);
        assert!(forced.tools.len() > MAX_TOOLS);
    }
}
