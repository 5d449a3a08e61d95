//! The hub's call tokens on the HTTP link: every request to a worker carries a fresh
//! `CallClaims` JWT, stamped by a reqwest wrapper so a long-lived rmcp session never presents
//! an expired one, and a failed connection is signalled to the calls in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use hyperfed_protocol::join::unix_now;
use hyperfed_protocol::{CallClaims, Secret};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use sse_stream::Sse;
use tokio_util::sync::CancellationToken;

/// Lifetime of one hub call token (the worker verifies it on every request).
const CALL_TOKEN_TTL: Duration = Duration::from_secs(300);
/// A token with less than this left is replaced before it is sent.
const CALL_TOKEN_RENEW_BEFORE: u64 = 150;

/// Issues the hub's call tokens for one cluster, renewing them well before expiry.
pub(crate) struct CallTokens {
    secret: Secret,
    cluster_uuid: String,
    current: Mutex<(String, u64)>,
}

impl CallTokens {
    /// Tokens for the cluster `cluster_uuid`, signed with the join secret.
    pub(crate) fn new(secret: Secret, cluster_uuid: String) -> Self {
        CallTokens {
            secret,
            cluster_uuid,
            current: Mutex::new((String::new(), 0)),
        }
    }

    /// A token valid for at least `CALL_TOKEN_RENEW_BEFORE` seconds more.
    pub(crate) fn get(&self) -> String {
        let now = unix_now();
        let mut cur = match self.current.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if cur.1 <= now + CALL_TOKEN_RENEW_BEFORE {
            let token = CallClaims::issue(&self.secret, &self.cluster_uuid, CALL_TOKEN_TTL);
            *cur = (token, now + CALL_TOKEN_TTL.as_secs());
        }
        cur.0.clone()
    }
}

/// A reqwest client that stamps every request with a fresh hub call token, so a long-lived
/// session never presents an expired one (no session rebuild needed for rotation).
#[derive(Clone)]
pub(crate) struct CallAuthClient {
    /// The hub's HTTP client.
    pub http: reqwest::Client,
    /// The tokens stamped on each request.
    pub tokens: Arc<CallTokens>,
    /// Signalled when the worker refuses a connection.
    pub unreachable: Arc<Unreachable>,
}

/// Tells calls in flight that the worker stopped accepting connections (a stream could not be
/// resumed): the current token is cancelled and replaced, so later calls are not affected.
#[derive(Default)]
pub(crate) struct Unreachable(Mutex<CancellationToken>);

impl Unreachable {
    /// The token cancelled at the next failed connection to the worker.
    pub(crate) fn token(&self) -> CancellationToken {
        match self.0.lock() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn signal(&self) {
        let old = match self.0.lock() {
            Ok(mut g) => std::mem::take(&mut *g),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        old.cancel();
    }

    /// Signals when `result` is a failure to connect to the worker at all.
    fn check<T>(&self, result: &Result<T, StreamableHttpError<reqwest::Error>>) {
        if let Err(StreamableHttpError::Client(e)) = result
            && e.is_connect()
        {
            tracing::warn!("a worker refused a connection; calls in flight to it are lost");
            self.signal();
        }
    }
}

impl StreamableHttpClient for CallAuthClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let token = self.tokens.get();
        self.http
            .post_message(uri, message, session_id, Some(token), custom_headers)
            .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let token = self.tokens.get();
        self.http
            .post_message_with_max_sse_event_size(
                uri,
                message,
                session_id,
                Some(token),
                custom_headers,
                max_sse_event_size,
            )
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        let token = self.tokens.get();
        self.http
            .delete_session(uri, session_id, Some(token), custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let token = self.tokens.get();
        let result = self
            .http
            .get_stream(uri, session_id, last_event_id, Some(token), custom_headers)
            .await;
        self.unreachable.check(&result);
        result
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let token = self.tokens.get();
        let result = self
            .http
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                Some(token),
                custom_headers,
                max_sse_event_size,
            )
            .await;
        self.unreachable.check(&result);
        result
    }
}
