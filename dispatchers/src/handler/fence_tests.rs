//! A record whose partition started being revoked (or whose lane stopped) before its provider
//! call is given up unsent, for the partition's next owner, instead of racing it.

use tokio_util::sync::CancellationToken;

use super::rig::{apns, rig, TOKEN};
use super::Abandoned;
use crate::engine::inflight::Lease;

#[tokio::test]
async fn a_fenced_record_is_abandoned_before_the_provider_call() {
    let rig = rig();
    let delivery = apns();
    let record = rig.record(&delivery);
    let lease = Lease {
        abandon: CancellationToken::new(),
        fence: CancellationToken::new(),
    };
    lease.fence.cancel();
    let handled = rig.handler.handle_leased(&record, &lease, None).await;
    assert!(matches!(handled, Err(Abandoned)));
    assert_eq!(
        rig.provider.sends_to(TOKEN),
        0,
        "never reached the provider"
    );
    assert!(rig.statuses().is_empty());
    assert_eq!(
        rig.state(&delivery),
        None,
        "nothing logged: the next owner sends it"
    );

    // the same record under a lease that is not fenced goes out once
    let open = Lease::default();
    assert!(rig
        .handler
        .handle_leased(&record, &open, None)
        .await
        .is_ok());
    assert_eq!(rig.provider.sends_to(TOKEN), 1);
}

#[tokio::test]
async fn the_send_slot_is_released_once_the_provider_answered() {
    let rig = rig();
    let delivery = apns();
    let record = rig.record(&delivery);
    // Kafka is down: the status cannot be written, the record waits on it with backoff
    rig.publisher
        .fail_with(Some(notify_common::publish::PublishError::Timeout));
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(1));
    let slot = slots.clone().acquire_owned().await.expect("slot");
    let lease = Lease::default();
    let handling = {
        let lease = lease.clone();
        async move { rig.handler.handle_leased(&record, &lease, Some(slot)).await }
    };
    let waited = tokio::time::timeout(std::time::Duration::from_millis(500), handling).await;
    assert!(waited.is_err(), "still waiting on Kafka");
    assert_eq!(
        slots.available_permits(),
        1,
        "the slot went back while the outcome waits on Kafka"
    );
}
