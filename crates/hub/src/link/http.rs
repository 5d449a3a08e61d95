//! The HTTP worker link: an rmcp streamable-HTTP session for calls with progress, tool
//! listing and `list_changed`, plus the stateless plain-JSON call for reads; both present the
//! hub's rotating call tokens. `HttpConnector` builds one per joining worker.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use hyperfed_protocol::Secret;
use rmcp::model::{CallToolResult, JsonObject, Tool};
use serde_json::value::RawValue;

use super::call_token::{CallAuthClient, CallTokens, Unreachable};
use super::session::McpSession;
use super::{
    BoxFuture, EndSignal, LinkConnector, LinkError, LinkEvents, ListError, ListLimits,
    WorkerAddress, WorkerLink, stateless_call,
};
use crate::config::HubConfig;
use crate::error::HubError;
use crate::progress::ProgressRelay;

/// Connects to workers over HTTP(S) with the hub's HTTP client and call tokens.
pub(crate) struct HttpConnector {
    http: reqwest::Client,
    secret: Secret,
}

impl HttpConnector {
    /// The connector for `config` (its join secret and `--worker-ca`).
    pub(crate) fn new(config: &HubConfig) -> Result<Self, HubError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true);
        if let Some(ca) = &config.worker_ca {
            builder = builder.tls_certs_only(crate::tls::worker_roots(ca)?);
        }
        let http = builder
            .build()
            .map_err(|e| HubError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpConnector {
            http,
            secret: config.secret.clone(),
        })
    }
}

impl LinkConnector for HttpConnector {
    fn check_address(&self, url: &str) -> Result<(), String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("worker_url is not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err("worker_url must be an http:// or https:// URL with a host".into());
        }
        Ok(())
    }

    fn connect<'a>(
        &'a self,
        worker: WorkerAddress<'a>,
        events: Arc<dyn LinkEvents>,
    ) -> BoxFuture<'a, Result<Arc<dyn WorkerLink>, String>> {
        Box::pin(async move {
            let tokens = Arc::new(CallTokens::new(
                self.secret.clone(),
                worker.cluster_uuid.to_owned(),
            ));
            let client = CallAuthClient {
                http: self.http.clone(),
                tokens: tokens.clone(),
                unreachable: Arc::new(Unreachable::default()),
            };
            let session = McpSession::connect(client, worker.alias, worker.url, events).await?;
            let link: Arc<dyn WorkerLink> = Arc::new(HttpLink {
                session,
                http: self.http.clone(),
                url: Arc::from(worker.url),
                alias: Arc::from(worker.alias),
                tokens,
            });
            Ok(link)
        })
    }
}

/// One worker reached over HTTP.
struct HttpLink {
    session: Arc<McpSession>,
    http: reqwest::Client,
    /// The worker's MCP URL (the stateless call posts to it too).
    url: Arc<str>,
    alias: Arc<str>,
    /// The call tokens both the session and the stateless call present.
    tokens: Arc<CallTokens>,
}

impl WorkerLink for HttpLink {
    fn call<'a>(
        &'a self,
        tool: &'a str,
        arguments: JsonObject,
        progress: Option<Arc<ProgressRelay>>,
    ) -> BoxFuture<'a, Result<CallToolResult, LinkError>> {
        Box::pin(self.session.call(tool, arguments, progress))
    }

    fn call_stateless<'a>(
        &'a self,
        tool: &'a str,
        arguments: Option<&'a RawValue>,
    ) -> BoxFuture<'a, Result<Bytes, LinkError>> {
        Box::pin(stateless_call::call(
            &self.http,
            &self.url,
            &self.tokens,
            &self.alias,
            tool,
            arguments,
        ))
    }

    fn list_tools<'a>(
        &'a self,
        limits: &'a ListLimits,
    ) -> BoxFuture<'a, Result<Vec<Tool>, ListError>> {
        Box::pin(self.session.list_tools(limits))
    }

    fn end_signal(&self) -> &EndSignal {
        &self.session.ended
    }

    fn close(&self) {
        self.session.close();
    }
}
