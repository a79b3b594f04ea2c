//! Any value of the Rust types encodes, and decodes back to itself, through both decode paths
//! (current schema, and a registered other writer schema resolved to the current one).

mod common;

use std::collections::BTreeMap;

use common::{DeliveryNext, DeliveryStatusNext, NextVersion, NotificationRequestNext};
use notify_schemas::*;
use proptest::option;
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z0-9_.:+@-]{0,24}"]
}

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

fn string_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map(text(), text(), 0..4)
}

fn priority() -> impl Strategy<Value = Priority> {
    prop_oneof![
        Just(Priority::Critical),
        Just(Priority::High),
        Just(Priority::Normal),
        Just(Priority::Bulk)
    ]
}

fn channel() -> impl Strategy<Value = Channel> {
    proptest::sample::select(Channel::ALL.to_vec())
}

fn trace() -> impl Strategy<Value = TraceContext> {
    (text(), option::of(text())).prop_map(|(traceparent, tracestate)| TraceContext {
        traceparent,
        tracestate,
    })
}

fn push_content() -> impl Strategy<Value = PushContent> {
    (
        text(),
        text(),
        string_map(),
        option::of(text()),
        option::of(text()),
        option::of(text()),
        option::of(any::<i32>()),
    )
        .prop_map(
            |(title, body, data, image_url, click_url, sound, badge)| PushContent {
                title,
                body,
                data,
                image_url,
                click_url,
                sound,
                badge,
            },
        )
}

fn inline_content() -> impl Strategy<Value = InlineContent> {
    (
        option::of(push_content()),
        option::of(text().prop_map(|text| SmsContent { text })),
        option::of((text(), option::of(text()), option::of(text())).prop_map(
            |(subject, html, text)| EmailContent {
                subject,
                html,
                text,
            },
        )),
    )
        .prop_map(|(push, sms, email)| InlineContent { push, sms, email })
}

prop_compose! {
    fn request()(
        ids in (text(), uuid(), option::of(text()), text(), text()),
        priority in priority(),
        channels in proptest::collection::vec(channel(), 0..6),
        template in option::of((text(), string_map()).prop_map(|(template_id, params)| TemplateRef { template_id, params })),
        content in option::of(inline_content()),
        locale in option::of(text()),
        times in (option::of(any::<i64>()), option::of(any::<i64>()), any::<i64>()),
        trace in option::of(trace()),
    ) -> NotificationRequest {
        let (tenant, event_id, idempotency_key, user_id, category) = ids;
        let (send_at, expires_at, created_at) = times;
        NotificationRequest {
            tenant, event_id, idempotency_key, user_id, category, priority, channels, template,
            content, locale, send_at, expires_at, created_at, trace,
        }
    }
}

fn recipient() -> impl Strategy<Value = Recipient> {
    prop_oneof![
        (text(), option::of(text())).prop_map(|(token, device_id)| Recipient::DeviceToken(
            DeviceToken { token, device_id }
        )),
        (text(), text(), text(), option::of(text())).prop_map(
            |(endpoint, p256dh, auth, device_id)| {
                Recipient::WebPush(WebPushSubscription {
                    endpoint,
                    p256dh,
                    auth,
                    device_id,
                })
            }
        ),
        text().prop_map(|e164| Recipient::Phone(PhoneNumber { e164 })),
        (text(), option::of(text()))
            .prop_map(|(address, name)| Recipient::Email(EmailAddress { address, name })),
    ]
}

fn rendered() -> impl Strategy<Value = RenderedContent> {
    prop_oneof![
        (push_content(), option::of(text()), option::of(any::<i32>())).prop_map(
            |(p, collapse_key, ttl_seconds)| RenderedContent::Push(RenderedPush {
                collapse_key,
                ttl_seconds,
                ..RenderedPush::from(p)
            })
        ),
        (text(), any::<i32>())
            .prop_map(|(text, segments)| RenderedContent::Sms(RenderedSms { text, segments })),
        (
            text(),
            option::of(text()),
            option::of(text()),
            text(),
            option::of(text())
        )
            .prop_map(
                |(subject, html, text, from, reply_to)| RenderedContent::Email(RenderedEmail {
                    subject,
                    html,
                    text,
                    from,
                    reply_to,
                })
            ),
    ]
}

prop_compose! {
    fn delivery()(
        ids in (uuid(), text(), uuid(), text(), text()),
        priority in priority(),
        channel in channel(),
        recipient in recipient(),
        content in rendered(),
        locale in option::of(text()),
        attempt in any::<i32>(),
        times in (option::of(any::<i64>()), option::of(any::<i64>()), option::of(any::<i64>()), any::<i64>()),
        trace in option::of(trace()),
        template_id in option::of(text()),
    ) -> Delivery {
        let (delivery_id, tenant, event_id, user_id, category) = ids;
        let (first_attempt_at, not_before, expires_at, created_at) = times;
        Delivery {
            delivery_id, tenant, event_id, user_id, category, priority, channel, recipient,
            content, locale, attempt, first_attempt_at, not_before, expires_at, created_at, trace,
            template_id,
        }
    }
}

prop_compose! {
    fn status()(
        ids in (text(), uuid(), option::of(uuid()), option::of(text()), option::of(text())),
        channel in option::of(channel()),
        recipient in option::of(text()),
        status in proptest::sample::select(Status::ALL.to_vec()),
        stage in proptest::sample::select(Stage::ALL.to_vec()),
        details in (option::of(text()), option::of(text()), option::of(text())),
        attempt in any::<i32>(),
        occurred_at in any::<i64>(),
        receipt in option::of(proptest::sample::select(Receipt::ALL.to_vec())),
        template_id in option::of(text()),
    ) -> DeliveryStatus {
        let (tenant, event_id, delivery_id, user_id, category) = ids;
        let (reason, provider, provider_message_id) = details;
        DeliveryStatus {
            tenant, event_id, delivery_id, user_id, category, channel, recipient, status, stage,
            reason, provider, provider_message_id, attempt, occurred_at, receipt,
            template_id,
        }
    }
}

/// Round trip through the current schema, and through the next version's writer schema.
fn round_trip<N: NextVersion>(value: &N::Current) -> Result<(), TestCaseError> {
    let current = Codec::<N::Current>::new().unwrap();
    let bytes = current.encode(value).unwrap();
    prop_assert_eq!(&current.decode(&bytes).unwrap(), value);

    let next = Codec::<N>::new().unwrap();
    let newer = next
        .encode(&N::from_current(value.clone(), Some("c".into())))
        .unwrap();
    let reading_next = current.with_writer_schema(N::schema().clone()).unwrap();
    prop_assert_eq!(&reading_next.decode(&newer).unwrap(), value);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 500,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_request_round_trips(r in request()) {
        round_trip::<NotificationRequestNext>(&r)?;
    }

    #[test]
    fn any_delivery_round_trips(d in delivery()) {
        round_trip::<DeliveryNext>(&d)?;
    }

    #[test]
    fn any_status_round_trips(s in status()) {
        round_trip::<DeliveryStatusNext>(&s)?;
    }
}
