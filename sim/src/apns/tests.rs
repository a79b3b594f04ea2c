//! Unit tests of the APNs simulator: requests straight into its router, no sockets.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::*;
use crate::faults::FaultSettings;
use crate::keys::KeyPair;
use crate::ledger::now_ms;
use crate::test_support::oneshot_json;

const TOKEN: &str = "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad";
const ID: &str = "3c2b3f0e-6a55-4a8e-9d0c-2f1b7f0d9a11";

struct Fixture {
    key: KeyPair,
    state: Arc<SimState>,
}

fn fixture() -> Fixture {
    let key = KeyPair::generate_p256().unwrap();
    let mut settings = ApnsSimSettings::new("KID", "TEAM", key.public_pem());
    settings.topic = Some("com.example.app".into());
    let state = state(settings).unwrap();
    Fixture { key, state }
}

fn jwt(key: &KeyPair, kid: &str, iss: &str, iat: i64) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.into());
    let key = EncodingKey::from_ec_pem(key.private_pem().as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &json!({ "iss": iss, "iat": iat }), &key).unwrap()
}

fn request(auth: Option<String>, headers: &[(&str, &str)], body: String) -> Request<Body> {
    let mut builder = Request::post(format!("/3/device/{TOKEN}"))
        .header("apns-topic", "com.example.app")
        .header("apns-push-type", "alert")
        .header("apns-id", ID);
    if let Some(auth) = auth {
        builder = builder.header("authorization", format!("bearer {auth}"));
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::from(body)).unwrap()
}

fn payload() -> String {
    json!({ "aps": { "alert": { "title": "t", "body": "b" } } }).to_string()
}

async fn answer(state: &Arc<SimState>, request: Request<Body>) -> (StatusCode, Value) {
    oneshot_json(router(state.clone()), request).await
}

fn now() -> i64 {
    now_ms() / 1000
}

#[tokio::test]
async fn a_valid_push_is_accepted_and_recorded() {
    let f = fixture();
    let token = jwt(&f.key, "KID", "TEAM", now());
    let (status, _) = answer(&f.state, request(Some(token), &[], payload())).await;
    assert_eq!(status, StatusCode::OK);
    let entries = f.state.control.ledger.entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].delivery_id.as_deref(), Some(ID));
    assert_eq!(entries[0].recipient, TOKEN);
    assert_eq!(entries[0].summary["title"], "t");
}

#[tokio::test]
async fn provider_tokens_are_checked() {
    let f = fixture();
    let cases = [
        (None, "MissingProviderToken"),
        (
            Some(jwt(&f.key, "KID", "TEAM", now() - 3_601)),
            "ExpiredProviderToken",
        ),
        (
            Some(jwt(&f.key, "OTHER", "TEAM", now())),
            "InvalidProviderToken",
        ),
        (
            Some(jwt(&f.key, "KID", "OTHER", now())),
            "InvalidProviderToken",
        ),
        (
            Some(jwt(&f.key, "KID", "TEAM", now() + 3_600)),
            "InvalidProviderToken",
        ),
        (
            Some(jwt(
                &KeyPair::generate_p256().unwrap(),
                "KID",
                "TEAM",
                now(),
            )),
            "InvalidProviderToken",
        ),
    ];
    for (token, reason) in cases {
        let (status, body) = answer(&f.state, request(token, &[], payload())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{reason}");
        assert_eq!(body["reason"], reason);
    }
    assert!(f.state.control.ledger.is_empty());
}

#[tokio::test]
async fn headers_and_payloads_are_checked() {
    let f = fixture();
    let long_collapse = "c".repeat(65);
    type Case<'a> = (Vec<(&'a str, &'a str)>, String, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("apns-collapse-id", &long_collapse)],
            payload(),
            StatusCode::BAD_REQUEST,
            "BadCollapseId",
        ),
        (
            vec![("apns-priority", "7")],
            payload(),
            StatusCode::BAD_REQUEST,
            "BadPriority",
        ),
        (
            vec![("apns-expiration", "soon")],
            payload(),
            StatusCode::BAD_REQUEST,
            "BadExpirationDate",
        ),
        (
            vec![("apns-topic", "com.other.app")],
            payload(),
            StatusCode::BAD_REQUEST,
            "DuplicateHeaders",
        ),
        (
            vec![],
            String::new(),
            StatusCode::BAD_REQUEST,
            "PayloadEmpty",
        ),
        (
            vec![],
            "x".repeat(MAX_PAYLOAD_BYTES + 1),
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
        ),
    ];
    for (headers, body, want_status, want_reason) in cases {
        let token = jwt(&f.key, "KID", "TEAM", now());
        let (status, answer) = answer(&f.state, request(Some(token), &headers, body)).await;
        assert_eq!(status, want_status, "{want_reason}");
        assert_eq!(answer["reason"], want_reason);
    }
    assert!(f.state.control.ledger.is_empty());
}

#[tokio::test]
async fn invalid_tokens_answer_410_with_their_timestamp() {
    let f = fixture();
    f.state.control.faults.set(FaultSettings {
        invalid_tokens: [(TOKEN.to_owned(), 1_234)].into(),
        ..FaultSettings::default()
    });
    let token = jwt(&f.key, "KID", "TEAM", now());
    let (status, body) = answer(&f.state, request(Some(token), &[], payload())).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(
        body,
        json!({ "reason": "Unregistered", "timestamp": 1_234 })
    );
}

#[tokio::test]
async fn unknown_paths_are_bad_paths_and_the_control_api_is_merged() {
    let f = fixture();
    let (status, body) = answer(
        &f.state,
        Request::get("/3/nothing").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["reason"], "BadPath");
    let (status, body) = answer(
        &f.state,
        Request::get("/_sim/ledger").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!([]));
}
