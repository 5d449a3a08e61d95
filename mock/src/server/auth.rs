//! Authentication: `POST /login` and `/logout`, and the middleware that admits a request with
//! a live session cookie or HTTP Basic credentials.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use rand::Rng;
use serde_json::{Value, json};

use super::respond::{error_json, parse_object, ser};
use super::shared::Shared;
use crate::config::SimConfig;
use crate::state::{ApiError, SessionCheck};

/// The session a request was authenticated with ("" for Basic auth).
#[derive(Clone)]
pub(super) struct SessionId(pub(super) String);

/// The `sessionID` cookie, if any.
fn cookie_session(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == "sessionID")
        .map(|(_, v)| v.to_owned())
}

/// Whether HTTP Basic credentials are present and match.
fn basic_ok(headers: &HeaderMap, config: &SimConfig) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(encoded) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Ok(text) = String::from_utf8(decoded) else {
        return false;
    };
    match text.split_once(':') {
        Some((user, pass)) => credentials_match(config, user, pass),
        None => false,
    }
}

/// Whether `user` and `pass` are the configured credentials (constant time).
fn credentials_match(config: &SimConfig, user: &str, pass: &str) -> bool {
    // Compare every byte so the answer time does not depend on where they differ.
    fn same(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
    let u = same(user.as_bytes(), config.username.as_bytes());
    let p = same(pass.as_bytes(), config.password.as_bytes());
    u & p
}

/// Middleware: lets a request with a valid session cookie or Basic credentials through.
pub(super) async fn require_session(
    State(sh): State<Arc<Shared>>,
    mut req: Request,
    next: Next,
) -> Response {
    let now = Instant::now();
    if let Some(id) = cookie_session(req.headers()) {
        let ttl = sh.faults.get().session_ttl_ms.map(Duration::from_millis);
        if sh.sessions.lock().check(&id, now, ttl) == SessionCheck::Valid {
            req.extensions_mut().insert(SessionId(id));
            return next.run(req).await;
        }
    }
    if basic_ok(req.headers(), &sh.config) {
        req.extensions_mut().insert(SessionId(String::new()));
        return next.run(req).await;
    }
    let status =
        StatusCode::from_u16(sh.config.session_error_status).unwrap_or(StatusCode::UNAUTHORIZED);
    error_json(status, "expired session or no session passed")
}

/// `POST /login`: a new session, as body and cookie.
pub(super) async fn login(State(sh): State<Arc<Shared>>, body: Bytes) -> Response {
    let body = match parse_object(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let (Some(Value::String(user)), Some(Value::String(pass))) =
        (body.get("username"), body.get("password"))
    else {
        return ApiError::Validation(
            "Request has one or more errors\n  In body\n    Missing required property: username, password (strings)".into(),
        )
        .into_response();
    };
    if body.get("useOIDC").and_then(Value::as_bool) == Some(true) {
        return error_json(
            StatusCode::UNAUTHORIZED,
            "OIDC is not configured on this cluster",
        );
    }
    if !credentials_match(&sh.config, user, pass) {
        return error_json(StatusCode::UNAUTHORIZED, "Invalid username or password");
    }
    let id = {
        let bytes: [u8; 16] = rand::rng().random();
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    };
    sh.sessions.lock().add(id.clone(), Instant::now());
    let mut resp = ser(&json!({ "sessionID": id }));
    if let Ok(cookie) = HeaderValue::from_str(&format!("sessionID={id}; Path=/")) {
        resp.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    resp
}

/// `POST /logout`: ends the session.
pub(super) async fn logout(
    State(sh): State<Arc<Shared>>,
    Extension(session): Extension<SessionId>,
) -> Response {
    if !session.0.is_empty() {
        sh.sessions.lock().remove(&session.0);
    }
    StatusCode::OK.into_response()
}
