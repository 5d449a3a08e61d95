//! A guard in front of `/mcp`: a JSON POST whose body is not valid JSON gets the JSON-RPC parse
//! error (-32700, HTTP 400) the specification asks for, instead of the transport's generic 415.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Largest body the guard buffers; larger ones get 413 (rmcp's own limit is the same).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

fn is_mcp(path: &str) -> bool {
    path == "/mcp" || path.starts_with("/mcp/")
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

fn parse_error(detail: &str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32700, "message": format!("Parse error: the request body is not valid JSON ({detail})")},
    });
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// axum middleware: checks that JSON POSTs to `/mcp` parse before the MCP service sees them.
pub async fn reject_malformed_json(req: Request, next: Next) -> Response {
    if req.method() != Method::POST || !is_mcp(req.uri().path()) || !is_json(&req) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {MAX_BODY_BYTES} bytes"),
            )
                .into_response();
        }
    };
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
        // Only the position is reported, never the body itself.
        return parse_error(&format!("line {}, column {}", e.line(), e.column()));
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::post;
    use tower::ServiceExt as _;

    fn app() -> Router {
        Router::new()
            .route("/mcp", post(|| async { "ok" }))
            .route("/v1/x", post(|| async { "rest" }))
            .layer(axum::middleware::from_fn(reject_malformed_json))
    }

    async fn send(path: &str, ctype: &str, body: &'static str) -> (StatusCode, String) {
        let req = Request::post(path)
            .header(header::CONTENT_TYPE, ctype)
            .body(Body::from(body))
            .unwrap();
        let resp = app().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn malformed_json_gets_a_parse_error_and_valid_json_passes() {
        let (s, b) = send("/mcp", "application/json", "{not json").await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(b.contains("-32700"), "{b}");
        assert!(!b.contains("not json"), "the body is never echoed: {b}");
        assert_eq!(send("/mcp", "application/json", "{\"a\":1}").await.1, "ok");
        // Other paths and content types are left to their handlers.
        assert_eq!(send("/v1/x", "application/json", "{bad").await.1, "rest");
        assert_eq!(send("/mcp", "text/plain", "{bad").await.1, "ok");
    }
}
