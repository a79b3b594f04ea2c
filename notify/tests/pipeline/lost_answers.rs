//! Push connections that end mid-burst: APNs and FCM take some pushes and then close the
//! connection without answering, or send `GOAWAY`. Every notification still ends with its
//! expected outcome; a push reaches the provider twice only where the dispatcher reported the
//! answer as lost (`answer_lost` on `notify.status`). A dropped connection loses the answers of
//! every push in flight on it, so the reports are bounded by the drops times the sends a
//! dispatcher has in flight.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use notify_schemas::Status;
use serde_json::json;

use crate::faults::fault_size;
use crate::harness::Settings;
use crate::run::{self, limit_for, Run};
use crate::workload::Shape;

/// Pushes each simulator takes and then drops the connection on.
const DROPS: usize = 12;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn push_connections_lost_mid_burst_repeat_only_what_was_reported() -> anyhow::Result<()> {
    let _turn = run::turn().await;
    let shape = Shape::new(fault_size(), false);
    let settings = Settings::default();
    let bound = 2 * DROPS * settings.max_in_flight;
    let run = Run::start(settings, shape).await?;
    let faults = json!({"latency_ms": 20, "rules": [
        {"fault": {"kind": "drop_after_accept"}, "count": DROPS},
        {"fault": {"kind": "go_away"}, "count": 4},
    ]});
    for name in ["apns", "fcm"] {
        run.pipeline.set_faults(name, faults.clone()).await?;
    }
    let sent = run.send("lost", 0..shape.size).await?;
    let sent_at = Instant::now();
    let figures = run
        .finish_and_judge(&sent, limit_for(sent.len()), sent_at)
        .await?;
    crate::observe::report(format_args!("{}", figures.line("push answers lost")));

    // each lost answer is one report (a delivery whose answers were lost on two attempts has
    // two), and may account for one more arrival at the provider
    let reports: HashSet<(String, i32)> = run.observer.with(|seen| {
        seen.statuses
            .iter()
            .filter(|s| s.status == Status::Retrying && s.reason.as_deref() == Some("answer_lost"))
            .filter_map(|s| s.delivery_id.map(|id| (id.to_string(), s.attempt)))
            .collect()
    });
    let mut reported: HashMap<String, usize> = HashMap::new();
    for (id, _) in &reports {
        *reported.entry(id.clone()).or_default() += 1;
    }
    let mut arrivals: HashMap<String, usize> = HashMap::new();
    for (id, _) in crate::observe::ledger_entries(&run.pipeline).await? {
        *arrivals.entry(id).or_default() += 1;
    }
    let repeated: Vec<(&String, usize)> = arrivals
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, n)| (id, *n))
        .collect();
    crate::observe::report(format_args!(
        "push answers lost: {} answer_lost reports on {} deliveries, {} repeated at the providers",
        reports.len(),
        reported.len(),
        repeated.len()
    ));
    anyhow::ensure!(
        !reported.is_empty(),
        "no answer was lost: the faults did not act"
    );
    anyhow::ensure!(
        reports.len() <= bound,
        "more ambiguous sends ({}) than the drops can explain ({bound})",
        reports.len()
    );
    for (id, n) in &repeated {
        let lost = reported.get(*id).copied().unwrap_or(0);
        anyhow::ensure!(
            n - 1 <= lost,
            "delivery {id} reached a provider {n} times with {lost} answer_lost reports"
        );
    }
    run.check(&figures, &sent, reports.len()).await?;
    run.finish().await;
    Ok(())
}
