//! The push service's own checks against published test data.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::SecretKey;

use super::checks::{decrypt, verify_vapid};

fn b64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

#[test]
fn decrypts_the_rfc_8291_appendix_a_body_and_refuses_a_tampered_one() {
    // RFC 8291 Appendix A (published test data, not credentials).
    let secret =
        SecretKey::from_slice(&b64("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94")).unwrap();
    let auth: [u8; 16] = b64("BTBZMqHH6r4Tts7J_aSIgg").try_into().unwrap();
    let mut body = b64(concat!(
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml",
        "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT",
        "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
    ));
    assert_eq!(
        decrypt(&body, &secret, &auth).unwrap(),
        b"When I grow up, I want to be a watermelon"
    );
    body[100] ^= 1;
    assert!(decrypt(&body, &secret, &auth).is_err());
    assert!(decrypt(&body[..30], &secret, &auth).is_err());
}

#[test]
fn vapid_headers_without_both_parameters_or_with_a_bad_key_are_refused() {
    let origin = "http://127.0.0.1:1";
    assert!(verify_vapid(None, origin).is_err());
    assert!(verify_vapid(Some("Bearer abc"), origin).is_err());
    assert!(verify_vapid(Some("vapid t=abc"), origin).is_err());
    assert!(verify_vapid(Some("vapid t=a.b.c, k=AAAA"), origin).is_err());
}

#[test]
fn a_verified_vapid_header_is_checked_once_until_it_expires_and_a_refused_one_every_time() {
    let cache = super::checks::VerifiedTokens::default();
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(br#"{"exp":4102444800,"sub":"mailto:a@b.c","aud":"x"}"#);
    let header = format!("vapid t=h.{claims}.s, k=key");
    let calls = std::cell::Cell::new(0);
    let verify = |ok: bool| {
        calls.set(calls.get() + 1);
        if ok {
            Ok(vec![4u8; 65])
        } else {
            Err("refused".to_owned())
        }
    };
    for _ in 0..3 {
        assert_eq!(
            cache.get_or_verify(Some(&header), || verify(true)).unwrap(),
            vec![4u8; 65]
        );
    }
    assert_eq!(calls.get(), 1, "verified once, then remembered");
    let expired = format!(
        "vapid t=h.{}.s, k=key",
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"exp":1,"sub":"mailto:a@b.c"}"#)
    );
    cache
        .get_or_verify(Some(&expired), || verify(true))
        .unwrap();
    cache
        .get_or_verify(Some(&expired), || verify(true))
        .unwrap();
    assert_eq!(
        calls.get(),
        3,
        "an expired token is never served from memory"
    );
    for _ in 0..2 {
        assert!(cache
            .get_or_verify(Some("vapid t=bad, k=key"), || verify(false))
            .is_err());
    }
    assert_eq!(calls.get(), 5, "a refusal is not remembered");
}
