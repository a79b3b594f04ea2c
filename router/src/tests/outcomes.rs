//! What the router decides without a delivery is readable in the notification log, written
//! before the statuses that announce it: suppressions (opted out, rate limited), deferrals,
//! expiry; and a deferral that is routed later leaves no stale `scheduled` row behind.

use notify_schemas::{delivery_id, Channel, NotificationRequest, Uuid};
use notify_store::notification_log::{origin_of, LogEntry, Origin};
use notify_store::settings::{OverLimit, TenantSettings};

use super::handler::{
    incoming, opt_out_of_sms, put_quiet_user, second_over_the_limit, sms_limit, World,
};
use super::*;
use crate::handler::Incoming;

const PHONE: &str = "+821012345678";

/// (channel, recipient, state, reason) of every router row of `event`, as a look-up reads it.
fn router_rows(world: &World, event: Uuid) -> Vec<(String, String, String, String)> {
    world
        .log
        .rows_of("acme", &event.to_string())
        .into_iter()
        .map(|row| origin_of(LogEntry::from(row)))
        .map(|(origin, e)| {
            assert_eq!(origin, Origin::Router, "only the router writes here: {e:?}");
            let text = |v: Option<String>| v.unwrap_or_default();
            (e.channel, e.recipient, text(e.state), text(e.reason))
        })
        .collect()
}

fn row(
    channel: &str,
    recipient: &str,
    state: &str,
    reason: &str,
) -> (String, String, String, String) {
    (
        channel.into(),
        recipient.into(),
        state.into(),
        reason.into(),
    )
}

#[tokio::test]
async fn an_opted_out_channel_leaves_a_readable_suppression() {
    let world = World::new(TenantSettings::default()).await;
    opt_out_of_sms(&world).await;
    let records = world
        .handle(&world.request(&[Channel::Sms, Channel::Email]))
        .await;
    assert_eq!(world.deliveries(&records, Channel::Email).len(), 1);
    assert_eq!(
        router_rows(&world, EVENT),
        [row("sms", PHONE, "suppressed", "opted_out")],
        "the delivered email is the dispatcher's to record"
    );
    let written = world
        .log
        .row("acme", &EVENT.to_string(), "router:sms", PHONE)
        .expect("row");
    assert_eq!(
        written.delivery_id,
        delivery_id("acme", EVENT, Channel::Sms, PHONE).to_string()
    );
    assert_eq!(written.updated_at_ms, world.now);
}

#[tokio::test]
async fn a_rate_limited_channel_leaves_a_readable_suppression() {
    let world = World::new(sms_limit(OverLimit::Suppress)).await;
    let (second, _) = second_over_the_limit(&world).await;
    assert!(router_rows(&world, EVENT).is_empty(), "the first was sent");
    assert_eq!(
        router_rows(&world, second.event_id),
        [row("sms", PHONE, "suppressed", "rate_limited")]
    );
}

#[tokio::test]
async fn no_status_goes_out_before_its_outcome_is_recorded() {
    let world = World::new(TenantSettings::default()).await;
    opt_out_of_sms(&world).await;
    let request = world.request(&[Channel::Sms]);
    world.log.fail_writes(1);
    let err = world
        .handler
        .handle(&incoming(&request))
        .await
        .expect_err("the log is down");
    assert_eq!(err.dependency(), "database");
    let records = world.handle(&request).await;
    assert_eq!(world.statuses(&records).len(), 1);
    assert_eq!(
        router_rows(&world, EVENT),
        [row("sms", PHONE, "suppressed", "opted_out")]
    );
}

#[tokio::test]
async fn an_expired_request_is_recorded_for_the_whole_request() {
    let world = World::new(TenantSettings::default()).await;
    let request = NotificationRequest {
        expires_at: Some(world.now - 1),
        ..world.request(&[Channel::Sms])
    };
    world.handle(&request).await;
    assert_eq!(
        router_rows(&world, EVENT),
        [row("*", "*", "expired", "expired")]
    );
}

#[tokio::test]
async fn a_quiet_hours_deferral_shows_scheduled_until_it_is_routed() {
    let world = World::new(TenantSettings::default()).await;
    put_quiet_user(&world).await;
    let request = world.request(&[Channel::Sms]);
    world.handle(&request).await;
    assert_eq!(
        router_rows(&world, EVENT),
        [row("*", "*", "scheduled", "quiet_hours")]
    );

    let reemitted = Incoming {
        deferred_until_ms: Some(world.now - 1_000),
        ..incoming(&request)
    };
    let records = world.handle_incoming(&reemitted).await;
    assert_eq!(world.deliveries(&records, Channel::Sms).len(), 1);
    assert!(
        router_rows(&world, EVENT).is_empty(),
        "the delivery's own row will tell: {:?}",
        router_rows(&world, EVENT)
    );
}

#[tokio::test]
async fn a_rate_limit_deferral_shows_its_channel_scheduled_until_it_is_routed() {
    let world = World::new(sms_limit(OverLimit::Defer)).await;
    let (second, _) = second_over_the_limit(&world).await;
    assert_eq!(
        router_rows(&world, second.event_id),
        [row("sms", "*", "scheduled", "rate_limited")]
    );
    let held = world.scheduled(second.event_id).await.remove(0);

    // the window has room again when the scheduler re-emits the held copy
    world.clock.set(held.due_at_ms + 1);
    let mut again = incoming(&second);
    again.payload = Some(held.payload.clone());
    again.deferred_until_ms = Some(held.due_at_ms);
    let records = world.handle_incoming(&again).await;
    assert_eq!(
        world.deliveries(&records, Channel::Sms).len(),
        1,
        "{records:?}"
    );
    assert!(router_rows(&world, second.event_id).is_empty());
}

#[tokio::test]
async fn a_deferral_held_again_keeps_one_current_scheduled_row() {
    let world = World::new(sms_limit(OverLimit::Defer)).await;
    let (second, _) = second_over_the_limit(&world).await;
    let held = world.scheduled(second.event_id).await.remove(0);

    // re-emitted while the window is still full: held again, the row stays
    world.clock.set(held.due_at_ms - 5);
    let mut again = incoming(&second);
    again.payload = Some(held.payload.clone());
    again.deferred_until_ms = Some(held.due_at_ms);
    world.handle_incoming(&again).await;
    assert_eq!(
        router_rows(&world, second.event_id),
        [row("sms", "*", "scheduled", "rate_limited")]
    );
}
