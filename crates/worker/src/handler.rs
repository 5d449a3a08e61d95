//! The MCP face of the worker: an rmcp `ServerHandler` serving the catalog's tools and three
//! JSON resources. The same handler serves streamable HTTP sessions and stdio.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler};
use serde_json::{Map, Value};

use crate::elicit::{self, ConfirmChannel};
use crate::progress::ProgressReporter;
use crate::state::WorkerState;
use crate::tools;

/// URI of the cluster summary resource.
pub const RESOURCE_STATUS: &str = "hypercore://cluster/status";
/// URI of the VM list resource.
pub const RESOURCE_VMS: &str = "hypercore://vms";
/// URI of the raised-conditions resource.
pub const RESOURCE_CONDITIONS: &str = "hypercore://conditions";

/// The worker's MCP server: cheap to clone, one per session.
#[derive(Clone)]
pub struct WorkerMcp {
    state: Arc<WorkerState>,
    tools: Arc<Vec<Tool>>,
}

impl WorkerMcp {
    /// A handler over shared worker state.
    pub(crate) fn new(state: Arc<WorkerState>) -> Self {
        let tools = state.catalog.tools();
        WorkerMcp { state, tools }
    }
}

/// Runs one tool call and shapes its result. The call runs on its own task, so a cancelled
/// request cannot leave an action half-observed.
pub(crate) async fn run_tool(
    state: Arc<WorkerState>,
    name: String,
    args: Map<String, Value>,
    progress: ProgressReporter,
) -> CallToolResult {
    let outcome = tokio::spawn(async move { state.call_tool(&name, args, progress).await })
        .await
        .unwrap_or_else(|e| Err(format!("the tool call failed internally: {e}")));
    match outcome {
        Ok(value) => CallToolResult::structured(value),
        Err(message) => CallToolResult::error(vec![ContentBlock::text(message)]),
    }
}

fn json_resource(uri: &str, value: &Value) -> ResourceContents {
    ResourceContents::TextResourceContents {
        uri: uri.to_owned(),
        mime_type: Some("application/json".to_owned()),
        text: serde_json::to_string_pretty(value).unwrap_or_default(),
        meta: None,
    }
}

impl ServerHandler for WorkerMcp {
    fn get_info(&self) -> ServerConfig {
        let id = self.state.identity();
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new(
            "hyperfed-worker",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(format!(
            "Tools for one SCALE Computing HyperCore cluster{}. Start with cluster_info or vm_list. `vm` is a VM uuid or exact name (an ambiguous name is refused with the candidates). Actions wait (bounded) for their task unless wait=false, and return task_tag, the task state and the VM; a failed task is an error result. Destructive tools ({}) first return a preview and a confirm_token; repeat the same call with confirm_token to execute. List tools return total, count and next_cursor and stay within 16 KiB by default: narrow with their filters, pass cursor for the next page, limit for more rows, fields for fewer columns. Reads may be up to 1 s old.",
            if id.name.is_empty() {
                String::new()
            } else {
                format!(" ('{}', icosVersion {})", id.name, id.icos_version)
            },
            tools::always_destructive()
        ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items((*self.tools).clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.as_ref();
        if self.state.catalog.get(name).is_none() {
            return Err(ErrorData::invalid_params(
                format!("unknown tool '{name}': call tools/list for the tools this worker serves"),
                None,
            ));
        }
        let channel = ConfirmChannel::of(&context);
        let answered = hyperfed_protocol::confirm_mcp::answered(&request);
        let args: Map<String, Value> = request.arguments.unwrap_or_default();
        let progress = match context.meta.get_progress_token() {
            Some(token) => ProgressReporter::new(context.peer.clone(), token),
            None => ProgressReporter::none(),
        }
        .with_cancel(context.ct.clone());
        if matches!(channel, ConfirmChannel::Token) {
            return Ok(run_tool(
                self.state.clone(),
                request.name.into_owned(),
                args,
                progress,
            )
            .await
            .into());
        }
        let id = self.state.identity();
        let cluster = format!("'{}' ({})", id.name, id.uuid);
        let name = request.name.into_owned();
        let cancel = progress.cancellation();
        let run = |args| run_tool(self.state.clone(), name.clone(), args, progress.clone());
        let asking = elicit::Asking {
            tool: &name,
            cluster: &cluster,
            channel,
            timeout: self.state.confirmations.ttl(),
            cancelled: cancel,
        };
        Ok(elicit::run_confirmed(asking, answered, args, run).await)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new(RESOURCE_STATUS, "cluster_status")
                .with_title("Cluster status")
                .with_description("The cluster summary (same as the cluster_info tool).")
                .with_mime_type("application/json"),
            Resource::new(RESOURCE_VMS, "vms")
                .with_title("VMs")
                .with_description("Every VM as a compact row (same as vm_list).")
                .with_mime_type("application/json"),
            Resource::new(RESOURCE_CONDITIONS, "conditions")
                .with_title("Raised conditions")
                .with_description("Raised health conditions (same as condition_list).")
                .with_mime_type("application/json"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri.as_str();
        let value = match uri {
            RESOURCE_STATUS => self.state.read("cluster_info").await,
            RESOURCE_VMS => self.state.read("vm_list").await,
            RESOURCE_CONDITIONS => self.state.read("condition_list").await,
            other => {
                return Err(ErrorData::resource_not_found(
                    format!(
                        "unknown resource '{other}'; this worker serves {RESOURCE_STATUS}, {RESOURCE_VMS} and {RESOURCE_CONDITIONS}"
                    ),
                    None,
                ));
            }
        };
        match value {
            Ok(v) => Ok(ReadResourceResult::new(vec![json_resource(uri, &v)]).into()),
            Err(msg) => Err(ErrorData::internal_error(msg, None)),
        }
    }
}
