//! Dispatchers scaled out and back in while they deliver: members join and leave the consumer
//! group gracefully, partitions move, and no delivery is lost or repeated.

use std::time::{Duration, Instant};

use notify_schemas::Channel;
use serde_json::json;

use crate::faults::fault_size;
use crate::harness::Settings;
use crate::run::{limit_for, Run, SERIAL};
use crate::workload::{expected_sends, Shape};

/// Waits until the SendGrid simulator accepted at least `count` messages.
async fn until_emails(run: &Run, count: usize) -> anyhow::Result<()> {
    let limit = Duration::from_secs(180);
    run.pipeline.wait_for_ledger("sendgrid", count, limit).await
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn dispatchers_scaled_out_and_in_under_load_repeat_nothing() -> anyhow::Result<()> {
    let _turn = SERIAL.lock().await;
    let shape = Shape::new(fault_size(), false);
    let mut run = Run::start(Settings::default(), shape).await?;
    run.pipeline
        .set_faults("sendgrid", json!({"latency_ms": 60}))
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
    crate::observe::report(format_args!(
        "{}",
        figures.line("dispatchers scaled 1 -> 3 -> 1")
    ));
    crate::observe::report(format_args!(
        "dispatchers scaled 1 -> 3 -> 1: scaled in after {at_scale_in} of {emails} emails"
    ));
    run.check(&figures, &sent, 0)?;
    run.finish().await;
    Ok(())
}
