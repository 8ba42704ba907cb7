//! Who is calling and how much they may do: API-key authentication, per-key rate limits, the
//! monthly character quota, and usage metering.
//!
//! Design:
//! - Protected routes run [`authenticate`] as a route layer: it resolves the bearer token to a
//!   [`Caller`] (request extension) and takes one unit from the key's requests-per-minute bucket.
//!   Handlers that synthesize call [`Tenancy::charge`] once the body is validated, because only
//!   then is the character count known: that takes the characters from the per-minute bucket,
//!   takes them from the monthly quota counter and records the usage.
//! - Nothing on the request path writes to the database: usage goes to an in-memory
//!   [`UsageMeter`] flushed in the background, and the monthly quota is a counter (Redis or
//!   memory) seeded once per key and month, not a `SUM` per request.
//! - Key lookups are cached for a few seconds (hits and misses), so the hot path, a cache hit,
//!   costs no database round trip; revocation therefore takes effect within that TTL on every
//!   instance. The secret is checked on every request, cached or not. Known keys and unknown ids
//!   are cached apart, each bounded: unknown ids (anyone can make them up) only ever evict each
//!   other, and a full key cache lets its least recently looked-up key go, never all of them.
//! - Failed authentications (a well-formed token that does not authenticate) are counted per
//!   client address (IPv4 address or IPv6 /64, see `polyvox_core::client_ip`) in a GCRA bucket.
//!   Once a client's bucket is empty, an id this instance has never seen as a key is refused
//!   (429 `too_many_auth_failures`) *before* the database is asked, so made-up tokens cost at
//!   most the bucket's rate in lookups per client. Ids known to be keys are still looked up
//!   when their cache entry expires, so a valid key behind the same address (a NAT, a proxy)
//!   keeps working through a flood.
//! - A per-key cap on syntheses in progress ([`crate::key_slots`]).
//! - If the rate limiter's store (Redis) fails, requests are let through and the failure is
//!   counted: an outage of a protective layer must not become an outage of the service. The
//!   quota check fails open the same way; failed usage writes are retried by the meter.
//! - In open mode (`--no-auth`) there is no [`Tenancy`]: every caller is anonymous, nothing is
//!   limited per key, and no usage is recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use polyvox_core::ErrorCode;
use polyvox_core::client_ip::ClientIp;
use polyvox_core::metrics as m;
use polyvox_infra::ratelimit::{Decision, Rate, RateLimiter, SlotLimiter};
use polyvox_infra::tenancy::{
    ApiKey, KeyStore, KeyToken, QuotaCounter, UsageDelta, UsageMeter, UsageStore, next_month_start,
    utc_month,
};

use crate::app::AppState;
use crate::error::ApiError;

/// Bound on cached keys that exist. Past it the least recently looked-up one makes room: valid
/// keys are never dropped in bulk, so a flood of unknown ids cannot push them out.
const KEY_CACHE_MAX: usize = 100_000;
/// Bound on cached unknown ids (the negative cache); past it they, and only they, start over.
const MISS_CACHE_MAX: usize = 10_000;

/// Settings of key authentication and limits.
#[derive(Debug, Clone)]
pub struct TenancyConfig {
    /// Requests per minute for keys without their own limit; 0 = unlimited.
    pub default_requests_per_minute: u64,
    /// Characters per minute for keys without their own limit; 0 = unlimited.
    pub default_chars_per_minute: u64,
    /// Speech requests in progress at once for keys without their own cap; 0 = unlimited.
    pub default_concurrent_syntheses: u64,
    /// Failed authentications allowed per client address (a limit of 0 = no limit).
    pub auth_failures: Rate,
    /// How long a key lookup is reused; also the longest a revoked key keeps working.
    pub key_cache_ttl: Duration,
}

impl Default for TenancyConfig {
    fn default() -> Self {
        Self {
            default_requests_per_minute: 600,
            default_chars_per_minute: 200_000,
            default_concurrent_syntheses: 8,
            auth_failures: Rate::per_minute(30),
            key_cache_ttl: Duration::from_secs(5),
        }
    }
}

/// The stores tenancy needs.
#[derive(Clone)]
pub struct TenancyBackends {
    pub keys: Arc<dyn KeyStore>,
    /// Usage is recorded here; whoever builds it runs its flush task ([`UsageMeter::run`]).
    pub usage: Arc<UsageMeter>,
    /// Monthly quota counters, seeded from `usage`.
    pub quota: Arc<dyn QuotaCounter>,
    /// Per-key and per-client rate limits.
    pub limiter: Arc<dyn RateLimiter>,
    /// Per-key synthesis slots.
    pub slots: Arc<dyn SlotLimiter>,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    key: Option<Arc<ApiKey>>,
    requests_per_minute: u64,
    chars_per_minute: u64,
    concurrent_syntheses: u64,
}

impl Caller {
    /// The caller of a server running without keys.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// The key id, which owns the jobs this caller creates; `None` without keys.
    pub fn owner(&self) -> Option<&str> {
        self.key.as_deref().map(|k| k.id.as_str())
    }

    pub fn key(&self) -> Option<&ApiKey> {
        self.key.as_deref()
    }

    /// Speech requests this caller may have in progress at once; 0 = unlimited.
    pub fn concurrent_syntheses(&self) -> u64 {
        self.concurrent_syntheses
    }
}

/// What the key cache knows about an id.
enum Cached {
    /// Looked up within the TTL: the key, or `None` for an id that is no key.
    Fresh(Option<Arc<ApiKey>>),
    /// A key once, its entry expired: looked up again whatever the client's failures.
    Stale,
    /// Never seen (or forgotten).
    Unknown,
}

/// Recent key lookups: keys found (with when) and ids found to be unknown (with when), kept
/// apart so that unknown ids, which anyone can make up, never evict real keys.
#[derive(Default)]
struct KeyCache {
    found: HashMap<String, (Arc<ApiKey>, Instant)>,
    missing: HashMap<String, Instant>,
}

impl KeyCache {
    fn get(&self, id: &str, ttl: Duration) -> Cached {
        if let Some((key, at)) = self.found.get(id) {
            if at.elapsed() < ttl {
                return Cached::Fresh(Some(Arc::clone(key)));
            }
            return Cached::Stale;
        }
        match self.missing.get(id) {
            Some(at) if at.elapsed() < ttl => Cached::Fresh(None),
            _ => Cached::Unknown,
        }
    }

    fn put(&mut self, id: &str, key: Option<Arc<ApiKey>>, ttl: Duration) {
        let now = Instant::now();
        match key {
            Some(key) => {
                self.missing.remove(id);
                if self.found.len() >= KEY_CACHE_MAX && !self.found.contains_key(id) {
                    self.found.retain(|_, (_, at)| at.elapsed() < ttl);
                }
                if self.found.len() >= KEY_CACHE_MAX
                    && let Some(oldest) = self
                        .found
                        .iter()
                        .min_by_key(|(_, (_, at))| *at)
                        .map(|(k, _)| k.clone())
                {
                    self.found.remove(&oldest);
                }
                self.found.insert(id.to_string(), (key, now));
            }
            None => {
                self.found.remove(id);
                if self.missing.len() >= MISS_CACHE_MAX {
                    self.missing.retain(|_, at| at.elapsed() < ttl);
                    if self.missing.len() >= MISS_CACHE_MAX {
                        self.missing.clear();
                    }
                }
                self.missing.insert(id.to_string(), now);
            }
        }
    }
}

/// Keys, limits and usage for the API.
pub struct Tenancy {
    cfg: TenancyConfig,
    b: TenancyBackends,
    keys: Mutex<KeyCache>,
}

impl Tenancy {
    pub fn new(b: TenancyBackends, cfg: TenancyConfig) -> Self {
        Self {
            cfg,
            b,
            keys: Mutex::new(KeyCache::default()),
        }
    }

    /// Usage as stored plus what this instance has not flushed yet.
    pub fn usage(&self) -> &dyn UsageStore {
        self.b.usage.as_ref()
    }

    /// The key with this id: from the cache, else from the store, unless `client` has used up
    /// its failed authentications and the id was never a key (see the module note).
    async fn lookup(
        &self,
        id: &str,
        client: Option<&ClientIp>,
    ) -> Result<Option<Arc<ApiKey>>, ApiError> {
        let ttl = self.cfg.key_cache_ttl;
        let cached = self.key_cache().get(id, ttl);
        match cached {
            Cached::Fresh(known) => return Ok(known),
            Cached::Stale => {}
            Cached::Unknown => self.check_failures(client).await?,
        }
        let key = self
            .b
            .keys
            .key(id)
            .await
            .map_err(crate::jobs::infra)?
            .map(Arc::new);
        self.key_cache().put(id, key.clone(), ttl);
        Ok(key)
    }

    fn key_cache(&self) -> std::sync::MutexGuard<'_, KeyCache> {
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The per-client bucket of failed authentications, when limited and the client is known.
    fn failure_bucket(&self, client: Option<&ClientIp>) -> Option<String> {
        let client = client?;
        (self.cfg.auth_failures.limit > 0).then(|| format!("authfail:{}", client.bucket()))
    }

    /// Refuses, without a key lookup, a client with no failed authentications left.
    async fn check_failures(&self, client: Option<&ClientIp>) -> Result<(), ApiError> {
        let Some(bucket) = self.failure_bucket(client) else {
            return Ok(());
        };
        match self
            .b
            .limiter
            .peek(&bucket, self.cfg.auth_failures, 1)
            .await
        {
            Ok(d) if !d.allowed => Err(too_many_failures(d.retry_after)),
            Ok(_) => Ok(()),
            Err(e) => {
                limiter_failed(m::reason::AUTH_FAILURES, &e);
                Ok(())
            }
        }
    }

    /// Counts a failed authentication of `client`; `refusal` is the answer, unless this failure
    /// used up the client's allowance (then 429, so a client that keeps guessing learns it).
    async fn failed(&self, client: Option<&ClientIp>, refusal: ApiError) -> ApiError {
        let Some(bucket) = self.failure_bucket(client) else {
            return refusal;
        };
        match self
            .b
            .limiter
            .acquire(&bucket, self.cfg.auth_failures, 1)
            .await
        {
            Ok(d) if !d.allowed => too_many_failures(d.retry_after),
            Ok(_) => refusal,
            Err(e) => {
                limiter_failed(m::reason::AUTH_FAILURES, &e);
                refusal
            }
        }
    }

    /// Resolves the `Authorization: Bearer` token to a caller, or 401 (429 for a client with
    /// too many failed authentications). `client` is the request's client address, for that
    /// limit; `None` leaves it out.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        client: Option<ClientIp>,
    ) -> Result<Caller, ApiError> {
        let client = client.as_ref();
        let Some(raw) = headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized(
                m::auth::MISSING,
                "missing API key: send 'Authorization: Bearer <key>' (create one with `polyvox keys create`)",
            ));
        };
        let token = raw
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .ok_or_else(|| {
                unauthorized(
                    m::auth::INVALID,
                    "the Authorization header must be 'Bearer <key>'",
                )
            })?;
        let invalid = || unauthorized(m::auth::INVALID, "invalid API key");
        // A token of another shape costs no lookup, so it is not counted against the client.
        let token = KeyToken::parse(token).ok_or_else(invalid)?;
        let Some(key) = self.lookup(&token.id, client).await? else {
            return Err(self.failed(client, invalid()).await);
        };
        if !token.matches(&key.secret_sha256) {
            return Err(self.failed(client, invalid()).await);
        }
        if key.is_revoked() {
            let revoked = unauthorized(m::auth::REVOKED, "this API key has been revoked");
            return Err(self.failed(client, revoked).await);
        }
        let pick = |own: Option<u64>, default: u64| own.unwrap_or(default);
        Ok(Caller {
            requests_per_minute: pick(
                key.limits.requests_per_minute,
                self.cfg.default_requests_per_minute,
            ),
            chars_per_minute: pick(
                key.limits.chars_per_minute,
                self.cfg.default_chars_per_minute,
            ),
            concurrent_syntheses: pick(
                key.limits.concurrent_syntheses,
                self.cfg.default_concurrent_syntheses,
            ),
            key: Some(key),
        })
    }

    /// Takes one of the caller's synthesis slots, held until the returned guard is dropped
    /// (see [`crate::key_slots`]); 429 `concurrency_limited` when all are in use.
    pub(crate) async fn hold_synthesis(
        &self,
        caller: &Caller,
    ) -> Result<Option<crate::key_slots::KeySlot>, ApiError> {
        crate::key_slots::take(&self.b.slots, caller, crate::key_slots::SLOT_LEASE).await
    }

    /// Takes one request from the caller's per-minute bucket. `Ok(None)` when unlimited or when
    /// the limiter is unavailable (fail open, counted).
    async fn limit_requests(&self, caller: &Caller) -> Option<Decision> {
        let id = caller.owner()?;
        if caller.requests_per_minute == 0 {
            return None;
        }
        let rate = Rate::per_minute(caller.requests_per_minute);
        match self.b.limiter.acquire(&format!("{id}:req"), rate, 1).await {
            Ok(d) => Some(d),
            Err(e) => {
                limiter_failed(m::reason::RATE_LIMITED, &e);
                None
            }
        }
    }

    /// Charges `chars` characters of synthesis to the caller: the characters-per-minute limit,
    /// then the monthly quota counter, then the usage record (one request, `chars` characters).
    /// No database call, except to seed a key's quota counter at its first use in a month.
    pub async fn charge(&self, caller: &Caller, chars: u64) -> Result<(), ApiError> {
        self.charge_with(caller, chars, 1).await
    }

    /// [`Tenancy::charge`] for more text of a request already counted (a live session's chunks).
    pub(crate) async fn charge_more(&self, caller: &Caller, chars: u64) -> Result<(), ApiError> {
        self.charge_with(caller, chars, 0).await
    }

    /// The requests-per-minute limit, as the route layer applies it, for a caller
    /// authenticated without it (a live socket's `auth` message).
    pub(crate) async fn check_request_rate(&self, caller: &Caller) -> Result<(), ApiError> {
        match self.limit_requests(caller).await {
            Some(d) if !d.allowed => Err(requests_refused(&d)),
            _ => Ok(()),
        }
    }

    async fn charge_with(
        &self,
        caller: &Caller,
        chars: u64,
        requests: u64,
    ) -> Result<(), ApiError> {
        let taken = self.take(caller, chars).await?;
        self.record(
            caller,
            UsageDelta {
                requests,
                characters: taken.chars,
                ..UsageDelta::default()
            },
        );
        Ok(())
    }

    /// [`Tenancy::charge`] for a job submission that may turn out to owe nothing: the limits are
    /// taken now, the usage is recorded (or the quota handed back) by [`Tenancy::settle`] once
    /// the submission knows whether it made a job.
    pub async fn charge_pending(&self, caller: &Caller, chars: u64) -> Result<Charge, ApiError> {
        self.take(caller, chars).await
    }

    /// Ends a [`Tenancy::charge_pending`]: `owed` records one request and its characters, as
    /// [`Tenancy::charge`] would have; otherwise the quota characters go back (the per-minute
    /// character bucket does not: it throttles traffic, it does not bill it).
    pub async fn settle(&self, caller: &Caller, charge: Charge, owed: bool) {
        if owed {
            self.record(
                caller,
                UsageDelta {
                    requests: 1,
                    characters: charge.chars,
                    ..UsageDelta::default()
                },
            );
            return;
        }
        let (Some(id), Some(month)) = (caller.owner(), charge.quota_month) else {
            return;
        };
        if let Err(e) = self.b.quota.give_back(id, &month, charge.chars).await {
            // The counter stays that much high until it is seeded again (next month or a
            // Redis restart); the usage rows, which bill, never held these characters.
            limiter_failed(m::reason::QUOTA_EXCEEDED, &e);
        }
    }

    /// The characters-per-minute limit, then the monthly quota counter; no usage record.
    async fn take(&self, caller: &Caller, chars: u64) -> Result<Charge, ApiError> {
        let mut taken = Charge {
            chars,
            quota_month: None,
        };
        let Some(key) = caller.key.as_deref() else {
            return Ok(taken);
        };
        if caller.chars_per_minute > 0 {
            let rate = Rate::per_minute(caller.chars_per_minute);
            match self
                .b
                .limiter
                .acquire(&format!("{}:chars", key.id), rate, chars)
                .await
            {
                Ok(d) if !d.allowed => {
                    rejected(m::reason::CHARS_RATE_LIMITED);
                    let message = match d.retry_after {
                        Some(after) => format!(
                            "input: {chars} characters exceed what this key may still use this minute ({} of {} characters per minute); retry in {} s",
                            d.remaining,
                            d.limit,
                            after.as_secs().max(1)
                        ),
                        None => format!(
                            "input: {chars} characters exceed this key's limit of {} characters per minute; split the text or raise the key's limit",
                            d.limit
                        ),
                    };
                    return Err(ApiError::Limited {
                        code: ErrorCode::RateLimited,
                        message,
                        retry_after: d.retry_after,
                    });
                }
                Ok(_) => {}
                Err(e) => limiter_failed(m::reason::CHARS_RATE_LIMITED, &e),
            }
        }
        if let Some(quota) = key.limits.monthly_chars {
            let now = SystemTime::now();
            let month = utc_month(now);
            match self.b.quota.take(&key.id, &month, chars, quota).await {
                Ok(d) if !d.allowed => {
                    rejected(m::reason::QUOTA_EXCEEDED);
                    let reset = next_month_start(now);
                    return Err(ApiError::Limited {
                        code: ErrorCode::QuotaExceeded,
                        message: format!(
                            "input: {chars} characters exceed this key's monthly quota of {quota} characters ({} used in {month}); the quota resets at the start of next month (UTC)",
                            d.used
                        ),
                        retry_after: reset.duration_since(now).ok(),
                    });
                }
                Ok(_) => taken.quota_month = Some(month),
                Err(e) => limiter_failed(m::reason::QUOTA_EXCEEDED, &e),
            }
        }
        Ok(taken)
    }

    /// Adds to the caller's usage, in memory (written by the meter's flush task).
    pub fn record(&self, caller: &Caller, delta: UsageDelta) {
        if let Some(id) = caller.owner() {
            self.b.usage.add(id, delta);
        }
    }
}

/// Limits taken for a submission whose usage is not recorded yet (see
/// [`Tenancy::charge_pending`]).
#[derive(Debug)]
#[must_use = "settle the charge: record its usage or give its quota back"]
pub struct Charge {
    chars: u64,
    /// The month whose quota counter counted `chars`, if one did.
    quota_month: Option<String>,
}

fn unauthorized(reason: &'static str, message: &str) -> ApiError {
    metrics::counter!(m::AUTH_FAILURES_TOTAL, m::label::REASON => reason).increment(1);
    ApiError::Unauthorized(message.to_string())
}

fn too_many_failures(retry_after: Option<Duration>) -> ApiError {
    rejected(m::reason::AUTH_FAILURES);
    ApiError::Limited {
        code: ErrorCode::TooManyAuthFailures,
        message: "too many failed authentications from this address; check the API key and \
                  retry after the Retry-After seconds"
            .into(),
        retry_after: retry_after.or(Some(Duration::from_secs(1))),
    }
}

fn rejected(reason: &'static str) {
    metrics::counter!(m::REJECTIONS_TOTAL, m::label::REASON => reason).increment(1);
}

fn limiter_failed(reason: &'static str, e: &polyvox_infra::InfraError) {
    metrics::counter!(m::RATE_LIMIT_ERRORS_TOTAL, m::label::REASON => reason).increment(1);
    tracing::warn!(error = %e, reason, "limit check failed; letting the request through");
}

/// Route layer of every protected route: authenticates, applies the requests-per-minute limit,
/// and adds the `RateLimit-*` headers of that limit to the answer.
pub(crate) async fn authenticate(
    State(st): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(t) = st.tenancy.clone() else {
        req.extensions_mut().insert(Caller::anonymous());
        return next.run(req).await;
    };
    let client = client_of(&st, req.headers(), crate::listen::peer(req.extensions()));
    let caller = match t.authenticate(req.headers(), client).await {
        Ok(c) => c,
        Err(e) => {
            crate::extract::discard(req.into_body()).await;
            return e.into_response();
        }
    };
    let decision = t.limit_requests(&caller).await;
    let mut res = match decision {
        Some(d) if !d.allowed => {
            crate::extract::discard(req.into_body()).await;
            requests_refused(&d).into_response()
        }
        _ => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
    };
    if let Some(d) = decision {
        rate_limit_headers(res.headers_mut(), &d);
    }
    res
}

/// The client address of a request from `peer`, for limits kept per client.
pub(crate) fn client_of(
    st: &AppState,
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
) -> Option<ClientIp> {
    peer.map(|peer| {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        st.cfg.trusted_proxies.client(peer.ip(), forwarded)
    })
}

fn requests_refused(d: &Decision) -> ApiError {
    rejected(m::reason::RATE_LIMITED);
    ApiError::Limited {
        code: ErrorCode::RateLimited,
        message: format!(
            "this key's limit of {} requests per minute is reached; retry after the Retry-After seconds",
            d.limit
        ),
        retry_after: d.retry_after,
    }
}

/// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and `RateLimit-Policy` (IETF
/// draft "RateLimit header fields for HTTP"), for the requests-per-minute window of 60 s.
fn rate_limit_headers(h: &mut HeaderMap, d: &Decision) {
    let reset = d.reset.as_secs() + u64::from(d.reset.subsec_nanos() > 0);
    h.insert("ratelimit-limit", HeaderValue::from(d.limit));
    h.insert("ratelimit-remaining", HeaderValue::from(d.remaining));
    h.insert("ratelimit-reset", HeaderValue::from(reset));
    if let Ok(v) = HeaderValue::from_str(&format!("{};w=60", d.limit)) {
        h.insert("ratelimit-policy", v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polyvox_infra::tenancy::KeyLimits;

    fn key(id: &str) -> Arc<ApiKey> {
        Arc::new(ApiKey {
            id: id.into(),
            name: "t".into(),
            secret_sha256: String::new(),
            limits: KeyLimits::default(),
            created_at: SystemTime::now(),
            revoked_at: None,
        })
    }

    #[test]
    fn a_flood_of_unknown_ids_never_evicts_a_real_key() {
        let ttl = Duration::from_secs(60);
        let mut c = KeyCache::default();
        c.put("real", Some(key("real")), ttl);
        for i in 0..(MISS_CACHE_MAX * 2 + 7) {
            c.put(&format!("made-up-{i}"), None, ttl);
        }
        assert!(
            c.missing.len() <= MISS_CACHE_MAX,
            "bounded: {}",
            c.missing.len()
        );
        assert!(matches!(c.get("real", ttl), Cached::Fresh(Some(_))));
        // A recent unknown id is answered from the negative cache, without a lookup.
        let last = format!("made-up-{}", MISS_CACHE_MAX * 2 + 6);
        assert!(matches!(c.get(&last, ttl), Cached::Fresh(None)));
        assert!(matches!(c.get("never-seen", ttl), Cached::Unknown));
        // An expired key is stale (looked up again unconditionally), an expired miss unknown.
        assert!(matches!(c.get("real", Duration::ZERO), Cached::Stale));
        assert!(matches!(c.get(&last, Duration::ZERO), Cached::Unknown));
    }

    #[test]
    fn a_full_key_cache_lets_only_its_oldest_entry_go() {
        let ttl = Duration::from_secs(60);
        let mut c = KeyCache::default();
        c.put("k0", Some(key("k0")), ttl);
        // Strictly older than the rest, whatever the clock's resolution.
        std::thread::sleep(Duration::from_millis(2));
        for i in 1..KEY_CACHE_MAX {
            c.put(&format!("k{i}"), Some(key("k")), ttl);
        }
        c.put("newest", Some(key("newest")), ttl);
        assert_eq!(c.found.len(), KEY_CACHE_MAX);
        assert!(matches!(c.get("newest", ttl), Cached::Fresh(Some(_))));
        assert!(
            matches!(c.get("k0", ttl), Cached::Unknown),
            "the oldest made room"
        );
        assert!(
            matches!(c.get("k1", ttl), Cached::Fresh(Some(_))),
            "nothing else went"
        );
    }
}
