//! Serving Prometheus metrics: the `/metrics` response, and the optional token-free listener
//! for a local scraper (`--metrics-listen`), which is refused unless its address is loopback.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The content type of the Prometheus text format (0.0.4).
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders the current metrics text on each scrape.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// A `200` response carrying metrics `text` in the Prometheus text format.
pub fn response(text: String) -> Response {
    ([(CONTENT_TYPE, TEXT_FORMAT)], text).into_response()
}

/// Checks that `addr` is a loopback address: the token-free listener must not be reachable
/// from other machines.
pub fn check_loopback(addr: SocketAddr) -> Result<(), String> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "--metrics-listen {addr} is refused: the token-free metrics listener must be on a loopback address (127.0.0.1 or [::1]); scrape the main listener's /metrics with a bearer token from other machines"
        ))
    }
}

/// Binds the token-free metrics listener on loopback `addr` (refused otherwise).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    check_loopback(addr)?;
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen for metrics on {addr}: {e}"))
}

/// Serves `GET /metrics` (nothing else) on `listener` without a token until `shutdown`.
pub fn spawn(
    listener: TcpListener,
    render: Render,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let render = render.clone();
            async move { response(render()) }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = crate::serve::serve(listener, app, None, shutdown).await {
            tracing::error!(error = %e, "metrics listener failed");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_may_serve_without_a_token() {
        assert!(check_loopback("127.0.0.1:9100".parse().unwrap()).is_ok());
        assert!(check_loopback("[::1]:9100".parse().unwrap()).is_ok());
        let e = check_loopback("0.0.0.0:9100".parse().unwrap()).unwrap_err();
        assert!(
            e.contains("--metrics-listen 0.0.0.0:9100 is refused"),
            "{e}"
        );
        assert!(check_loopback("192.0.2.7:9100".parse().unwrap()).is_err());
    }
}
