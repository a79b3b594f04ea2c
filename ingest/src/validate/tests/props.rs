//! Properties: parsing and validation never panic, whatever the body.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::{event_id, NOW, TENANT};
use crate::validate::*;

/// Arbitrary JSON, biased towards the field names and shapes of a notification.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("user_id".to_owned()),
        Just("category".to_owned()),
        Just("priority".to_owned()),
        Just("channels".to_owned()),
        Just("template".to_owned()),
        Just("id".to_owned()),
        Just("params".to_owned()),
        Just("content".to_owned()),
        Just("push".to_owned()),
        Just("title".to_owned()),
        Just("body".to_owned()),
        Just("data".to_owned()),
        Just("badge".to_owned()),
        Just("sms".to_owned()),
        Just("text".to_owned()),
        Just("email".to_owned()),
        Just("subject".to_owned()),
        Just("send_at".to_owned()),
        Just("expires_at".to_owned()),
        Just("locale".to_owned()),
        Just("trace".to_owned()),
        Just("traceparent".to_owned()),
        ".{0,6}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::from),
        prop_oneof![Just("apns"), Just("sms"), Just("email"), Just("high"), Just("€{}😀")]
            .prop_map(Value::from),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,4})?(Z|[+-][0-9]{2}:[0-9]{2})"
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Well-typed requests with arbitrary text in every string, to reach the validation rules.
fn typed_request() -> impl Strategy<Value = Value> {
    let text = || prop_oneof![".{0,20}", "[a-z€{}😀 ]{0,200}", Just(String::new())];
    (
        (text(), text(), text(), text()),
        (text(), text(), any::<Option<i32>>(), prop::collection::btree_map(text(), text(), 0..4)),
        (text(), text(), text(), text()),
    )
        .prop_map(
            |((user_id, category, locale, send_at), (title, body, badge, data), (sms, subject, html, template_id))| {
                json!({
                    "user_id": user_id,
                    "category": category,
                    "locale": locale,
                    "send_at": send_at,
                    "template": {"id": template_id, "params": data.clone()},
                    "content": {
                        "push": {"title": title, "body": body, "badge": badge, "data": data, "image_url": html.clone()},
                        "sms": {"text": sms},
                        "email": {"subject": subject, "html": html},
                    }
                })
            },
        )
}

fn check_without_panicking(bytes: &[u8], now_ms: i64) {
    let limits = Limits {
        sms_max_segments: 1,
        max_schedule_ahead_ms: i64::MAX,
        max_batch_items: 4,
        email_max_bytes: 256 * 1024,
    };
    if let Ok(input) = parse_json::<NotificationInput>(bytes) {
        let _ = validate(input, TENANT, event_id(), Some("k".into()), now_ms, &limits);
    }
    if let Ok(items) = parse_batch(bytes, limits.max_batch_items) {
        for input in items.into_iter().flatten() {
            let _ = validate(input, TENANT, event_id(), None, now_ms, &limits);
        }
    }
}

proptest! {
    #[test]
    fn parse_and_validate_never_panic_on_json(value in json_value(), now_ms in any::<i64>()) {
        check_without_panicking(value.to_string().as_bytes(), now_ms);
        check_without_panicking(json!({"items": [value]}).to_string().as_bytes(), now_ms);
    }

    #[test]
    fn validate_never_panics_on_typed_requests(value in typed_request(), now_ms in any::<i64>()) {
        check_without_panicking(value.to_string().as_bytes(), now_ms);
    }

    #[test]
    fn parse_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check_without_panicking(&bytes, NOW);
    }

    #[test]
    fn parse_errors_are_4xx_with_pointer_fields(value in json_value()) {
        if let Err(problem) = parse_json::<NotificationInput>(value.to_string().as_bytes()) {
            prop_assert!(problem.status == 400 || problem.status == 422);
            for error in &problem.errors {
                prop_assert!(error.field.is_empty() || error.field.starts_with('/'), "{}", error.field);
            }
        }
    }

    #[test]
    fn sms_segments_bound_the_text(text in ".{0,400}") {
        let (encoding, segments) = sms_segments(&text);
        let units: usize = match encoding {
            Encoding::Gsm7 => text.chars().map(|c| sms::gsm7_septets(c).unwrap() as usize).sum(),
            Encoding::Ucs2 => text.encode_utf16().count(),
        };
        let (single, per) = match encoding {
            Encoding::Gsm7 => (160, 153),
            Encoding::Ucs2 => (70, 67),
        };
        if units == 0 {
            prop_assert_eq!(segments, 0);
        } else if units <= single {
            prop_assert_eq!(segments, 1);
        } else {
            // at least a plain division; at most one lost unit per segment to unsplit pairs
            prop_assert!(segments as usize >= units.div_ceil(per));
            prop_assert!(segments as usize <= units.div_ceil(per - 1));
        }
    }

    #[test]
    fn rfc3339_parse_never_panics(text in ".{0,40}") {
        let _ = time::parse_rfc3339_ms(&text);
    }
}
