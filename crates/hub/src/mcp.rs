//! The hub's MCP server: tools/list from the prebuilt catalog, tools/call dispatched to the
//! owning worker or the fleet tools, and the session peers kept for `list_changed` pushes.

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig,
};
use rmcp::service::{NotificationContext, RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler};

use crate::error::HubError;
use crate::http::Principal;
use crate::route::{self, CallContext};
use crate::state::Hub;

/// One MCP session's handler: a cheap handle on the shared hub.
#[derive(Clone)]
pub(crate) struct HubServer {
    pub hub: Arc<Hub>,
}

fn subject(ctx: &RequestContext<RoleServer>) -> String {
    let who = ctx
        .extensions
        .get::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<Principal>())
        .map(|p| p.0)
        .unwrap_or("anonymous");
    format!("{who} via mcp")
}

impl ServerHandler for HubServer {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        );
        info.server_info = Implementation::new("hyperfed-hub", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(
            "HyperFed hub: many SCALE Computing HyperCore clusters behind one endpoint. \
             Start with fleet_status; vm_search finds VMs across clusters. Cluster tools are \
             named <cluster>__<tool>; VM actions (vm_start, vm_stop, ...) accept a VM uuid or \
             <cluster>/<vm-name> and are routed to the owning cluster. Destructive actions \
             answer with a confirm_token first: call again with it to proceed."
                .into(),
        );
        info
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        // Session-based versions only, so list_changed has a channel to every client.
        Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25))
    }

    async fn on_initialized(&self, ctx: NotificationContext<RoleServer>) {
        self.hub.add_peer(ctx.peer.clone());
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let catalog = self.hub.catalog();
        Ok(ListToolsResult::with_all_items(
            catalog.tools.as_ref().clone(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let call = CallContext {
            subject: subject(&ctx),
            progress: ctx.meta.get_progress_token().map(|t| (ctx.peer.clone(), t)),
            cancel: ctx.ct.clone(),
        };
        match route::call_tool(&self.hub, &request.name, request.arguments, &call).await {
            Ok(result) => Ok(result.into()),
            Err(HubError::BadRequest(msg)) => Err(ErrorData::invalid_params(msg, None)),
            Err(e) => Err(ErrorData::internal_error(e.to_string(), None)),
        }
    }
}
