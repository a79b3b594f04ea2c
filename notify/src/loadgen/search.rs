//! Which rate the next search step tries: doubling from the start rate until a step fails, then
//! halving the gap between the last rate that held and the first that did not, a set number of
//! times. No I/O: [`super::phases`] runs each step.

/// The state of one search.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Search {
    max: f64,
    bisections_left: u32,
    held: Option<f64>,
    failed: Option<f64>,
    next: Option<f64>,
}

impl Search {
    /// A search from `start` that never tries above `max`, and halves the gap `bisections`
    /// times once a step failed.
    pub(super) fn new(start: f64, max: f64, bisections: u32) -> Self {
        Self {
            max,
            bisections_left: bisections,
            held: None,
            failed: None,
            next: (start <= max).then_some(start),
        }
    }

    /// The rate of the next step, or `None` once the search is over.
    pub(super) fn next_rate(&self) -> Option<f64> {
        self.next
    }

    /// Records whether the step at `rate` held, and picks the next one.
    pub(super) fn record(&mut self, rate: f64, held: bool) {
        if held {
            self.held = Some(self.held.map_or(rate, |h| h.max(rate)));
        } else {
            self.failed = Some(self.failed.map_or(rate, |f| f.min(rate)));
        }
        self.next = match (self.held, self.failed) {
            (_, None) => Some(rate * 2.0).filter(|r| *r <= self.max),
            (Some(low), Some(high)) if self.bisections_left > 0 => {
                self.bisections_left -= 1;
                Some((low + high) / 2.0)
            }
            _ => None,
        };
    }

    /// The highest rate that held, if any did.
    pub(super) fn sustained(&self) -> Option<f64> {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rates tried against a system that holds up to `limit`, and what the search found.
    fn against(limit: f64, start: f64, max: f64, bisections: u32) -> (Vec<f64>, Option<f64>) {
        let mut search = Search::new(start, max, bisections);
        let mut tried = Vec::new();
        while let Some(rate) = search.next_rate() {
            tried.push(rate);
            search.record(rate, rate <= limit);
        }
        (tried, search.sustained())
    }

    #[test]
    fn doubles_until_a_step_fails_then_halves_the_gap_as_often_as_asked() {
        let (tried, found) = against(1_300.0, 500.0, 64_000.0, 2);
        assert_eq!(tried, [500.0, 1_000.0, 2_000.0, 1_500.0, 1_250.0]);
        assert_eq!(found, Some(1_250.0));
        let (tried, found) = against(1_800.0, 500.0, 64_000.0, 2);
        assert_eq!(tried, [500.0, 1_000.0, 2_000.0, 1_500.0, 1_750.0]);
        assert_eq!(found, Some(1_750.0));
    }

    #[test]
    fn one_bisection_is_the_old_single_middle_step() {
        let (tried, found) = against(1_300.0, 500.0, 64_000.0, 1);
        assert_eq!(tried, [500.0, 1_000.0, 2_000.0, 1_500.0]);
        assert_eq!(found, Some(1_000.0));
        let (tried, _) = against(1_300.0, 500.0, 64_000.0, 0);
        assert_eq!(tried, [500.0, 1_000.0, 2_000.0]);
    }

    #[test]
    fn a_first_step_that_fails_ends_the_search_with_nothing_held() {
        let (tried, found) = against(100.0, 500.0, 64_000.0, 2);
        assert_eq!(tried, [500.0]);
        assert_eq!(found, None);
    }

    #[test]
    fn never_tries_above_the_maximum() {
        let (tried, found) = against(1e9, 500.0, 3_000.0, 2);
        assert_eq!(tried, [500.0, 1_000.0, 2_000.0]);
        assert_eq!(found, Some(2_000.0));
        assert_eq!(against(1e9, 500.0, 400.0, 2).0, Vec::<f64>::new());
    }
}
