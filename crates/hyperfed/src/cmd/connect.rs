//! `hyperfed connect URL`: a stdio MCP server that relays everything to a hub or worker over
//! streamable HTTP, for clients that only speak stdio (Claude Desktop). Tool lists, calls,
//! resources, progress, cancellation and list_changed pass straight through.

use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, ServerConfig,
};
use rmcp::service::{NotificationContext, Peer, RequestContext, RoleClient, RoleServer};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ErrorData, ServerHandler, ServiceExt};

/// Arguments of `hyperfed connect`.
#[derive(clap::Args)]
pub struct ConnectArgs {
    /// The MCP endpoint to relay to, e.g. http://127.0.0.1:8000/mcp.
    pub url: String,
    /// Bearer token for that endpoint.
    #[arg(long, env = "HYPERFED_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

type Downstream = Arc<Mutex<Option<Peer<RoleServer>>>>;

fn downstream_peer(slot: &Downstream) -> Option<Peer<RoleServer>> {
    slot.lock().ok().and_then(|g| g.clone())
}

/// Receives the upstream server's notifications and forwards them to the stdio client.
#[derive(Clone)]
struct UpstreamEvents {
    downstream: Downstream,
}

impl ClientHandler for UpstreamEvents {
    async fn on_tool_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        if let Some(peer) = downstream_peer(&self.downstream) {
            let _ = peer.notify_tool_list_changed().await;
        }
    }

    async fn on_resource_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        if let Some(peer) = downstream_peer(&self.downstream) {
            let _ = peer.notify_resource_list_changed().await;
        }
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        // Progress tokens pass through unchanged: the bridge is one client to one server.
        if let Some(peer) = downstream_peer(&self.downstream) {
            let _ = peer.notify_progress(params).await;
        }
    }
}

/// The stdio-facing server: every request is answered by the upstream endpoint.
#[derive(Clone)]
struct Bridge {
    upstream: Peer<RoleClient>,
    capabilities: ServerCapabilities,
    instructions: Option<String>,
    downstream: Downstream,
}

fn upstream_error(e: rmcp::service::ServiceError) -> ErrorData {
    match e {
        rmcp::service::ServiceError::McpError(err) => err,
        other => ErrorData::internal_error(format!("upstream MCP endpoint failed: {other}"), None),
    }
}

impl ServerHandler for Bridge {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(self.capabilities.clone());
        info.server_info =
            rmcp::model::Implementation::new("hyperfed-connect", env!("CARGO_PKG_VERSION"));
        info.instructions = self.instructions.clone();
        info
    }

    async fn on_initialized(&self, ctx: NotificationContext<RoleServer>) {
        if let Ok(mut slot) = self.downstream.lock() {
            *slot = Some(ctx.peer.clone());
        }
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.upstream
            .list_tools(request)
            .await
            .map_err(upstream_error)
    }

    async fn call_tool(
        &self,
        mut request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if let Some(token) = ctx.meta.get_progress_token() {
            use rmcp::model::RequestParamsMeta as _;
            request.set_progress_token(token);
        }
        tokio::select! {
            // Dropping the upstream future sends notifications/cancelled upstream.
            _ = ctx.ct.cancelled() => Err(ErrorData::internal_error("request cancelled by the client", None)),
            r = self.upstream.call_tool_once(request) => r.map_err(upstream_error),
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.upstream
            .list_resources(request)
            .await
            .map_err(upstream_error)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.upstream
            .read_resource_once(request)
            .await
            .map_err(upstream_error)
    }
}

/// Runs `hyperfed connect`.
pub async fn run(args: ConnectArgs) -> anyhow::Result<()> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(args.url.clone());
    if let Some(token) = args.token.filter(|t| !t.is_empty()) {
        config = config.auth_header(token);
    }
    let downstream: Downstream = Arc::new(Mutex::new(None));
    let events = UpstreamEvents {
        downstream: downstream.clone(),
    };
    let client = events
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .with_context(|| format!("cannot open an MCP session with {}", args.url))?;
    let info = client.peer().peer_info();
    let bridge = Bridge {
        upstream: client.peer().clone(),
        capabilities: info
            .as_ref()
            .map(|i| i.capabilities.clone())
            .unwrap_or_default(),
        instructions: info.as_ref().and_then(|i| i.instructions.clone()),
        downstream,
    };
    tracing::info!(url = %args.url, "relaying stdio to the MCP endpoint");
    let server = bridge
        .serve(rmcp::transport::stdio())
        .await
        .context("stdio MCP session failed to start")?;
    let _ = server.waiting().await;
    let _ = client.cancel().await;
    Ok(())
}
