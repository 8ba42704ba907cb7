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
//! - A send timeout (`send_timeout`), nginx's `send_timeout`: a write to the client that makes
//!   no progress for that long (the client stopped reading and the socket buffers are full)
//!   ends the connection. hyper then drops the response body, and with it everything the body
//!   holds: a streamed synthesis stops and gives back its slots ([`crate::admission::Held`]).
//!   Without it, a client that never reads keeps its slot for as long as it keeps the
//!   connection open. A slow reader that makes any progress is not cut off.
//! - The TCP peer's address goes into each request's extensions (`ConnectInfo`), for limits
//!   kept per client address ([`crate::tenancy`]).
//! - Shutdown: stop accepting, let every connection finish its request in flight (streams
//!   included), close idle keep-alive connections.
//!
//! HTTP/2 is not offered on the plain listener (no deployment here speaks h2c to the API), nor
//! connection upgrades (nothing here uses them yet).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use polyvox_core::metrics as m;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Limits of the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub send_timeout: Duration,
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
        let (stream, peer) = tokio::select! {
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
        let app = app.clone();
        let service = TowerToHyperService::new(tower::util::MapRequest::new(
            app,
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            },
        ));
        let io = SendTimeout::new(stream, limits.send_timeout);
        let conn = graceful.watch(http.serve_connection(TokioIo::new(io), service));
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

/// A connection whose writes fail with `TimedOut` once one has made no progress for `limit`
/// (see the module note). Reads pass through untouched: their stalls are the header and body
/// timeouts' business.
struct SendTimeout<T> {
    inner: T,
    limit: Duration,
    /// Running while a write is blocked; dropped at the first byte that gets through.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Set once the limit has passed (the connection is over; counted once).
    timed_out: bool,
}

impl<T> SendTimeout<T> {
    fn new(inner: T, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            stalled: None,
            timed_out: false,
        }
    }

    /// What to answer for a write the socket could not take: still `Pending` until the limit
    /// has passed since the stall began, then the error that ends the connection. Polling the
    /// timer registers the task with it, so the connection wakes up to fail even if the socket
    /// never becomes writable again.
    fn blocked<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if !std::mem::replace(&mut self.timed_out, true) {
            metrics::counter!(m::SEND_TIMEOUTS_TOTAL).increment(1);
        }
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client read nothing for {} s", limit.as_secs_f32()),
        )))
    }

    fn progressed<R>(
        &mut self,
        res: Poll<io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<R>> {
        match res {
            Poll::Pending => self.blocked(cx),
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for SendTimeout<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for SendTimeout<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.progressed(res, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.progressed(res, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let res = Pin::new(&mut self.inner).poll_flush(cx);
        self.progressed(res, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let res = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.progressed(res, cx)
    }
}

/// The peer of a request served by [`serve`]; `None` when the router runs without the accept
/// loop (tests driving it in process).
pub(crate) fn peer(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A write into a 64-byte pipe nobody reads fails once the limit has passed; the same
    /// write completes when the other end reads, however slowly, because each read is progress.
    #[tokio::test]
    async fn a_write_without_progress_fails_and_a_slow_reader_is_served() {
        let limit = Duration::from_secs(1);
        let (server, _client) = tokio::io::duplex(64);
        let mut stalled = SendTimeout::new(server, limit);
        let err = tokio::time::timeout(Duration::from_secs(10), stalled.write_all(&[7; 1024]))
            .await
            .expect("the stalled write ended")
            .expect_err("nobody read");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);

        let (server, mut client) = tokio::io::duplex(64);
        let mut slow = SendTimeout::new(server, limit);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 32];
            // 32 bytes every 20 ms: slower than the writer, never silent for the limit.
            while got.len() < 1024 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let n = client.read(&mut buf).await.expect("read");
                assert!(n > 0, "writer closed early");
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        slow.write_all(&[9; 1024])
            .await
            .expect("a reader that makes progress is served");
        assert_eq!(reader.await.expect("reader"), vec![9; 1024]);
    }
}
