//! The phases of a load run: each one sends at a rate for a while, waits for what it sent to
//! arrive and is judged; the search for the sustained rate and the latency measurements are
//! made of them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use tokio_util::sync::CancellationToken;

use super::drive::{Drive, Mode};
use super::lag;
use super::procs::Sampler;
use super::report::{Phase, PhaseInput, Step};
use super::search::Search;
use super::track::Tracker;
use super::LoadArgs;
/// How long the pipeline may take to deliver everything accepted after a phase.
const DRAIN: Duration = Duration::from_secs(45);

pub(super) struct Run {
    pub(super) drive: Drive,
    pub(super) tracker: Tracker,
    pub(super) sampler: Arc<Mutex<Sampler>>,
    pub(super) lag: Arc<Mutex<lag::LagSeries>>,
    pub(super) next: u64,
}

impl Run {
    fn now(&self) -> f64 {
        self.sampler.lock().unwrap_or_else(|e| e.into_inner()).now()
    }

    /// One phase at `rate` for `length`, then the wait for its deliveries.
    async fn phase(&mut self, label: &str, rate: f64, length: Duration) -> Phase {
        let phase = self.tracker.begin_phase();
        let from = self.now();
        let progress = progress(label.to_owned(), rate, length, self.tracker.clone());
        self.next = self.drive.run(phase, rate, length, self.next).await;
        progress.cancel();
        let sent_until = self.now();
        // the collector polls every 250 ms: give it one round before judging
        tokio::time::sleep(Duration::from_millis(300)).await;
        let pending_at_end = self.tracker.pending();
        let drain_started = Instant::now();
        while self.tracker.pending() > 0 && drain_started.elapsed() < DRAIN {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let drained_s = drain_started.elapsed().as_secs_f64();
        let left = self.tracker.pending();
        if left > 0 {
            self.explain_missing().await;
        }
        let to = self.now();
        let tally = self.tracker.phase(phase);
        let lag_peak = lag::peak(
            &self.lag.lock().unwrap_or_else(|e| e.into_inner()),
            from,
            to,
        );
        let usage = self
            .sampler
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .summary(from, sent_until);
        let phase = Phase::new(PhaseInput {
            label: label.to_owned(),
            rate,
            seconds: length.as_secs_f64(),
            tally,
            pending_at_end,
            drained_s,
            left,
            processes: usage,
            window: (from, to),
        });
        let phase = Phase { lag_peak, ..phase };
        eprintln!("\r\x1b[K{}", phase.line());
        phase
    }
}

impl Run {
    /// Prints what the status API says of a few deliveries that never arrived.
    async fn explain_missing(&self) {
        for (event, channel) in self.tracker.missing(5) {
            let url = format!("{}/v1/notifications/{event}", self.drive.api);
            let answer = self
                .drive
                .client
                .get(&url)
                .basic_auth(
                    &self.drive.tenant.app_key,
                    Some(&self.drive.tenant.app_secret),
                )
                .send()
                .await;
            let status = match answer {
                Ok(response) => response.text().await.unwrap_or_default(),
                Err(err) => format!("status API unreachable: {err}"),
            };
            eprintln!("\r\x1b[K  not arrived: event {event} ({channel}): {status}");
        }
    }
}

/// Prints one updating status line every second until cancelled.
fn progress(label: String, rate: f64, length: Duration, tracker: Tracker) -> CancellationToken {
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        let start = Instant::now();
        loop {
            tokio::select! {
                () = token.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            let done = start.elapsed().as_secs_f64() / length.as_secs_f64();
            let bar: String = (0..20)
                .map(|i| if (i as f64) < done * 20.0 { '#' } else { '.' })
                .collect();
            eprint!(
                "\r\x1b[K{label:>12} {rate:>8.0}/s [{bar}] {:>3.0}%  pending {}",
                (done * 100.0).min(100.0),
                tracker.pending()
            );
        }
    });
    stop
}

/// Warms up, then holds `--rate` or searches for the sustained rate and measures latency at
/// 50 % and 80 % of it: (search steps, sustained rate, phases, end of the idle samples).
pub(super) async fn search_and_measure(
    run: &mut Run,
    args: &LoadArgs,
    step: Duration,
    measure: Duration,
) -> anyhow::Result<(Vec<Step>, f64, Vec<Phase>, f64)> {
    // a few samples of every process before any load: the idle memory
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_until = run.now();
    let warm = run.phase("warm-up", 10.0, Duration::from_secs(2)).await;
    if warm.accepted == 0 {
        bail!(
            "the API at {} accepted none of the warm-up's notifications ({} refused): is the \
             gateway up, and may the load tenant send?",
            run.drive.api,
            warm.failed
        );
    }
    if warm.left > 0 {
        bail!(
            "the warm-up's {} notifications did not all arrive ({} missing after {} s): is every \
             stage running and pointed at the simulators?",
            warm.accepted,
            warm.left,
            DRAIN.as_secs()
        );
    }
    if let Some(rate) = args.rate {
        let held = run.phase("fixed load", rate, measure).await;
        return Ok((Vec::new(), 0.0, vec![warm, held], idle_until));
    }
    let mut steps = Vec::new();
    let mut search = Search::new(args.start_rate, args.max_rate, args.bisections);
    while let Some(rate) = search.next_rate() {
        let phase = run.phase("step", rate, step).await;
        let held = phase.sustained();
        search.record(rate, held);
        steps.push(Step { phase, held });
    }
    let Some(sustained) = search.sustained() else {
        bail!(
            "not even {} notifications/s held; try a lower --start-rate",
            args.start_rate
        );
    };
    let mut phases = vec![warm];
    if args.mode == Mode::Providers {
        // the simulators answer before the generator hears back: no latency to measure
        return Ok((steps, sustained, phases, idle_until));
    }
    for share in [0.5, 0.8] {
        let label = format!("{:.0}% load", share * 100.0);
        phases.push(run.phase(&label, sustained * share, measure).await);
    }
    Ok((steps, sustained, phases, idle_until))
}
