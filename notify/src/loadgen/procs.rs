//! CPU and memory of every process of the system under load, read from `/proc` once a second:
//! the broker, Cassandra, the registry, each stage, the simulators and the generator itself.
//!
//! A process is named by its command line (`notify … dispatch --channel sms` is
//! `dispatch-sms`, a JVM running `kafka.Kafka` is `kafka`); processes of the same name are
//! summed. CPU is a percentage of one core (200 % is both cores of a 2-core machine). Context
//! switches are counted over all of a process's threads, voluntary (a thread waiting) and not
//! (a thread preempted): each costs a trip through the scheduler.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Linux's USER_HZ: the unit of the CPU times in `/proc/<pid>/stat` on every architecture the
/// kernel exposes to user space today.
const TICKS_PER_S: f64 = 100.0;

/// CPU %, RSS, threads and context switches of one named process over one sampling interval.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Usage {
    pub cpu_pct: f64,
    pub rss_mb: f64,
    pub threads: f64,
    pub switches_per_s: f64,
}

/// What one read of `/proc/<pid>` gives: the counters are totals since the process started.
struct Read {
    ticks: u64,
    rss_mb: f64,
    threads: usize,
    switches: u64,
}

/// Samples over time: (seconds since the start, usage by process name).
#[derive(Debug, Default)]
pub struct Sampler {
    start: Option<Instant>,
    /// CPU ticks and context switches of each process at the last read.
    last: BTreeMap<u32, (u64, u64)>,
    last_at: Option<Instant>,
    pub samples: Vec<(f64, BTreeMap<String, Usage>)>,
}

/// The role of a process, from its command line; `None` for a process of no interest.
pub fn role(args: &[String]) -> Option<String> {
    let program = args.first()?;
    let has = |needle: &str| args.iter().any(|a| a.contains(needle));
    if program.ends_with("java") || program.contains("/java") {
        return if has("kafka.Kafka") {
            Some("kafka".into())
        } else if has("CassandraDaemon") {
            Some("cassandra".into())
        } else if has("apicurio") || has("quarkus") {
            Some("registry".into())
        } else {
            None
        };
    }
    if !program.ends_with("/notify") && program != "notify" {
        return None;
    }
    let position = |word: &str| args.iter().position(|a| a == word);
    if let Some(at) = position("dispatch") {
        let channel = args
            .iter()
            .skip(at)
            .find_map(|a| a.strip_prefix("--channel=").map(str::to_owned))
            .or_else(|| position("--channel").and_then(|i| args.get(i + 1).cloned()))?;
        return Some(format!("dispatch-{channel}"));
    }
    ["ingest", "router", "sim", "loadgen"]
        .into_iter()
        .find(|word| position(word).is_some())
        .map(str::to_owned)
}

/// Context switches of every thread of `pid` so far, and the number of threads.
fn switches(pid: u32) -> (u64, usize) {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten();
    let mut total = 0;
    let mut threads = 0;
    for task in tasks {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        threads += 1;
        total += status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    (total, threads)
}

fn read_args(pid: u32) -> Option<Vec<String>> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

fn read_process(pid: u32) -> Option<Read> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the command name may hold spaces; the fields after its closing parenthesis do not
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    let (switches, threads) = switches(pid);
    Some(Read {
        ticks,
        rss_mb: rss_kb / 1024.0,
        threads,
        switches,
    })
}

impl Sampler {
    /// Reads every process once; the first call only sets the baseline of CPU times.
    pub fn sample(&mut self) {
        let now = Instant::now();
        let start = *self.start.get_or_insert(now);
        let elapsed = self.last_at.map(|at| now.duration_since(at));
        let mut ticks_now = BTreeMap::new();
        let mut usage: BTreeMap<String, Usage> = BTreeMap::new();
        let pids = std::fs::read_dir("/proc").into_iter().flatten().flatten();
        for pid in pids.filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()) {
            // the command line first: most processes are of no interest
            let Some(name) = read_args(pid).and_then(|args| role(&args)) else {
                continue;
            };
            let Some(read) = read_process(pid) else {
                continue;
            };
            ticks_now.insert(pid, (read.ticks, read.switches));
            let entry = usage.entry(name).or_default();
            entry.rss_mb += read.rss_mb;
            entry.threads += read.threads as f64;
            if let (Some(elapsed), Some((ticks, switches))) = (elapsed, self.last.get(&pid)) {
                let seconds = elapsed.as_secs_f64().max(0.001);
                let used = read.ticks.saturating_sub(*ticks) as f64 / TICKS_PER_S;
                entry.cpu_pct += 100.0 * used / seconds;
                entry.switches_per_s += read.switches.saturating_sub(*switches) as f64 / seconds;
            }
        }
        self.last = ticks_now;
        self.last_at = Some(now);
        if elapsed.is_some() {
            let at = now.duration_since(start).as_secs_f64();
            self.samples.push((at, usage));
        }
    }

    /// Mean CPU and context switches, peak RSS and threads of each process over the samples taken between `from` and `to`
    /// (seconds since the first sample).
    pub fn summary(&self, from: f64, to: f64) -> BTreeMap<String, Usage> {
        let mut sums: BTreeMap<String, (Usage, usize)> = BTreeMap::new();
        for (_, usage) in self
            .samples
            .iter()
            .filter(|(at, _)| *at >= from && *at <= to)
        {
            for (name, u) in usage {
                let (sum, n) = sums.entry(name.clone()).or_default();
                sum.cpu_pct += u.cpu_pct;
                sum.rss_mb = sum.rss_mb.max(u.rss_mb);
                sum.threads = sum.threads.max(u.threads);
                sum.switches_per_s += u.switches_per_s;
                *n += 1;
            }
        }
        sums.into_iter()
            .map(|(name, (sum, n))| {
                let n = n.max(1) as f64;
                let usage = Usage {
                    cpu_pct: sum.cpu_pct / n,
                    switches_per_s: sum.switches_per_s / n,
                    ..sum
                };
                (name, usage)
            })
            .collect()
    }

    /// Seconds since the first sample.
    pub fn now(&self) -> f64 {
        self.start.map_or(0.0, |s| s.elapsed().as_secs_f64())
    }
}

/// Samples into `sampler` every `every` until `stop`.
pub async fn run(
    sampler: std::sync::Arc<std::sync::Mutex<Sampler>>,
    every: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        sampler.lock().unwrap_or_else(|e| e.into_inner()).sample();
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn processes_are_named_by_their_role() {
        let cases = [
            (
                "target/release/notify --config p.toml dispatch --channel sms",
                Some("dispatch-sms"),
            ),
            (
                "/x/notify dispatch --channel=webpush",
                Some("dispatch-webpush"),
            ),
            (
                "target/release/notify --config p.toml router",
                Some("router"),
            ),
            ("notify ingest", Some("ingest")),
            (
                "/usr/bin/java -Xmx512m -cp lib/* kafka.Kafka s/server.properties",
                Some("kafka"),
            ),
            (
                "/usr/lib/jvm/x/bin/java -cp lib/* org.apache.cassandra.service.CassandraDaemon",
                Some("cassandra"),
            ),
            ("/usr/bin/bash scripts/run", None),
            ("/x/notify-something router", None),
        ];
        for (line, want) in cases {
            assert_eq!(role(&args(line)).as_deref(), want, "{line}");
        }
    }

    #[test]
    fn this_process_is_seen_with_its_memory() {
        let mut sampler = Sampler::default();
        let me = std::process::id();
        let read = read_process(me).expect("own /proc entry");
        assert!(read.rss_mb > 0.0);
        assert!(read.threads >= 1 && read.switches > 0);
        sampler.sample();
        assert!(sampler.samples.is_empty(), "the first read is the baseline");
    }
}
