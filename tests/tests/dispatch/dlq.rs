//! Operator tools on the real stack: a delivery dead-lettered after exhausted retries is listed
//! by `dlq::read`, replayed with a fresh budget, and delivered once; replaying it again sends
//! nothing more (the notification log recognises the delivery id).

use notify_dispatchers::dead_letter_tools::{self as dlq, Filter};
use notify_schemas::{Codec, DeliveryStatus, Status};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn a_dead_letter_replayed_is_delivered_once_even_when_replayed_again() {
    let phone = "+821077778888";
    let (mut w, d) = doomed_sms(phone, "try again later").await;
    let dlq_topic = w.topics.dlq();
    w.read_until(|seen| seen.iter().any(|s| s.topic == dlq_topic))
        .await;

    let only_sms = Filter {
        channel: Some("sms".into()),
        error: Some("retries_exhausted".into()),
        ..Filter::default()
    };
    let letters = dlq::read(&w.config.kafka, &w.topics, &only_sms)
        .await
        .expect("read dlq");
    assert_eq!(letters.len(), 1, "{letters:?}");
    let other = Filter {
        channel: Some("email".into()),
        ..Filter::default()
    };
    assert!(dlq::read(&w.config.kafka, &w.topics, &other)
        .await
        .expect("read dlq")
        .is_empty());

    // the provider has recovered; the operator replays
    let done = dlq::replay(&w.config.kafka, &w.topics, &letters)
        .await
        .expect("replay");
    assert_eq!((done.produced, done.skipped), (1, 0));
    let status_topic = w.topics.status();
    let statuses = Codec::<DeliveryStatus>::new().expect("codec");
    w.read_until(|seen| {
        seen.iter().filter(|s| s.topic == status_topic).any(|s| {
            statuses.decode(&s.value).is_ok_and(|status| {
                status.delivery_id == Some(d.delivery_id) && status.status == Status::Sent
            })
        })
    })
    .await;
    assert_eq!(
        w.provider.sends_to(phone),
        4,
        "3 failed attempts, then the replay"
    );
    assert!(w.statuses_of(&d).iter().any(|s| s.status == Status::Sent));

    // replaying the same dead letter again must not reach the provider again
    dlq::replay(&w.config.kafka, &w.topics, &letters)
        .await
        .expect("replay again");
    w.read_for(std::time::Duration::from_secs(5)).await;
    w.stop().await;
    assert_eq!(w.provider.sends_to(phone), 4, "a second replay was sent");
    // the provider count above is the promise; a status may be reported again for a copy
    // that raced the outcome's log write (statuses are at-least-once, see docs/design.md)
    assert!(
        w.statuses_of(&d).iter().any(|s| s.status == Status::Sent),
        "{:#?}",
        w.statuses_of(&d)
    );
}
