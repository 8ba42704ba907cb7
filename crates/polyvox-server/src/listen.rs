//! The accept loop: HTTP/1.1 connections with the discipline a public listener needs, which
//! `axum::serve` does not offer (it runs hyper without a timer, so nothing times out).
//!
//! - A cap on open connections (`max_connections`): past it a new connection is closed at once,
//!   counted in `polyvox_connections_refused_total`, instead of taking memory and a task.
//! - A header-read timeout (`header_read_timeout`): a client that has not sent a whole request
//!   head within it is disconnected (slowloris). In hyper this one timer also ends a keep-alive
//!   connection that sits idle that long, so its default (75 s) stays above the idle timeouts of
//!   the proxies in front (nginx's upstream keep-alive 60 s, AWS ALB 60 s): a proxy must never
//!   reuse a connection the server is closing at that moment, which the proxy would turn into a
//!   502.
//! - Body stalls are bounded where the body is read ([`crate::extract`]).
//! - Shutdown: stop accepting, let every connection finish its request in flight (streams
//!   included), close idle keep-alive connections.
//!
//! HTTP/2 is not offered on the plain listener (no deployment here speaks h2c to the API), nor
//! connection upgrades (nothing here uses them yet).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use polyvox_core::metrics as m;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Limits of the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown`, then drains (see the module note).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            metrics::counter!(m::CONNECTIONS_REFUSED_TOTAL).increment(1);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client that goes away or times out ends its connection with an error: routine.
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
