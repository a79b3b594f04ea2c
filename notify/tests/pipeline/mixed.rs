//! The mixed workload (every channel, categories, preferences, opt-outs, quiet hours,
//! `send_at`, requests repeated with their idempotency key) without faults ends with exactly
//! the expected terminal statuses (every accepted notification one per expected delivery or
//! suppression), and the ledgers show zero duplicates and zero losses.

use std::time::Instant;

use notify_schemas::Status;

use crate::harness::Settings;
use crate::run::{self, limit_for, Run};
use crate::workload::{size_from_env, Shape};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn mixed_workload_ends_exactly_as_expected_with_a_clean_ledger() -> anyhow::Result<()> {
    let _turn = run::turn().await;
    let shape = Shape::new(size_from_env(1_000), true);
    let run = Run::start(Settings::default(), shape).await?;
    let started = Instant::now();
    let sent = run.send("mixed", 0..shape.size).await?;
    let sending = started.elapsed();
    // a client repeating requests (same Idempotency-Key, same body) gets the same events back
    // and causes no second delivery and no second terminal status; the batches carrying a
    // `send_at` (the second of every 25) are left out, as their body changes with the time
    let mut repeated = 0;
    for first in (0..shape.size)
        .step_by(100)
        .filter(|f| (f / 100) % 25 != 1)
        .take(3)
    {
        let end = (first + 100).min(shape.size);
        let again = run.send("mixed", first..end).await?;
        let before: Vec<_> = sent[first..end].iter().map(|s| s.event_id).collect();
        let after: Vec<_> = again.iter().map(|s| s.event_id).collect();
        anyhow::ensure!(
            before == after,
            "a repeated batch ({first}..{end}) got new event ids"
        );
        repeated += again.len();
    }
    let sent_at = Instant::now();
    // quiet hours end within 100 s of seeding
    let figures = run
        .finish_and_judge(
            &sent,
            limit_for(sent.len()) + std::time::Duration::from_secs(120),
            sent_at,
        )
        .await?;
    crate::observe::report(format_args!("{}", figures.line("mixed workload")));
    crate::observe::report(format_args!(
        "mixed workload: sent in {:.1} s ({:.0}/s), all outcomes {:.1} s after the last send",
        sending.as_secs_f64(),
        sent.len() as f64 / sending.as_secs_f64(),
        figures.recovered_in.as_secs_f64()
    ));
    run.check(&figures, &sent, 0).await?;
    // what the stages' own counters say adds up to what happened
    let counted = crate::accounting::check(&run.pipeline, &figures).await?;
    crate::observe::report(format_args!(
        "mixed workload, the stages' counters:\n{counted}"
    ));

    // the workload exercised what it claims to
    let (deferred_send_at, deferred_quiet) = run.observer.with(|seen| {
        let count = |reason: &str| {
            seen.statuses
                .iter()
                .filter(|s| s.status == Status::Scheduled && s.reason.as_deref() == Some(reason))
                .count()
        };
        (count("send_at"), count("quiet_hours"))
    });
    crate::observe::report(format_args!(
        "mixed workload: scheduled by send_at {deferred_send_at}, by quiet hours {deferred_quiet}, \
         {repeated} requests repeated with their idempotency key"
    ));
    anyhow::ensure!(
        sent.iter().any(|s| s.scheduled) && deferred_send_at > 0,
        "no notification waited for its send_at"
    );
    anyhow::ensure!(deferred_quiet > 0, "no notification waited for quiet hours");
    for reason in ["opted_out", "no_device", "no_contact"] {
        anyhow::ensure!(
            figures.suppressed.get(reason).copied().unwrap_or(0) > 0,
            "no suppression {reason}"
        );
    }
    run.finish().await;
    Ok(())
}
