//! Rate limits for log lines about refused input (poison records, bad requests): a flood of bad
//! input must not turn into a flood of log lines that hides everything else or fills the disk.
//!
//! Guarantees: at most `per_second` lines are let through in each one-second window; the first
//! line after a window in which lines were held back says how many were (`suppressed`), so the
//! log still tells how much was refused. Metrics count every refusal either way.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lets at most a fixed number of log lines through per second.
#[derive(Debug)]
pub struct LogPacer {
    per_second: u32,
    state: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    logged: u32,
    held_back: u64,
}

impl LogPacer {
    /// At most `per_second` lines a second.
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second,
            state: Mutex::new(Window {
                started: Instant::now(),
                logged: 0,
                held_back: 0,
            }),
        }
    }

    /// Whether to log this line: `Some(n)` with the number of lines held back since the last
    /// one logged, `None` to stay quiet.
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> Option<u64> {
        let mut window = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if now.duration_since(window.started) >= Duration::from_secs(1) {
            window.started = now;
            window.logged = 0;
        }
        if window.logged < self.per_second {
            window.logged += 1;
            Some(std::mem::take(&mut window.held_back))
        } else {
            window.held_back += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_logs_a_few_lines_a_second_and_counts_the_rest() {
        let pacer = LogPacer::new(5);
        let start = Instant::now();
        let logged = (0..10_000)
            .filter(|_| pacer.allow_at(start).is_some())
            .count();
        assert_eq!(logged, 5);
        // the next second: the first line says how many were held back
        assert_eq!(pacer.allow_at(start + Duration::from_secs(1)), Some(9_995));
        assert_eq!(pacer.allow_at(start + Duration::from_secs(1)), Some(0));
    }
}
