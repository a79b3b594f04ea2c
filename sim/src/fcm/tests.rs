//! Unit tests of the FCM simulator: requests straight into its router, no sockets.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::*;
use crate::keys::KeyPair;
use crate::test_support::oneshot_json;

const EMAIL: &str = "sender@p.iam.gserviceaccount.com";
const TOKEN_URI: &str = "http://127.0.0.1:1/token";
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

fn key() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate_rsa().unwrap())
}

fn fixture() -> Arc<SimState> {
    state(
        FcmSimSettings::new(EMAIL, key().public_pem(), "p"),
        TOKEN_URI.into(),
    )
    .unwrap()
}

fn assertion(claims: Value) -> String {
    let key = EncodingKey::from_rsa_pem(key().private_pem().as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap()
}

fn claims(now: i64) -> Value {
    json!({ "iss": EMAIL, "aud": TOKEN_URI, "scope": SCOPE, "iat": now, "exp": now + 3600 })
}

async fn call(state: &Arc<SimState>, request: Request<Body>) -> (StatusCode, Value) {
    oneshot_json(router(state.clone()), request).await
}

fn token_request(assertion: &str) -> Request<Body> {
    let body = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
    );
    Request::post("/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

fn send_request(bearer: &str, message: Value) -> Request<Body> {
    Request::post("/v1/projects/p/messages:send")
        .header("authorization", format!("Bearer {bearer}"))
        .header("content-type", "application/json")
        .body(Body::from(json!({ "message": message }).to_string()))
        .unwrap()
}

fn now() -> i64 {
    crate::ledger::now_ms() / 1000
}

#[tokio::test]
async fn assertions_are_verified() {
    let state = fixture();
    let mut wrong_aud = claims(now());
    wrong_aud["aud"] = json!("https://example.com/token");
    let mut wrong_scope = claims(now());
    wrong_scope["scope"] = json!("https://www.googleapis.com/auth/userinfo.email");
    let mut too_long = claims(now());
    too_long["exp"] = json!(now() + 7200);
    let mut wrong_iss = claims(now());
    wrong_iss["iss"] = json!("someone@else");
    let expired = claims(now() - 7200);
    for bad in [wrong_aud, wrong_scope, too_long, wrong_iss, expired] {
        let (status, body) = call(&state, token_request(&assertion(bad.clone()))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["error"], "invalid_grant");
    }
    assert_eq!(state.tokens_issued.load(Ordering::Relaxed), 0);
    let (status, body) = call(&state, token_request(&assertion(claims(now())))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
}

#[tokio::test]
async fn sends_need_a_live_token_and_a_valid_message() {
    let state = fixture();
    let message = json!({ "token": "t1", "data": { "notify_delivery_id": "d1" } });
    let (status, body) = call(&state, send_request("made-up", message.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error"].get("details").is_none());

    let (_, token) = call(&state, token_request(&assertion(claims(now())))).await;
    let bearer = token["access_token"].as_str().unwrap().to_owned();
    let reserved = json!({ "token": "t1", "data": { "google.x": "1" } });
    let two_targets = json!({ "token": "t1", "topic": "news" });
    let bad_ttl = json!({ "token": "t1", "android": { "ttl": "soon" } });
    for bad in [reserved, two_targets, bad_ttl] {
        let (status, body) = call(&state, send_request(&bearer, bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["error"]["details"][0]["errorCode"], "INVALID_ARGUMENT");
    }
    let (status, body) = call(&state, send_request(&bearer, message)).await;
    assert_eq!(status, StatusCode::OK);
    let entries = state.control.ledger.entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].delivery_id.as_deref(), Some("d1"));
    assert_eq!(entries[0].message_id, body["name"].as_str().unwrap());
}
