//! The accept loop: HTTP/1.1 connections with the discipline a public listener needs, which
//! `axum::serve` does not offer (it runs hyper without a timer, so nothing times out).
//!
//! - A cap on open connections (`max_connections`): past it a new connection is closed at once,
//!   counted in `polyvox_connections_refused_total`, instead of taking memory and a task.
//! - A header-read timeout (`header_read_timeout`): a client that has sent the first byte of a
//!   request head and not the whole head within it is disconnected (slowloris).
//! - A keep-alive idle timeout (`keep_alive_timeout`): a connection with no request in flight
//!   and no byte of the next one for that long is closed (gracefully: nothing is cut off). Its
//!   default (75 s) stays above the idle timeouts of the proxies in front (nginx's upstream
//!   keep-alive 60 s, AWS ALB 60 s): a proxy must never reuse a connection the server is closing
//!   at that moment, which the proxy would turn into a 502. A new connection that sends nothing
//!   is idle from the start.
//!
//!   hyper has one timer for both (its header-read timer starts whenever the connection waits
//!   for a head, so it also ends idle connections), which would tie a short header-read timeout
//!   to a short keep-alive. So hyper's is off and the connection task times both: the reads mark
//!   the first byte of a head, the service marks a request's start and its response's end (the
//!   response body is dropped), and [`Activity`] turns those into the next deadline.
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
//! - Upgrades (the live text WebSocket): the upgraded connection keeps the send timeout (it is
//!   the same socket), so a live client that stops reading is cut off like a streaming one. An
//!   upgraded connection has left hyper's connection, so the shutdown drain does not wait for
//!   it; a live session ends when the process does.
//!
//! HTTP/2 is not offered on the plain listener (no deployment here speaks h2c to the API).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use polyvox_core::metrics as m;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// Limits of the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
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
    // hyper-util's graceful watcher takes no upgradeable connection: each connection task
    // starts its own graceful shutdown on the signal, and the tracker waits for all of them.
    let connections = tokio_util::task::TaskTracker::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // Timed by the connection task instead (see the module note).
    http.header_read_timeout(None);
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
        let activity = Arc::new(Activity::new());
        let service = {
            let (app, activity) = (app.clone(), Arc::clone(&activity));
            tower::service_fn(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let in_flight = InFlight::start(Arc::clone(&activity));
                let answered = app.clone().oneshot(req);
                async move {
                    let res = answered.await?;
                    Ok::<_, std::convert::Infallible>(res.map(|body| Counted {
                        body,
                        _in_flight: in_flight,
                    }))
                }
            })
        };
        let io = Watched {
            inner: SendTimeout::new(stream, limits.send_timeout),
            activity: Arc::clone(&activity),
        };
        let conn = http
            .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
            .with_upgrades();
        let stop = shutdown.clone();
        connections.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            // Set once a graceful shutdown has begun (idle, or the server stopping): hyper
            // finishes the request in flight, if any, and closes.
            let mut closing = false;
            let ended = loop {
                let next = activity.deadline(&limits).filter(|d| !(closing && d.1 == Expiry::Idle));
                let expired = async {
                    match next {
                        Some((at, _)) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    ended = conn.as_mut() => break ended,
                    () = stop.cancelled(), if !closing => {
                        // Finish the request in flight, close an idle keep-alive connection.
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    () = activity.changed.notified() => {}
                    // Read again: a request may have started since (that does not wake us).
                    () = expired => match activity.deadline(&limits).filter(|(at, _)| *at <= Instant::now()).map(|(_, why)| why) {
                        // Nothing in flight, nothing started: hyper closes it at once.
                        Some(Expiry::Idle) if !closing => {
                            conn.as_mut().graceful_shutdown();
                            closing = true;
                        }
                        // A head begun and not finished in time: dropped, not drained.
                        Some(Expiry::Head) => {
                            tracing::debug!("request head not received in time; connection closed");
                            break Ok(());
                        }
                        _ => {}
                    },
                }
            };
            // A client that goes away or times out ends its connection with an error: routine.
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
    Ok(())
}

/// What a connection is doing between its requests, for the two timeouts hyper does not run
/// here (see the module note).
struct Activity {
    phase: std::sync::Mutex<Phase>,
    /// Woken when a deadline may have moved earlier (a head began, the connection went idle).
    changed: Notify,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// No request in flight and no byte of the next one, since then.
    Idle(Instant),
    /// The first byte of a request head arrived then; the head is not complete yet.
    Head(Instant),
    /// This many requests in flight, their responses included.
    Busy(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    Idle,
    Head,
}

impl Activity {
    fn new() -> Self {
        Self {
            phase: std::sync::Mutex::new(Phase::Idle(Instant::now())),
            changed: Notify::new(),
        }
    }

    fn update(&self, change: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        let before = *phase;
        *phase = change(before);
        // Only these set a deadline that may come before the one the task sleeps to (a request
        // starting removes the deadline: the task wakes at the old one and finds none).
        // `notify_one` keeps the wake-up if the task is not waiting yet.
        if matches!(
            (before, *phase),
            (Phase::Busy(_), Phase::Idle(_)) | (Phase::Idle(_), Phase::Head(_))
        ) {
            self.changed.notify_one();
        }
    }

    /// Bytes arrived: on an idle connection, the next request's head has begun.
    fn bytes_arrived(&self) {
        self.update(|p| match p {
            Phase::Idle(_) => Phase::Head(Instant::now()),
            other => other,
        });
    }

    /// When the connection times out next, and why; `None` while a request is in flight.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<(Instant, Expiry)> {
        match *self.phase.lock().unwrap_or_else(|p| p.into_inner()) {
            Phase::Idle(since) => Some((since + limits.keep_alive_timeout, Expiry::Idle)),
            Phase::Head(since) => Some((since + limits.header_read_timeout, Expiry::Head)),
            Phase::Busy(_) => None,
        }
    }
}

/// One request in flight: from the moment hyper hands over its parsed head until its response
/// body is dropped (sent whole, failed, or abandoned with the connection).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> Self {
        activity.update(|p| match p {
            Phase::Busy(n) => Phase::Busy(n + 1),
            Phase::Idle(_) | Phase::Head(_) => Phase::Busy(1),
        });
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.update(|p| match p {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        });
    }
}

/// A response body that keeps its request counted as in flight for as long as it lives.
struct Counted {
    body: axum::body::Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The connection's reads, reported to its [`Activity`]; writes pass through.
struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        res
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
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
