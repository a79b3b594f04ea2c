//! Rule-by-rule tests of validation: each rule has a rejected input with the field path it must
//! name, and the accepted neighbour that shows the rule is not over-eager. Parsing and the
//! properties (no panics on any input) are in the submodules.

mod content;
mod parse;
mod props;
mod request;

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
