//! The worker's tools. Each tool is one unit in its own file (or a small family's file): its
//! declaration and its handler, plus the preview of a destructive one, exported as a
//! [`ToolSpec`]. [`TOOLS`] lists them in `tools/list` order; dispatch, read-only filtering, the
//! confirmation gate and the server instructions are all derived from it and the declared
//! annotations. MCP and REST both call [`WorkerState::call_tool`].

mod action;
mod api_request;
mod api_search;
mod block_device_list;
mod call;
mod capacity;
mod cluster_info;
mod condition_list;
mod disk_add;
mod disk_resize;
mod drive_list;
mod iso_list;
mod network_device_list;
mod node_list;
mod page;
mod ping;
mod resolve;
mod rows;
mod schema;
mod snapshot_create;
mod snapshot_delete;
mod snapshot_list;
mod task_status;
mod user_list;
mod virtual_disk_list;
mod vm_clone;
mod vm_create;
mod vm_cycle;
mod vm_delete;
mod vm_export;
mod vm_get;
mod vm_list;
mod vm_power;
mod vm_stats;
mod vm_update;

use std::sync::LazyLock;

use futures::future::BoxFuture;
use serde_json::{Map, Value};

use crate::args;
use crate::catalog::ToolDef;
use crate::progress::ProgressReporter;
use crate::state::WorkerState;
pub(crate) use call::ToolCall;

/// A tool failure the model should read (becomes an `isError` result).
pub type ToolResult = Result<Value, String>;

/// Runs one call of a tool.
pub(crate) type Handler = for<'a> fn(ToolCall<'a>) -> BoxFuture<'a, ToolResult>;

/// One tool: its name, its declaration and its handler.
pub(crate) struct ToolSpec {
    /// The tool's name, as its declaration has it.
    pub name: &'static str,
    /// Builds the declaration; the flag says whether raw writes are allowed.
    pub declare: fn(bool) -> ToolDef,
    /// Runs one call (a destructive tool passes [`ToolCall::confirm`] before it changes anything).
    pub run: Handler,
}

/// Every tool the worker knows, in `tools/list` order.
pub(crate) const TOOLS: &[ToolSpec] = &[
    cluster_info::SPEC,
    node_list::SPEC,
    capacity::SPEC,
    vm_list::SPEC,
    vm_get::SPEC,
    vm_stats::SPEC,
    snapshot_list::SPEC,
    condition_list::SPEC,
    drive_list::SPEC,
    virtual_disk_list::SPEC,
    iso_list::SPEC,
    user_list::SPEC,
    network_device_list::SPEC,
    block_device_list::SPEC,
    task_status::SPEC,
    ping::SPEC,
    api_search::SPEC,
    api_request::SPEC,
    vm_power::VM_START,
    vm_power::VM_SHUTDOWN,
    vm_power::VM_STOP,
    vm_power::VM_REBOOT,
    vm_power::VM_RESET,
    vm_power::VM_MIGRATE,
    vm_power::VM_PAUSE,
    vm_power::VM_NMI,
    snapshot_create::SPEC,
    snapshot_delete::SPEC,
    vm_clone::SPEC,
    vm_export::SPEC,
    vm_update::SPEC,
    disk_add::SPEC,
    disk_resize::SPEC,
    vm_create::VM_CREATE,
    vm_create::VM_IMPORT,
    vm_delete::SPEC,
];

/// Every tool's declaration, in listing order; `allow_raw_writes` shapes `api_request`.
pub fn all_tools(allow_raw_writes: bool) -> Vec<ToolDef> {
    TOOLS
        .iter()
        .map(|spec| (spec.declare)(allow_raw_writes))
        .collect()
}

/// The tools that are destructive in every mode, as the server instructions name them.
pub(crate) fn always_destructive() -> &'static str {
    static NAMES: LazyLock<String> = LazyLock::new(|| {
        all_tools(false)
            .iter()
            .filter(|def| def.destructive)
            .map(|def| def.name)
            .collect::<Vec<_>>()
            .join(", ")
    });
    &NAMES
}

fn spec(name: &str) -> Option<&'static ToolSpec> {
    TOOLS.iter().find(|spec| spec.name == name)
}

impl WorkerState {
    /// Validates the arguments and runs tool `name` (which must be in the served catalog).
    pub async fn call_tool(
        &self,
        name: &str,
        args: Map<String, Value>,
        progress: ProgressReporter,
    ) -> ToolResult {
        let started = std::time::Instant::now();
        let (Some(def), Some(spec)) = (self.catalog.get(name), spec(name)) else {
            self.metrics.tool_call("other", false, started.elapsed());
            return Err(format!("unknown tool '{name}'"));
        };
        let out = self.run_checked(name, def, spec, args, progress).await;
        self.metrics
            .tool_call(def.name, out.is_ok(), started.elapsed());
        out
    }

    async fn run_checked(
        &self,
        name: &str,
        def: &ToolDef,
        spec: &ToolSpec,
        args: Map<String, Value>,
        progress: ProgressReporter,
    ) -> ToolResult {
        args::validate(name, &def.input, &args)?;
        if !self.identity_known() {
            // The cluster was unreachable at startup; previews and tokens need its identity.
            let _ = self.refresh_identity().await;
        }
        if def.read_only {
            tracing::debug!(tool = name, "tool call");
        } else {
            tracing::info!(tool = name, "tool call");
        }
        let call = ToolCall {
            state: self,
            def,
            args: &args,
            progress: &progress,
        };
        let out = (spec.run)(call).await;
        if !def.read_only {
            // Whatever this call changed (or may have changed) shows in the very next read.
            self.cluster.invalidate();
        }
        if let Err(msg) = &out {
            tracing::info!(tool = name, error = %msg, "tool call failed");
        }
        out
    }

    /// Runs read-only tool `name` with no arguments, unchecked and unlogged (the MCP
    /// resources and `GET /v1/status` show the same data as the tools).
    pub async fn read(&self, name: &str) -> ToolResult {
        let (Some(def), Some(spec)) = (self.catalog.get(name), spec(name)) else {
            return Err(format!("unknown tool '{name}'"));
        };
        let args = Map::new();
        let progress = ProgressReporter::none();
        let call = ToolCall {
            state: self,
            def,
            args: &args,
            progress: &progress,
        };
        (spec.run)(call).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn names_and_annotations_are_sound() {
        let defs = all_tools(false);
        assert!(defs.len() >= 29);
        let mut names = std::collections::HashSet::new();
        for (d, spec) in defs.iter().zip(TOOLS) {
            assert_eq!(d.name, spec.name, "a spec's name and its declaration agree");
            assert!(
                !d.name.is_empty()
                    && d.name.len() <= 30
                    && d.name
                        .bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'),
                "{}",
                d.name
            );
            assert!(names.insert(d.name), "duplicate {}", d.name);
            assert!(
                d.description.len() > 40,
                "{} needs a real description",
                d.name
            );
            assert!(!(d.read_only && d.destructive), "{}", d.name);
            if d.destructive {
                assert!(
                    d.input["properties"].get("confirm_token").is_some(),
                    "{} is destructive but takes no confirm_token",
                    d.name
                );
            }
        }
        let destructive: Vec<&str> = defs
            .iter()
            .filter(|d| d.destructive)
            .map(|d| d.name)
            .collect();
        assert_eq!(
            destructive,
            [
                "vm_stop",
                "vm_reset",
                "vm_nmi",
                "snapshot_delete",
                "vm_delete"
            ]
        );
        assert_eq!(
            always_destructive(),
            "vm_stop, vm_reset, vm_nmi, snapshot_delete, vm_delete"
        );
    }

    #[test]
    fn read_only_catalog_has_only_reads() {
        let c = Catalog::new(all_tools(false), true);
        assert!(c.defs().iter().all(|d| d.read_only));
        assert!(c.get("api_request").is_some());
        assert!(c.get("vm_stop").is_none());
        let w = Catalog::new(all_tools(true), false);
        assert!(w.get("api_request").is_some_and(|d| d.destructive));
    }
}
