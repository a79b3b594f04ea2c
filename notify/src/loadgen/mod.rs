//! `notify loadgen`: an open-loop load run against the running system (`scripts/run`, or what
//! `scripts/bench` starts), measuring from the API's accept to the arrival at the provider
//! simulator.
//!
//! A run provisions its own tenant and users, warms up (every consumer group joined, every
//! provider connection open), then searches for the highest rate the pipeline sustains: steps
//! that double the rate until one fails, then `--bisections` steps that each halve the gap
//! between the last good and the first bad.
//! A step is sustained when every notification due was sent and accepted, and what was
//! accepted but has not arrived at its simulator when the step ends is at most one second's
//! worth and drains afterwards. Then it holds 50 % and 80 % of that rate to measure latency.
//! It writes `bench-report.json`, `bench-report.md` and `latency.svg` into its output folder.

mod drive;
mod lag;
mod phases;
mod plot;
mod procs;
mod produce;
mod providers;
mod report;
mod search;
mod setup;
mod table;
mod track;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use notify_common::Config;
use notify_schemas::Channel;
use tokio_util::sync::CancellationToken;

pub use drive::Mode;
use drive::{Drive, Target};
use phases::{search_and_measure, Run};
use procs::Sampler;
use report::Report;
use track::Tracker;

/// Options of `notify loadgen`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// Base URL of the ingest API.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub api: String,
    /// The `simulators.json` that `notify sim --dir <dir>` wrote: where the ledgers are.
    #[arg(long)]
    pub simulators: PathBuf,
    /// How notifications reach the pipeline.
    #[arg(long, value_enum, default_value = "batch")]
    pub mode: Mode,
    /// Notifications per batch request (`--mode batch`), or records per publish (`--mode kafka`).
    #[arg(long, default_value_t = 50)]
    pub batch: usize,
    /// Users to spread the notifications over (each has every kind of recipient).
    #[arg(long, default_value_t = 500)]
    pub users: usize,
    /// Channels to send to, in rotation.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "apns,fcm,webpush,sms,email"
    )]
    pub channels: Vec<String>,
    /// Hold this rate (notifications per second) for `--measure-s` instead of searching: for
    /// profiling, or to compare two builds at one load.
    #[arg(long)]
    pub rate: Option<f64>,
    /// First rate of the search, notifications per second.
    #[arg(long, default_value_t = 500.0)]
    pub start_rate: f64,
    /// The search stops here even if every step held.
    #[arg(long, default_value_t = 64_000.0)]
    pub max_rate: f64,
    /// Steps that halve the gap between the last rate that held and the first that did not,
    /// once one failed (2: the result is within a quarter of that gap's start, e.g. 250/s
    /// between 1,000 and 2,000).
    #[arg(long, default_value_t = 2)]
    pub bisections: u32,
    /// Length of each search step, seconds (default 10, or 30 without --quick).
    #[arg(long)]
    pub step_s: Option<u64>,
    /// Length of each latency measurement, seconds (default 20, or 60 without --quick).
    #[arg(long)]
    pub measure_s: Option<u64>,
    /// Latency every simulator adds to each answer for the run, milliseconds (reset to 0
    /// afterwards): how the dispatchers hold up against slow providers.
    #[arg(long, default_value_t = 0)]
    pub sim_latency_ms: u64,
    /// The short form for CI: shorter steps and measurements.
    #[arg(long)]
    pub quick: bool,
    /// Kafka's own ceiling on this machine, as `scripts/bench.d/ceiling` writes it; the report
    /// gives the sustained rate as a share of it.
    #[arg(long)]
    pub ceiling: Option<PathBuf>,
    /// The `bench-report.json` of a `--mode providers` run on this machine: the simulators'
    /// own capacity, which the report sets the sustained rate against.
    #[arg(long)]
    pub sim_capacity: Option<PathBuf>,
    /// Output folder (default `target/bench/<time>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The consumer lag reader, or `None` (with a warning) when the groups cannot be read: lag is
/// one measure among several, not a reason to give up the run.
async fn lag_reader(config: &Config, channels: &[Channel]) -> Option<Arc<lag::LagReader>> {
    let (config, channels) = (config.clone(), channels.to_vec());
    match tokio::task::spawn_blocking(move || lag::LagReader::new(&config, &channels)).await {
        Ok(Ok(reader)) => Some(Arc::new(reader)),
        Ok(Err(err)) => {
            eprintln!("warning: consumer lag will not be reported: {err:#}");
            None
        }
        Err(err) => {
            eprintln!("warning: consumer lag will not be reported: {err}");
            None
        }
    }
}

fn channels(names: &[String]) -> anyhow::Result<Vec<Channel>> {
    let channels: Vec<Channel> = names
        .iter()
        .map(|n| Channel::parse(n.trim()).with_context(|| format!("unknown channel {n:?}")))
        .collect::<anyhow::Result<_>>()?;
    if channels.is_empty() {
        bail!("--channels names no channel");
    }
    Ok(channels)
}

fn out_dir(out: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = match out {
        Some(dir) => dir.to_owned(),
        None => {
            let stamp = jiff::Timestamp::now()
                .strftime("%Y%m%d-%H%M%SZ")
                .to_string();
            PathBuf::from("target/bench").join(stamp)
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Runs the whole load run and writes its report.
pub async fn run(config: &Config, args: LoadArgs) -> anyhow::Result<()> {
    let channels = channels(&args.channels)?;
    if args.users == 0 || args.start_rate <= 0.0 || args.max_rate < args.start_rate {
        bail!("--users must be positive and --start-rate positive and at most --max-rate");
    }
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        bail!("--rate must be a positive number of notifications per second");
    }
    let out = out_dir(args.out.as_deref())?;
    let ceiling = match &args.ceiling {
        Some(path) => Some(report::read_ceiling(path)?),
        None => None,
    };
    let sim_capacity = match &args.sim_capacity {
        Some(path) => Some(report::read_sustained(path)?),
        None => None,
    };
    let simulators = setup::read_simulators(&args.simulators)?;
    let step = Duration::from_secs(args.step_s.unwrap_or(if args.quick { 10 } else { 30 }));
    let measure = Duration::from_secs(args.measure_s.unwrap_or(if args.quick { 20 } else { 60 }));

    let client = setup::client(&args.simulators)?;
    eprintln!("provisioning a tenant and {} users", args.users);
    let tenant = setup::provision(config, &simulators, args.users, |n| {
        if n % 100 == 0 {
            eprint!("\r\x1b[K  {n}/{} users", args.users);
        }
    })
    .await?;
    eprintln!("\r\x1b[K  tenant {}", tenant.tenant_id);
    track::clear_ledgers(&client, &simulators).await?;
    track::set_latency(&client, &simulators, args.sim_latency_ms).await?;

    let target = match args.mode {
        Mode::Kafka | Mode::Deliveries => {
            let deliveries = args.mode == Mode::Deliveries;
            Target::Kafka(Arc::new(
                produce::KafkaTarget::new(config, deliveries).await?,
            ))
        }
        Mode::Providers => {
            Target::Providers(Arc::new(providers::ProviderTarget::new(config, &channels)?))
        }
        Mode::Single | Mode::Batch => Target::Api,
    };
    let stop = CancellationToken::new();
    let tracker = Tracker::default();
    let collector = tokio::spawn(track::collect(
        client.clone(),
        simulators.clone(),
        tracker.clone(),
        Duration::from_millis(250),
        stop.clone(),
    ));
    let sampler = Arc::new(Mutex::new(Sampler::default()));
    let sampling = tokio::spawn(procs::run(
        sampler.clone(),
        Duration::from_secs(1),
        stop.clone(),
    ));
    let lag = Arc::new(Mutex::new(lag::LagSeries::new()));
    let lagging = match args.mode {
        Mode::Providers => None,
        _ => lag_reader(config, &channels).await.map(|reader| {
            let clock = sampler.clone();
            tokio::spawn(lag::run(
                reader,
                lag.clone(),
                move || clock.lock().unwrap_or_else(|e| e.into_inner()).now(),
                Duration::from_secs(2),
                stop.clone(),
            ))
        }),
    };
    let drive = Drive {
        target: target.clone(),
        client,
        api: args.api.trim_end_matches('/').to_owned(),
        mode: args.mode,
        batch: args.batch,
        channels: channels.clone(),
        tenant: Arc::new(tenant),
        tracker: tracker.clone(),
        max_in_flight: 256,
    };
    let mut run = Run {
        drive,
        tracker: tracker.clone(),
        sampler: sampler.clone(),
        lag: lag.clone(),
        next: 0,
    };
    let result = search_and_measure(&mut run, &args, step, measure).await;
    stop.cancel();
    if args.sim_latency_ms > 0 {
        track::set_latency(&run.drive.client, &simulators, 0).await?;
    }
    let _ = sampling.await;
    if let Some(lagging) = lagging {
        let _ = lagging.await;
    }
    collector.await.context("the ledger collector stopped")??;
    let (steps, sustained, phases, idle_until) = result?;
    if let Target::Providers(providers) = &target {
        for (channel, count) in providers.timed_out() {
            eprintln!("{channel}: {count} sends got no answer within dispatch.send_timeout_ms");
        }
    }

    let (duplicates, strangers) = tracker.anomalies();
    let sampler = sampler.lock().unwrap_or_else(|e| e.into_inner());
    let report = Report::new(
        &args,
        &channels,
        steps,
        sustained,
        phases,
        report::Limits {
            ceiling,
            sim_capacity,
        },
        duplicates,
        strangers,
        &sampler,
        idle_until,
    );
    let report = Report {
        lag: std::mem::take(&mut *lag.lock().unwrap_or_else(|e| e.into_inner())),
        ..report
    };
    report.write(&out)?;
    crate::out::outln!("{}", report.markdown())?;
    crate::out::outln!("report: {}", out.display())?;
    Ok(())
}
