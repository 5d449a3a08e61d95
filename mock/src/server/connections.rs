//! Connections: the accept loop (HTTP/1.1, over TLS when configured) and the fault injection
//! applied to each `/rest/v1` request before it reaches the router.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rand::Rng;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use super::respond::{INTERNAL_ERROR, error_json};
use super::router::router;
use super::shared::Shared;

/// Error returned to hyper to close a connection without answering (fault injection).
#[derive(Debug)]
struct DroppedConnection;

impl std::fmt::Display for DroppedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DroppedConnection {}

/// True with probability `p` (never when `p` is 0).
fn roll(rng: &mut impl Rng, p: f64) -> bool {
    p > 0.0 && rng.random::<f64>() < p
}

/// Applies the injected faults to one `/rest/v1` request, then hands it to the router.
async fn serve_request(
    sh: Arc<Shared>,
    router: Router,
    peer: std::net::SocketAddr,
    req: hyper::Request<Incoming>,
) -> Result<Response, DroppedConnection> {
    if req.uri().path().starts_with("/_sim") && !peer.ip().is_loopback() {
        return Ok(error_json(
            StatusCode::FORBIDDEN,
            "the /_sim control routes answer loopback clients only",
        ));
    }
    if req.uri().path().starts_with("/rest/") {
        let f = sh.faults.get();
        let (drop, delay, fail) = {
            let mut rng = rand::rng();
            let drop = f.down || roll(&mut rng, f.drop_connections_rate);
            let jitter = if f.jitter_ms > 0 {
                rng.random_range(0..=f.jitter_ms)
            } else {
                0
            };
            let fail = roll(&mut rng, f.error_rate).then(|| rng.random_bool(0.5));
            (drop, f.latency_ms + jitter, fail)
        };
        if drop {
            return Err(DroppedConnection);
        }
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        match fail {
            Some(true) => {
                return Ok(error_json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service temporarily unavailable",
                ));
            }
            Some(false) => {
                return Ok(error_json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    INTERNAL_ERROR,
                ));
            }
            None => {}
        }
    }
    let resp: Result<Response, Infallible> = router.oneshot(req.map(Body::new)).await;
    match resp {
        Ok(r) => Ok(r),
        Err(never) => match never {},
    }
}

/// Accepts connections until `stop` fires, serving each with HTTP/1.1 (over TLS if given).
pub(crate) async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let router = router(shared.clone());
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "simulator accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (sh, router, tls) = (shared.clone(), router.clone(), tls.clone());
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        serve_request(sh.clone(), router.clone(), peer, req)
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = http.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}
