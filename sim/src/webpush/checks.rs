//! What the fake push service checks before it accepts a message: the VAPID authorization
//! (RFC 8292) and the aes128gcm body, decrypted as a browser does it (RFC 8291).

use std::time::{SystemTime, UNIX_EPOCH};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hkdf::Hkdf;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use serde::Deserialize;
use sha2::Sha256;

use super::MAX_TOKEN_LIFETIME_S;

#[derive(Debug, Deserialize)]
struct VapidClaims {
    exp: u64,
    sub: String,
}

/// Most verified VAPID headers kept; past this the cache starts over.
const MAX_VERIFIED: usize = 10_000;

/// VAPID `Authorization` values that passed [`verify_vapid`], with their key and expiry.
#[derive(Debug, Default)]
pub(super) struct VerifiedTokens {
    entries: std::sync::Mutex<std::collections::HashMap<String, (Vec<u8>, u64)>>,
}

impl VerifiedTokens {
    /// The key of `authorization` if it was verified before and has not expired, else what
    /// `verify` says (remembered when it passes). A header is a signed token, so the same
    /// bytes verify the same way until they expire.
    pub(super) fn get_or_verify(
        &self,
        authorization: Option<&str>,
        verify: impl FnOnce() -> Result<Vec<u8>, String>,
    ) -> Result<Vec<u8>, String> {
        let Some(header) = authorization else {
            return verify();
        };
        let now = now_s();
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((key, exp)) = entries.get(header) {
            if *exp > now {
                return Ok(key.clone());
            }
        }
        drop(entries);
        let key = verify()?;
        let exp = token_expiry(header).unwrap_or(now);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_VERIFIED {
            entries.clear();
        }
        entries.insert(header.to_owned(), (key.clone(), exp));
        Ok(key)
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The `exp` claim of the token in a header that already verified.
fn token_expiry(header: &str) -> Option<u64> {
    let token = header
        .split(',')
        .find_map(|p| p.trim().trim_start_matches("vapid ").strip_prefix("t="))?;
    let claims = token.split('.').nth(1)?;
    let json = URL_SAFE_NO_PAD.decode(claims.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<VapidClaims>(&json)
        .ok()
        .map(|c| c.exp)
}

/// Checks `vapid t=<jwt>, k=<key>`; returns the decoded `k` on success.
pub(super) fn verify_vapid(authorization: Option<&str>, origin: &str) -> Result<Vec<u8>, String> {
    let value = authorization.ok_or("authorization header is missing")?;
    let params = value
        .strip_prefix("vapid ")
        .ok_or("authorization scheme is not vapid")?;
    let mut token = None;
    let mut key = None;
    for param in params.split(',') {
        match param.trim().split_once('=') {
            Some(("t", v)) => token = Some(v.trim()),
            Some(("k", v)) => key = Some(v.trim()),
            _ => {}
        }
    }
    let (token, key) = token.zip(key).ok_or("vapid needs both t and k")?;
    let key = URL_SAFE_NO_PAD
        .decode(key.trim_end_matches('='))
        .map_err(|_| "k is not base64url")?;
    if key.len() != 65 || key[0] != 0x04 || PublicKey::from_sec1_bytes(&key).is_err() {
        return Err("k is not an uncompressed p-256 public key".to_owned());
    }
    let x = URL_SAFE_NO_PAD.encode(&key[1..33]);
    let y = URL_SAFE_NO_PAD.encode(&key[33..65]);
    let decoding = jsonwebtoken::DecodingKey::from_ec_components(&x, &y)
        .map_err(|_| "k is not usable as an es256 key")?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[origin]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<VapidClaims>(token, &decoding, &validation)
        .map_err(|err| format!("vapid token rejected: {err}"))?
        .claims;
    if claims.exp > now_s() + MAX_TOKEN_LIFETIME_S {
        return Err("vapid token expires more than 24 hours from now".to_owned());
    }
    if !(claims.sub.starts_with("mailto:") || claims.sub.starts_with("https:")) {
        return Err("vapid sub is not a mailto: or https: contact".to_owned());
    }
    Ok(key)
}

/// RFC 8291 decryption of a single-record aes128gcm body, as a browser does it.
pub(super) fn decrypt(body: &[u8], secret: &SecretKey, auth: &[u8; 16]) -> Result<Vec<u8>, String> {
    // Header: salt(16) rs(4) idlen(1) keyid(idlen).
    if body.len() < 21 {
        return Err("body is shorter than the aes128gcm header".to_owned());
    }
    let (salt, rest) = body.split_at(16);
    let rs = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let idlen = rest[4] as usize;
    let rest = &rest[5..];
    if idlen != 65 || rest.len() < idlen + 17 {
        return Err("key id is not a 65-byte public key, or no record follows".to_owned());
    }
    let (sender_public, record) = rest.split_at(idlen);
    if record.len() > rs {
        return Err("body has more than one record".to_owned());
    }
    let sender = PublicKey::from_sec1_bytes(sender_public)
        .map_err(|_| "key id is not a p-256 public key".to_owned())?;
    let receiver_public = secret.public_key().to_encoded_point(false);
    let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), sender.as_affine());

    let mut info = b"WebPush: info\x00".to_vec();
    info.extend_from_slice(receiver_public.as_bytes());
    info.extend_from_slice(sender_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes())
        .expand(&info, &mut ikm)
        .map_err(|_| "hkdf failed".to_owned())?;
    let hk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    hk.expand(b"Content-Encoding: aes128gcm\x00", &mut cek)
        .and_then(|_| hk.expand(b"Content-Encoding: nonce\x00", &mut nonce))
        .map_err(|_| "hkdf failed".to_owned())?;
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|_| "bad key length".to_owned())?;
    let mut plain = cipher
        .decrypt(Nonce::from_slice(&nonce), record)
        .map_err(|_| "decryption failed".to_owned())?;
    // Strip zero padding, then the delimiter, which must say "last record" (2).
    while plain.last() == Some(&0) {
        plain.pop();
    }
    match plain.pop() {
        Some(2) => Ok(plain),
        _ => Err("record delimiter is not 0x02".to_owned()),
    }
}
