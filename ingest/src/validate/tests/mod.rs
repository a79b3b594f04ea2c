//! Rule-by-rule tests of validation: each rule has a rejected input with the field path it must
//! name, and the accepted neighbour that shows the rule is not over-eager. Parsing and the
//! properties (no panics on any input) are in the submodules.

mod parse;
mod props;

use notify_schemas::{Channel, Priority};
use serde_json::{json, Value};
use uuid::Uuid;

use super::*;
use crate::problem::FieldError;

pub(super) const NOW: i64 = 1_777_593_600_000; // 2026-05-01T00:00:00Z
pub(super) const TENANT: &str = "acme";

pub(super) fn event_id() -> Uuid {
    Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef)
}

/// A valid request with every field set; tests change one thing at a time.
pub(super) fn full() -> Value {
    json!({
        "user_id": "user-42",
        "category": "order_shipped",
        "priority": "high",
        "channels": ["apns", "sms", "email"],
        "template": {"id": "order_shipped", "params": {"order": "7", "name": "Kim"}},
        "content": {
            "push": {
                "title": "Shipped",
                "body": "Order 7 is on its way",
                "data": {"order_id": "7"},
                "image_url": "https://cdn.example.com/7.png",
                "click_url": "myapp://orders/7",
                "sound": "default",
                "badge": 1
            },
            "sms": {"text": "Order 7 shipped"},
            "email": {"subject": "Order 7 shipped", "html": "<p>Shipped</p>", "text": "Shipped"}
        },
        "locale": "ko-KR",
        "send_at": "2026-05-01T09:00:00+09:00",
        "expires_at": "2026-05-02T00:00:00Z",
        "trace": {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    })
}

pub(super) fn run(body: Value) -> Result<NotificationRequest, Vec<FieldError>> {
    run_with(body, &Limits::default())
}

pub(super) fn run_with(
    body: Value,
    limits: &Limits,
) -> Result<NotificationRequest, Vec<FieldError>> {
    let input: NotificationInput =
        parse_json(body.to_string().as_bytes()).expect("test body parses");
    validate(input, TENANT, event_id(), None, NOW, limits)
}

/// Asserts `body` is refused with an error at `field` and returns that error's message.
pub(super) fn rejected_at(body: Value, field: &str) -> String {
    let errors = run(body).expect_err("should be rejected");
    let found = errors.iter().find(|e| e.field == field);
    found
        .unwrap_or_else(|| panic!("no error at {field}; got {errors:?}"))
        .message
        .clone()
}

pub(super) fn with(mut body: Value, pointer: &str, value: Value) -> Value {
    *body
        .pointer_mut(pointer)
        .expect("pointer exists in the test body") = value;
    body
}

pub(super) fn without(mut body: Value, parent: &str, key: &str) -> Value {
    body.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .expect("parent object")
        .remove(key);
    body
}

#[test]
pub(super) fn full_request_is_accepted_and_mapped() {
    let request = run(full()).expect("valid");
    assert_eq!(request.tenant, TENANT);
    assert_eq!(request.event_id, event_id());
    assert_eq!(request.user_id, "user-42");
    assert_eq!(request.priority, Priority::High);
    assert_eq!(
        request.channels,
        [Channel::Apns, Channel::Sms, Channel::Email]
    );
    assert_eq!(
        request.template.as_ref().unwrap().template_id,
        "order_shipped"
    );
    assert_eq!(
        request
            .content
            .as_ref()
            .unwrap()
            .push
            .as_ref()
            .unwrap()
            .badge,
        Some(1)
    );
    assert_eq!(request.locale.as_deref(), Some("ko-KR"));
    assert_eq!(request.send_at, None); // 09:00+09:00 is exactly now: send now
    assert_eq!(request.expires_at, Some(NOW + 86_400_000));
    assert_eq!(request.created_at, NOW);
    assert!(request.trace.is_some());
    assert_eq!(accepted_status(&request), AcceptedStatus::Accepted);
}

#[test]
fn minimal_request_uses_defaults() {
    let request = run(json!({"user_id": "u", "category": "c", "template": {"id": "t"}})).unwrap();
    assert_eq!(request.priority, Priority::Normal);
    assert!(request.channels.is_empty());
    assert!(request.template.unwrap().params.is_empty());
    assert_eq!(
        (request.send_at, request.expires_at, request.trace),
        (None, None, None)
    );
}

#[test]
fn user_id_and_category_are_bounded_identifiers() {
    assert!(rejected_at(with(full(), "/user_id", json!("")), "/user_id").contains("empty"));
    assert!(
        rejected_at(with(full(), "/user_id", json!("a\u{0007}b")), "/user_id").contains("control")
    );
    rejected_at(with(full(), "/user_id", json!("u".repeat(129))), "/user_id");
    assert!(run(with(full(), "/user_id", json!("u".repeat(128)))).is_ok());
    rejected_at(with(full(), "/category", json!("  ")), "/category");
    rejected_at(with(full(), "/category", json!("a\nb")), "/category");
}

#[test]
fn template_or_content_is_required() {
    let body = without(without(full(), "", "template"), "", "content");
    assert!(rejected_at(body, "/content").contains("no template"));
    assert!(run(without(full(), "", "template")).is_ok());
    assert!(run(without(full(), "", "content")).is_ok());
    rejected_at(with(full(), "/content", json!({})), "/content");
}

#[test]
fn template_id_and_params_are_bounded() {
    rejected_at(with(full(), "/template/id", json!("")), "/template/id");
    let long_value = json!({"name": "x".repeat(4097)});
    rejected_at(
        with(full(), "/template/params", long_value),
        "/template/params/name",
    );
    let slash_key = json!({"a/b~": "x", "": "y"});
    rejected_at(
        with(full(), "/template/params", slash_key),
        "/template/params/",
    );
    let many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    rejected_at(
        with(full(), "/template/params", Value::Object(many)),
        "/template/params",
    );
    let big: serde_json::Map<String, Value> = (0..5)
        .map(|i| (format!("k{i}"), json!("v".repeat(4000))))
        .collect();
    let message = rejected_at(
        with(full(), "/template/params", Value::Object(big)),
        "/template/params",
    );
    assert!(message.contains("in all"));
}

#[test]
fn param_names_are_escaped_as_json_pointer_tokens() {
    let body = with(
        full(),
        "/template/params",
        json!({"a/b~c": "\u{0000}".repeat(5000)}),
    );
    rejected_at(body, "/template/params/a~1b~0c");
}

#[test]
fn push_title_and_body_are_required() {
    rejected_at(
        with(full(), "/content/push/title", json!(" ")),
        "/content/push/title",
    );
    rejected_at(
        with(full(), "/content/push/body", json!("")),
        "/content/push/body",
    );
}

#[test]
fn push_payload_must_fit_each_targeted_provider() {
    let big = "x".repeat(4050);
    let message = rejected_at(
        with(full(), "/content/push/body", json!(big)),
        "/content/push",
    );
    assert!(
        message.contains("apns") && message.contains("4096"),
        "{message}"
    );
    assert!(!message.contains("fcm"), "fcm is not requested: {message}");
    // fits APNs and FCM but not web push's 3993 bytes of plaintext
    let mid = with(full(), "/content/push/body", json!("x".repeat(3900)));
    assert!(run(with(mid.clone(), "/channels", json!(["apns", "fcm"]))).is_ok());
    let message = rejected_at(
        with(mid.clone(), "/channels", json!(["webpush"])),
        "/content/push",
    );
    assert!(
        message.contains("webpush") && message.contains("3993"),
        "{message}"
    );
    // channels omitted: every push provider may receive it
    rejected_at(without(mid.clone(), "", "channels"), "/content/push");
    // no push channel requested: the push content is not sent, so its size does not matter
    assert!(run(with(mid, "/channels", json!(["sms"]))).is_ok());
}

#[test]
fn push_data_counts_toward_the_payload() {
    let data: serde_json::Map<String, Value> = (0..40)
        .map(|i| (format!("key{i}"), json!("v".repeat(100))))
        .collect();
    rejected_at(
        with(full(), "/content/push/data", Value::Object(data)),
        "/content/push",
    );
}

#[test]
fn push_data_keys_are_bounded_and_not_reserved() {
    for key in [
        "aps",
        "from",
        "message_type",
        "google.c.a",
        "gcm.notification.x",
        "GCM",
    ] {
        let body = with(full(), "/content/push/data", json!({ key: "1" }));
        let message = rejected_at(body, &format!("/content/push/data/{key}"));
        assert!(message.contains("reserved"), "{key}: {message}");
    }
    rejected_at(
        with(full(), "/content/push/data", json!({"": "1"})),
        "/content/push/data/",
    );
    let many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    rejected_at(
        with(full(), "/content/push/data", Value::Object(many)),
        "/content/push/data",
    );
    assert!(run(with(
        full(),
        "/content/push/data",
        json!({"fromage": "1", "apsx": "2"})
    ))
    .is_ok());
}

#[test]
fn push_urls_sound_and_badge() {
    rejected_at(
        with(full(), "/content/push/image_url", json!("myapp://x.png")),
        "/content/push/image_url",
    );
    rejected_at(
        with(
            full(),
            "/content/push/click_url",
            json!("javascript:alert(1)"),
        ),
        "/content/push/click_url",
    );
    rejected_at(
        with(full(), "/content/push/click_url", json!("orders/7")),
        "/content/push/click_url",
    );
    assert!(run(with(
        full(),
        "/content/push/click_url",
        json!("https://shop.example/o/7")
    ))
    .is_ok());
    rejected_at(
        with(full(), "/content/push/sound", json!("")),
        "/content/push/sound",
    );
    rejected_at(
        with(full(), "/content/push/badge", json!(-1)),
        "/content/push/badge",
    );
    assert!(run(with(full(), "/content/push/badge", json!(0))).is_ok());
}

#[test]
fn sms_text_is_required() {
    rejected_at(
        with(full(), "/content/sms/text", json!("")),
        "/content/sms/text",
    );
    rejected_at(
        with(full(), "/content/sms/text", json!("   ")),
        "/content/sms/text",
    );
}

#[test]
fn sms_segment_limit_is_inclusive_and_names_the_encoding() {
    let limits = Limits {
        sms_max_segments: 2,
        ..Limits::default()
    };
    let gsm_ok = with(full(), "/content/sms/text", json!("a".repeat(306)));
    assert!(run_with(gsm_ok, &limits).is_ok());
    let gsm_over = with(full(), "/content/sms/text", json!("a".repeat(307)));
    let errors = run_with(gsm_over, &limits).unwrap_err();
    assert_eq!(errors[0].field, "/content/sms/text");
    assert!(
        errors[0].message.contains("3 segments as GSM-7"),
        "{}",
        errors[0].message
    );

    let ucs_ok = with(full(), "/content/sms/text", json!("가".repeat(134)));
    assert!(run_with(ucs_ok, &limits).is_ok());
    let ucs_over = with(
        full(),
        "/content/sms/text",
        json!(format!("{}’", "a".repeat(134))),
    );
    let errors = run_with(ucs_over, &limits).unwrap_err();
    assert!(
        errors[0].message.contains("UCS-2") && errors[0].message.contains('’'),
        "{}",
        errors[0].message
    );

    // the default of 10 segments
    assert!(run(with(full(), "/content/sms/text", json!("a".repeat(1530)))).is_ok());
    rejected_at(
        with(full(), "/content/sms/text", json!("a".repeat(1531))),
        "/content/sms/text",
    );
}

#[test]
fn email_subject_is_required_bounded_and_header_safe() {
    rejected_at(
        with(full(), "/content/email/subject", json!("")),
        "/content/email/subject",
    );
    rejected_at(
        with(full(), "/content/email/subject", json!("é".repeat(999))),
        "/content/email/subject",
    );
    assert!(run(with(
        full(),
        "/content/email/subject",
        json!("é".repeat(998))
    ))
    .is_ok());
    let injected = json!("Hi\r\nBcc: everyone@example.com");
    let message = rejected_at(
        with(full(), "/content/email/subject", injected),
        "/content/email/subject",
    );
    assert!(message.contains("line breaks"));
}

#[test]
fn email_needs_a_bounded_body() {
    let no_body = without(
        without(full(), "/content/email", "html"),
        "/content/email",
        "text",
    );
    rejected_at(no_body, "/content/email");
    assert!(run(without(full(), "/content/email", "html")).is_ok());
    assert!(run(without(full(), "/content/email", "text")).is_ok());
    rejected_at(
        with(full(), "/content/email/html", json!("")),
        "/content/email/html",
    );
    let huge = "x".repeat(512 * 1024 + 1);
    rejected_at(
        with(full(), "/content/email/text", json!(huge)),
        "/content/email/text",
    );
}

#[test]
fn send_at_is_bounded_by_the_schedule_horizon() {
    let limits = Limits::default();
    let ahead_s = limits.max_schedule_ahead_ms / 1_000;
    let at_horizon = time_text(NOW + limits.max_schedule_ahead_ms);
    let body = without(full(), "", "expires_at");
    let request =
        run(with(body, "/send_at", json!(at_horizon))).expect("the horizon itself is fine");
    assert_eq!(request.send_at, Some(NOW + limits.max_schedule_ahead_ms));
    assert_eq!(accepted_status(&request), AcceptedStatus::Scheduled);
    let body = with(
        full(),
        "/send_at",
        json!(time_text(NOW + limits.max_schedule_ahead_ms + 1_000)),
    );
    let body = without(body, "", "expires_at");
    let message = rejected_at(body, "/send_at");
    assert!(message.contains(&ahead_s.to_string()), "{message}");
}

#[test]
fn send_at_in_the_past_means_now() {
    let request = run(with(full(), "/send_at", json!("2020-01-01T00:00:00Z"))).unwrap();
    assert_eq!(request.send_at, None);
    assert_eq!(accepted_status(&request), AcceptedStatus::Accepted);
}

#[test]
fn times_must_be_rfc3339() {
    let message = rejected_at(with(full(), "/send_at", json!("tomorrow")), "/send_at");
    assert!(message.contains("RFC 3339"));
    rejected_at(
        with(full(), "/expires_at", json!("2026-02-30T00:00:00Z")),
        "/expires_at",
    );
}

#[test]
fn expires_at_must_follow_send_at_or_now() {
    let scheduled = with(full(), "/send_at", json!("2026-05-03T00:00:00Z"));
    let message = rejected_at(scheduled.clone(), "/expires_at");
    assert!(message.contains("after send_at"));
    let equal = with(
        scheduled.clone(),
        "/expires_at",
        json!("2026-05-03T00:00:00Z"),
    );
    rejected_at(equal, "/expires_at");
    assert!(run(with(
        scheduled,
        "/expires_at",
        json!("2026-05-03T00:00:00.001Z")
    ))
    .is_ok());

    let now_only = without(full(), "", "send_at");
    let past = with(
        now_only.clone(),
        "/expires_at",
        json!("2026-04-30T23:59:59Z"),
    );
    assert!(rejected_at(past, "/expires_at").contains("future"));
    // a past send_at counts as now, so expiry is compared with now
    let past_send = with(full(), "/send_at", json!("2020-01-01T00:00:00Z"));
    let message = rejected_at(
        with(past_send, "/expires_at", json!("2021-01-01T00:00:00Z")),
        "/expires_at",
    );
    assert!(message.contains("future"), "{message}");
}

#[test]
fn unknown_channel_is_a_422_at_its_index() {
    let body = with(full(), "/channels", json!(["apns", "pigeon"]));
    let problem = parse_json::<NotificationInput>(body.to_string().as_bytes()).unwrap_err();
    assert_eq!(problem.status, 422);
    assert_eq!(problem.errors[0].field, "/channels/1");
    assert!(problem.errors[0].message.contains("pigeon"));
}

#[test]
fn channels_are_deduplicated_and_must_not_be_empty() {
    let request = run(with(full(), "/channels", json!(["sms", "apns", "sms"]))).unwrap();
    assert_eq!(request.channels, [Channel::Sms, Channel::Apns]);
    rejected_at(with(full(), "/channels", json!([])), "/channels");
    assert!(run(without(full(), "", "channels"))
        .unwrap()
        .channels
        .is_empty());
}

#[test]
fn requested_channel_needs_content_without_a_template() {
    let body = without(full(), "", "template");
    let body = without(body, "/content", "sms");
    let message = rejected_at(body.clone(), "/channels/1");
    assert!(message.contains("content.sms"), "{message}");
    // with a template the router renders sms from it
    let body = without(full(), "/content", "sms");
    assert!(run(body).is_ok());
}

#[test]
fn content_for_channels_not_requested_is_fine() {
    let body = with(
        without(full(), "", "template"),
        "/channels",
        json!(["email"]),
    );
    assert!(run(body).is_ok());
}

#[test]
fn locale_shape() {
    assert!(rejected_at(with(full(), "/locale", json!("en_US")), "/locale").contains("en-US"));
    rejected_at(with(full(), "/locale", json!("en-US-")), "/locale");
    rejected_at(
        with(
            full(),
            "/locale",
            json!("en-US-x-abcdefgh-abcdefgh-abcdefgh-a"),
        ),
        "/locale",
    );
    assert!(run(with(full(), "/locale", json!("zh-Hant-TW"))).is_ok());
}

#[test]
fn trace_context_shape() {
    let body = with(
        full(),
        "/trace",
        json!({"traceparent": "not-a-traceparent"}),
    );
    rejected_at(body, "/trace/traceparent");
    let body = with(
        full(),
        "/trace",
        json!({
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "tracestate": "a=\u{00e9}"
        }),
    );
    rejected_at(body, "/trace/tracestate");
}

#[test]
fn idempotency_key_is_carried_into_the_record() {
    let input: NotificationInput = parse_json(full().to_string().as_bytes()).unwrap();
    let limits = Limits::default();
    let request = validate(
        input,
        TENANT,
        event_id(),
        Some("order-7".into()),
        NOW,
        &limits,
    );
    assert_eq!(request.unwrap().idempotency_key.as_deref(), Some("order-7"));
    assert!(fields::idempotency_key("order-7").is_ok());
    assert!(fields::idempotency_key(&"k".repeat(256)).is_err());
    assert!(fields::idempotency_key("caf\u{e9}").is_err());
    assert!(fields::idempotency_key(" ").is_err());
}

#[test]
fn all_errors_are_reported_at_once() {
    let body = with(full(), "/user_id", json!(""));
    let body = with(body, "/content/sms/text", json!(""));
    let body = with(body, "/content/push/title", json!(""));
    let body = with(body, "/content/email/subject", json!("a\nb"));
    let body = with(body, "/locale", json!("x"));
    let body = with(body, "/send_at", json!("soon"));
    let body = with(body, "/template/id", json!(""));
    let mut fields: Vec<String> = run(body)
        .unwrap_err()
        .into_iter()
        .map(|e| e.field)
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "/content/email/subject",
            "/content/push/title",
            "/content/sms/text",
            "/locale",
            "/send_at",
            "/template/id",
            "/user_id",
        ]
    );
}

#[test]
fn limits_come_from_config() {
    let config = notify_common::config::IngestConfig {
        max_schedule_ahead_s: 60,
        sms_max_segments: 3,
        max_batch_items: 7,
        ..Default::default()
    };
    assert_eq!(
        Limits::from(&config),
        Limits {
            max_schedule_ahead_ms: 60_000,
            sms_max_segments: 3,
            max_batch_items: 7
        }
    );
}

/// RFC 3339 text of `ms` in UTC, whole seconds; checked against the parser on the way out.
fn time_text(ms: i64) -> String {
    let secs = ms.div_euclid(1_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // civil-from-days, the inverse of the parser's days-from-civil
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem / 60 % 60,
        rem % 60
    );
    assert_eq!(time::parse_rfc3339_ms(&text), Ok(secs * 1_000), "{text}");
    text
}

#[test]
fn openapi_schema_marks_required_fields_and_lowercase_enums() {
    use utoipa::PartialSchema;
    let schema = serde_json::to_value(NotificationInput::schema()).unwrap();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, ["user_id", "category"]);
    assert!(schema["properties"]["send_at"]["description"]
        .as_str()
        .unwrap()
        .contains("RFC 3339"));
    let priority = serde_json::to_value(PriorityInput::schema()).unwrap();
    assert_eq!(
        priority["enum"],
        json!(["critical", "high", "normal", "bulk"])
    );
    let channel = serde_json::to_value(ChannelInput::schema()).unwrap();
    assert_eq!(
        channel["enum"],
        json!(["apns", "fcm", "webpush", "sms", "email"])
    );
}
