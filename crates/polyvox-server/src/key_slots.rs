//! The per-key cap on syntheses in progress: a slot a speech request takes before it queues for
//! the engine and gives back when its response has ended (finished, failed, abandoned, or cut
//! off by the send timeout).
//!
//! Design: slots are leases in a [`SlotLimiter`] (Redis when configured, so the cap holds across
//! every API instance; memory otherwise). While a response runs, a small task renews its lease
//! every third of the lease; when the response ends the guard ([`KeySlot`]) stops the renewal and
//! releases the slot. If the process dies, nothing renews, and the slot comes back one lease
//! later: a crash cannot leak a key's capacity. If the limiter's store fails, the request is let
//! through and the failure counted, as for the other limits.

use std::sync::Arc;
use std::time::Duration;

use polyvox_core::ErrorCode;
use polyvox_core::metrics as m;
use polyvox_infra::ratelimit::SlotLimiter;

use crate::error::ApiError;
use crate::tenancy::Caller;

/// How long a slot outlives its last renewal (the most a crashed instance keeps it).
pub(crate) const SLOT_LEASE: Duration = Duration::from_secs(60);
/// `Retry-After` of a refusal: a slot frees up when one of the key's responses ends, which is
/// typically within seconds.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// One of a key's synthesis slots, given back when dropped.
pub(crate) struct KeySlot {
    slots: Arc<dyn SlotLimiter>,
    bucket: String,
    holder: String,
    renewal: tokio::task::JoinHandle<()>,
}

/// Takes a synthesis slot of `caller`'s key: `Ok(None)` when the caller has no cap (no key, or
/// 0 = unlimited) or the store failed (let through, counted); 429 `concurrency_limited` when
/// every slot is held.
pub(crate) async fn take(
    slots: &Arc<dyn SlotLimiter>,
    caller: &Caller,
    lease: Duration,
) -> Result<Option<KeySlot>, ApiError> {
    let Some(id) = caller.owner() else {
        return Ok(None);
    };
    let limit = caller.concurrent_syntheses();
    if limit == 0 {
        return Ok(None);
    }
    let holder = uuid::Uuid::new_v4().simple().to_string();
    match slots.take(id, &holder, limit, lease).await {
        Ok(true) => Ok(Some(KeySlot::held(Arc::clone(slots), id, holder, lease))),
        Ok(false) => {
            metrics::counter!(m::REJECTIONS_TOTAL, m::label::REASON => m::reason::CONCURRENCY_LIMITED)
                .increment(1);
            Err(ApiError::Limited {
                code: ErrorCode::ConcurrencyLimited,
                message: format!(
                    "this key already has {limit} speech requests in progress, its limit; retry \
                     when one has finished"
                ),
                retry_after: Some(RETRY_AFTER),
            })
        }
        Err(e) => {
            metrics::counter!(m::RATE_LIMIT_ERRORS_TOTAL, m::label::REASON => m::reason::CONCURRENCY_LIMITED)
                .increment(1);
            tracing::warn!(error = %e, "concurrency check failed; letting the request through");
            Ok(None)
        }
    }
}

impl KeySlot {
    fn held(slots: Arc<dyn SlotLimiter>, bucket: &str, holder: String, lease: Duration) -> Self {
        let renewal = tokio::spawn({
            let (slots, bucket, holder) = (Arc::clone(&slots), bucket.to_string(), holder.clone());
            async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    match slots.renew(&bucket, &holder, lease).await {
                        Ok(true) => {}
                        Ok(false) => {
                            // Lost (the store was unreachable for a whole lease): the response
                            // goes on, the key may briefly run one synthesis above its cap.
                            tracing::warn!(key = %bucket, "synthesis slot lease lapsed");
                            return;
                        }
                        Err(e) => tracing::warn!(error = %e, "synthesis slot renewal failed"),
                    }
                }
            }
        });
        Self {
            slots,
            bucket: bucket.to_string(),
            holder,
            renewal,
        }
    }
}

impl Drop for KeySlot {
    fn drop(&mut self) {
        self.renewal.abort();
        let (slots, bucket, holder) = (
            Arc::clone(&self.slots),
            std::mem::take(&mut self.bucket),
            std::mem::take(&mut self.holder),
        );
        let mut release = Box::pin(async move {
            if let Err(e) = slots.release(&bucket, &holder).await {
                tracing::warn!(error = %e, "synthesis slot release failed; it expires with its lease");
            }
        });
        // The body is dropped before hyper flushes the end of the response, so a release that
        // completes here (memory) is done before the client can send its next request; one that
        // needs a round trip (Redis) goes on in the background. Without a runtime, the lease
        // runs out instead.
        if futures::FutureExt::now_or_never(release.as_mut()).is_none()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(release);
        }
    }
}
