//! The request as a whole: times, channels, locale, trace context, idempotency, limits and the
//! OpenAPI schema.

use super::*;

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
            max_batch_items: 7,
            email_max_bytes: notify_schemas::limits::DEFAULT_EMAIL_MAX_BYTES,
        }
    );
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
