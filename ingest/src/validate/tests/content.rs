//! Identifiers, templates and the content of each channel: push, SMS, email.

use super::*;

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
fn an_email_is_refused_here_when_the_router_would_fail_it_for_size() {
    // each part is within its own cap, together they are over the router's email cap
    let big = with(
        with(full(), "/content/email/html", json!("h".repeat(200 * 1024))),
        "/content/email/text",
        json!("t".repeat(100 * 1024)),
    );
    rejected_at(big.clone(), "/content/email");
    let roomy = Limits {
        email_max_bytes: 400 * 1024,
        ..Limits::default()
    };
    assert!(run_with(big, &roomy).is_ok());
}
