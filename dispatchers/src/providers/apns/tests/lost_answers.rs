//! Connections that end mid-burst: a push the provider took but whose answer was lost is told
//! apart from one that never reached it, and sent again so that a device shows one.

use std::sync::Arc;

use notify_sim::Fault;

use super::*;

#[tokio::test]
async fn accepted_then_dropped_is_answer_lost_and_its_retry_collapses_into_the_first() {
    let s = setup().await;
    set_rules(&s.sim, vec![rule(Fault::DropAfterAccept, Some(1))]);
    // no collapse key of its own: the delivery id serves
    let mut delivery = delivery();
    if let RenderedContent::Push(push) = &mut delivery.content {
        push.collapse_key = None;
    }
    let first = s.provider.send(&delivery).await;
    assert_outcome(&first, Kind::Retry, Reason::AnswerLost);
    assert_eq!(
        s.sim.ledger().len(),
        1,
        "APNs took it before the connection dropped"
    );
    assert_sent(&s.provider.send(&delivery).await);

    let entries = s.sim.ledger().entries();
    assert_eq!(
        entries.len(),
        2,
        "the one duplicate an ambiguous answer can cost"
    );
    let id = delivery.delivery_id.to_string();
    for entry in &entries {
        assert_eq!(
            entry.delivery_id.as_deref(),
            Some(id.as_str()),
            "same apns-id"
        );
        assert_eq!(
            entry.summary["apns-collapse-id"], id,
            "same collapse id: the device replaces the first with the second"
        );
    }
}

#[tokio::test]
async fn a_connection_never_made_is_a_plain_connection_retry() {
    let s = setup().await;
    // a port nobody listens on
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let config = ApnsConfig {
        base_url: format!("https://127.0.0.1:{port}"),
        ca_file: Some(s.scratch.write("ca2.pem", s.sim.ca_pem())),
        ..ApnsConfig::new(&s.key_file, KEY_ID, TEAM_ID, TOPIC)
    };
    let provider = ApnsProvider::new(config).unwrap();
    let outcome = provider.send(&delivery()).await;
    assert_outcome(&outcome, Kind::Retry, Reason::Connection);
}

#[tokio::test]
async fn goaway_in_a_burst_repeats_nothing() {
    let s = setup().await;
    s.sim.faults().set(FaultSettings {
        latency_ms: 30,
        ..rules(vec![rule(Fault::GoAway, Some(1))])
    });
    let provider = Arc::new(s.provider);
    let deliveries = distinct_push_deliveries(40);
    let mut pending = deliveries.clone();
    let mut ambiguous = 0;
    for _round in 0..5 {
        let sends = pending.iter().map(|d| {
            let provider = provider.clone();
            let d = d.clone();
            async move { (provider.send(&d).await, d) }
        });
        let mut again = Vec::new();
        for (outcome, d) in futures::future::join_all(sends).await {
            match outcome {
                Outcome::Sent { .. } => {}
                Outcome::Retry {
                    reason: Reason::Connection,
                    ..
                } => again.push(d),
                Outcome::Retry {
                    reason: Reason::AnswerLost,
                    ..
                } => {
                    ambiguous += 1;
                    again.push(d);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        pending = again;
        if pending.is_empty() {
            break;
        }
    }
    assert!(pending.is_empty(), "{} never sent", pending.len());
    assert_eq!(ambiguous, 0, "a graceful GOAWAY leaves nothing ambiguous");
    assert_each_recorded_once(
        s.sim.ledger().entries().into_iter().map(|e| e.delivery_id),
        &deliveries,
    );
}
