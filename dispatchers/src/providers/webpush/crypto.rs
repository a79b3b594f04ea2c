//! Message encryption for web push: RFC 8291 on top of the `aes128gcm` content coding of
//! RFC 8188. Pure functions, no I/O.
//!
//! Guarantees: every message is encrypted with a fresh ephemeral P-256 key and a fresh 16-byte
//! salt (unless a test injects them through [`encrypt_with`]); the body is exactly one record
//! with the `0x02` last-record delimiter; the body is never larger than [`MAX_BODY_BYTES`],
//! the size every push service must accept (RFC 8030 §7.2), so a payload of at most
//! [`MAX_PLAINTEXT_BYTES`] always fits. Keys and secrets never appear in errors.
//!
//! Not handled: the legacy `aesgcm` coding (pre-RFC drafts) and multi-record bodies, which no
//! push service needs for payloads this small.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hkdf::Hkdf;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use rand::RngCore;
use ring::agreement;
use sha2::Sha256;

/// Length of the `aes128gcm` header we write: salt (16), rs (4), idlen (1), keyid (65).
pub const HEADER_BYTES: usize = 16 + 4 + 1 + 65;
/// Record size announced in the header; our single record is always smaller.
pub const RECORD_SIZE: u32 = 4096;
/// Largest body we send: push services must accept 4096 bytes of payload (RFC 8030 §7.2).
pub const MAX_BODY_BYTES: usize = 4096;
/// AES-GCM tag length.
const TAG_BYTES: usize = 16;
/// Largest plaintext that fits in [`MAX_BODY_BYTES`]: 4096 - 86 (header) - 1 (delimiter) - 16
/// (tag) = 3993 (RFC 8291 §4).
pub const MAX_PLAINTEXT_BYTES: usize = MAX_BODY_BYTES - HEADER_BYTES - 1 - TAG_BYTES;

/// Why a message could not be encrypted or decrypted. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The subscription's `p256dh` is not base64url of an uncompressed P-256 point.
    #[error("subscription public key is not a valid p-256 point")]
    InvalidPublicKey,
    /// The subscription's `auth` is not base64url of 16 bytes.
    #[error("subscription auth secret is not 16 bytes of base64url")]
    InvalidAuthSecret,
    /// The plaintext does not fit in one record of a [`MAX_BODY_BYTES`] body.
    #[error("payload of {len} bytes exceeds the {max} bytes web push allows")]
    TooLarge {
        /// Plaintext length.
        len: usize,
        /// Largest allowed.
        max: usize,
    },
    /// The body is not a well-formed single-record `aes128gcm` body.
    #[error("malformed aes128gcm body: {0}")]
    Malformed(&'static str),
    /// Authentication of the ciphertext failed (wrong key, wrong secret or tampered body).
    #[error("aes128gcm record does not authenticate")]
    Unauthenticated,
}

/// The receiving user agent's keys from its subscription: `p256dh` and `auth`.
#[derive(Clone)]
pub struct UaKeys {
    public: PublicKey,
    /// The 65-byte uncompressed encoding of `public`, as it enters the key info.
    public_bytes: [u8; 65],
    auth: [u8; 16],
}

impl std::fmt::Debug for UaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UaKeys").finish_non_exhaustive()
    }
}

impl UaKeys {
    /// Keys from the subscription's base64url `p256dh` and `auth` (padding tolerated).
    pub fn from_base64url(p256dh: &str, auth: &str) -> Result<Self, CryptoError> {
        let public = decode_b64url(p256dh).ok_or(CryptoError::InvalidPublicKey)?;
        let auth = decode_b64url(auth).ok_or(CryptoError::InvalidAuthSecret)?;
        Self::from_bytes(&public, &auth)
    }

    /// Keys from raw bytes: a 65-byte uncompressed point and a 16-byte secret.
    pub fn from_bytes(p256dh: &[u8], auth: &[u8]) -> Result<Self, CryptoError> {
        let public_bytes: [u8; 65] = p256dh
            .try_into()
            .map_err(|_| CryptoError::InvalidPublicKey)?;
        if public_bytes[0] != 0x04 {
            return Err(CryptoError::InvalidPublicKey);
        }
        let public =
            PublicKey::from_sec1_bytes(&public_bytes).map_err(|_| CryptoError::InvalidPublicKey)?;
        let auth = auth
            .try_into()
            .map_err(|_| CryptoError::InvalidAuthSecret)?;
        Ok(Self {
            public,
            public_bytes,
            auth,
        })
    }
}

/// Encrypts `plaintext` for the subscription with a fresh ephemeral key and salt; returns the
/// request body.
///
/// The key agreement runs on `ring`, whose P-256 has assembly field arithmetic: under load the
/// portable `p256` arithmetic was the web push dispatcher's largest cost (two scalar
/// multiplications a message). [`encrypt_with`] does the same on `p256` with a given key, so
/// tests can pin the RFC 8291 example; the tests decrypt what this writes.
pub fn encrypt(plaintext: &[u8], ua: &UaKeys) -> Result<Vec<u8>, CryptoError> {
    check_size(plaintext)?;
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let rng = ring::rand::SystemRandom::new();
    let unusable = |_| CryptoError::Malformed("no ephemeral key could be made");
    let ephemeral =
        agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng).map_err(unusable)?;
    let as_public: [u8; 65] = ephemeral
        .compute_public_key()
        .map_err(unusable)?
        .as_ref()
        .try_into()
        .map_err(|_| CryptoError::Malformed("ephemeral key is not an uncompressed point"))?;
    let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, ua.public_bytes);
    let (cek, nonce) = agreement::agree_ephemeral(ephemeral, &peer, |shared| {
        derive(shared, &ua.auth, &ua.public_bytes, &as_public, &salt)
    })
    .map_err(|_| CryptoError::InvalidPublicKey)?;
    seal(plaintext, &cek, &nonce, &as_public, &salt)
}

fn check_size(plaintext: &[u8]) -> Result<(), CryptoError> {
    if plaintext.len() > MAX_PLAINTEXT_BYTES {
        return Err(CryptoError::TooLarge {
            len: plaintext.len(),
            max: MAX_PLAINTEXT_BYTES,
        });
    }
    Ok(())
}

/// A new random P-256 secret key (ephemeral message keys, new VAPID keys, tests).
pub fn generate_secret() -> SecretKey {
    let mut rng = rand::rng();
    loop {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        // A random 32-byte string is a valid scalar except with probability ~2^-32.
        if let Ok(key) = SecretKey::from_slice(&bytes) {
            return key;
        }
    }
}

/// Encrypts with a given ephemeral key and salt. Only tests should call this directly: reusing
/// a key and salt pair for two messages breaks the encryption.
pub fn encrypt_with(
    plaintext: &[u8],
    ua: &UaKeys,
    ephemeral: &SecretKey,
    salt: &[u8; 16],
) -> Result<Vec<u8>, CryptoError> {
    check_size(plaintext)?;
    let as_public = encoded_public(&ephemeral.public_key());
    let shared = p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), ua.public.as_affine());
    let (cek, nonce) = derive(
        shared.raw_secret_bytes(),
        &ua.auth,
        &ua.public_bytes,
        &as_public,
        salt,
    );
    seal(plaintext, &cek, &nonce, &as_public, salt)
}

/// The body: header (salt, record size, the sender's public key) and the one sealed record.
fn seal(
    plaintext: &[u8],
    cek: &[u8; 16],
    nonce: &[u8; 12],
    as_public: &[u8; 65],
    salt: &[u8; 16],
) -> Result<Vec<u8>, CryptoError> {
    let mut record = Vec::with_capacity(plaintext.len() + 1 + TAG_BYTES);
    record.extend_from_slice(plaintext);
    record.push(0x02); // last (and only) record, no further padding
    let sealed = Aes128Gcm::new(&(*cek).into())
        .encrypt(Nonce::from_slice(nonce), record.as_slice())
        .map_err(|_| CryptoError::Malformed("record cannot be sealed"))?;

    let mut body = Vec::with_capacity(HEADER_BYTES + sealed.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(as_public);
    body.extend_from_slice(&sealed);
    debug_assert!(body.len() <= MAX_BODY_BYTES);
    Ok(body)
}

/// Decrypts a single-record `aes128gcm` body with the user agent's private key and auth
/// secret; what a browser does. Used by tests and tools to check what we send.
pub fn decrypt(
    body: &[u8],
    ua_private: &SecretKey,
    auth: &[u8; 16],
) -> Result<Vec<u8>, CryptoError> {
    if body.len() < HEADER_BYTES + TAG_BYTES + 1 {
        return Err(CryptoError::Malformed("body shorter than header and tag"));
    }
    let salt: [u8; 16] = body[..16].try_into().expect("length checked above");
    let rs = u32::from_be_bytes(body[16..20].try_into().expect("length checked above"));
    if body[20] != 65 {
        return Err(CryptoError::Malformed("key id is not a 65-byte public key"));
    }
    let as_public: [u8; 65] = body[21..HEADER_BYTES].try_into().expect("length checked");
    let sender =
        PublicKey::from_sec1_bytes(&as_public).map_err(|_| CryptoError::InvalidPublicKey)?;
    let sealed = &body[HEADER_BYTES..];
    if (rs as usize) < sealed.len() || rs < 18 {
        return Err(CryptoError::Malformed("more than one record"));
    }
    let ua_public = encoded_public(&ua_private.public_key());
    let shared = p256::ecdh::diffie_hellman(ua_private.to_nonzero_scalar(), sender.as_affine());
    let (cek, nonce) = derive(
        shared.raw_secret_bytes(),
        auth,
        &ua_public,
        &as_public,
        &salt,
    );
    let mut record = Aes128Gcm::new(&cek.into())
        .decrypt(Nonce::from_slice(&nonce), sealed)
        .map_err(|_| CryptoError::Unauthenticated)?;
    // Padding is zeros after the delimiter; the delimiter of the last record is 0x02.
    let end = record
        .iter()
        .rposition(|&b| b != 0)
        .ok_or(CryptoError::Malformed("record has no delimiter"))?;
    if record[end] != 0x02 {
        return Err(CryptoError::Malformed("record is not marked as the last"));
    }
    record.truncate(end);
    Ok(record)
}

/// The RFC 8291 §3.3-3.4 key schedule: (CEK, NONCE).
fn derive(
    ecdh_secret: &[u8],
    auth: &[u8; 16],
    ua_public: &[u8; 65],
    as_public: &[u8; 65],
    salt: &[u8; 16],
) -> ([u8; 16], [u8; 12]) {
    // IKM = HKDF(salt = auth, ikm = ecdh_secret, info = "WebPush: info\0" ua_public as_public)
    let mut key_info = Vec::with_capacity(14 + 65 + 65);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(ua_public);
    key_info.extend_from_slice(as_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), ecdh_secret)
        .expand(&key_info, &mut ikm)
        .expect("32 bytes is a valid hkdf-sha256 length");

    let content = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    content
        .expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .expect("16 bytes is a valid hkdf-sha256 length");
    let mut nonce = [0u8; 12];
    content
        .expand(b"Content-Encoding: nonce\0", &mut nonce)
        .expect("12 bytes is a valid hkdf-sha256 length");
    (cek, nonce)
}

/// The 65-byte uncompressed SEC1 encoding of a P-256 public key.
pub fn encoded_public(key: &PublicKey) -> [u8; 65] {
    key.to_encoded_point(false)
        .as_bytes()
        .try_into()
        .expect("an uncompressed p-256 point is 65 bytes")
}

/// Decodes base64url, with or without padding.
pub(crate) fn decode_b64url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .ok()
}
