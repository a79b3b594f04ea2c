//! Unit tests of the pure parts: encryption against the RFC 8291 vector, VAPID tokens, the SSRF
//! guard, header values and the configuration. Answer classification is tested in `classify.rs`.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use notify_schemas::records::Priority;
use p256::SecretKey;

use super::config::WebPushConfig;
use super::crypto::{self, CryptoError, UaKeys};
use super::encode;
use super::endpoint::{check_url, forbidden_range, EndpointError, EndpointPolicy, GuardedResolver};
use super::vapid::{TokenCache, VapidKey};

fn b64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

// RFC 8291 Appendix A (published test data, not credentials).
const RFC_PLAINTEXT: &[u8] = b"When I grow up, I want to be a watermelon";
const RFC_AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
const RFC_AS_PUBLIC: &str =
    "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
const RFC_UA_PRIVATE: &str = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
const RFC_UA_PUBLIC: &str =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const RFC_AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
const RFC_SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
const RFC_BODY: &str = concat!(
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml",
    "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT",
    "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
);

#[test]
fn encryption_reproduces_the_rfc_8291_appendix_a_body() {
    let ua = UaKeys::from_base64url(RFC_UA_PUBLIC, RFC_AUTH).unwrap();
    let ephemeral = SecretKey::from_slice(&b64(RFC_AS_PRIVATE)).unwrap();
    assert_eq!(
        crypto::encoded_public(&ephemeral.public_key()).to_vec(),
        b64(RFC_AS_PUBLIC)
    );
    let salt: [u8; 16] = b64(RFC_SALT).try_into().unwrap();
    let body = crypto::encrypt_with(RFC_PLAINTEXT, &ua, &ephemeral, &salt).unwrap();
    assert_eq!(URL_SAFE_NO_PAD.encode(&body), RFC_BODY);
}

#[test]
fn the_rfc_body_decrypts_with_the_user_agent_key() {
    let ua_private = SecretKey::from_slice(&b64(RFC_UA_PRIVATE)).unwrap();
    let auth: [u8; 16] = b64(RFC_AUTH).try_into().unwrap();
    let plain = crypto::decrypt(&b64(RFC_BODY), &ua_private, &auth).unwrap();
    assert_eq!(plain, RFC_PLAINTEXT);
}

fn user_agent() -> (SecretKey, [u8; 16], UaKeys) {
    let private = crypto::generate_secret();
    let auth = [7u8; 16];
    let keys = UaKeys::from_bytes(&crypto::encoded_public(&private.public_key()), &auth).unwrap();
    (private, auth, keys)
}

#[test]
fn messages_round_trip_with_a_fresh_key_and_salt_each_time() {
    let (private, auth, keys) = user_agent();
    let first = crypto::encrypt(b"{\"title\":\"hi\"}", &keys).unwrap();
    let second = crypto::encrypt(b"{\"title\":\"hi\"}", &keys).unwrap();
    assert_ne!(first[..16], second[..16], "salt is fresh");
    assert_ne!(first[21..86], second[21..86], "ephemeral key is fresh");
    assert_eq!(u32::from_be_bytes(first[16..20].try_into().unwrap()), 4096);
    assert_eq!(first[20], 65);
    for body in [&first, &second] {
        assert_eq!(
            crypto::decrypt(body, &private, &auth).unwrap(),
            b"{\"title\":\"hi\"}"
        );
    }
    // The empty payload is a valid message too.
    let empty = crypto::encrypt(b"", &keys).unwrap();
    assert_eq!(crypto::decrypt(&empty, &private, &auth).unwrap(), b"");
}

#[test]
fn a_tampered_body_or_wrong_secret_does_not_decrypt() {
    let (private, auth, keys) = user_agent();
    let mut body = crypto::encrypt(b"payload", &keys).unwrap();
    assert_eq!(
        crypto::decrypt(&body, &private, &[8u8; 16]),
        Err(CryptoError::Unauthenticated)
    );
    let last = body.len() - 1;
    body[last] ^= 1;
    assert_eq!(
        crypto::decrypt(&body, &private, &auth),
        Err(CryptoError::Unauthenticated)
    );
    assert!(crypto::decrypt(&body[..50], &private, &auth).is_err());
}

#[test]
fn the_largest_payload_fills_exactly_4096_bytes_and_one_more_is_refused() {
    let (private, auth, keys) = user_agent();
    let biggest = vec![b'x'; crypto::MAX_PLAINTEXT_BYTES];
    let body = crypto::encrypt(&biggest, &keys).unwrap();
    assert_eq!(body.len(), 4096);
    assert_eq!(crypto::decrypt(&body, &private, &auth).unwrap(), biggest);
    let too_big = vec![b'x'; crypto::MAX_PLAINTEXT_BYTES + 1];
    assert!(matches!(
        crypto::encrypt(&too_big, &keys),
        Err(CryptoError::TooLarge {
            len: 3994,
            max: 3993
        })
    ));
}

#[test]
fn malformed_subscription_keys_are_refused() {
    assert_eq!(
        UaKeys::from_base64url("AAAA", RFC_AUTH).unwrap_err(),
        CryptoError::InvalidPublicKey
    );
    // 65 bytes with the uncompressed tag, but not a point on the curve.
    let mut off_curve = b64(RFC_UA_PUBLIC);
    off_curve[64] ^= 1;
    assert_eq!(
        UaKeys::from_bytes(&off_curve, &[0; 16]).unwrap_err(),
        CryptoError::InvalidPublicKey
    );
    assert_eq!(
        UaKeys::from_base64url(RFC_UA_PUBLIC, "c2hvcnQ").unwrap_err(),
        CryptoError::InvalidAuthSecret
    );
    assert_eq!(
        UaKeys::from_base64url("not base64 !", RFC_AUTH).unwrap_err(),
        CryptoError::InvalidPublicKey
    );
}

// --- VAPID ---------------------------------------------------------------------------------

fn claims_of(token: &str, key: &VapidKey, aud: &str) -> serde_json::Value {
    // Verified with jsonwebtoken, an implementation independent of our signer.
    let public = b64(key.public_key());
    let x = URL_SAFE_NO_PAD.encode(&public[1..33]);
    let y = URL_SAFE_NO_PAD.encode(&public[33..65]);
    let decoding = jsonwebtoken::DecodingKey::from_ec_components(&x, &y).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[aud]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    jsonwebtoken::decode::<serde_json::Value>(token, &decoding, &validation)
        .unwrap()
        .claims
}

fn split_header(header: &str) -> (&str, &str) {
    let rest = header.strip_prefix("vapid t=").unwrap();
    let (token, key) = rest.split_once(", k=").unwrap();
    (token, key)
}

#[test]
fn vapid_tokens_verify_and_carry_origin_expiry_and_subject() {
    let key = VapidKey::from_secret(&crypto::generate_secret());
    let cache = TokenCache::new();
    let now = SystemTime::now();
    let header = cache.authorization(
        &key,
        "https://push.example.net",
        "mailto:ops@example.com",
        now,
    );
    let (token, k) = split_header(&header);
    assert_eq!(k, key.public_key());
    assert_eq!(b64(k).len(), 65);
    let jwt_header: serde_json::Value =
        serde_json::from_slice(&b64(token.split('.').next().unwrap())).unwrap();
    assert_eq!(
        jwt_header,
        serde_json::json!({"typ": "JWT", "alg": "ES256"})
    );
    let claims = claims_of(token, &key, "https://push.example.net");
    assert_eq!(claims["sub"], "mailto:ops@example.com");
    let exp = claims["exp"].as_u64().unwrap();
    let now_s = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(exp > now_s + 3600 && exp <= now_s + 24 * 3600);
}

#[test]
fn vapid_tokens_are_cached_per_origin_and_key_until_near_expiry() {
    let key = VapidKey::from_secret(&crypto::generate_secret());
    let cache = TokenCache::new();
    let sub = "mailto:ops@example.com";
    let t0 = SystemTime::now();
    let first = cache.authorization(&key, "https://a.example", sub, t0);
    let later = t0 + Duration::from_secs(5 * 3600);
    assert_eq!(
        cache.authorization(&key, "https://a.example", sub, later),
        first
    );
    assert_ne!(
        cache.authorization(&key, "https://b.example", sub, later),
        first
    );
    // Less than an hour left: a new token.
    let near_expiry = t0 + Duration::from_secs(11 * 3600 + 1800);
    let renewed = cache.authorization(&key, "https://a.example", sub, near_expiry);
    assert_ne!(renewed, first);
    // A replaced key makes a new token at once.
    let other = VapidKey::from_secret(&crypto::generate_secret());
    let replaced = cache.authorization(&other, "https://a.example", sub, near_expiry);
    assert_eq!(split_header(&replaced).1, other.public_key());
    // A refused token is forgotten.
    cache.forget("https://a.example");
    let fresh = cache.authorization(
        &other,
        "https://a.example",
        sub,
        near_expiry + Duration::from_secs(1),
    );
    assert_ne!(fresh, replaced);
}

#[test]
fn vapid_keys_parse_from_pkcs8_sec1_and_raw_forms() {
    use p256::pkcs8::{EncodePrivateKey, LineEnding};
    let secret = crypto::generate_secret();
    let expected = VapidKey::from_secret(&secret);
    let pkcs8 = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
    let sec1 = secret.to_sec1_pem(LineEnding::LF).unwrap();
    let raw = URL_SAFE_NO_PAD.encode(secret.to_bytes());
    for text in [
        pkcs8.as_str(),
        sec1.as_str(),
        raw.as_str(),
        &format!("{raw}\n"),
    ] {
        let key = VapidKey::parse(text.as_bytes()).unwrap();
        assert_eq!(key.public_key(), expected.public_key());
    }
    let err = VapidKey::parse(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
        .unwrap_err();
    assert!(!err.contains("AAAA"));
    assert!(VapidKey::parse(b"short").is_err());
    assert!(!format!("{expected:?}").contains(&URL_SAFE_NO_PAD.encode(secret.to_bytes())));
}

// --- SSRF guard ----------------------------------------------------------------------------

/// Production settings of the guard.
pub(super) fn strict() -> EndpointPolicy {
    EndpointPolicy::default()
}

/// The guard with the simulators' test switch.
pub(super) fn testing() -> EndpointPolicy {
    EndpointPolicy {
        allow_insecure_loopback: true,
        ..EndpointPolicy::default()
    }
}

#[test]
fn private_loopback_link_local_and_unspecified_literals_are_refused() {
    for host in [
        "10.1.2.3",
        "192.168.0.10",
        "172.16.5.4",
        "127.0.0.1",
        "127.8.9.10",
        "[::1]",
        "[fe80::1]",
        "[fc00::1]",
        "[fd12:3456::1]",
        "169.254.169.254",
        "0.0.0.0",
        "[::]",
        "100.64.0.1",
        "224.0.0.1",
        "[ff02::1]",
        "[::ffff:10.0.0.1]",
        "[::ffff:127.0.0.1]",
        "2130706433", // 127.0.0.1 spelled as a number
        "0x7f.1",
    ] {
        let url = format!("https://{host}/push/abc");
        assert!(
            matches!(check_url(&url, &strict()), Err(EndpointError::Forbidden(_))),
            "{url} must be refused"
        );
    }
    for ip in ["8.8.8.8", "2001:4860:4860::8888", "142.250.1.1"] {
        assert_eq!(forbidden_range(ip.parse::<IpAddr>().unwrap()), None, "{ip}");
    }
    assert!(check_url("https://fcm.googleapis.com/fcm/send/abc", &strict()).is_ok());
    assert!(check_url("https://[2606:4700::1111]/push", &strict()).is_ok());
}

#[test]
fn http_and_odd_urls_are_refused_and_loopback_needs_the_switch() {
    assert_eq!(
        check_url("http://push.example.com/abc", &strict()),
        Err(EndpointError::Scheme("http".into()))
    );
    assert_eq!(
        check_url("http://push.example.com/abc", &testing()),
        Err(EndpointError::Scheme("http".into()))
    );
    assert!(matches!(
        check_url("ftp://push.example.com/abc", &testing()),
        Err(EndpointError::Scheme(_))
    ));
    assert_eq!(
        check_url("not a url", &strict()),
        Err(EndpointError::NotUrl)
    );
    assert_eq!(
        check_url("https://user:pw@push.example.com/abc", &strict()),
        Err(EndpointError::Host)
    );
    assert!(check_url("http://127.0.0.1:8090/notify/x", &strict()).is_err());
    assert!(check_url("http://localhost:8090/notify/x", &strict()).is_err());
    assert!(check_url("http://127.0.0.1:8090/notify/x", &testing()).is_ok());
    assert!(check_url("http://[::1]:8090/notify/x", &testing()).is_ok());
    assert!(check_url("http://localhost:8090/notify/x", &testing()).is_ok());
    // The switch allows loopback only, never private ranges.
    assert!(check_url("http://10.0.0.1/notify/x", &testing()).is_err());
    assert!(matches!(
        check_url("https://192.168.1.1/notify/x", &testing()),
        Err(EndpointError::Forbidden("private"))
    ));
}

#[tokio::test]
async fn resolved_addresses_are_checked_not_just_literals() {
    let strict = GuardedResolver::new(&strict());
    assert!(matches!(
        strict.resolve_checked("localhost".into()).await,
        Err(EndpointError::Forbidden("loopback"))
    ));
    let testing = GuardedResolver::new(&testing());
    let addrs = testing.resolve_checked("localhost".into()).await.unwrap();
    assert!(addrs.iter().all(|a| a.ip().is_loopback()));
    assert!(matches!(
        testing.resolve_checked("no-such-host.invalid".into()).await,
        Err(EndpointError::Unresolved)
    ));
}

// --- headers and payload -------------------------------------------------------------------

#[test]
fn topic_is_kept_when_valid_and_hashed_to_32_characters_otherwise() {
    assert_eq!(
        encode::topic("order-1234_shipped").as_deref(),
        Some("order-1234_shipped")
    );
    assert_eq!(encode::topic(""), None);
    for key in ["has spaces", "x".repeat(33).as_str(), "ünïcode", "a.b"] {
        let topic = encode::topic(key).unwrap();
        assert_eq!(topic.len(), 32, "{key}");
        assert!(topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(encode::topic(key).unwrap(), topic, "deterministic");
    }
    assert_ne!(encode::topic("a.b"), encode::topic("a.c"));
}

#[test]
fn urgency_follows_priority_and_ttl_respects_defaults_limits_and_expiry() {
    assert_eq!(encode::urgency(Priority::Critical), "high");
    assert_eq!(encode::urgency(Priority::High), "high");
    assert_eq!(encode::urgency(Priority::Normal), "normal");
    assert_eq!(encode::urgency(Priority::Bulk), "low");

    let now = 1_000_000_000;
    assert_eq!(encode::ttl(None, 86_400, None, now), 86_400);
    assert_eq!(encode::ttl(Some(0), 86_400, None, now), 0);
    assert_eq!(encode::ttl(Some(-5), 86_400, None, now), 0);
    assert_eq!(encode::ttl(Some(60), 86_400, None, now), 60);
    assert_eq!(encode::ttl(Some(i32::MAX), 86_400, None, now), 28 * 86_400);
    assert_eq!(encode::ttl(None, 86_400, Some(now + 90_500), now), 90);
    assert_eq!(encode::ttl(None, 86_400, Some(now - 1), now), 0);
}

#[test]
fn the_payload_carries_content_and_delivery_id() {
    let delivery = notify_schemas::samples::full_webpush_delivery();
    let notify_schemas::RenderedContent::Push(push) = &delivery.content else {
        panic!("sample web push delivery has push content");
    };
    let json: serde_json::Value =
        serde_json::from_slice(&encode::payload(&delivery, push)).unwrap();
    assert_eq!(json["title"], push.title.as_str());
    assert_eq!(json["body"], push.body.as_str());
    assert_eq!(json["delivery_id"], delivery.delivery_id.to_string());
    assert_eq!(json["data"].as_object().unwrap().len(), push.data.len());
    assert_eq!(json["url"].as_str(), push.click_url.as_deref());
    assert_eq!(json["image"].as_str(), push.image_url.as_deref());
}

// --- config --------------------------------------------------------------------------------

#[test]
fn config_refuses_unknown_fields_and_bad_values() {
    let config: WebPushConfig = serde_json::from_value(serde_json::json!({
        "vapid_key_file": "vapid.pem",
        "subject": "mailto:ops@example.com"
    }))
    .unwrap();
    assert_eq!(
        config,
        WebPushConfig::new("vapid.pem", "mailto:ops@example.com")
    );
    assert!(!config.allow_insecure_loopback);
    config.validate().unwrap();
    assert!(serde_json::from_value::<WebPushConfig>(serde_json::json!({
        "vapid_key_file": "vapid.pem",
        "subject": "mailto:ops@example.com",
        "timeout": 5
    }))
    .is_err());
    for subject in ["ops@example.com", "mailto:", "http://example.com"] {
        assert!(
            WebPushConfig::new("k", subject).validate().is_err(),
            "{subject}"
        );
    }
    assert!(WebPushConfig::new("k", "https://example.com/contact")
        .validate()
        .is_ok());
    let mut zero = WebPushConfig::new("k", "mailto:a@b.c");
    zero.request_timeout_ms = 0;
    assert!(zero.validate().is_err());
}
