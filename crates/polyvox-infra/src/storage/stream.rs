//! The idle bound and the byte count of streamed transfers. A whole-call timeout cannot bound a
//! transfer of unknown size, so each step (one chunk read, one chunk or part written) gets the
//! idle timeout instead; a transfer that keeps moving is never cut off, one that stalls fails
//! within that long.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;

use super::ByteStream;
use crate::{InfraError, Result, names};

fn timeout_error(system: &'static str, op: &'static str, after: Duration) -> InfraError {
    InfraError::Timeout {
        system,
        op,
        after_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
    }
}

/// Counts bytes moved by streamed transfers: `polyvox_infra_stream_bytes_total{system,op}`.
pub(crate) fn count_bytes(system: &'static str, op: &'static str, n: usize) {
    metrics::counter!(names::STREAM_BYTES_TOTAL, "system" => system, "op" => op)
        .increment(n as u64);
}

/// Counts a failed step of a transfer like any failed call.
pub(crate) fn count_error(system: &'static str, op: &'static str, e: &InfraError) {
    metrics::counter!(names::ERRORS_TOTAL, "system" => system, "op" => op, "code" => e.code().as_str())
        .increment(1);
}

/// One step of a transfer, bounded by `idle`; failures are counted under `op`.
pub(crate) async fn step<T>(
    system: &'static str,
    op: &'static str,
    idle: Duration,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    let r = match tokio::time::timeout(idle, fut).await {
        Ok(r) => r,
        Err(_) => Err(timeout_error(system, op, idle)),
    };
    if let Err(e) = &r {
        count_error(system, op, e);
    }
    r
}

/// `inner` with every chunk bounded by `idle` and counted; ends after its first error, and
/// with an error if it delivers other than `expected` bytes (a body cut short must not look
/// like a complete file to whoever streams it on).
pub(crate) fn bounded(
    system: &'static str,
    op: &'static str,
    idle: Duration,
    expected: u64,
    inner: ByteStream,
) -> ByteStream {
    struct State {
        inner: ByteStream,
        seen: u64,
        done: bool,
    }
    let state = State {
        inner,
        seen: 0,
        done: false,
    };
    futures::stream::unfold(state, move |mut st| async move {
        if st.done {
            return None;
        }
        let next = match tokio::time::timeout(idle, st.inner.next()).await {
            Ok(Some(Ok(chunk))) => {
                st.seen += chunk.len() as u64;
                if st.seen > expected {
                    Err(InfraError::Corrupt(format!(
                        "storage sent more than the {expected} bytes asked for"
                    )))
                } else {
                    count_bytes(system, op, chunk.len());
                    Ok(chunk)
                }
            }
            Ok(Some(Err(e))) => Err(e),
            Ok(None) if st.seen == expected => return None,
            Ok(None) => Err(InfraError::Corrupt(format!(
                "storage ended the body after {} of {expected} bytes",
                st.seen
            ))),
            Err(_) => Err(timeout_error(system, op, idle)),
        };
        if let Err(e) = &next {
            count_error(system, op, e);
            st.done = true;
        }
        Some((next, st))
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_fails_with_a_timeout_and_a_moving_one_does_not() {
        // Each chunk takes 20 s, under the 30 s idle bound: 100 s in total is fine.
        let slow = futures::stream::iter(0..5)
            .then(|_| async {
                tokio::time::sleep(Duration::from_secs(20)).await;
                Ok(Bytes::from_static(b"ab"))
            })
            .boxed();
        let got: Vec<_> = bounded("s3", "get_body", Duration::from_secs(30), 10, slow)
            .collect()
            .await;
        assert_eq!(got.len(), 5);
        assert!(got.iter().all(|r| r.is_ok()));

        let stalled = futures::stream::iter([Ok(Bytes::from_static(b"ab"))])
            .chain(futures::stream::pending())
            .boxed();
        let got: Vec<_> = bounded("s3", "get_body", Duration::from_secs(30), 10, stalled)
            .collect()
            .await;
        assert_eq!(got.len(), 2);
        assert!(matches!(
            got[1],
            Err(InfraError::Timeout {
                op: "get_body",
                after_ms: 30_000,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn a_short_or_long_body_is_an_error() {
        let short = futures::stream::iter([Ok(Bytes::from_static(b"abc"))]).boxed();
        let got: Vec<_> = bounded("fs", "get_body", Duration::from_secs(5), 4, short)
            .collect()
            .await;
        assert!(matches!(got.last(), Some(Err(InfraError::Corrupt(_)))));
        let long = futures::stream::iter([Ok(Bytes::from_static(b"abcde"))]).boxed();
        let got: Vec<_> = bounded("fs", "get_body", Duration::from_secs(5), 4, long)
            .collect()
            .await;
        assert!(matches!(got.as_slice(), [Err(InfraError::Corrupt(_))]));
    }
}
