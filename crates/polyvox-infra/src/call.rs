//! The one wrapper every external call goes through: a timeout, so a stuck dependency turns into
//! a prompt `InfraError::Timeout` instead of a hung request, and a latency histogram plus an
//! error counter, so the operator sees which system and which operation misbehaves.

use std::future::Future;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::{InfraError, Result, names};

/// Runs `fut` with a `timeout`, recording `polyvox_infra_call_seconds{system,op}` and, on failure,
/// `polyvox_infra_errors_total{system,op,code}`.
pub async fn instrumented<T, F>(
    system: &'static str,
    op: &'static str,
    timeout: Duration,
    fut: F,
) -> Result<T>
where
    F: Future<Output = Result<T>>,
{
    let start = Instant::now();
    let result = match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(InfraError::Timeout {
            system,
            op,
            after_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        }),
    };
    metrics::histogram!(names::CALL_SECONDS, "system" => system, "op" => op)
        .record(start.elapsed().as_secs_f64());
    if let Err(e) = &result {
        metrics::counter!(names::ERRORS_TOTAL, "system" => system, "op" => op, "code" => e.code().as_str())
            .increment(1);
    }
    result
}

/// A Redis connection manager for `client`; connecting is itself an instrumented call, given
/// twice `call_timeout`.
pub(crate) async fn redis_manager(
    client: redis::Client,
    call_timeout: Duration,
) -> Result<ConnectionManager> {
    let cfg = redis_manager_config(call_timeout);
    instrumented(
        names::system::REDIS,
        "connect",
        call_timeout * 2,
        async move { Ok(ConnectionManager::new_with_config(client, cfg).await?) },
    )
    .await
}

/// How a connection manager reconnects after Redis went away: two retries, about a second
/// apart. A failed reconnect is not final: the next call that meets its error starts another,
/// so a Redis that is down for long is retried as often as the service calls it.
///
/// The crate's defaults cannot stay: its retry `factor` (100) multiplies the delay each time,
/// starting at one second, and the delay is capped at 60 s. A Redis that was down for more than
/// the first second made every call wait out a 60-120 s sleep before the manager tried again,
/// long after Redis was back (the fault gate's redis-restart saw an API instance not ready for
/// more than 30 s).
pub(crate) fn redis_manager_config(call_timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(call_timeout)
        .set_number_of_retries(2)
        .set_factor(2)
        .set_max_delay(1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slow_call_becomes_a_timeout_error() {
        let err = instrumented("test", "sleep", Duration::from_millis(10), async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        })
        .await
        .unwrap_err();
        assert!(matches!(
            err,
            InfraError::Timeout {
                system: "test",
                op: "sleep",
                after_ms: 10
            }
        ));
    }

    #[tokio::test]
    async fn results_pass_through() {
        let v = instrumented("test", "ok", Duration::from_secs(5), async { Ok(7) }).await;
        assert_eq!(v.unwrap(), 7);
        let e = instrumented::<(), _>("test", "err", Duration::from_secs(5), async {
            Err(InfraError::not_found("x"))
        })
        .await;
        assert!(matches!(e, Err(InfraError::NotFound { .. })));
    }

    /// Remembers which metrics were registered, with their labels.
    #[derive(Default)]
    struct Seen(std::sync::Mutex<Vec<String>>);

    impl Seen {
        fn note(&self, key: &metrics::Key) {
            let mut labels: Vec<_> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            let line = format!("{}{{{}}}", key.name(), labels.join(","));
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(line);
        }
    }

    impl metrics::Recorder for Seen {
        fn describe_counter(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_gauge(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_histogram(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn register_counter(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Counter {
            self.note(key);
            metrics::Counter::noop()
        }
        fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            self.note(key);
            metrics::Gauge::noop()
        }
        fn register_histogram(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            self.note(key);
            metrics::Histogram::noop()
        }
    }

    #[test]
    fn every_call_is_timed_and_failures_are_counted() {
        let seen = Seen::default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        metrics::with_local_recorder(&seen, || {
            rt.block_on(async {
                let _ =
                    instrumented("redis", "xadd", Duration::from_secs(5), async { Ok(()) }).await;
                let _ = instrumented::<(), _>("s3", "get", Duration::from_secs(5), async {
                    Err(InfraError::not_found("x"))
                })
                .await;
            })
        });
        let seen = seen.0.into_inner().unwrap();
        assert_eq!(
            seen,
            [
                "polyvox_infra_call_seconds{op=xadd,system=redis}",
                "polyvox_infra_call_seconds{op=get,system=s3}",
                "polyvox_infra_errors_total{code=not_found,op=get,system=s3}",
            ]
        );
    }
}
