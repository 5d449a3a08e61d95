//! `hyperfed connect URL`: a stdio MCP server that relays everything to a hub or worker over
//! streamable HTTP, for clients that only speak stdio (Claude Desktop). Tool lists, calls,
//! resources and their subscriptions, prompts, completions, logging, progress, cancellation,
//! list_changed and confirmation questions (elicitation) pass straight through.
//!
//! When the endpoint cannot be used (bad token, wrong path, nothing listening, no scheme), the
//! bridge still answers the client's `initialize`, with a JSON-RPC error that says what is
//! wrong, and prints the same as one plain line on stderr: a desktop app then shows the reason
//! instead of a bare disconnect.

use std::sync::{Arc, Mutex};

use std::time::Duration;

use anyhow::Context as _;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientConfig, CompleteRequestParams, CompleteResult,
    ElicitRequestParams, ElicitResult, ElicitationCapability, GetPromptRequestParams,
    GetPromptResponse, InitializeRequestParams, InitializeResult, ListPromptsResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam,
    ReadResourceRequestParams, ReadResourceResponse, ResourceUpdatedNotificationParam,
    ServerCapabilities, ServerConfig, SubscribeRequestParams, UnsubscribeRequestParams,
};
#[allow(deprecated)] // logging: deprecated by SEP-2577, still in every session revision
use rmcp::model::{LoggingMessageNotificationParam, SetLevelRequestParams};
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
    // The bridge declares form elicitation upstream (it connects before the stdio client says
    // what it can do), so a hub or worker may ask the person to confirm a destructive call.
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.capabilities.elicitation =
            Some(ElicitationCapability::new().with_form(Default::default()));
        info
    }

    /// Passes the question to the stdio client, which is the one person behind this bridge. A
    /// client that cannot show questions gets an error here, and the server then answers with
    /// its preview and confirm_token, as it does for any client that cannot be asked.
    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _ctx: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let Some(peer) = downstream_peer(&self.downstream) else {
            return Err(ErrorData::invalid_request(
                "no stdio client to ask yet",
                None,
            ));
        };
        if peer.supported_elicitation_modes().is_empty() {
            return Err(ErrorData::invalid_request(
                "the stdio client cannot show questions (no elicitation capability)",
                None,
            ));
        }
        peer.create_elicitation(request)
            .await
            .map_err(upstream_error)
    }

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

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        if let Some(peer) = downstream_peer(&self.downstream) {
            let _ = peer.notify_resource_updated(params).await;
        }
    }

    #[allow(deprecated)]
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        if let Some(peer) = downstream_peer(&self.downstream) {
            let _ = peer.notify_logging_message(params).await;
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

    #[allow(deprecated)] // resources/subscribe: what session clients (Claude Desktop) send
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.upstream
            .subscribe(request)
            .await
            .map_err(upstream_error)
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.upstream
            .unsubscribe(request)
            .await
            .map_err(upstream_error)
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        self.upstream
            .list_prompts(request)
            .await
            .map_err(upstream_error)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        self.upstream
            .get_prompt_once(request)
            .await
            .map_err(upstream_error)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        self.upstream
            .complete(request)
            .await
            .map_err(upstream_error)
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.upstream
            .set_level(request)
            .await
            .map_err(upstream_error)
    }
}

/// Answers `initialize` with the reason the upstream endpoint cannot be used.
#[derive(Clone)]
struct Refusal {
    message: String,
}

impl ServerHandler for Refusal {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::default())
    }

    async fn initialize(
        &self,
        _request: InitializeRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        Err(ErrorData::internal_error(self.message.clone(), None))
    }
}

/// `scheme://host:port` of a URL.
fn origin_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            format!("{scheme}://{authority}")
        }
        None => url.to_owned(),
    }
}

/// What is wrong with an upstream HTTP answer to `initialize`, if anything.
pub fn diagnose_status(url: &str, status: u16, body: &str, has_token: bool) -> Option<String> {
    let server_says = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .map(|m| format!(" (the server says: {m})"))
        .unwrap_or_default();
    let origin = origin_of(url);
    match status {
        200..=299 => None,
        401 if has_token => Some(format!(
            "{url} refused the token (HTTP 401){server_says}: set HYPERFED_TOKEN (or --token) to a valid token for this hub or worker"
        )),
        401 => Some(format!(
            "{url} needs a token (HTTP 401): set HYPERFED_TOKEN (in Claude Desktop: \"env\": {{\"HYPERFED_TOKEN\": \"...\"}}) or pass --token"
        )),
        403 => Some(format!("{url} refused the request (HTTP 403){server_says}")),
        404 | 405 => Some(format!(
            "nothing serves MCP at {url} (HTTP {status}): check the path; the MCP endpoint of a hub or worker is {origin}/mcp"
        )),
        other => Some(format!(
            "{url} answered HTTP {other}{server_says}: is it a HyperFed hub or worker MCP endpoint ({origin}/mcp)?"
        )),
    }
}

/// Checks the endpoint with one plain `initialize` POST, so a failure gets a clear reason.
async fn preflight(url: &str, token: Option<&str>) -> Result<(), String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "the URL {url:?} has no scheme: write it as http://{} (or https://)",
            url.trim_start_matches('/')
        ));
    }
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let init = serde_json::json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "hyperfed-connect-preflight", "version": env!("CARGO_PKG_VERSION")}}
    });
    let mut req = http
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(&init);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) if e.is_builder() => return Err(format!("the URL {url:?} is not a valid URL")),
        Err(e) if e.is_timeout() => {
            return Err(format!(
                "{url} did not answer within 15 s: is the hub running at {}?",
                origin_of(url)
            ));
        }
        Err(_) => {
            return Err(format!(
                "cannot connect to {url}: is the hub (or worker) running at {}, and reachable from here?",
                origin_of(url)
            ));
        }
    };
    let status = resp.status().as_u16();
    let session = resp
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.text().await.unwrap_or_default();
    if let Some(problem) = diagnose_status(url, status, &body, token.is_some()) {
        return Err(problem);
    }
    // Close the probe's session; the bridge opens its own.
    if let Some(id) = session {
        let mut del = http.delete(url).header("mcp-session-id", id);
        if let Some(t) = token {
            del = del.bearer_auth(t);
        }
        let _ = del.send().await;
    }
    Ok(())
}

/// Answers the stdio client's `initialize` with `message` and reports it on stderr.
async fn refuse(message: String) -> anyhow::Result<()> {
    let refusal = Refusal {
        message: message.clone(),
    };
    // The client gets the JSON-RPC error; the handshake then ends, which is expected here.
    let _ = refusal.serve(rmcp::transport::stdio()).await;
    anyhow::bail!("hyperfed connect: {message}")
}

/// Runs `hyperfed connect`.
pub async fn run(args: ConnectArgs) -> anyhow::Result<()> {
    let token = args.token.filter(|t| !t.is_empty());
    let url = args.url.trim().to_owned();
    if let Err(problem) = preflight(&url, token.as_deref()).await {
        return refuse(problem).await;
    }
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.clone());
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    let downstream: Downstream = Arc::new(Mutex::new(None));
    let events = UpstreamEvents {
        downstream: downstream.clone(),
    };
    let client = match events
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
    {
        Ok(c) => c,
        Err(_) => {
            return refuse(format!(
                "cannot open an MCP session with {url}: is it a HyperFed hub or worker MCP endpoint?"
            ))
            .await;
        }
    };
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
    tracing::info!(url = %url, "relaying stdio to the MCP endpoint");
    let server = bridge
        .serve(rmcp::transport::stdio())
        .await
        .context("the stdio client did not complete the MCP handshake")?;
    let _ = server.waiting().await;
    let _ = client.cancel().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_become_reasons() {
        let u = "http://127.0.0.1:8000/mcp";
        let bad =
            diagnose_status(u, 401, r#"{"error":"the bearer token has expired"}"#, true).unwrap();
        assert!(
            bad.contains("refused the token") && bad.contains("expired"),
            "{bad}"
        );
        assert!(
            diagnose_status(u, 401, "", false)
                .unwrap()
                .contains("needs a token")
        );
        let path = diagnose_status("http://127.0.0.1:8000", 404, "", true).unwrap();
        assert!(path.contains("http://127.0.0.1:8000/mcp"), "{path}");
        assert!(diagnose_status(u, 200, "", true).is_none());
    }
}
