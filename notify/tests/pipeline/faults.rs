//! Faults of a dispatcher and of a provider while the pipeline is under load: `kill -9` of a
//! dispatcher mid-flight and its restart may repeat at most the
//! sends it had in flight; a provider answering 429/5xx for a while and then recovering loses
//! nothing and repeats nothing.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use notify_common::clock::now_ms;
use notify_schemas::{Channel, Status};
use serde_json::json;

use crate::harness::Settings;
use crate::run::{self, limit_for, Run};
use crate::workload::{expected_sends, size_from_env, Shape};

/// How long before the kill a send repeated after it may have reached the provider: its answer
/// was still to be logged (40 ms injected latency, a log write under load).
const IN_FLIGHT_WINDOW_MS: i64 = 5_000;

/// How long after the kill a request the dead process had already written may still be
/// stamped by the simulator (it was in the socket; the simulator is busy). Far below the 10 s
/// session timeout before which no other dispatcher owns the dead one's partitions, so a
/// first copy stamped in this slack cannot come from the replacement.
const ARRIVAL_SLACK_MS: i64 = 1_000;

/// How long the providers fail.
const FAULT_WINDOW: Duration = Duration::from_secs(15);

/// Size of a fault test's workload: half the main test's.
pub fn fault_size() -> usize {
    (size_from_env(1_000) / 2).max(100)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn dispatcher_killed_mid_flight_repeats_at_most_its_in_flight_sends() -> anyhow::Result<()> {
    let _turn = run::turn().await;
    let shape = Shape::new(fault_size(), false);
    let settings = Settings::default();
    let bound = settings.max_in_flight;
    let mut run = Run::start(settings, shape).await?;
    // slow answers keep sends in flight when the kill lands
    run.pipeline
        .set_faults("sendgrid", json!({"latency_ms": 40}))
        .await?;
    let sent = run.send("kill", 0..shape.size).await?;
    let emails = expected_sends(&sent, Channel::Email);

    // kill once about a third of the email went out
    let limit = Duration::from_secs(120);
    run.pipeline
        .wait_for_ledger("sendgrid", emails / 3, limit)
        .await?;
    let index = run
        .pipeline
        .find("dispatch-email")
        .expect("email dispatcher");
    run.pipeline.procs[index].kill9();
    let killed_at = Instant::now();
    let killed_at_ms = now_ms();
    let at_kill = run.pipeline.ledger_len("sendgrid").await?;
    anyhow::ensure!(at_kill < emails, "the kill came after every email was sent");
    run.pipeline.spawn_dispatcher("email").await?;

    let figures = run
        .finish_and_judge(&sent, limit_for(sent.len()), killed_at)
        .await?;
    crate::observe::report(format_args!("{}", figures.line("dispatcher kill -9")));
    crate::observe::report(format_args!(
        "dispatcher kill -9: killed after {at_kill} of {emails} emails, duplicate bound {bound}"
    ));
    run.check(&figures, &sent, bound).await?;
    // a repeat is only allowed for a send in flight at the kill: the provider took the first
    // copy just before it, and the dead dispatcher never logged the answer
    let mut arrivals: HashMap<String, Vec<i64>> = HashMap::new();
    for (id, at) in crate::observe::ledger_entries(&run.pipeline).await? {
        arrivals.entry(id).or_default().push(at);
    }
    for (id, at) in arrivals.iter().filter(|(_, at)| at.len() > 1) {
        let first = *at.iter().min().expect("entries");
        anyhow::ensure!(
            (killed_at_ms - IN_FLIGHT_WINDOW_MS..=killed_at_ms + ARRIVAL_SLACK_MS).contains(&first),
            "delivery {id} was repeated but its first send reached the provider at {first}, \
             not in flight at the kill ({killed_at_ms})"
        );
    }
    run.finish().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn providers_failing_for_a_while_then_recovering_lose_and_repeat_nothing(
) -> anyhow::Result<()> {
    let _turn = run::turn().await;
    let shape = Shape::new(fault_size(), false);
    let run = Run::start(Settings::default(), shape).await?;
    let failing = |code: u16| json!({"rules": [{"fault": {"kind": "status", "code": code, "retry_after_s": 1}}]});
    // every push provider and both SMS providers (so failover cannot hide the fault) fail every
    // request for a while; a provider's circuit breaker then waits before it probes again
    let plan = [
        ("apns", failing(429)),
        ("fcm", failing(503)),
        ("webpush", failing(500)),
        ("twilio", failing(503)),
        ("vonage", failing(500)),
    ];
    for (name, faults) in &plan {
        run.pipeline.set_faults(name, faults.clone()).await?;
    }
    let sent = run.send("faults", 0..shape.size).await?;
    tokio::time::sleep(FAULT_WINDOW).await;
    let ledger_during = crate::observe::ledger_counts(&run.pipeline).await?.len();
    for (name, _) in &plan {
        run.pipeline.set_faults(name, json!({})).await?;
    }
    let healed_at = Instant::now();
    let figures = run
        .finish_and_judge(&sent, limit_for(sent.len()), healed_at)
        .await?;
    let retried = run.observer.with(|seen| {
        seen.statuses
            .iter()
            .filter(|s| s.status == Status::Retrying)
            .count()
    });
    crate::observe::report(format_args!(
        "{}",
        figures.line("provider 429/5xx then recovery")
    ));
    crate::observe::report(format_args!(
        "provider 429/5xx then recovery: failing for {FAULT_WINDOW:?}, {retried} retries reported, \
         {ledger_during} deliveries (email only) accepted during the fault"
    ));
    run.check(&figures, &sent, 0).await?;
    anyhow::ensure!(retried > 0, "the faults caused no retry");
    run.finish().await;
    Ok(())
}
