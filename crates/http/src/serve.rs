//! Serving an axum router on a bound listener, plain or HTTPS, with TCP_NODELAY and a graceful
//! shutdown: the one way the hub and the workers run their HTTP servers.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::tls::TlsListener;

/// Serves `app` on `listener` until `shutdown` is cancelled; HTTPS when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    match tls {
        Some(tls) => {
            let listener = TlsListener::new(listener, tls, shutdown.clone())?;
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
        }
        None => {
            // TCP_NODELAY: small JSON-RPC answers must not wait for delayed ACKs (~40 ms).
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
        }
    }
}
