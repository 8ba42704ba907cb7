//! Every metric Polyvox records, named in one place so code, dashboards and alerts cannot drift.
//!
//! Design: this module is pure data. Library crates record through the `metrics` facade using
//! these constants; the binary installs the Prometheus recorder and walks [`ALL`] to describe each
//! metric (help text) and give every histogram its buckets — without buckets the exporter would
//! render summaries, which cannot be aggregated across instances. Names follow the Prometheus
//! conventions: a `polyvox_` prefix, the base unit in the name (`_seconds`, `_bytes`, `_ratio`),
//! `_total` on counters. The `process_*` names are the standard ones every Prometheus client
//! library exports, so stock dashboards and alerts work on them unchanged.
//!
//! `polyvox-infra` keeps its own names (`polyvox_infra_*`, see its `names` module) because it must
//! not depend on anything above it; [`ALL`] lists them too so they get help text and buckets.
//!
//! Label values are bounded sets (route templates, status codes, stable error codes, lanes,
//! outcomes), never ids or free text: each distinct value is a separate time series.

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric: its name, kind, help text, label names and (for histograms) bucket bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricDef {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    pub labels: &'static [&'static str],
    /// Upper bounds of the histogram buckets; empty for counters and gauges.
    pub buckets: &'static [f64],
}

/// Label names.
pub mod label {
    /// Route template as registered in the router (`/v1/jobs/{id}`), or `unmatched`.
    pub const ROUTE: &str = "route";
    pub const METHOD: &str = "method";
    /// HTTP status code as a number.
    pub const STATUS: &str = "status";
    /// A stable `ErrorCode` string (`queue_full`, `voice_not_found`, ...).
    pub const CODE: &str = "code";
    /// Why a request was turned away; see [`super::reason`].
    pub const REASON: &str = "reason";
    /// Queue lane: `interactive` or `batch`.
    pub const LANE: &str = "lane";
    /// How something ended; see [`super::outcome`].
    pub const OUTCOME: &str = "outcome";
}

/// Values of the `route` label for requests no route matched (keeps 404 scans from creating a
/// series per probed path).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Values of the `reason` label of [`REJECTIONS_TOTAL`].
pub mod reason {
    /// Every synthesis slot and the bounded waiting queue of the API were full.
    pub const QUEUE_FULL: &str = "queue_full";
    /// The model threads' queue could not take the first chunk of a new request.
    pub const ENGINE_QUEUE_FULL: &str = "engine_queue_full";
    /// A key's requests-per-minute limit refused the request.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// A key's characters-per-minute limit refused the request.
    pub const CHARS_RATE_LIMITED: &str = "chars_rate_limited";
    /// A key's monthly character quota is used up.
    pub const QUOTA_EXCEEDED: &str = "quota_exceeded";
    /// A key already had its most syntheses in progress.
    pub const CONCURRENCY_LIMITED: &str = "concurrency_limited";
    /// A client address had too many failed authentications.
    pub const AUTH_FAILURES: &str = "auth_failures";
    /// Every reason, so the counters can start at 0 for each (a new reason is listed here once).
    pub const ALL: [&str; 7] = [
        QUEUE_FULL,
        ENGINE_QUEUE_FULL,
        RATE_LIMITED,
        CHARS_RATE_LIMITED,
        QUOTA_EXCEEDED,
        CONCURRENCY_LIMITED,
        AUTH_FAILURES,
    ];
}

/// Values of the `reason` label of [`AUTH_FAILURES_TOTAL`].
pub mod auth {
    /// No `Authorization: Bearer` header.
    pub const MISSING: &str = "missing";
    /// Not a Polyvox token, an unknown key, or a wrong secret (one bucket: telling them apart
    /// would help someone probing for key ids).
    pub const INVALID: &str = "invalid";
    /// A revoked key.
    pub const REVOKED: &str = "revoked";
    pub const ALL: [&str; 3] = [MISSING, INVALID, REVOKED];
}

/// Values of the `outcome` label.
pub mod outcome {
    pub const OK: &str = "ok";
    pub const FAILED: &str = "failed";
    /// The caller went away (or the job was cancelled) before the end.
    pub const CANCELLED: &str = "cancelled";
    /// Job finished with audio.
    pub const SUCCEEDED: &str = "succeeded";
    /// Job attempt failed and the job went back to the queue with a backoff.
    pub const RETRIED: &str = "retried";
    /// Job attempt failed for good (non-retryable or out of attempts): dead-lettered.
    pub const DEAD: &str = "dead";
    /// Another worker owns the job now (lease lost); this worker reports nothing.
    pub const LOST: &str = "lost";
    /// The worker shut down before the job finished and gave it back to the queue.
    pub const HANDED_BACK: &str = "handed_back";
    /// Job answered from the cache at submission, without synthesis.
    pub const CACHE_HIT: &str = "cache_hit";
    /// Job created and enqueued for a worker.
    pub const ENQUEUED: &str = "enqueued";
    /// An identical in-flight job or an earlier job with the same idempotency key was returned.
    pub const SHARED: &str = "shared";
}

// --- HTTP (polyvox-server) -------------------------------------------------------------------

/// Counter: responses, labels `route`, `method`, `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "polyvox_http_requests_total";
/// Histogram: time until the response head is ready, labels `route`, `method`. Streamed bodies
/// continue after it; their length is in [`SYNTHESIS_SECONDS`].
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "polyvox_http_request_duration_seconds";
/// Gauge: requests whose response head is not ready yet.
pub const HTTP_REQUESTS_IN_FLIGHT: &str = "polyvox_http_requests_in_flight";
/// Counter: error responses by stable error code, label `code`.
pub const HTTP_ERRORS_TOTAL: &str = "polyvox_http_errors_total";
/// Counter: requests turned away by load shedding or rate limiting, label `reason`.
pub const REJECTIONS_TOTAL: &str = "polyvox_rejections_total";
/// Counter: requests refused for a missing, invalid or revoked API key, label `reason`.
pub const AUTH_FAILURES_TOTAL: &str = "polyvox_auth_failures_total";
/// Counter: rate-limiter calls that failed (Redis down); such requests are let through, label `reason`.
pub const RATE_LIMIT_ERRORS_TOTAL: &str = "polyvox_rate_limit_errors_total";

/// Counter: connections closed on accept because `--max-connections` were open.
pub const CONNECTIONS_REFUSED_TOTAL: &str = "polyvox_connections_refused_total";
/// Counter: connections ended because the client read nothing of the response for
/// `--send-timeout-secs`.
pub const SEND_TIMEOUTS_TOTAL: &str = "polyvox_send_timeouts_total";

// --- Engine (model threads) ------------------------------------------------------------------

/// Gauge: model sessions (threads) started.
pub const ENGINE_SESSIONS: &str = "polyvox_engine_sessions";
/// Gauge: model sessions computing right now.
pub const ENGINE_SESSIONS_BUSY: &str = "polyvox_engine_sessions_busy";
/// Gauge: model calls waiting for a free session.
pub const ENGINE_QUEUE_LENGTH: &str = "polyvox_engine_queue_length";
/// Histogram: duration of one model call (one chunk).
pub const ENGINE_INFER_SECONDS: &str = "polyvox_engine_infer_seconds";
/// Counter: batch model calls stopped midway so an interactive call could run first.
pub const ENGINE_PREEMPTIONS_TOTAL: &str = "polyvox_engine_preemptions_total";

// --- Synthesis pipeline ----------------------------------------------------------------------

/// Counter: syntheses finished, label `outcome` (`ok` | `failed` | `cancelled`).
pub const SYNTHESES_TOTAL: &str = "polyvox_syntheses_total";
/// Histogram: wall time of one synthesis, from text planning to the last audio byte.
pub const SYNTHESIS_SECONDS: &str = "polyvox_synthesis_seconds";
/// Histogram: time from the start of a synthesis to its first audio (first chunk out of the model).
pub const TIME_TO_FIRST_AUDIO_SECONDS: &str = "polyvox_time_to_first_audio_seconds";
/// Histogram: real-time factor of one synthesis, synthesis seconds / audio seconds (< 1 is faster
/// than real time).
pub const SYNTHESIS_REAL_TIME_FACTOR: &str = "polyvox_synthesis_real_time_factor_ratio";
/// Histogram: audio produced per synthesis; its `_sum` is the total audio seconds produced.
pub const SYNTHESIS_AUDIO_SECONDS: &str = "polyvox_synthesis_audio_seconds";
/// Counter: characters of input text synthesized.
pub const SYNTHESIZED_CHARACTERS_TOTAL: &str = "polyvox_synthesized_characters_total";

// --- Jobs (API side and workers) -------------------------------------------------------------

/// Counter: job submissions, labels `lane` and `outcome` (`enqueued` | `cache_hit` | `shared`).
pub const JOB_SUBMISSIONS_TOTAL: &str = "polyvox_job_submissions_total";
/// Counter: finished job attempts, labels `lane` and `outcome`
/// (`succeeded` | `retried` | `dead` | `cancelled` | `lost` | `handed_back`).
pub const JOB_OUTCOMES_TOTAL: &str = "polyvox_job_outcomes_total";
/// Counter: failed job attempts by stable error code, labels `lane`, `code`.
pub const JOB_ERRORS_TOTAL: &str = "polyvox_job_errors_total";
/// Histogram: time a job waited in the queue before a worker claimed it, label `lane`.
pub const JOB_QUEUE_WAIT_SECONDS: &str = "polyvox_job_queue_wait_seconds";
/// Histogram: time from claim to the end of an attempt, label `lane`.
pub const JOB_RUN_SECONDS: &str = "polyvox_job_run_seconds";
/// Gauge: jobs currently queued (waiting for a worker or for a retry backoff), label `lane`.
/// Counted in the job table, so every process reports the same backlog: aggregate with `max`.
pub const JOB_QUEUE_LENGTH: &str = "polyvox_job_queue_length";
/// Gauge: jobs this worker is running now, label `lane`.
pub const JOBS_RUNNING: &str = "polyvox_jobs_running";
/// Counter: finished jobs whose audio passed its retention and was swept, label `outcome`
/// (`ok`: object and cache entry deleted, job marked expired | `failed`: left for a later pass).
pub const RETENTION_SWEPT_TOTAL: &str = "polyvox_retention_swept_total";
/// Counter: webhook sends from the outbox, label `outcome` (`ok`: 2xx | `failed`: anything else,
/// retried later or, past the deadline, given up).
pub const WEBHOOK_ATTEMPTS_TOTAL: &str = "polyvox_webhook_attempts_total";
/// Counter: job-row reads by an API instance relaying a worker's job, made only because the
/// relay went quiet (its fallback); the relay itself costs the database nothing.
pub const RELAY_FALLBACK_READS_TOTAL: &str = "polyvox_relay_fallback_reads_total";
/// Histogram: on the API, time from submitting a relayed job to its first audio (or, for a
/// whole-file request, its file) reaching the response.
pub const RELAY_FIRST_AUDIO_SECONDS: &str = "polyvox_relay_first_audio_seconds";
/// Counter: relayed requests the API ended, label `outcome` (`ok` | `failed` | `cancelled`:
/// the client left and the job was cancelled).
pub const RELAY_STREAMS_TOTAL: &str = "polyvox_relay_streams_total";
/// Gauge: usage rows (key × UTC day) waiting in memory to be written, set at each flush.
pub const USAGE_PENDING_ROWS: &str = "polyvox_usage_pending_rows";
/// Counter: usage deltas dropped because the in-memory buffer was full (the store kept failing).
pub const USAGE_DROPPED_TOTAL: &str = "polyvox_usage_dropped_total";
/// Counter: sentence (chunk) cache lookups of the synthesis pipeline, label `result`
/// (`hit`: the model call was skipped | `miss`).
pub const SENTENCE_CACHE_LOOKUPS_TOTAL: &str = "polyvox_sentence_cache_lookups_total";

// --- Process (standard names) ----------------------------------------------------------------

/// Total user + system CPU time of the process. Exported as a gauge sampled at scrape time, as
/// the facade's counters are integers; `rate()` works on it all the same.
pub const PROCESS_CPU_SECONDS_TOTAL: &str = "process_cpu_seconds_total";
/// Gauge: resident set size.
pub const PROCESS_RESIDENT_MEMORY_BYTES: &str = "process_resident_memory_bytes";
/// Gauge: virtual memory size.
pub const PROCESS_VIRTUAL_MEMORY_BYTES: &str = "process_virtual_memory_bytes";
/// Gauge: open file descriptors.
pub const PROCESS_OPEN_FDS: &str = "process_open_fds";
/// Gauge: OS threads.
pub const PROCESS_THREADS: &str = "process_threads";
/// Gauge: start time of the process since the Unix epoch.
pub const PROCESS_START_TIME_SECONDS: &str = "process_start_time_seconds";

// --- polyvox-infra's names (defined there; repeated so the exporter can describe them) -------

/// Histogram: one call to an external system, labels `system`, `op`.
pub const INFRA_CALL_SECONDS: &str = "polyvox_infra_call_seconds";
/// Counter: failed calls to an external system, labels `system`, `op`, `code`.
pub const INFRA_ERRORS_TOTAL: &str = "polyvox_infra_errors_total";
/// Counter: bytes moved by streamed storage transfers (audio written as it is encoded, audio
/// read as it is sent), labels `system`, `op` (`put_stream` | `get_body`).
pub const INFRA_STREAM_BYTES_TOTAL: &str = "polyvox_infra_stream_bytes_total";
/// Counter: audio cache lookups, labels `backend`, `result` (`hit` | `miss`).
pub const CACHE_LOOKUPS_TOTAL: &str = "polyvox_infra_cache_lookups_total";
/// Counter: queue consumer groups recreated after Redis lost its state, label `lane`.
pub const QUEUE_GROUP_RECREATED_TOTAL: &str = "polyvox_infra_queue_group_recreated_total";

/// Latency of HTTP heads and external calls: milliseconds to a minute.
const FAST_SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Model calls and first audio: tens of milliseconds to tens of seconds on CPU.
const MODEL_SECONDS: &[f64] = &[
    0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0,
];
/// Whole syntheses and jobs: up to 100,000 characters, so up to many minutes.
const LONG_SECONDS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];
/// Queue waits: instant when idle, minutes behind a backlog.
const WAIT_SECONDS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];
/// Real-time factor: well under 1 on a good CPU, above 1 when overloaded.
const RTF_RATIO: &[f64] = &[0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0];
/// Audio length of one synthesis: a word to a long document.
const AUDIO_SECONDS: &[f64] = &[
    0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

const fn counter(
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
) -> MetricDef {
    MetricDef {
        name,
        kind: Kind::Counter,
        help,
        labels,
        buckets: &[],
    }
}

const fn gauge(
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
) -> MetricDef {
    MetricDef {
        name,
        kind: Kind::Gauge,
        help,
        labels,
        buckets: &[],
    }
}

const fn histogram(
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    buckets: &'static [f64],
) -> MetricDef {
    MetricDef {
        name,
        kind: Kind::Histogram,
        help,
        labels,
        buckets,
    }
}

use label::{CODE, LANE, METHOD, OUTCOME, REASON, ROUTE, STATUS};

/// Every metric, for describing them to the exporter and for tests that check coverage.
#[rustfmt::skip]
pub const ALL: &[MetricDef] = &[
    counter(HTTP_REQUESTS_TOTAL, "HTTP responses by route template, method and status.", &[ROUTE, METHOD, STATUS]),
    histogram(HTTP_REQUEST_DURATION_SECONDS, "Time until the HTTP response head was ready.", &[ROUTE, METHOD], FAST_SECONDS),
    gauge(HTTP_REQUESTS_IN_FLIGHT, "HTTP requests whose response head is not ready yet.", &[]),
    counter(HTTP_ERRORS_TOTAL, "HTTP error responses by stable error code.", &[CODE]),
    counter(REJECTIONS_TOTAL, "Requests turned away by load shedding or rate limiting.", &[REASON]),
    counter(AUTH_FAILURES_TOTAL, "Requests refused for a missing, invalid or revoked API key.", &[REASON]),
    counter(RATE_LIMIT_ERRORS_TOTAL, "Rate-limit checks that failed and let the request through.", &[REASON]),
    counter(CONNECTIONS_REFUSED_TOTAL, "Connections closed on accept at the connection cap.", &[]),
    counter(SEND_TIMEOUTS_TOTAL, "Connections ended because the client stopped reading the response.", &[]),
    gauge(ENGINE_SESSIONS, "Model sessions (threads) started.", &[]),
    gauge(ENGINE_SESSIONS_BUSY, "Model sessions computing right now.", &[]),
    gauge(ENGINE_QUEUE_LENGTH, "Model calls waiting for a free session.", &[]),
    histogram(ENGINE_INFER_SECONDS, "Duration of one model call (one chunk).", &[], MODEL_SECONDS),
    counter(ENGINE_PREEMPTIONS_TOTAL, "Batch model calls stopped midway for an interactive call.", &[]),
    counter(SYNTHESES_TOTAL, "Syntheses finished, by outcome.", &[OUTCOME]),
    histogram(SYNTHESIS_SECONDS, "Wall time of one synthesis, planning to last audio.", &[], LONG_SECONDS),
    histogram(TIME_TO_FIRST_AUDIO_SECONDS, "Time from the start of a synthesis to its first audio.", &[], MODEL_SECONDS),
    histogram(SYNTHESIS_REAL_TIME_FACTOR, "Synthesis seconds per second of audio produced.", &[], RTF_RATIO),
    histogram(SYNTHESIS_AUDIO_SECONDS, "Audio produced per synthesis; _sum is the total.", &[], AUDIO_SECONDS),
    counter(SYNTHESIZED_CHARACTERS_TOTAL, "Characters of input text synthesized.", &[]),
    counter(JOB_SUBMISSIONS_TOTAL, "Job submissions by lane and outcome.", &[LANE, OUTCOME]),
    counter(JOB_OUTCOMES_TOTAL, "Finished job attempts by lane and outcome.", &[LANE, OUTCOME]),
    counter(JOB_ERRORS_TOTAL, "Failed job attempts by lane and stable error code.", &[LANE, CODE]),
    histogram(JOB_QUEUE_WAIT_SECONDS, "Time a job waited in the queue before a worker claimed it.", &[LANE], WAIT_SECONDS),
    histogram(JOB_RUN_SECONDS, "Time from claim to the end of a job attempt.", &[LANE], LONG_SECONDS),
    gauge(JOBS_RUNNING, "Jobs this worker is running now.", &[LANE]),
    gauge(JOB_QUEUE_LENGTH, "Jobs queued per lane, counted in the job table.", &[LANE]),
    counter(RETENTION_SWEPT_TOTAL, "Finished jobs whose expired audio was swept, by outcome.", &[OUTCOME]),
    counter(WEBHOOK_ATTEMPTS_TOTAL, "Webhook sends from the outbox, by outcome.", &[OUTCOME]),
    gauge(USAGE_PENDING_ROWS, "Usage rows waiting in memory to be written.", &[]),
    counter(USAGE_DROPPED_TOTAL, "Usage deltas dropped because the buffer was full.", &[]),
    counter(RELAY_FALLBACK_READS_TOTAL, "Job-row reads by relay readers because the relay went quiet.", &[]),
    histogram(RELAY_FIRST_AUDIO_SECONDS, "Submit to first relayed audio on the API.", &[], MODEL_SECONDS),
    counter(RELAY_STREAMS_TOTAL, "Relayed requests ended by the API, by outcome.", &[OUTCOME]),
    counter(SENTENCE_CACHE_LOOKUPS_TOTAL, "Sentence (chunk) cache lookups by result.", &["result"]),
    gauge(PROCESS_CPU_SECONDS_TOTAL, "Total user and system CPU time spent in seconds.", &[]),
    gauge(PROCESS_RESIDENT_MEMORY_BYTES, "Resident memory size in bytes.", &[]),
    gauge(PROCESS_VIRTUAL_MEMORY_BYTES, "Virtual memory size in bytes.", &[]),
    gauge(PROCESS_OPEN_FDS, "Number of open file descriptors.", &[]),
    gauge(PROCESS_THREADS, "Number of OS threads.", &[]),
    gauge(PROCESS_START_TIME_SECONDS, "Start time of the process since the Unix epoch in seconds.", &[]),
    histogram(INFRA_CALL_SECONDS, "Duration of one call to an external system.", &["system", "op"], FAST_SECONDS),
    counter(INFRA_ERRORS_TOTAL, "Failed calls to an external system by stable error code.", &["system", "op", CODE]),
    counter(INFRA_STREAM_BYTES_TOTAL, "Bytes moved by streamed storage transfers.", &["system", "op"]),
    counter(CACHE_LOOKUPS_TOTAL, "Audio cache lookups by backend and result.", &["backend", "result"]),
    counter(QUEUE_GROUP_RECREATED_TOTAL, "Queue consumer groups recreated after Redis lost them.", &[LANE]),
];

/// The definition of `name`, if it is one of ours.
pub fn find(name: &str) -> Option<&'static MetricDef> {
    ALL.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_follow_the_conventions() {
        for (i, m) in ALL.iter().enumerate() {
            assert!(
                ALL[i + 1..].iter().all(|o| o.name != m.name),
                "{} listed twice",
                m.name
            );
            assert!(
                m.name.starts_with("polyvox_") || m.name.starts_with("process_"),
                "{}",
                m.name
            );
            assert!(
                m.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                m.name
            );
            match m.kind {
                Kind::Counter => assert!(m.name.ends_with("_total"), "{}", m.name),
                Kind::Histogram => {
                    assert!(
                        m.name.ends_with("_seconds") || m.name.ends_with("_ratio"),
                        "{} has no unit",
                        m.name
                    );
                    assert!(!m.buckets.is_empty(), "{} has no buckets", m.name);
                    assert!(
                        m.buckets.windows(2).all(|w| w[0] < w[1]),
                        "{} buckets not increasing",
                        m.name
                    );
                }
                Kind::Gauge => assert!(m.buckets.is_empty(), "{}", m.name),
            }
            assert!(!m.help.is_empty(), "{} has no help", m.name);
        }
    }

    #[test]
    fn find_knows_every_name_and_nothing_else() {
        assert_eq!(
            find(SYNTHESIS_SECONDS).map(|m| m.kind),
            Some(Kind::Histogram)
        );
        assert_eq!(
            find(HTTP_REQUESTS_TOTAL).map(|m| m.labels),
            Some(&[ROUTE, METHOD, STATUS][..])
        );
        assert!(find("polyvox_nope_total").is_none());
    }
}
