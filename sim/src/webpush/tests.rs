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
