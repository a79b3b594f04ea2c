//! `notify demo`: the whole pipeline in this process (see `notify_embedded`), printed for a
//! person to try. Printing and argument handling only.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::out::{out, outln};
use anyhow::{bail, Context};
use notify_common::shutdown::Drained;
use notify_embedded::{Embedded, Options, Progress, SendSettings};

/// What the demo does once it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Sends `sample` notifications (none if 0), prints their summary, then serves until
    /// Ctrl-C.
    Serve {
        /// How many sample notifications to send first.
        sample: usize,
    },
    /// Sends this many sample notifications, prints the summary and stops.
    Send(usize),
}

/// Starts the embedded pipeline, prints how to use it, and runs it as `mode` says.
pub async fn run(
    listen: SocketAddr,
    mode: Mode,
    dir: &Path,
    timeout: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    // listen from the start, so Ctrl-C during start-up or a run is not lost
    let interrupt = notify_common::Shutdown::new();
    let listener = interrupt.clone();
    tokio::spawn(async move { listener.cancel_on_signal().await });
    let embedded = Embedded::start(Options {
        listen,
        sim_dir: dir.to_owned(),
    })
    .await
    .context("cannot start the embedded pipeline")?;
    // a closed standard output ends the demo like Ctrl-C, through the same drain
    let result: anyhow::Result<()> = async {
        print_intro(&embedded)?;
        eprintln!("started in {:.1} s", started.elapsed().as_secs_f64());
        let stopped = async {
            tokio::select! {
                () = interrupt.token().cancelled() => {}
                () = embedded.shutdown.token().cancelled() => {}
            }
        };
        match mode {
            Mode::Serve { sample } => {
                // Ok(false): interrupted while the sample ran
                let sampled = if sample == 0 {
                    Ok(true)
                } else {
                    outln!("sending {sample} sample notifications to show the pipeline working:")?;
                    tokio::select! {
                        result = send_and_report(&embedded, sample, timeout) => result.map(|()| true),
                        () = interrupt.token().cancelled() => Ok(false),
                        () = embedded.shutdown.token().cancelled() => Err(stage_failed()),
                    }
                };
                match sampled {
                    Ok(true) => {
                        outln!("\nyour turn: send your own with the curl above.")?;
                        outln!("Ctrl-C stops (everything is forgotten then).")?;
                        stopped.await;
                        Ok(())
                    }
                    Ok(false) => Ok(()),
                    Err(err) => Err(err),
                }
            }
            Mode::Send(n) => tokio::select! {
                result = send_and_report(&embedded, n, timeout) => result,
                () = stopped => Err(anyhow::anyhow!(
                    "stopped before every outcome was in (interrupted, or a stage failed: see the log)"
                )),
            },
        }
    }
    .await;
    eprintln!("stopping ...");
    let stopping = Instant::now();
    if embedded.stop().await == Drained::TimedOut {
        eprintln!("some tasks were still running when the grace period ran out");
    }
    eprintln!("stopped in {:.1} s", stopping.elapsed().as_secs_f64());
    if let Mode::Send(_) = mode {
        eprintln!("total wall time {:.1} s", started.elapsed().as_secs_f64());
    }
    result
}

fn stage_failed() -> anyhow::Error {
    anyhow::anyhow!("a stage of the pipeline failed: see the log")
}

fn print_intro(embedded: &Embedded) -> anyhow::Result<()> {
    let api = format!("http://{}", embedded.api_addr);
    let t = &embedded.tenant;
    outln!(
        "notify demo: ingest, router, five dispatchers and every provider simulator in this \
         process, on librdkafka's mock cluster and in-memory stores.\n\
         For trying the system only: nothing is durable, everything is gone when it stops.\n"
    )?;
    outln!("api         {api}   (OpenAPI: {api}/openapi.json)")?;
    outln!("tenant      {}", t.tenant_id)?;
    outln!("app key     {}", t.app_key)?;
    outln!("app secret  {}", t.app_secret)?;
    outln!(
        "users       alice (APNs, web push, SMS, email), bruno (FCM, SMS, email; opted out of \
         promotions), chen (quiet hours now), dana (opted out of all but critical), \
         user-01 .. user-{:02}",
        notify_embedded::seed::GENERIC_USERS
    )?;
    outln!("categories  orders, promotions (send as priority bulk), security (critical)")?;
    outln!(
        "rate limit  {} bulk SMS per user and hour; more are suppressed (rate_limited)",
        notify_embedded::seed::BULK_SMS_PER_HOUR
    )?;
    outln!("templates   order_shipped {{product}}, weekly_deals {{product, discount}}, security_code {{code}}  (en, de)\n")?;
    outln!("send one:\n")?;
    outln!(
        "  curl -s -u '{}:{}' -H 'content-type: application/json' {api}/v1/notifications -d \
         '{{\"user_id\": \"alice\", \"category\": \"orders\", \"priority\": \"high\", \
         \"template\": {{\"id\": \"order_shipped\", \"params\": {{\"product\": \"Rust mug\"}}}}}}'\n",
        t.app_key, t.app_secret
    )?;
    outln!(
        "then look it up with   curl -s -u '{}:{}' {api}/v1/notifications/<event_id>",
        t.app_key,
        t.app_secret
    )?;
    outln!("what the providers received (simulator ledgers):")?;
    for (name, url) in embedded.suite.control_urls() {
        // APNs speaks TLS with the suite's own test CA
        let note = if url.starts_with("https") {
            "  (test CA: curl -k)"
        } else {
            ""
        };
        outln!("  {name:<9} {url}/_sim/ledger{note}")?;
    }
    outln!()?;
    Ok(())
}

async fn send_and_report(embedded: &Embedded, n: usize, timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last_print = Instant::now() - Duration::from_secs(1);
    let mut stderr = std::io::stderr();
    let summary = embedded
        .send_and_summarize(n, SendSettings::default(), timeout, |progress| {
            let done = matches!(progress, Progress::Sending { answered, .. } if answered == n);
            if last_print.elapsed() < Duration::from_millis(200) && !done {
                return;
            }
            last_print = Instant::now();
            let line = match progress {
                Progress::WarmingUp => "warming up (2 notifications, not counted)".to_owned(),
                Progress::Sending { answered, accepted } => {
                    format!("sent {answered}/{n}, accepted {accepted}")
                }
                Progress::Finishing { finished, accepted } => {
                    format!("sent {n}/{n}, final outcomes for {finished}/{accepted}")
                }
            };
            let _ = write!(
                stderr,
                "\r{line:<60} {:>5.1} s",
                started.elapsed().as_secs_f64()
            );
            let _ = stderr.flush();
        })
        .await
        .context("the demo run failed")?;
    eprintln!();
    outln!(
        "\n{n} notifications in {:.1} s (sending and waiting for every outcome)\n",
        started.elapsed().as_secs_f64()
    )?;
    out!("{}", summary.render())?;
    if summary.finished < summary.accepted {
        bail!(
            "{} of {} accepted notifications had no final outcome after {} s",
            summary.accepted - summary.finished,
            summary.accepted,
            timeout.as_secs()
        );
    }
    if summary.duplicates > 0 || summary.missing_from_ledgers > 0 {
        bail!(
            "{} duplicates at the providers, {} sent deliveries missing from the ledgers",
            summary.duplicates,
            summary.missing_from_ledgers
        );
    }
    Ok(())
}
