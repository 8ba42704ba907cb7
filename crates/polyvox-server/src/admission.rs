//! Load shedding for synthesis: a semaphore of running slots plus a bounded count of waiters.
//!
//! Design (after TEI's admission control): a request first tries to take a slot without waiting;
//! failing that it may queue only while fewer than `max_queued` others are queued, otherwise it is
//! refused at once with 429 — the server never lets an unbounded crowd hang on the semaphore.
//! The slot (an owned permit) moves into the response body, so it is held until the audio is
//! fully sent or the client goes away, which is when the synthesis really stops. It travels
//! there with the caller's key slot as one [`Held`]; a client that stops reading is cut off by
//! the listener's send timeout, which drops the body and so both slots.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// What a running synthesis holds until its response has ended: this instance's admission slot
/// and, with keys, one of the caller's key's synthesis slots.
pub(crate) struct Held {
    _admission: OwnedSemaphorePermit,
    _key: Option<crate::key_slots::KeySlot>,
}

impl Held {
    pub fn new(admission: OwnedSemaphorePermit, key: Option<crate::key_slots::KeySlot>) -> Self {
        Self {
            _admission: admission,
            _key: key,
        }
    }
}

/// Admission control shared by all speech requests.
#[derive(Debug)]
pub(crate) struct Admission {
    slots: Arc<Semaphore>,
    queued: AtomicUsize,
    max_queued: usize,
    retry_after: Duration,
}

/// Decrements the waiting count however the wait ends (slot granted, timeout, client gone).
struct QueuedGuard<'a>(&'a AtomicUsize);

impl Drop for QueuedGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    /// `max_concurrent` is raised to 1: zero slots would make every request wait forever.
    pub fn new(max_concurrent: usize, max_queued: usize, retry_after: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_concurrent.max(1))),
            queued: AtomicUsize::new(0),
            max_queued,
            retry_after,
        }
    }

    /// Waits for a synthesis slot, or refuses at once when the queue is full.
    pub async fn admit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
            return Ok(permit);
        }
        // Reserve a queue place first, then check: a concurrent burst can never overshoot the bound.
        let before = self.queued.fetch_add(1, Ordering::AcqRel);
        let _guard = QueuedGuard(&self.queued);
        if before >= self.max_queued {
            crate::metrics::record_rejection(polyvox_core::metrics::reason::QUEUE_FULL);
            return Err(ApiError::QueueFull {
                retry_after: self.retry_after,
            });
        }
        Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| ApiError::Internal("synthesis slots semaphore closed".into()))
    }

    /// Requests currently waiting for a slot.
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polyvox_core::ErrorCode;

    #[tokio::test]
    async fn refuses_beyond_slots_plus_queue_and_frees_on_drop() {
        let adm = Arc::new(Admission::new(1, 1, Duration::from_secs(3)));
        let first = adm.admit().await.expect("a free slot");

        let waiter = {
            let adm = Arc::clone(&adm);
            tokio::spawn(async move { adm.admit().await.map(|_p| ()) })
        };
        while adm.queued() == 0 {
            tokio::task::yield_now().await;
        }
        let refused = adm.admit().await.expect_err("slot and queue are full");
        assert_eq!(refused.code(), ErrorCode::QueueFull);

        drop(first);
        waiter
            .await
            .expect("task")
            .expect("the queued request gets the slot");
        assert_eq!(adm.queued(), 0);
        assert!(adm.admit().await.is_ok());
    }

    #[tokio::test]
    async fn an_abandoned_wait_gives_its_queue_place_back() {
        let adm = Admission::new(1, 1, Duration::from_secs(1));
        let _held = adm.admit().await.expect("slot");
        let gave_up = tokio::time::timeout(Duration::from_millis(10), adm.admit()).await;
        assert!(gave_up.is_err(), "still waiting when the timeout fired");
        assert_eq!(adm.queued(), 0);
    }
}
