use std::collections::BTreeSet;

use notify_schemas::{
    delivery_id, Channel, Codec, Delivery, DeliveryStatus, EmailAddress, PhoneNumber, Priority,
    Recipient, RenderedContent, RenderedSms, Stage, Status, TraceContext,
};

use super::*;
use crate::fanout::{
    deliveries, expired_status, plan_statuses, redact, render_failed, scheduled_status,
    suppressed_status, topic_lane, Lane, MAX_REASON_BYTES,
};
use crate::plan::{plan, Context, Defer, DeferReason, Plan, Reason, Suppressed, Target};
use crate::render::{RenderError, Rendered, Renderer};

fn sms_content(text: &str) -> Rendered {
    Rendered {
        content: RenderedContent::Sms(RenderedSms {
            text: text.into(),
            segments: 1,
        }),
        locale: Some("ko".into()),
    }
}

fn target(channel: Channel, recipient: Recipient) -> Target {
    Target { channel, recipient }
}

fn phone(e164: &str) -> Recipient {
    Recipient::Phone(PhoneNumber { e164: e164.into() })
}

fn email(address: &str) -> Recipient {
    Recipient::Email(EmailAddress {
        address: address.into(),
        name: None,
    })
}

/// Plans and renders a request to a user with three iPhones, an SMS number and an email
/// address, the way the handler does, and fans it out.
fn route_everything() -> Vec<Delivery> {
    let request = {
        let mut request = with_template(request(&[]), &[("name", "Kim")]);
        request.trace = Some(TraceContext {
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            tracestate: None,
        });
        request.expires_at = Some(now() + 86_400_000);
        request
    };
    let user = user();
    let devices = [apns("a1"), apns("a2"), apns("a3")];
    let plan = plan(&Context {
        request: &request,
        user: Some(&user),
        devices: &devices,
        preferences: &[],
        category: None,
        suppressions: &[],
        tenant_allows_critical_bypass: false,
        now_ms: now(),
    });
    assert!(plan.suppressed.is_empty() && plan.defer_until.is_none());
    let templates = [
        Template {
            body: Some("hi {{ name }}".into()),
            ..variant("en", Channel::Apns)
        },
        sms_variant("en", "hi {{ name }}"),
        Template {
            subject: Some("hi".into()),
            text: Some("hi {{ name }}".into()),
            ..variant("en", Channel::Email)
        },
    ];
    // per channel, as the handler does: targets are grouped by channel
    let renderer = Renderer::new();
    let mut out = Vec::new();
    let mut start = 0;
    while start < plan.targets.len() {
        let channel = plan.targets[start].channel;
        let end = start
            + plan.targets[start..]
                .iter()
                .take_while(|t| t.channel == channel)
                .count();
        let rendered = renderer
            .render(channel, &templates, &request, None, "en", "a@acme.example")
            .expect("renders");
        out.extend(deliveries(
            &request,
            &plan.targets[start..end],
            &rendered,
            now(),
        ));
        start = end;
    }
    out
}

#[test]
fn replaying_a_request_yields_the_same_delivery_ids() {
    let first = route_everything();
    let second = route_everything();
    assert_eq!(first.len(), 5);
    let ids =
        |deliveries: &[Delivery]| -> Vec<_> { deliveries.iter().map(|d| d.delivery_id).collect() };
    assert_eq!(ids(&first), ids(&second));
    assert_eq!(first, second);
    for d in &first {
        assert_eq!(
            d.delivery_id,
            delivery_id("acme", EVENT, d.channel, d.recipient.key())
        );
    }
}

#[test]
fn distinct_recipients_get_distinct_ids() {
    let deliveries = route_everything();
    let ids: BTreeSet<_> = deliveries.iter().map(|d| d.delivery_id).collect();
    assert_eq!(ids.len(), deliveries.len());
    let channels: Vec<Channel> = deliveries.iter().map(|d| d.channel).collect();
    assert_eq!(
        channels,
        [
            Channel::Apns,
            Channel::Apns,
            Channel::Apns,
            Channel::Sms,
            Channel::Email
        ]
    );
}

#[test]
fn a_delivery_starts_fresh_and_keeps_the_requests_deadline_and_trace() {
    let deliveries = route_everything();
    let d = &deliveries[3];
    assert_eq!(d.tenant, "acme");
    assert_eq!(d.event_id, EVENT);
    assert_eq!(d.user_id, "user-1");
    assert_eq!(d.category, "orders");
    assert_eq!(d.priority, Priority::Normal);
    assert_eq!(d.attempt, 0);
    assert_eq!(d.first_attempt_at, None);
    assert_eq!(d.not_before, None);
    assert_eq!(d.expires_at, Some(now() + 86_400_000));
    assert_eq!(d.created_at, now());
    assert_eq!(d.locale.as_deref(), Some("en"));
    assert!(d.trace.is_some());
    assert!(matches!(&d.content, RenderedContent::Sms(sms) if sms.text == "hi Kim"));
    // and the schema accepts it
    let codec = Codec::<Delivery>::new().expect("schema");
    let bytes = codec.encode(d).expect("encodes");
    assert_eq!(&codec.decode(&bytes).expect("decodes"), d);
}

#[test]
fn targets_of_a_channel_that_did_not_render_fail_once_each() {
    let request = request(&[]);
    let targets = [
        target(Channel::Sms, phone("+821012345678")),
        target(Channel::Sms, phone("+821098765432")),
    ];
    let error = RenderError::NoContent {
        channel: Channel::Sms,
    };
    let failed = render_failed(&request, &targets, &error, now());
    assert_eq!(failed.len(), 2);
    for (status, target) in failed.iter().zip(&targets) {
        assert_eq!(status.status, Status::Failed);
        assert_eq!(status.stage, Stage::Router);
        assert_eq!(status.channel, Some(Channel::Sms));
        assert_eq!(
            status.delivery_id,
            Some(delivery_id(
                "acme",
                EVENT,
                target.channel,
                target.recipient.key()
            ))
        );
        assert_eq!(
            status.reason.as_deref(),
            Some("render_failed: no template and no inline content for sms")
        );
    }
    assert_ne!(failed[0].delivery_id, failed[1].delivery_id);
    // a rendered channel gives the same targets one delivery each, with the same ids
    let delivered = deliveries(&request, &targets, &sms_content("hi"), now());
    let delivered: Vec<_> = delivered.iter().map(|d| Some(d.delivery_id)).collect();
    let failed: Vec<_> = failed.iter().map(|s| s.delivery_id).collect();
    assert_eq!(delivered, failed);
}

#[test]
fn plan_statuses_report_what_the_plan_decided_now() {
    let request = request(&[Channel::Sms]);
    let expired = Plan {
        expired: true,
        ..Plan::default()
    };
    let statuses = plan_statuses(&request, &expired, now());
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].status, Status::Expired);

    let deferred = Plan {
        defer_until: Some(Defer {
            until_ms: now() + 1,
            reason: DeferReason::SendAt,
        }),
        ..Plan::default()
    };
    let statuses = plan_statuses(&request, &deferred, now());
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].status, Status::Scheduled);
    assert_eq!(statuses[0].reason.as_deref(), Some("send_at"));

    let routed = Plan {
        targets: vec![target(Channel::Sms, phone("+821012345678"))],
        suppressed: vec![
            Suppressed {
                channel: Some(Channel::Email),
                recipient: Some(email("kim@example.com")),
                reason: Reason::OptedOut,
            },
            Suppressed {
                channel: Some(Channel::Apns),
                recipient: None,
                reason: Reason::NoDevice,
            },
        ],
        ..Plan::default()
    };
    let statuses = plan_statuses(&request, &routed, now());
    let reasons: Vec<_> = statuses
        .iter()
        .map(|s| (s.status, s.channel, s.reason.as_deref()))
        .collect();
    assert_eq!(
        reasons,
        [
            (Status::Suppressed, Some(Channel::Email), Some("opted_out")),
            (Status::Suppressed, Some(Channel::Apns), Some("no_device")),
        ]
    );
}

#[test]
fn suppressed_status_names_reason_and_delivery() {
    let request = request(&[]);
    let suppressed = Suppressed {
        channel: Some(Channel::Sms),
        recipient: Some(phone("+821012345678")),
        reason: Reason::OptedOut,
    };
    let status = suppressed_status(&request, &suppressed, now());
    assert_eq!(status.status, Status::Suppressed);
    assert_eq!(status.stage, Stage::Router);
    assert_eq!(status.reason.as_deref(), Some("opted_out"));
    assert_eq!(status.channel, Some(Channel::Sms));
    assert_eq!(
        status.delivery_id,
        Some(delivery_id("acme", EVENT, Channel::Sms, "+821012345678"))
    );
    assert_eq!(status.recipient.as_deref(), Some("...5678"));
    assert_eq!(status.user_id.as_deref(), Some("user-1"));
    assert_eq!(status.category.as_deref(), Some("orders"));
    assert_eq!(status.occurred_at, now());
    assert_eq!(status.attempt, 0);

    // a channel without a recipient has no delivery id
    let status = suppressed_status(
        &request,
        &Suppressed {
            channel: Some(Channel::Fcm),
            recipient: None,
            reason: Reason::NoDevice,
        },
        now(),
    );
    assert_eq!(status.delivery_id, None);
    assert_eq!(status.recipient, None);
    assert_eq!(status.reason.as_deref(), Some("no_device"));
}

#[test]
fn request_level_statuses() {
    let request = request(&[Channel::Sms]);
    let expired = expired_status(&request, now());
    assert_eq!(expired.status, Status::Expired);
    assert_eq!(expired.reason.as_deref(), Some("expired"));
    assert_eq!((expired.channel, expired.delivery_id), (None, None));

    let defer = Defer {
        until_ms: now() + 1,
        reason: DeferReason::QuietHours,
    };
    let scheduled = scheduled_status(&request, &defer, now());
    assert_eq!(scheduled.status, Status::Scheduled);
    assert_eq!(scheduled.reason.as_deref(), Some("quiet_hours"));
    assert_eq!(scheduled.stage, Stage::Router);

    let codec = Codec::<DeliveryStatus>::new().expect("schema");
    for status in [expired, scheduled] {
        let bytes = codec.encode(&status).expect("encodes");
        assert_eq!(codec.decode(&bytes).expect("decodes"), status);
    }
}

#[test]
fn render_failed_reason_is_bounded_on_a_char_boundary() {
    let error = RenderError::Template {
        template_id: "welcome".into(),
        version: 1,
        locale: "ko".into(),
        channel: Channel::Sms,
        message: "가".repeat(400),
    };
    let statuses = render_failed(
        &request(&[]),
        &[target(Channel::Sms, phone("+821012345678"))],
        &error,
        now(),
    );
    let reason = statuses[0].reason.clone().expect("reason");
    assert!(reason.len() <= MAX_REASON_BYTES && reason.len() > MAX_REASON_BYTES - 4);
    assert!(reason.starts_with("render_failed: template welcome v1 (ko, sms): 가"));
}

#[test]
fn redaction_never_shows_a_whole_recipient() {
    let token = "a1b2c3d4".repeat(8);
    let recipients = [
        (
            Recipient::DeviceToken(notify_schemas::DeviceToken {
                token: token.clone(),
                device_id: None,
            }),
            "a1b2c3...",
        ),
        (
            Recipient::WebPush(notify_schemas::WebPushSubscription {
                endpoint: "https://fcm.googleapis.com/fcm/send/secret-id".into(),
                p256dh: "k".into(),
                auth: "a".into(),
                device_id: None,
            }),
            "https://fcm.googleapis.com/...",
        ),
        (phone("+821012345678"), "...5678"),
        (phone("+8212"), "..."),
        (email("kim@example.com"), "k***@example.com"),
        (email("no-at-sign"), "***"),
        (email("한국@example.kr"), "한***@example.kr"),
    ];
    for (recipient, expected) in recipients {
        let redacted = redact(&recipient);
        assert_eq!(redacted, expected);
        assert!(!redacted.contains(recipient.key()) || recipient.key().is_empty());
    }
}

#[test]
fn bulk_has_a_lane_of_its_own() {
    assert_eq!(topic_lane(Priority::Critical), Lane::Priority);
    assert_eq!(topic_lane(Priority::High), Lane::Priority);
    assert_eq!(topic_lane(Priority::Normal), Lane::Priority);
    assert_eq!(topic_lane(Priority::Bulk), Lane::Bulk);
}
