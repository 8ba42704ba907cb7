//! [`UsageMeter`]: usage summed in memory per key and UTC day, written to a [`UsageStore`] in
//! batches by a background task, so answering a request never waits on a database write.
//!
//! Design:
//! - [`UsageMeter::add`] updates a map under a plain mutex: no IO, no await.
//! - [`UsageMeter::flush`] takes the whole map and writes it in slices of at most
//!   [`MeterConfig::rows_per_write`] rows, one store call each (the store bounds every call with a
//!   timeout and a metric). Rows not written, because a call failed or the flush future was
//!   dropped, go back into the map, added to whatever came in meanwhile: nothing is lost while the
//!   process lives, and the next flush retries them.
//! - Memory is bounded: at most [`MeterConfig::max_rows`] (key, day) rows wait. A delta for a new
//!   row beyond that is dropped, counted in `polyvox_usage_dropped_total` and logged; deltas to
//!   rows already waiting are always kept (they take no memory), and so are rows put back after a
//!   failed write, so the map never holds more than twice the bound.
//! - Reads ([`UsageStore::days`], [`UsageStore::month_chars`]) hold the flush lock, so no batch is
//!   in flight between reading the store and adding the rows still waiting here: this instance's
//!   own usage is exact at once; other instances' shows up after their next flush.
//! - Trade-off: a crash (not a graceful stop, which flushes) loses at most the usage of one flush
//!   interval, plus whatever failed writes were still holding.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use super::{DayUsage, UsageDelta, UsageRow, UsageStore, utc_day};
use crate::{Result, names};

/// Limits of a [`UsageMeter`].
#[derive(Debug, Clone, Copy)]
pub struct MeterConfig {
    /// Most (key, day) rows waiting to be written; new rows beyond it are dropped and counted.
    pub max_rows: usize,
    /// Most rows per store call, so one call stays well inside its timeout.
    pub rows_per_write: usize,
}

impl Default for MeterConfig {
    fn default() -> Self {
        Self {
            max_rows: 100_000,
            rows_per_write: 500,
        }
    }
}

/// Day → key id → what to add. Days sort, so a date range is a `range` walk.
type Rows = BTreeMap<String, HashMap<String, UsageDelta>>;

#[derive(Default)]
struct Pending {
    rows: Rows,
    len: usize,
    /// Set once a drop has been logged, so a flood of drops logs once per flush.
    dropping: bool,
}

/// In-memory usage sums in front of a [`UsageStore`]; also a [`UsageStore`] itself, whose writes
/// land in memory and whose reads include what is still waiting.
pub struct UsageMeter {
    store: Arc<dyn UsageStore>,
    cfg: MeterConfig,
    pending: Mutex<Pending>,
    flushing: tokio::sync::Mutex<()>,
}

impl UsageMeter {
    pub fn new(store: Arc<dyn UsageStore>, cfg: MeterConfig) -> Self {
        Self {
            store,
            cfg: MeterConfig {
                max_rows: cfg.max_rows.max(1),
                rows_per_write: cfg.rows_per_write.max(1),
            },
            pending: Mutex::new(Pending::default()),
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `delta` to `key_id`'s usage of the current UTC day, in memory.
    pub fn add(&self, key_id: &str, delta: UsageDelta) {
        self.add_on(&utc_day(SystemTime::now()), key_id, delta);
    }

    /// Adds `delta` to `key_id`'s usage on `day`, in memory.
    pub fn add_on(&self, day: &str, key_id: &str, delta: UsageDelta) {
        let mut p = self.pending();
        if let Some(d) = p.rows.get_mut(day).and_then(|keys| keys.get_mut(key_id)) {
            *d += delta;
            return;
        }
        if p.len >= self.cfg.max_rows {
            metrics::counter!(names::USAGE_DROPPED_TOTAL).increment(1);
            if !p.dropping {
                p.dropping = true;
                tracing::error!(
                    rows = p.len,
                    key = %key_id,
                    "usage buffer full (the store is failing or slow); dropping new usage rows"
                );
            }
            return;
        }
        insert(&mut p, day, key_id, delta);
    }

    /// Rows waiting to be written.
    pub fn pending_rows(&self) -> usize {
        self.pending().len
    }

    /// Writes every waiting row; returns how many were written. On error the unwritten rows wait
    /// for the next flush.
    pub async fn flush(&self) -> Result<usize> {
        let _one_at_a_time = self.flushing.lock().await;
        let mut batch = InFlight {
            meter: self,
            rows: self.take(),
            done: 0,
        };
        while batch.done < batch.rows.len() {
            let end = (batch.done + self.cfg.rows_per_write).min(batch.rows.len());
            self.store.add(&batch.rows[batch.done..end]).await?;
            batch.done = end;
        }
        let written = batch.done;
        drop(batch);
        let mut p = self.pending();
        p.dropping = false;
        metrics::gauge!(names::USAGE_PENDING_ROWS).set(p.len as f64);
        Ok(written)
    }

    /// Flushes every `every` until `stop` completes, then flushes once more. Failures are logged;
    /// their rows are retried at the next tick.
    pub async fn run<F>(self: Arc<Self>, every: Duration, stop: F)
    where
        F: Future<Output = ()> + Send,
    {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut stop = std::pin::pin!(stop);
        loop {
            // The flush runs outside the select: stopping must not cut a write in half.
            tokio::select! {
                _ = tick.tick() => {}
                () = &mut stop => break,
            }
            if let Err(e) = self.flush().await {
                let rows = self.pending_rows();
                tracing::warn!(error = %e, rows, "writing usage failed; retrying at the next flush");
            }
        }
        self.close().await;
    }

    /// The last flush of a graceful stop; what it cannot write is lost, and logged as such.
    pub async fn close(&self) {
        if let Err(e) = self.flush().await {
            tracing::error!(
                error = %e,
                rows = self.pending_rows(),
                "writing usage at shutdown failed; these usage rows are lost"
            );
        }
    }

    fn take(&self) -> Vec<UsageRow> {
        let mut p = self.pending();
        p.len = 0;
        std::mem::take(&mut p.rows)
            .into_iter()
            .flat_map(|(day, keys)| {
                keys.into_iter().map(move |(key_id, delta)| UsageRow {
                    key_id,
                    day: day.clone(),
                    delta,
                })
            })
            .collect()
    }

    fn put_back(&self, rows: &[UsageRow]) {
        let mut p = self.pending();
        for r in rows {
            match p.rows.get_mut(&r.day).and_then(|k| k.get_mut(&r.key_id)) {
                Some(d) => *d += r.delta,
                None => insert(&mut p, &r.day, &r.key_id, r.delta),
            }
        }
        metrics::gauge!(names::USAGE_PENDING_ROWS).set(p.len as f64);
    }

    /// What is waiting for `key_id` on days in `[from, to]`.
    fn waiting(&self, key_id: &str, from: &str, to: &str) -> Vec<(String, UsageDelta)> {
        let p = self.pending();
        p.rows
            .range::<str, _>((
                std::ops::Bound::Included(from),
                std::ops::Bound::Included(to),
            ))
            .filter_map(|(day, keys)| keys.get(key_id).map(|d| (day.clone(), *d)))
            .collect()
    }
}

fn insert(p: &mut Pending, day: &str, key_id: &str, delta: UsageDelta) {
    p.rows
        .entry(day.to_string())
        .or_default()
        .insert(key_id.to_string(), delta);
    p.len += 1;
}

/// A batch being written. Dropped early (an error, or the flush future itself dropped), it puts
/// the rows not yet written back, so cancelling a flush loses nothing.
struct InFlight<'a> {
    meter: &'a UsageMeter,
    rows: Vec<UsageRow>,
    done: usize,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.done < self.rows.len() {
            self.meter.put_back(&self.rows[self.done..]);
        }
    }
}

#[async_trait::async_trait]
impl UsageStore for UsageMeter {
    async fn add(&self, rows: &[UsageRow]) -> Result<()> {
        for r in rows {
            self.add_on(&r.day, &r.key_id, r.delta);
        }
        Ok(())
    }

    async fn month_chars(&self, key_id: &str, month: &str) -> Result<u64> {
        let _no_write_in_flight = self.flushing.lock().await;
        let stored = self.store.month_chars(key_id, month).await?;
        let waiting: u64 = self
            .waiting(key_id, &format!("{month}-01"), &format!("{month}-31"))
            .iter()
            .map(|(_, d)| d.characters)
            .sum();
        Ok(stored.saturating_add(waiting))
    }

    async fn days(&self, key_id: &str, from: &str, to: &str) -> Result<Vec<DayUsage>> {
        let _no_write_in_flight = self.flushing.lock().await;
        let mut days = self.store.days(key_id, from, to).await?;
        for (day, d) in self.waiting(key_id, from, to) {
            let i = match days.binary_search_by(|u| u.day.as_str().cmp(&day)) {
                Ok(i) => i,
                Err(i) => {
                    days.insert(
                        i,
                        DayUsage {
                            day,
                            ..DayUsage::default()
                        },
                    );
                    i
                }
            };
            let u = &mut days[i];
            u.requests = u.requests.saturating_add(d.requests);
            u.characters = u.characters.saturating_add(d.characters);
            u.audio_seconds += d.audio_seconds;
            u.cache_hits = u.cache_hits.saturating_add(d.cache_hits);
        }
        Ok(days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InfraError;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// A store that sums what it is given, can be told to fail or hang, and counts its calls.
    #[derive(Default)]
    struct Fake {
        rows: Mutex<BTreeMap<(String, String), UsageDelta>>,
        calls: AtomicUsize,
        fail: AtomicUsize,
        hang: AtomicBool,
    }

    impl Fake {
        fn get(&self, key: &str, day: &str) -> Option<UsageDelta> {
            let rows = self.rows.lock().unwrap();
            rows.get(&(key.to_string(), day.to_string())).copied()
        }
    }

    #[async_trait::async_trait]
    impl UsageStore for Fake {
        async fn add(&self, rows: &[UsageRow]) -> Result<()> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.hang.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            if self
                .fail
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(down());
            }
            let mut stored = self.rows.lock().unwrap();
            for r in rows {
                *stored.entry((r.key_id.clone(), r.day.clone())).or_default() += r.delta;
            }
            Ok(())
        }

        async fn month_chars(&self, key_id: &str, month: &str) -> Result<u64> {
            let rows = self.rows.lock().unwrap();
            Ok(rows
                .iter()
                .filter(|((k, d), _)| k == key_id && d.starts_with(month))
                .map(|(_, u)| u.characters)
                .sum())
        }

        async fn days(&self, key_id: &str, from: &str, to: &str) -> Result<Vec<DayUsage>> {
            let rows = self.rows.lock().unwrap();
            Ok(rows
                .iter()
                .filter(|((k, d), _)| k == key_id && d.as_str() >= from && d.as_str() <= to)
                .map(|((_, day), u)| DayUsage {
                    day: day.clone(),
                    requests: u.requests,
                    characters: u.characters,
                    audio_seconds: u.audio_seconds,
                    cache_hits: u.cache_hits,
                })
                .collect())
        }
    }

    fn down() -> InfraError {
        InfraError::Io(std::io::Error::other("store down"))
    }

    fn usage(requests: u64, characters: u64) -> UsageDelta {
        UsageDelta {
            requests,
            characters,
            ..UsageDelta::default()
        }
    }

    fn req(chars: u64) -> UsageDelta {
        usage(1, chars)
    }

    fn meter(cfg: MeterConfig) -> (Arc<Fake>, Arc<UsageMeter>) {
        let fake = Arc::new(Fake::default());
        (fake.clone(), Arc::new(UsageMeter::new(fake, cfg)))
    }

    #[tokio::test]
    async fn many_adds_become_one_row_per_key_and_day() {
        let (fake, m) = meter(MeterConfig::default());
        for i in 0..1000 {
            let key = if i % 2 == 0 { "a" } else { "b" };
            m.add_on("2026-11-25", key, req(10));
        }
        m.add_on("2026-11-26", "a", req(1));
        assert_eq!(fake.calls.load(Ordering::SeqCst), 0, "nothing written yet");
        assert_eq!(m.flush().await.unwrap(), 3);
        assert_eq!(fake.calls.load(Ordering::SeqCst), 1);
        assert_eq!(fake.get("a", "2026-11-25"), Some(usage(500, 5000)));
        assert_eq!(fake.get("b", "2026-11-25"), Some(usage(500, 5000)));
        assert_eq!(fake.get("a", "2026-11-26"), Some(req(1)));
        assert_eq!(m.pending_rows(), 0);
        assert_eq!(m.flush().await.unwrap(), 0, "nothing left to write");
    }

    #[tokio::test]
    async fn large_batches_are_written_in_slices() {
        let (fake, m) = meter(MeterConfig {
            rows_per_write: 2,
            ..MeterConfig::default()
        });
        for key in ["a", "b", "c", "d", "e"] {
            m.add_on("2026-11-25", key, req(1));
        }
        assert_eq!(m.flush().await.unwrap(), 5);
        assert_eq!(fake.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_failed_flush_keeps_its_rows_and_the_next_one_writes_them() {
        let (fake, m) = meter(MeterConfig::default());
        m.add_on("2026-11-25", "a", req(10));
        m.add_on("2026-11-25", "b", req(20));
        fake.fail.store(2, Ordering::SeqCst);
        assert!(m.flush().await.is_err());
        assert_eq!(m.pending_rows(), 2, "both rows wait after a failed write");
        m.add_on("2026-11-25", "a", req(5));
        assert!(m.flush().await.is_err(), "second failure");
        assert_eq!(m.pending_rows(), 2);
        assert_eq!(fake.get("a", "2026-11-25"), None);
        assert_eq!(m.flush().await.unwrap(), 2);
        assert_eq!(fake.get("a", "2026-11-25"), Some(usage(2, 15)));
        assert_eq!(fake.get("b", "2026-11-25"), Some(req(20)));
    }

    #[tokio::test]
    async fn a_flush_that_fails_half_way_keeps_only_the_unwritten_rows() {
        let fake = Arc::new(Fake::default());
        let failing = FailAfter {
            inner: fake.clone(),
            ok_calls: AtomicUsize::new(1),
        };
        let m = UsageMeter::new(
            Arc::new(failing),
            MeterConfig {
                rows_per_write: 1,
                ..MeterConfig::default()
            },
        );
        for key in ["c", "d", "e"] {
            m.add_on("2026-11-26", key, req(1));
        }
        assert!(m.flush().await.is_err());
        assert_eq!(fake.rows.lock().unwrap().len(), 1, "one slice was written");
        assert_eq!(m.pending_rows(), 2, "the written row is not kept");
    }

    /// Passes `ok_calls` calls through, then fails every call.
    struct FailAfter {
        inner: Arc<Fake>,
        ok_calls: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl UsageStore for FailAfter {
        async fn add(&self, rows: &[UsageRow]) -> Result<()> {
            if self
                .ok_calls
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_err()
            {
                return Err(down());
            }
            self.inner.add(rows).await
        }
        async fn month_chars(&self, key_id: &str, month: &str) -> Result<u64> {
            self.inner.month_chars(key_id, month).await
        }
        async fn days(&self, key_id: &str, from: &str, to: &str) -> Result<Vec<DayUsage>> {
            self.inner.days(key_id, from, to).await
        }
    }

    #[tokio::test]
    async fn a_cancelled_flush_loses_nothing() {
        let (fake, m) = meter(MeterConfig::default());
        m.add_on("2026-11-25", "a", req(7));
        fake.hang.store(true, Ordering::SeqCst);
        {
            let flush = m.flush();
            let mut flush = std::pin::pin!(flush);
            // Poll until the write is in flight, then drop the future.
            assert!(futures_poll_once(flush.as_mut()).await.is_none());
        }
        assert_eq!(
            fake.calls.load(Ordering::SeqCst),
            1,
            "the write had started"
        );
        assert_eq!(m.pending_rows(), 1, "the row came back");
        fake.hang.store(false, Ordering::SeqCst);
        assert_eq!(m.flush().await.unwrap(), 1);
        assert_eq!(fake.get("a", "2026-11-25"), Some(req(7)));
    }

    async fn futures_poll_once<F: Future + Unpin>(mut f: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }

    #[tokio::test]
    async fn new_rows_beyond_the_bound_are_dropped_existing_ones_still_add_up() {
        let (fake, m) = meter(MeterConfig {
            max_rows: 2,
            ..MeterConfig::default()
        });
        m.add_on("2026-11-25", "a", req(1));
        m.add_on("2026-11-25", "b", req(1));
        m.add_on("2026-11-25", "c", req(1));
        m.add_on("2026-11-25", "a", req(1));
        assert_eq!(m.pending_rows(), 2);
        m.flush().await.unwrap();
        assert_eq!(fake.get("a", "2026-11-25"), Some(usage(2, 2)));
        assert_eq!(fake.get("c", "2026-11-25"), None);
        // After a flush there is room again.
        m.add_on("2026-11-25", "c", req(1));
        assert_eq!(m.pending_rows(), 1);
    }

    #[tokio::test]
    async fn reads_add_what_is_still_waiting() {
        let (_fake, m) = meter(MeterConfig::default());
        m.add_on("2026-11-24", "a", req(100));
        m.flush().await.unwrap();
        m.add_on("2026-11-24", "a", req(1));
        m.add_on("2026-11-25", "a", req(10));
        m.add_on("2026-11-25", "b", req(1000));
        m.add_on("2026-12-01", "a", req(5));
        assert_eq!(m.month_chars("a", "2026-11").await.unwrap(), 111);
        let days = m.days("a", "2026-11-01", "2026-11-30").await.unwrap();
        let got: Vec<(&str, u64, u64)> = days
            .iter()
            .map(|d| (d.day.as_str(), d.requests, d.characters))
            .collect();
        assert_eq!(got, [("2026-11-24", 2, 101), ("2026-11-25", 1, 10)]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_background_task_flushes_on_its_interval_and_at_stop() {
        let (fake, m) = meter(MeterConfig::default());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(m.clone().run(Duration::from_secs(5), async move {
            let _ = stop_rx.await;
        }));
        m.add_on("2026-11-25", "a", req(1));
        // Paused time: the sleep advances the clock past one interval at once.
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(fake.get("a", "2026-11-25"), Some(req(1)));
        m.add_on("2026-11-25", "a", req(2));
        stop_tx.send(()).unwrap();
        task.await.unwrap();
        assert_eq!(
            fake.get("a", "2026-11-25"),
            Some(usage(2, 3)),
            "stopping flushes what is left"
        );
    }
}
