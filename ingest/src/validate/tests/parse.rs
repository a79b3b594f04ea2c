//! Parsing: malformed JSON is a 400 with a position, a wrong shape a 422 with a JSON pointer;
//! batches are parsed item by item.

use serde_json::json;

use super::{event_id, full, with, without, NOW, TENANT};
use crate::problem::{FieldError, Problem};
use crate::validate::*;

fn parse_problem(body: &str) -> Problem {
    parse_json::<NotificationInput>(body.as_bytes()).unwrap_err()
}

#[test]
fn malformed_json_is_a_400_with_line_and_column() {
    let problem = parse_problem("{\n  \"user_id\": \"u\",\n  \"category\": }");
    assert_eq!(problem.status, 400);
    let detail = problem.detail.unwrap();
    assert!(detail.contains("line 3 column"), "{detail}");
    assert_eq!(parse_problem("{\"user_id\": \"u\"").status, 400);
    assert_eq!(parse_problem("").status, 400);
    assert_eq!(parse_problem("\u{feff}{}").status, 400);
    let trailing = parse_problem(r#"{"user_id":"u","category":"c","template":{"id":"t"}} {}"#);
    assert_eq!(trailing.status, 400);
    assert!(trailing.detail.unwrap().contains("trailing"));
}

#[test]
fn unknown_fields_are_a_422_at_their_path() {
    let body = with(
        full(),
        "/content/push",
        json!({"title": "t", "body": "b", "colour": "red"}),
    );
    let problem = parse_problem(&body.to_string());
    assert_eq!(problem.status, 422);
    assert_eq!(problem.errors[0].field, "/content/push/colour");
    let problem = parse_problem(r#"{"user_id":"u","category":"c","userid":"x"}"#);
    assert_eq!(problem.errors[0].field, "/userid");
}

#[test]
fn wrong_types_and_missing_fields_are_a_422_at_their_path() {
    let problem = parse_problem(&with(full(), "/content/push/badge", json!("one")).to_string());
    assert_eq!(
        (problem.status, problem.errors[0].field.as_str()),
        (422, "/content/push/badge")
    );
    assert!(
        !problem.errors[0].message.contains("line"),
        "position is for syntax errors only"
    );
    let problem =
        parse_problem(&with(full(), "/content/push/badge", json!(1u64 << 40)).to_string());
    assert_eq!(problem.errors[0].field, "/content/push/badge");
    let problem = parse_problem(&with(full(), "/priority", json!("urgent")).to_string());
    assert_eq!(problem.errors[0].field, "/priority");
    let problem = parse_problem(&with(full(), "/template/params", json!({"n": 7})).to_string());
    assert_eq!(problem.errors[0].field, "/template/params/n");
    let problem = parse_problem(&without(full(), "/content/push", "title").to_string());
    assert_eq!(
        problem.errors[0],
        FieldError::new("/content/push/title", "is required")
    );
    let problem = parse_problem(r#"{"category":"c"}"#);
    assert_eq!(problem.errors[0].field, "/user_id");
    assert_eq!(parse_problem("42").status, 422);
}

#[test]
fn batch_items_are_parsed_one_by_one() {
    let body = json!({"items": [
        {"user_id": "a", "category": "c", "template": {"id": "t"}},
        {"user_id": 5, "category": "c"},
        {"user_id": "b", "category": "c", "template": {"id": "t"}, "extra": 1},
    ]});
    let items = parse_batch(body.to_string().as_bytes(), 10).unwrap();
    assert_eq!(items.len(), 3);
    assert!(items[0].is_ok());
    assert_eq!(items[1].as_ref().unwrap_err()[0].field, "/items/1/user_id");
    assert_eq!(items[2].as_ref().unwrap_err()[0].field, "/items/2/extra");

    let invalid = validate(
        items.into_iter().next().unwrap().unwrap(),
        TENANT,
        event_id(),
        None,
        NOW,
        &Limits::default(),
    );
    assert!(invalid.is_ok());
    let nested = nest_errors(
        "/items/4",
        vec![FieldError::new("/user_id", "must not be empty")],
    );
    assert_eq!(nested[0].field, "/items/4/user_id");
}

#[test]
fn batch_envelope_rules() {
    assert_eq!(
        parse_batch(br#"{"items": []}"#, 10).unwrap_err().errors[0].field,
        "/items"
    );
    let three = json!({"items": [{}, {}, {}]}).to_string();
    let problem = parse_batch(three.as_bytes(), 2).unwrap_err();
    assert_eq!(
        (problem.status, problem.errors[0].field.as_str()),
        (422, "/items")
    );
    assert_eq!(parse_batch(br#"{"items": [}"#, 10).unwrap_err().status, 400);
    assert_eq!(
        parse_batch(br#"{"item": []}"#, 10).unwrap_err().errors[0].field,
        "/item"
    );
}

#[test]
fn responses_serialize_as_documented() {
    let accepted = Accepted {
        event_id: event_id(),
        status: AcceptedStatus::Scheduled,
        duplicate: false,
    };
    let value = serde_json::to_value(&accepted).unwrap();
    assert_eq!(value["status"], "scheduled");
    let ok = ItemResult::accepted(0, &accepted);
    let failed = ItemResult::failed(
        1,
        Problem::validation(vec![FieldError::new("/items/1/user_id", "is required")]),
    );
    let value = serde_json::to_value(BatchResult {
        results: vec![ok, failed],
    })
    .unwrap();
    assert_eq!(value["results"][0]["status"], 202);
    assert_eq!(value["results"][0]["outcome"], "scheduled");
    assert!(value["results"][0].get("errors").is_none());
    assert_eq!(value["results"][1]["status"], 422);
    assert_eq!(
        value["results"][1]["errors"][0]["field"],
        "/items/1/user_id"
    );
    assert!(value["results"][1].get("event_id").is_none());
}
