//! Dispatchers scaled out and back in while they deliver: members join and leave the consumer
//! group gracefully, partitions move, and no delivery is lost or repeated.

use std::time::{Duration, Instant};

use notify_schemas::Channel;
use serde_json::json;

use crate::faults::fault_size;
use crate::harness::Settings;
use crate::run::{self, limit_for, Run};
use crate::workload::{expected_sends, Shape};

/// Waits until the SendGrid simulator accepted at least `count` messages.
async fn until_emails(run: &Run, count: usize) -> anyhow::Result<()> {
    let limit = Duration::from_secs(180);
    run.pipeline.wait_for_ledger("sendgrid", count, limit).await
}

/// Sends a burst of email while one email dispatcher becomes three and then one again, the
/// SendGrid simulator answering after `latency_ms`; every email arrives exactly once.
async fn scale_out_and_in(settings: Settings, latency_ms: u64, label: &str) -> anyhow::Result<()> {
    let _turn = run::turn().await;
    let shape = Shape::new(fault_size(), false);
    let mut run = Run::start(settings, shape).await?;
    run.pipeline
        .set_faults("sendgrid", json!({ "latency_ms": latency_ms }))
        .await?;
    let sent = run.send("scale", 0..shape.size).await?;
    let emails = expected_sends(&sent, Channel::Email);

    until_emails(&run, emails / 5).await?;
    let first = run
        .pipeline
        .find("dispatch-email")
        .expect("email dispatcher");
    let second = run.pipeline.spawn_dispatcher("email").await?;
    let third = run.pipeline.spawn_dispatcher("email").await?;
    until_emails(&run, emails / 2).await?;
    // scale in: the first and the second leave, each draining before it gives partitions up
    let scaled_in_at = Instant::now();
    let at_scale_in = run.pipeline.ledger_len("sendgrid").await?;
    anyhow::ensure!(at_scale_in < emails, "scaled in after every email was sent");
    let grace = Duration::from_secs(30);
    let clean_first = run.pipeline.procs[first].terminate(grace);
    let clean_second = run.pipeline.procs[second].terminate(grace);
    anyhow::ensure!(
        clean_first && clean_second,
        "a dispatcher did not stop within {grace:?}\n{}",
        run.pipeline.logs()
    );
    anyhow::ensure!(
        run.pipeline.procs[third].running(),
        "the remaining dispatcher died"
    );

    let figures = run
        .finish_and_judge(&sent, limit_for(sent.len()), scaled_in_at)
        .await?;
    crate::observe::report(format_args!("{}", figures.line(label)));
    crate::observe::report(format_args!(
        "{label}: scaled in after {at_scale_in} of {emails} emails"
    ));
    run.check(&figures, &sent, 0).await?;
    run.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn dispatchers_scaled_out_and_in_under_load_repeat_nothing() -> anyhow::Result<()> {
    scale_out_and_in(Settings::default(), 60, "dispatchers scaled 1 -> 3 -> 1").await
}

/// The same while every dispatcher is saturated: few send slots, a slow provider, hundreds of
/// records taken and waiting, so every revoke finds records queued for a slot and sends in
/// flight.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn saturated_dispatchers_scaled_out_and_in_repeat_nothing() -> anyhow::Result<()> {
    let settings = Settings {
        max_in_flight: 4,
        ..Settings::default()
    };
    scale_out_and_in(settings, 700, "saturated dispatchers scaled 1 -> 3 -> 1").await
}
