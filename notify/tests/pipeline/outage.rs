//! One server of the shared stack stopped while the pipeline delivers, and started again:
//! nothing is lost, nothing is repeated.
//!
//! These tests stop the shared Kafka or Cassandra of `scripts/stack`. They take every turn
//! (`run::whole_stack`), and cargo runs test binaries one after another, so no other test runs
//! meanwhile; a guard ([`ServerDown`]) starts the server again
//! even if the test fails.

use std::time::{Duration, Instant};

use notify_it::ServerDown;
use serde_json::json;

use crate::harness::Settings;
use crate::run::{self, limit_for, Run};
use crate::workload::{size_from_env, Shape};

/// Sends a workload, stops `server` once deliveries are under way, keeps it down for
/// `down_for`, starts it again, and checks the ledger: nothing lost, nothing repeated.
pub async fn outage_during_load(server: &'static str, down_for: Duration) -> anyhow::Result<()> {
    let _turn = run::whole_stack().await;
    let shape = Shape::new((size_from_env(1_000) / 2).max(100), false);
    let run = Run::start(Settings::default(), shape).await?;
    // slow providers keep the pipeline busy through the outage
    for name in ["sendgrid", "twilio", "fcm", "apns", "webpush"] {
        run.pipeline
            .set_faults(name, json!({"latency_ms": 1000}))
            .await?;
    }
    let sent = run.send(server, 0..shape.size).await?;
    let limit = Duration::from_secs(60);
    run.pipeline.wait_for_ledger("sendgrid", 10, limit).await?;
    let before = super_ledger(&run).await;
    let down = tokio::task::spawn_blocking(move || ServerDown::begin(server)).await?;
    let stopped_at = Instant::now();
    tokio::time::sleep(down_for.saturating_sub(stopped_at.elapsed())).await;
    let during = super_ledger(&run).await;
    // the broker has been away longer than the run's out_of_group_limit_ms (20 s): every
    // dispatcher's consumers are out of their groups, and its /healthz says so
    let live_during = run.pipeline.liveness().await;
    tokio::task::spawn_blocking(move || down.end()).await?;
    let down_secs = stopped_at.elapsed().as_secs_f64();
    let restarted_at = Instant::now();
    // everything reached the providers again
    for name in ["sendgrid", "twilio", "fcm", "apns", "webpush"] {
        run.pipeline.set_faults(name, json!({})).await?;
    }
    let figures = run
        .finish_and_judge(&sent, limit_for(sent.len()), restarted_at)
        .await?;
    crate::observe::report(format_args!(
        "{}",
        figures.line(&format!("{server} outage"))
    ));
    crate::observe::report(format_args!(
        "{server} outage: down {down_secs:.1} s (stop to answering again); \
         delivered before {before}, at the end of the outage {during}"
    ));
    run.check(&figures, &sent, 0).await?;
    // the limit plus a stats interval and the time to notice the broker gone
    if server == "kafka" && down_for >= Duration::from_secs(35) {
        check_liveness(&live_during, &run.pipeline.liveness().await)?;
    }
    run.finish().await;
    Ok(())
}

/// During a Kafka outage every dispatcher (whose lanes keep polling their consumers) fails
/// `/healthz`, naming its groups; once all was delivered again, every stage passes it. The
/// router is not judged during the outage: it stops polling while its batch waits for the
/// broker, so its consumer reports nothing.
fn check_liveness(
    during: &[(String, u16, String)],
    after: &[(String, u16, String)],
) -> anyhow::Result<()> {
    let consumers = |name: &str| name.starts_with("dispatch");
    let not_failing: Vec<_> = during
        .iter()
        .filter(|(name, code, body)| {
            consumers(name) && !(*code == 503 && body.contains("out of their group"))
        })
        .collect();
    anyhow::ensure!(
        not_failing.is_empty() && during.iter().any(|(name, ..)| consumers(name)),
        "during the outage these stages did not report their consumers out of their group: \
         {not_failing:?} (of {during:?})"
    );
    let failing: Vec<_> = after.iter().filter(|(_, code, _)| *code != 200).collect();
    anyhow::ensure!(
        failing.is_empty(),
        "after the outage these stages still fail /healthz: {failing:?}"
    );
    crate::observe::report(format_args!(
        "kafka outage: /healthz failed on {} stages during it, passed on {} after",
        during.iter().filter(|(_, code, _)| *code == 503).count(),
        after.len()
    ));
    Ok(())
}

/// Messages accepted by every simulator so far.
async fn super_ledger(run: &Run) -> usize {
    let mut total = 0;
    for name in run.pipeline.sims.keys() {
        total += run.pipeline.ledger_len(name).await.unwrap_or(0);
    }
    total
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn cassandra_stopped_for_30_s_during_load_loses_and_repeats_nothing() -> anyhow::Result<()> {
    outage_during_load("cassandra", Duration::from_secs(30)).await
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn kafka_restarted_during_load_loses_and_repeats_nothing() -> anyhow::Result<()> {
    // down past the consumers' session timeout (10 s: every group rebalances, and a lane paused
    // when its partitions were taken must read them again) and the producers'
    // message.timeout.ms (30 s: records pause on MessageTimedOut); NOTIFY_E2E_KAFKA_DOWN_S
    // changes it
    let down_s = std::env::var("NOTIFY_E2E_KAFKA_DOWN_S")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    outage_during_load("kafka", Duration::from_secs(down_s)).await
}
