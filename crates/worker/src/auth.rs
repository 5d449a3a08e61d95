//! Who may call the worker: a bearer token compared in constant time, or a hub call token
//! (JWT signed with the join secret for this cluster). Host and Origin are checked by
//! `hyperfed_http::origin`, the same code as the hub's.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyperfed_http::bearer::bearer;
use hyperfed_protocol::{CallClaims, Secret};
use serde_json::json;

use crate::state::WorkerState;

/// What the auth middleware checks against.
#[derive(Clone)]
pub struct AuthPolicy {
    /// Static bearer token.
    pub token: Option<Secret>,
    /// Join secret: hub call tokens for this cluster are accepted too.
    pub join_secret: Option<Secret>,
    /// For the cluster uuid (the hub token's audience).
    pub state: Arc<WorkerState>,
    /// The stand-in uuid the worker joined with while its cluster has not answered.
    pub pending_uuid: Option<String>,
}

impl AuthPolicy {
    fn open(&self) -> bool {
        self.token.is_none() && self.join_secret.is_none()
    }

    /// True when `bearer` is the configured token or a valid hub call token.
    pub fn accepts(&self, bearer: &str) -> bool {
        if let Some(t) = &self.token
            && t.matches(bearer)
        {
            return true;
        }
        if let Some(secret) = &self.join_secret {
            let mut uuid = self.state.identity().uuid;
            if uuid.is_empty() {
                uuid = self.pending_uuid.clone().unwrap_or_default();
            }
            if !uuid.is_empty() && CallClaims::verify(secret, &uuid, bearer).is_ok() {
                return true;
            }
        }
        false
    }
}

fn unauthorized(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(json!({ "error": message })),
    )
        .into_response()
}

/// Middleware: refuses requests without an accepted bearer token (401).
pub async fn require_bearer(
    State(policy): State<AuthPolicy>,
    request: Request,
    next: Next,
) -> Response {
    if policy.open() {
        return next.run(request).await;
    }
    match bearer(request.headers()) {
        None => unauthorized("missing bearer token: send 'Authorization: Bearer <token>'"),
        Some(t) if policy.accepts(t) => next.run(request).await,
        Some(_) => unauthorized("invalid bearer token"),
    }
}
