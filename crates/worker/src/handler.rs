//! The MCP face of the worker: an rmcp `ServerHandler` serving the catalog's tools and three
//! JSON resources. The same handler serves streamable HTTP sessions and stdio.

use std::sync::Arc;

use hyperfed_http::resource_watch::ResourceSubscriptions;
use hyperfed_http::session_log::{Level, SessionLogLevel};
#[allow(deprecated)]
// logging/setLevel: deprecated by SEP-2577, still in every session revision
use rmcp::model::SetLevelRequestParams;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    ContentBlock, GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, ServerConfig, SubscribeRequestParams, Tool,
    UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

pub use crate::resources::{RESOURCE_CONDITIONS, RESOURCE_STATUS, RESOURCE_VMS};

use crate::elicit::{self, ConfirmChannel};
use crate::progress::ProgressReporter;
use crate::state::WorkerState;
use crate::{prompts, resources, tools};

/// The worker's MCP server: cheap to clone, one per session.
#[derive(Clone)]
pub struct WorkerMcp {
    state: Arc<WorkerState>,
    tools: Arc<Vec<Tool>>,
    /// This session's resource subscriptions.
    subscriptions: ResourceSubscriptions,
    /// The logging level this session asked for.
    log_level: SessionLogLevel,
    /// Ends this session's subscription watch when the handler is dropped with the session.
    session_end: Arc<SessionEnd>,
}

/// Cancels the session's background work when the last handle of the session goes.
struct SessionEnd(CancellationToken);

impl Drop for SessionEnd {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl WorkerMcp {
    /// A handler over shared worker state.
    pub(crate) fn new(state: Arc<WorkerState>) -> Self {
        let tools = state.catalog.tools();
        WorkerMcp {
            state,
            tools,
            subscriptions: ResourceSubscriptions::default(),
            log_level: SessionLogLevel::default(),
            session_end: Arc::new(SessionEnd(CancellationToken::new())),
        }
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

impl ServerHandler for WorkerMcp {
    #[allow(deprecated)] // enable_logging: see set_level
    fn get_info(&self) -> ServerConfig {
        let id = self.state.identity();
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_logging()
                .enable_completions()
                .enable_prompts()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_tools()
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
        let log = self
            .log_level
            .sink(context.peer.clone(), &context.meta, "hyperfed-worker");
        let tool = request.name.into_owned();
        log.log(Level::Debug, json!({"event": "tool call", "tool": tool}))
            .await;
        let response = if matches!(channel, ConfirmChannel::Token) {
            run_tool(self.state.clone(), tool.clone(), args, progress)
                .await
                .into()
        } else {
            let id = self.state.identity();
            let cluster = format!("'{}' ({})", id.name, id.uuid);
            let cancel = progress.cancellation();
            let run = |args| run_tool(self.state.clone(), tool.clone(), args, progress.clone());
            let asking = elicit::Asking {
                tool: &tool,
                cluster: &cluster,
                channel,
                timeout: self.state.confirmations.ttl(),
                cancelled: cancel,
            };
            elicit::run_confirmed(asking, answered, args, run).await
        };
        if matches!(&response, CallToolResponse::Complete(r) if r.is_error == Some(true)) {
            log.log(
                Level::Warning,
                json!({"event": "tool call failed", "tool": tool}),
            )
            .await;
        }
        Ok(response)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(resources::list())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        Ok(resources::read(&self.state, &request.uri).await?.into())
    }

    #[allow(deprecated)] // resources/subscribe is what every session-based client sends
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscriptions
            .subscribe(
                request.uri,
                context.peer.clone(),
                Arc::new(resources::WorkerFingerprint(self.state.clone())),
                self.session_end.0.clone(),
            )
            .map_err(|e| ErrorData::invalid_params(e, None))
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscriptions.unsubscribe(&request.uri);
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(prompts::list())
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        Ok(prompts::get(request)?.into())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        Ok(prompts::complete(&self.state, request).await)
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.log_level.set(&request);
        Ok(())
    }
}
