//! The gateway's readiness, remembered between checks so that `/readyz` is cheap.
//!
//! Guarantees: however often `/readyz` is called, at most one check of Kafka and the database
//! runs at a time and at most one per `ingest.ready_check_interval_ms`; callers in between get
//! the last answer. Only the very first call waits for a check (there is no answer yet).
//!
//! Not guaranteed: the answer is up to one interval old.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The last readiness answer and when it was found.
#[derive(Debug)]
pub struct ReadyCache {
    interval: Duration,
    last: Mutex<Option<(Instant, bool)>>,
    checking: tokio::sync::Mutex<()>,
}

impl ReadyCache {
    /// Checks at most once per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Mutex::new(None),
            checking: tokio::sync::Mutex::new(()),
        }
    }

    fn last(&self) -> Option<(Instant, bool)> {
        *self.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fresh(&self) -> Option<bool> {
        self.last()
            .filter(|(at, _)| at.elapsed() < self.interval)
            .map(|(_, ready)| ready)
    }

    /// Whether the gateway is ready: the last answer while it is fresh, else the answer of
    /// `check`, run by one caller while the others keep the last answer.
    pub async fn ready<F, Fut>(&self, check: F) -> bool
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = bool>,
    {
        if let Some(ready) = self.fresh() {
            return ready;
        }
        let _checking = match self.checking.try_lock() {
            Ok(guard) => guard,
            Err(_) => match self.last() {
                Some((_, ready)) => return ready,
                // the first check is running: nothing to answer before it ends
                None => self.checking.lock().await,
            },
        };
        if let Some(ready) = self.fresh() {
            return ready;
        }
        let ready = check().await;
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), ready));
        ready
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_one_check() {
        let cache = Arc::new(ReadyCache::new(Duration::from_secs(60)));
        let checks = Arc::new(AtomicUsize::new(0));
        let calls = (0..20).map(|_| {
            let (cache, checks) = (cache.clone(), checks.clone());
            tokio::spawn(async move {
                cache
                    .ready(|| async move {
                        checks.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        false
                    })
                    .await
            })
        });
        for call in futures::future::join_all(calls).await {
            assert!(!call.expect("joined"));
        }
        assert_eq!(checks.load(Ordering::SeqCst), 1);
    }
}
