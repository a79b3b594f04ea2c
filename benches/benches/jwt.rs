//! JWT signing of the push providers: the APNs provider token (ES256, `{"alg","kid"}` /
//! `{"iss","iat"}`, signed with the team's `.p8` P-256 key) and the FCM service account assertion
//! of the OAuth2 JWT-bearer grant (RS256, `{"iss","scope","aud","iat","exp"}`, signed with a
//! 2048-bit RSA key).
//!
//! The dispatchers' own signing functions (`apns::token::mint`, `fcm::auth::assertion`) and the
//! caches around them (`ProviderTokens::current`, the FCM access token) are private to
//! `notify-dispatchers`, and the public providers only sign on their way to a network send. So
//! this measures the nearest public function that does the same work: `jsonwebtoken::encode`,
//! the call both of them make, with the same algorithm, header and claims, and keys of the same
//! kind (generated at start-up by `notify_sim::keys`, as the dispatchers' tests do).
//!
//! Neither runs per delivery: an APNs token is reused for 50 minutes and an FCM access token
//! until shortly before it expires (an hour), so this is the cost of a cache miss, paid about
//! once an hour per provider, or after a key file changes or a token is rejected. The cached
//! path (a mutex and a clone of the token) is not reachable publicly and is not measured.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use notify_sim::keys::KeyPair;
use serde::de::IgnoredAny;
use serde::Serialize;

const KEY_ID: &str = "ABC123DEFG";
const TEAM_ID: &str = "DEF123GHIJ";
const CLIENT_EMAIL: &str = "sender@demo-project.iam.gserviceaccount.com";
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const NOW_S: u64 = 1_780_401_600;

#[derive(Serialize)]
struct ApnsClaims<'a> {
    iss: &'a str,
    iat: u64,
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

fn apns_token(key: &EncodingKey, iat: u64) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(KEY_ID.to_owned());
    jsonwebtoken::encode(&header, &ApnsClaims { iss: TEAM_ID, iat }, key).unwrap()
}

fn fcm_assertion(key: &EncodingKey, key_id: Option<&str>, iat: u64) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = key_id.map(str::to_owned);
    let claims = AssertionClaims {
        iss: CLIENT_EMAIL,
        scope: SCOPE,
        aud: TOKEN_URI,
        iat,
        exp: iat + 3600,
    };
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

/// Checks a token against the public key, so the bench signs what a provider accepts.
fn verify(token: &str, algorithm: Algorithm, public_pem: &str) {
    let key = match algorithm {
        Algorithm::ES256 => DecodingKey::from_ec_pem(public_pem.as_bytes()),
        _ => DecodingKey::from_rsa_pem(public_pem.as_bytes()),
    }
    .unwrap();
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<IgnoredAny>(token, &key, &validation).unwrap();
}

fn bench(c: &mut Criterion) {
    let p8 = KeyPair::generate_p256().expect("a P-256 key");
    let apns_key = EncodingKey::from_ec_pem(p8.private_pem().as_bytes()).unwrap();
    verify(
        &apns_token(&apns_key, NOW_S),
        Algorithm::ES256,
        p8.public_pem(),
    );

    let account = KeyPair::generate_rsa().expect("an RSA key");
    let fcm_key = EncodingKey::from_rsa_pem(account.private_pem().as_bytes()).unwrap();
    let fcm_key_id = Some("5f0c6d1a2b3c4d3f2a9c417d0e4b8a9e5f0c6d1a");
    verify(
        &fcm_assertion(&fcm_key, fcm_key_id, NOW_S),
        Algorithm::RS256,
        account.public_pem(),
    );

    let mut group = c.benchmark_group("jwt");
    group.throughput(Throughput::Elements(1));
    group.bench_function("apns_es256", |b| {
        b.iter(|| apns_token(&apns_key, black_box(NOW_S)))
    });
    group.bench_function("fcm_rs256", |b| {
        b.iter(|| fcm_assertion(&fcm_key, fcm_key_id, black_box(NOW_S)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
