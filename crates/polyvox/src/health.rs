//! The worker's health endpoint: a few lines of HTTP/1.1 on a plain listener, so the worker
//! process needs no web framework. `/health/live` answers 200 while the process runs;
//! `/health/ready` answers 200 only while the worker takes jobs — after the model is loaded and
//! warm, before a shutdown began — and 503 otherwise.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves the probes on `listener` until `shutdown`; `ready` is read on every request.
pub async fn serve(listener: TcpListener, ready: Arc<AtomicBool>, shutdown: CancellationToken) {
    loop {
        let (mut conn, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "health listener accept failed");
                    continue;
                }
            },
            () = shutdown.cancelled() => return,
        };
        let ready = Arc::clone(&ready);
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            // A probe's request line fits in one read; anything else gets a 404.
            let n =
                match tokio::time::timeout(std::time::Duration::from_secs(2), conn.read(&mut buf))
                    .await
                {
                    Ok(Ok(n)) => n,
                    _ => return,
                };
            let head = String::from_utf8_lossy(&buf[..n]);
            let path = head.split_whitespace().nth(1).unwrap_or("");
            let (status, body) = match path {
                "/health/live" => ("200 OK", r#"{"status":"ok"}"#),
                "/health/ready" if ready.load(Ordering::Acquire) => {
                    ("200 OK", r#"{"status":"ready"}"#)
                }
                "/health/ready" => ("503 Service Unavailable", r#"{"status":"not_ready"}"#),
                _ => ("404 Not Found", r#"{"status":"not_found"}"#),
            };
            let res = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(res.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}
