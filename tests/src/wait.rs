//! Polling until a condition holds, within a time limit: the one wait loop of the tests.
//!
//! Guarantees: the probe runs at least once, and once more after the limit passed, so a
//! condition that holds at the deadline is seen.

use std::future::Future;
use std::time::Duration;

/// Runs `probe` every `every` until `done` accepts its value or `limit` passes. `Ok` with the
/// accepted value, or `Err` with the last one (for the failure message).
pub async fn poll_until<T, F>(
    limit: Duration,
    every: Duration,
    mut probe: impl FnMut() -> F,
    mut done: impl FnMut(&T) -> bool,
) -> Result<T, T>
where
    F: Future<Output = T>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let value = probe().await;
        if done(&value) {
            return Ok(value);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(value);
        }
        tokio::time::sleep(every).await;
    }
}
