//! The hub's MCP server: tools/list from the prebuilt catalog, tools/call dispatched to the
//! owning worker or the fleet tools, and the session peers kept for `list_changed` pushes.

use std::sync::Arc;

#[allow(deprecated)]
// logging/setLevel: deprecated by SEP-2577, still in every session revision
use rmcp::model::SetLevelRequestParams;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, ServerConfig, SubscribeRequestParams,
    SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, RoleServer, SubscriptionContext};
use rmcp::{ErrorData, ServerHandler};
use tokio::sync::broadcast;

use crate::auth::Principal;
use crate::call_context::CallContext;
#[cfg(test)]
use crate::catalog::CURSOR_PREFIX;
use crate::catalog::{TOOLS_PAGE, page, parse_cursor};
use crate::dispatch;
use crate::elicit::ConfirmChannel;
use crate::error::HubError;
use crate::hub::Hub;
use crate::link::HUB_SERVER_NAME;
use crate::mcp_session::McpSession;
use crate::resources::HubFingerprints;
use crate::{mcp_logging, prompts, resources, tools_budget};

/// One MCP session's handler: a cheap handle on the shared hub.
#[derive(Clone)]
pub(crate) struct HubServer {
    pub hub: Arc<Hub>,
    /// This session's subscriptions and logging level.
    session: McpSession,
}

impl HubServer {
    /// A session's handler; `prints` are the hub's resource fingerprints (one per hub).
    pub(crate) fn new(prints: HubFingerprints) -> Self {
        HubServer {
            hub: prints.hub().clone(),
            session: McpSession::new(prints),
        }
    }
}

/// The principal the auth middleware attached to this request's HTTP parts.
fn principal(ctx: &RequestContext<RoleServer>) -> Principal {
    ctx.extensions
        .get::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<Principal>())
        .cloned()
        .unwrap_or_else(Principal::anonymous)
}

impl ServerHandler for HubServer {
    #[allow(deprecated)] // enable_logging: see set_level
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(
            ServerCapabilities::builder()
                .enable_logging()
                .enable_completions()
                .enable_prompts()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        );
        info.server_info = Implementation::new(HUB_SERVER_NAME, env!("CARGO_PKG_VERSION"));
        info.instructions = Some(tools_budget::instructions(&self.hub.catalog().mode));
        info
    }

    // Every known protocol version is offered: clients from 2025-03-26 to the stateless
    // 2026-07-28 all work. Session clients get list_changed on their session; 2026-07-28
    // clients get it through `subscriptions/listen` (below).
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = SubscriptionFilter::new();
        accepted.tools_list_changed = requested.tools_list_changed;
        Some(accepted)
    }

    async fn listen(&self, ctx: SubscriptionContext) -> Result<(), ErrorData> {
        let mut changes = self.hub.subscribe_list_changed();
        loop {
            tokio::select! {
                _ = ctx.cancelled() => return Ok(()),
                change = changes.recv() => match change {
                    Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        if ctx.sink().notify_tool_list_changed().await.is_err() {
                            return Ok(());
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
            }
        }
    }

    async fn on_initialized(&self, ctx: NotificationContext<RoleServer>) {
        self.hub.add_peer(ctx.peer.clone());
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let catalog = self.hub.catalog();
        let scope = principal(&ctx).scope;
        let start = match request.and_then(|r| r.cursor) {
            None => 0,
            Some(c) => parse_cursor(&c).ok_or_else(|| {
                ErrorData::invalid_params(
                    "invalid tools/list cursor: pass back the nextCursor of the previous page",
                    None,
                )
            })?,
        };
        let tools = catalog.visible(scope).as_ref();
        let (range, next) = page(tools.len(), start, TOOLS_PAGE);
        let mut result =
            ListToolsResult::with_all_items(tools.get(range).unwrap_or_default().to_vec());
        result.next_cursor = next;
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let who = principal(&ctx);
        let call = CallContext {
            subject: who.audit_subject("mcp"),
            scope: who.scope,
            progress: ctx.meta.get_progress_token().map(|t| (ctx.peer.clone(), t)),
            cancel: ctx.ct.clone(),
            peer: Some(ctx.peer.clone()),
            operation: None,
            confirm: ConfirmChannel::of(&ctx, &request),
        };
        let dispatched = dispatch::call_tool(&self.hub, &request.name, request.arguments, &call);
        let log = self.session.log(ctx.peer.clone(), &ctx.meta);
        match mcp_logging::with_session(log, dispatched).await {
            // A 2026-07-28 client is asked through an input_required result.
            Ok(_) if let Some(asking) = call.confirm.input_required() => Ok(asking.into()),
            Ok(mut result) => {
                // A result relayed from a worker session (2025-11-25) carries no resultType;
                // 2026-07-28 clients require it (rmcp strips it again for older clients).
                result
                    .result_type
                    .get_or_insert(rmcp::model::ResultType::COMPLETE);
                Ok(result.into())
            }
            Err(HubError::BadRequest(msg)) => Err(ErrorData::invalid_params(msg, None)),
            // A tool-level error, so the model reads why and what scope is needed.
            Err(HubError::Forbidden(msg)) => {
                Ok(CallToolResult::error(vec![rmcp::model::ContentBlock::text(msg)]).into())
            }
            Err(e) => Err(ErrorData::internal_error(e.to_string(), None)),
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        resources::list(&self.hub, request.and_then(|r| r.cursor).as_deref())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let read = resources::read(&self.hub, &request.uri);
        let log = self.session.log(ctx.peer.clone(), &ctx.meta);
        Ok(mcp_logging::with_session(log, read).await?.into())
    }

    #[allow(deprecated)] // resources/subscribe is what every session-based client sends
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let s = &self.session;
        s.subscriptions
            .subscribe(
                request.uri,
                ctx.peer.clone(),
                Arc::new(s.prints.clone()),
                s.ended(),
            )
            .map_err(|e| ErrorData::invalid_params(e, None))
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.session.subscriptions.unsubscribe(&request.uri);
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(prompts::list())
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        Ok(prompts::get(&self.hub, request)?.into())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        Ok(prompts::complete(&self.hub, request).await)
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.session.log_level.set(&request);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_with_our_own_cursor() {
        let (r, next) = page(2500, 0, 1000);
        assert_eq!(r, 0..1000);
        let start = parse_cursor(next.as_deref().unwrap()).unwrap();
        let (r, next) = page(2500, start, 1000);
        assert_eq!(r, 1000..2000);
        let (r, next) = page(2500, parse_cursor(&next.unwrap()).unwrap(), 1000);
        assert_eq!((r, next), (2000..2500, None));
        assert_eq!(page(10, 0, 1000), (0..10, None));
        assert_eq!(page(10, 50, 1000), (10..10, None));
        assert!(parse_cursor("bogus").is_none());
        assert!(parse_cursor("hf1.x").is_none());
    }

    proptest::proptest! {
        /// Following nextCursor from the start visits every tool exactly once, in order.
        #[test]
        fn cursors_walk_every_item_once(len in 0usize..5000, size in 1usize..1500) {
            let mut seen = 0usize;
            let mut start = 0usize;
            loop {
                let (r, next) = page(len, start, size);
                proptest::prop_assert_eq!(r.start, seen);
                proptest::prop_assert!(r.end <= len && r.len() <= size);
                seen = r.end;
                match next {
                    Some(c) => {
                        proptest::prop_assert!(c.starts_with(CURSOR_PREFIX));
                        start = parse_cursor(&c).expect("our own cursor parses");
                    }
                    None => break,
                }
            }
            proptest::prop_assert_eq!(seen, len);
        }

        /// Any string a client sends as a cursor is either ours or refused; never a panic,
        /// and an accepted foreign offset only yields an in-bounds (possibly empty) page.
        #[test]
        fn arbitrary_cursors_are_safe(cursor in ".{0,40}", len in 0usize..3000) {
            if let Some(start) = parse_cursor(&cursor) {
                let (r, _) = page(len, start, 1000);
                proptest::prop_assert!(r.start <= r.end && r.end <= len);
            }
        }
    }
}
