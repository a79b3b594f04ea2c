//! Rate limits are bypassed only by a category the tenant marked critical, never by the
//! priority a caller writes into its request.

use notify_schemas::{Priority, Status, Uuid};
use notify_store::directory::Directory;
use notify_store::settings::{OverLimit, RateLimitRule, TenantSettings};

use super::handler::World;
use super::*;

fn one_sms_an_hour() -> TenantSettings {
    TenantSettings {
        rate_limits: vec![RateLimitRule {
            channel: Some("sms".into()),
            priorities: vec!["high".into(), "normal".into()],
            limit: 1,
            window_s: 3_600,
        }],
        over_limit: OverLimit::Suppress,
        ..TenantSettings::default()
    }
}

fn sms(world: &World, event: u128, priority: Priority, category: &str) -> NotificationRequest {
    NotificationRequest {
        event_id: Uuid::from_u128(event),
        priority,
        category: category.into(),
        ..world.request(&[Channel::Sms])
    }
}

#[tokio::test]
async fn a_caller_marking_its_request_critical_is_still_limited() {
    let world = World::new(one_sms_an_hour()).await;
    let first = world
        .handle(&sms(&world, 1, Priority::Normal, "orders"))
        .await;
    assert_eq!(world.deliveries(&first, Channel::Sms).len(), 1);

    let records = world
        .handle(&sms(&world, 2, Priority::Critical, "orders"))
        .await;
    assert!(
        world.deliveries(&records, Channel::Sms).is_empty(),
        "priority critical set by the caller bypassed the limit"
    );
    let statuses = world.statuses(&records);
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert_eq!(statuses[0].status, Status::Suppressed);
    assert_eq!(statuses[0].reason.as_deref(), Some("rate_limited"));
}

#[tokio::test]
async fn a_category_the_tenant_marked_critical_is_not_limited_nor_counted() {
    let world = World::new(one_sms_an_hour()).await;
    let mut security = category(true);
    security.category_id = "security".into();
    world
        .directory
        .put_category("acme", &security)
        .await
        .expect("category");
    for event in 1..=3 {
        let records = world
            .handle(&sms(&world, event, Priority::Critical, "security"))
            .await;
        assert_eq!(
            world.deliveries(&records, Channel::Sms).len(),
            1,
            "{records:?}"
        );
    }
    // none of them took the ordinary request's slot
    let ordinary = world
        .handle(&sms(&world, 9, Priority::Normal, "orders"))
        .await;
    assert_eq!(world.deliveries(&ordinary, Channel::Sms).len(), 1);
}
