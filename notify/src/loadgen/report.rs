//! The load run's report: `bench-report.json` (everything), `bench-report.md` (the tables) and
//! `latency.svg` (latency by percentile per channel), all in one output folder.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use notify_schemas::Channel;
use serde::Serialize;
use serde_json::Value;

use super::procs::{Sampler, Usage};
use super::track::PhaseTally;
use super::LoadArgs;

/// Percentiles of one set of latencies, milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50: u32,
    pub p90: u32,
    pub p99: u32,
    pub p999: u32,
    pub max: u32,
}

impl Latency {
    /// Nearest-rank percentiles of `values` (sorted here).
    pub fn of(values: &mut [u32]) -> Self {
        values.sort_unstable();
        let at = |p: f64| -> u32 {
            if values.is_empty() {
                return 0;
            }
            let rank = (p * values.len() as f64).ceil() as usize;
            values[rank.clamp(1, values.len()) - 1]
        };
        Self {
            count: values.len(),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: values.last().copied().unwrap_or_default(),
        }
    }
}

/// One phase of the run: a search step, the warm-up or a measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub label: String,
    /// Offered rate, notifications per second.
    pub target_rate: f64,
    /// Planned length, seconds.
    pub seconds: f64,
    pub accepted: u64,
    pub failed: u64,
    pub skipped: u64,
    pub arrived: u64,
    /// Accepted notifications per planned second.
    pub accepted_rate: f64,
    /// Accepted and not yet at a simulator when the last answer came back.
    pub pending_at_end: usize,
    /// How long the rest took to arrive (or the give-up time).
    pub drained_s: f64,
    /// Never arrived within the drain time.
    pub left: usize,
    /// Accept to arrival per channel, and `all`.
    pub latency_ms: BTreeMap<String, Latency>,
    /// Due time to accept answer.
    pub api_ms: Latency,
    /// Mean CPU and peak RSS per process while sending.
    pub processes: BTreeMap<String, Usage>,
    /// Seconds since the run's first sample: start and end of the phase.
    pub window: (f64, f64),
    /// The most records each consumer group was behind, while sending and draining.
    pub lag_peak: BTreeMap<String, i64>,
    /// Latency samples for the plot, sorted, per channel (not written to the JSON).
    #[serde(skip)]
    pub sorted_ms: BTreeMap<String, Vec<u32>>,
}

/// What [`Phase::new`] is built from.
pub struct PhaseInput {
    pub label: String,
    pub rate: f64,
    pub seconds: f64,
    pub tally: PhaseTally,
    pub pending_at_end: usize,
    pub drained_s: f64,
    pub left: usize,
    pub processes: BTreeMap<String, Usage>,
    pub window: (f64, f64),
}

impl Phase {
    pub fn new(input: PhaseInput) -> Self {
        let PhaseInput { mut tally, .. } = input;
        let mut latency_ms = BTreeMap::new();
        let mut sorted_ms = BTreeMap::new();
        let mut all = Vec::new();
        for (channel, values) in Channel::ALL.iter().zip(tally.latencies_ms.iter_mut()) {
            if values.is_empty() {
                continue;
            }
            all.extend_from_slice(values);
            latency_ms.insert(channel.as_str().to_owned(), Latency::of(values));
            sorted_ms.insert(channel.as_str().to_owned(), std::mem::take(values));
        }
        latency_ms.insert("all".to_owned(), Latency::of(&mut all));
        Self {
            label: input.label,
            target_rate: input.rate,
            seconds: input.seconds,
            accepted: tally.accepted,
            failed: tally.failed,
            skipped: tally.skipped,
            arrived: tally.arrived,
            accepted_rate: tally.accepted as f64 / input.seconds.max(0.001),
            pending_at_end: input.pending_at_end,
            drained_s: input.drained_s,
            left: input.left,
            latency_ms,
            api_ms: Latency::of(&mut tally.api_ms),
            processes: input.processes,
            window: input.window,
            lag_peak: BTreeMap::new(),
            sorted_ms,
        }
    }

    /// Whether the pipeline kept up: everything due was sent and accepted (at most 0.1 %
    /// refused), at most one second's worth was still on its way when sending ended (by
    /// Little's law, a mean accept → arrival latency of at most a second: a backlog growing
    /// through the step exceeds it), and all of it arrived afterwards.
    pub fn sustained(&self) -> bool {
        let due = self.target_rate * self.seconds;
        self.skipped == 0
            && self.failed as f64 <= due * 0.001
            && self.accepted as f64 >= due * 0.97
            && self.pending_at_end as f64 <= self.target_rate
            && self.left == 0
    }

    /// One line for the console.
    pub fn line(&self) -> String {
        let all = self.latency_ms.get("all").copied().unwrap_or_default();
        format!(
            "{:>12} {:>8.0}/s  accepted {:>8.0}/s  failed {} skipped {}  pending at end {:>6}  \
             drained in {:>4.1} s  left {}  p50 {} ms  p99 {} ms",
            self.label,
            self.target_rate,
            self.accepted_rate,
            self.failed,
            self.skipped,
            self.pending_at_end,
            self.drained_s,
            self.left,
            all.p50,
            all.p99
        )
    }
}

/// One step of the search.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub phase: Phase,
    pub held: bool,
}

/// The machine the run was on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_gib: f64,
    pub cpu: String,
    pub kernel: String,
}

impl Machine {
    fn here() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let memory_kb: f64 = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        Self {
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory_gib: (memory_kb / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            cpu,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        }
    }
}

/// Reads the JSON `scripts/bench.d/ceiling` wrote.
pub fn read_ceiling(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the ceiling {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// The sustained rate of an earlier report (`bench-report.json`).
pub fn read_sustained(path: &Path) -> anyhow::Result<f64> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the report {}", path.display()))?;
    let report: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    report["sustained_rate"]
        .as_f64()
        .filter(|rate| *rate > 0.0)
        .with_context(|| format!("{} has no sustained rate", path.display()))
}

/// What the pipeline's rate is set against: Kafka's own tools and the simulators alone.
#[derive(Debug, Default)]
pub struct Limits {
    /// What `scripts/bench.d/ceiling` wrote.
    pub ceiling: Option<Value>,
    /// The sustained rate of a `--mode providers` run.
    pub sim_capacity: Option<f64>,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub mode: super::Mode,
    pub batch: usize,
    pub users: usize,
    pub channels: Vec<String>,
    pub quick: bool,
    /// Latency every simulator added to each answer.
    pub sim_latency_ms: u64,
    /// Highest rate that held, notifications per second (one delivery each); 0 when a fixed
    /// `--rate` was held instead of searching.
    pub sustained_rate: f64,
    /// Kafka's own producer and consumer on this machine, if measured.
    pub ceiling: Option<Value>,
    /// The sustained rate over the Kafka producer's records per second.
    pub share_of_kafka_producer: Option<f64>,
    /// The simulators' own capacity (a `--mode providers` run's sustained rate).
    pub simulators_capacity: Option<f64>,
    /// The sustained rate over the simulators' own capacity.
    pub share_of_simulators: Option<f64>,
    pub steps: Vec<Step>,
    pub phases: Vec<Phase>,
    /// Each process before any load.
    pub idle: BTreeMap<String, Usage>,
    /// Consumer lag over the whole run, every two seconds.
    pub lag: super::lag::LagSeries,
    /// Deliveries that arrived at a simulator more than once.
    pub duplicates: u64,
    /// Arrivals no notification of the run explains.
    pub unexplained_arrivals: u64,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        args: &LoadArgs,
        channels: &[Channel],
        steps: Vec<Step>,
        sustained_rate: f64,
        phases: Vec<Phase>,
        limits: Limits,
        duplicates: u64,
        unexplained_arrivals: u64,
        sampler: &Sampler,
        idle_until: f64,
    ) -> Self {
        let Limits {
            ceiling,
            sim_capacity,
        } = limits;
        let share = |of: Option<f64>| {
            of.filter(|_| sustained_rate > 0.0)
                .map(|p| sustained_rate / p.max(1.0))
        };
        let producer = ceiling
            .as_ref()
            .and_then(|c| c["producer"]["records_per_s"].as_f64());
        Self {
            machine: Machine::here(),
            mode: args.mode,
            batch: args.batch,
            users: args.users,
            channels: channels.iter().map(|c| c.as_str().to_owned()).collect(),
            quick: args.quick,
            sim_latency_ms: args.sim_latency_ms,
            sustained_rate,
            share_of_kafka_producer: share(producer),
            simulators_capacity: sim_capacity,
            share_of_simulators: share(sim_capacity),
            ceiling,
            steps,
            phases,
            idle: sampler.summary(0.0, idle_until),
            lag: Vec::new(),
            duplicates,
            unexplained_arrivals,
        }
    }

    /// Writes the three files into `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
        };
        write("bench-report.json", serde_json::to_string_pretty(self)?)?;
        write("bench-report.md", self.markdown())?;
        write("latency.svg", super::plot::latency_svg(&self.phases))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(rate: f64, accepted: u64, pending_at_end: usize, left: usize) -> Phase {
        let mut tally = PhaseTally {
            accepted,
            ..PhaseTally::default()
        };
        tally.latencies_ms[3] = vec![30, 10, 20, 40];
        Phase::new(PhaseInput {
            label: "step".into(),
            rate,
            seconds: 10.0,
            tally,
            pending_at_end,
            drained_s: 0.5,
            left,
            processes: BTreeMap::new(),
            window: (0.0, 10.0),
        })
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut values: Vec<u32> = (1..=1000).rev().collect();
        let l = Latency::of(&mut values);
        assert_eq!(
            (l.count, l.p50, l.p90, l.p99, l.p999, l.max),
            (1000, 500, 900, 990, 999, 1000)
        );
        assert_eq!(Latency::of(&mut []).p99, 0);
    }

    #[test]
    fn a_step_holds_only_if_all_was_accepted_the_backlog_stayed_under_a_second_and_drained() {
        assert!(phase(1000.0, 10_000, 900, 0).sustained());
        assert!(
            !phase(1000.0, 10_000, 1_500, 0).sustained(),
            "backlog over a second"
        );
        assert!(
            !phase(1000.0, 9_000, 0, 0).sustained(),
            "a tenth not accepted"
        );
        assert!(
            !phase(1000.0, 10_000, 0, 1).sustained(),
            "one never arrived"
        );
        let sms = phase(1000.0, 10_000, 0, 0).latency_ms["sms"];
        assert_eq!((sms.count, sms.p50, sms.max), (4, 20, 40));
    }
}
