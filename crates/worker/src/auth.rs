//! Who may call the worker: a bearer token compared in constant time, or a hub call token
//! (JWT signed with the join secret for this cluster); plus the Host allowlist for REST
//! (rmcp applies the same list to `/mcp`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
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
    /// Allowed Host header values (`host` or `host:port`).
    pub allowed_hosts: Arc<Vec<String>>,
    /// For the cluster uuid (the hub token's audience).
    pub state: Arc<WorkerState>,
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
            let uuid = self.state.identity().uuid;
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

/// True when the Host header (if any) is in `allowed` (entries `host` or `host:port`).
pub fn host_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return true;
    };
    let host = host.trim().to_ascii_lowercase();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("").to_owned()
    } else {
        host.rsplit_once(':')
            .map_or(host.as_str(), |(h, _)| h)
            .to_owned()
    };
    allowed.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        a == host || a == name || a.trim_start_matches('[').trim_end_matches(']') == name
    })
}

/// Middleware: refuses a Host header outside the allowlist (403), as rmcp does for `/mcp`.
pub async fn check_host(
    State(policy): State<AuthPolicy>,
    request: Request,
    next: Next,
) -> Response {
    if host_allowed(request.headers(), &policy.allowed_hosts) {
        next.run(request).await
    } else {
        (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"error": "Host header is not allowed: add it with --allowed-host"})),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn host_matching() {
        let allowed = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            "hub.example:8080".to_owned(),
        ];
        let mut h = HeaderMap::new();
        for (host, ok) in [
            ("127.0.0.1:7777", true),
            ("localhost", true),
            ("[::1]:80", true),
            ("evil.example", false),
            ("hub.example:8080", true),
            ("hub.example:9090", false),
        ] {
            h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
            assert_eq!(host_allowed(&h, &allowed), ok, "{host}");
        }
    }
}
