//! A request the scheduler re-emitted and the router holds back again: the new deferral is a
//! row of its own, which the scheduler's completion of the row it came from cannot delete.

use notify_store::schedule::Schedule;
use notify_store::settings::OverLimit;

use super::handler::{incoming, second_over_the_limit, sms_limit, World};

#[tokio::test]
async fn a_second_deferral_survives_the_completion_of_the_first() {
    let world = World::new(sms_limit(OverLimit::Defer)).await;
    let (second, _) = second_over_the_limit(&world).await;
    let rows = world.scheduled(second.event_id).await;
    assert_eq!(rows.len(), 1, "held for the rate limit");
    let first_row = rows[0].clone();

    // the scheduler re-emits the row; a router whose clock is 5 ms behind the scheduler's
    // routes it while the window still holds the send that filled it
    world.clock.set(first_row.due_at_ms - 5);
    let mut again = incoming(&second);
    again.payload = Some(first_row.payload.clone());
    again.deferred_until_ms = Some(first_row.due_at_ms);
    world.handle_incoming(&again).await;
    // the scheduler then deletes the row it re-emitted, as it does once Kafka acknowledged it
    world.schedule.complete(&first_row).await.expect("complete");

    let rows = world.scheduled(second.event_id).await;
    assert_eq!(
        rows.len(),
        1,
        "the second deferral is still scheduled: {rows:?}"
    );
    assert!(rows[0].due_at_ms > first_row.due_at_ms);
}
