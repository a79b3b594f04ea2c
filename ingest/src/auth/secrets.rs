//! App secrets: generation, the hash kept for HTTP Basic, and encryption at rest with the
//! operator's secrets key (`notify_common::sealed`) (needed to verify HS256 tokens, whose HMAC key is the secret itself).
//!
//! Guarantees: neither [`AppSecret`] nor [`SecretsKey`] can be printed (`Debug` shows
//! `[redacted]`, there is no `Display`), so a secret cannot reach a log line by accident.
//! Ciphertexts are bound to their app key (associated data), so a ciphertext copied onto
//! another app's row does not decrypt. Not guaranteed: wiping secrets from memory after use.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use notify_store::tenants::SECRET_HASH_LEN;
use rand::distr::Alphanumeric;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

/// Prefix of generated app keys.
pub const APP_KEY_PREFIX: &str = "ak_";
/// Prefix of generated app secrets.
pub const APP_SECRET_PREFIX: &str = "as_";
/// Prefix of generated tenant ids.
pub const TENANT_ID_PREFIX: &str = "tn_";

/// Random bytes in a generated secret: 256 bits.
const SECRET_BYTES: usize = 32;
/// Random characters after the prefix of an app key: 20 of [A-Za-z0-9], about 119 bits.
const APP_KEY_CHARS: usize = 20;
/// Random bytes in a tenant id (shown as hex): 80 bits.
const TENANT_ID_BYTES: usize = 10;

/// An app secret. Only its hash and ciphertext are stored; the clear text exists in memory
/// while a request is checked and once, on the operator's terminal, when the app is created.
#[derive(Clone, PartialEq, Eq)]
pub struct AppSecret(String);

impl fmt::Debug for AppSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl AppSecret {
    /// A new random secret: `as_` and 32 random bytes in unpadded base64url.
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        // ThreadRng is a CSPRNG seeded from the operating system.
        rand::rng().fill_bytes(&mut bytes);
        Self(format!(
            "{APP_SECRET_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// Wraps a secret presented by a client.
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// The clear text, to show it once or to key an HMAC. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash stored for Basic auth.
    pub fn hash(&self) -> [u8; SECRET_HASH_LEN] {
        hash_secret(self.0.as_bytes())
    }
}

/// SHA-256 of a secret.
///
/// A fast unsalted hash is enough here, unlike for passwords: generated secrets carry 256 random
/// bits, so there is no dictionary to try and a brute-force search of the space is infeasible
/// however fast each guess is. A slow hash (argon2, bcrypt) would add nothing but CPU time to
/// every authenticated request.
pub fn hash_secret(secret: &[u8]) -> [u8; SECRET_HASH_LEN] {
    Sha256::digest(secret).into()
}

/// A new app key: `ak_` and 20 random characters of [A-Za-z0-9].
pub fn generate_app_key() -> String {
    let random: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(APP_KEY_CHARS)
        .map(char::from)
        .collect();
    format!("{APP_KEY_PREFIX}{random}")
}

/// A new tenant id: `tn_` and 20 lowercase hex digits (no `:`, which separates the tenant from
/// the user in Kafka keys).
pub fn generate_tenant_id() -> String {
    let mut bytes = [0u8; TENANT_ID_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TENANT_ID_PREFIX}{}", hex::encode(bytes))
}

pub use notify_common::sealed::{DecryptError, SecretsKey, SecretsKeyError};

/// Encryption of app secrets with the operator's [`SecretsKey`], bound to their app key.
pub trait AppSecretSealing {
    /// Encrypts `secret` for the app `app_key` (the app key is the associated data).
    fn encrypt(&self, app_key: &str, secret: &AppSecret) -> Vec<u8>;
    /// Decrypts what [`AppSecretSealing::encrypt`] produced for the same `app_key`.
    fn decrypt(&self, app_key: &str, stored: &[u8]) -> Result<AppSecret, DecryptError>;
}

impl AppSecretSealing for SecretsKey {
    fn encrypt(&self, app_key: &str, secret: &AppSecret) -> Vec<u8> {
        self.seal(app_key.as_bytes(), secret.expose().as_bytes())
    }

    fn decrypt(&self, app_key: &str, stored: &[u8]) -> Result<AppSecret, DecryptError> {
        let clear = self.open(app_key.as_bytes(), stored)?;
        String::from_utf8(clear)
            .map(AppSecret)
            .map_err(|_| DecryptError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_have_their_shape() {
        let secret = AppSecret::generate();
        assert!(secret.expose().starts_with(APP_SECRET_PREFIX));
        let decoded = URL_SAFE_NO_PAD
            .decode(&secret.expose()[APP_SECRET_PREFIX.len()..])
            .expect("base64url");
        assert_eq!(decoded.len(), SECRET_BYTES);
        assert_ne!(AppSecret::generate(), secret);

        let key = generate_app_key();
        assert_eq!(key.len(), APP_KEY_PREFIX.len() + APP_KEY_CHARS);
        assert!(key[3..].chars().all(|c| c.is_ascii_alphanumeric()), "{key}");
        assert_ne!(generate_app_key(), key);

        let tenant = generate_tenant_id();
        assert_eq!(tenant.len(), TENANT_ID_PREFIX.len() + 2 * TENANT_ID_BYTES);
        assert!(!tenant.contains(':'));
    }

    #[test]
    fn encryption_round_trips_and_is_bound_to_the_app_key() {
        let key = SecretsKey::from_bytes([9; 32]);
        let secret = AppSecret::generate();
        let sealed = key.encrypt("ak_one", &secret);
        assert_eq!(key.decrypt("ak_one", &sealed), Ok(secret.clone()));
        assert_eq!(key.decrypt("ak_two", &sealed), Err(DecryptError));
        assert_eq!(
            SecretsKey::from_bytes([8; 32]).decrypt("ak_one", &sealed),
            Err(DecryptError)
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().expect("non-empty") ^= 1;
        assert_eq!(key.decrypt("ak_one", &tampered), Err(DecryptError));
        assert_eq!(key.decrypt("ak_one", &[]), Err(DecryptError));
        // A fresh nonce each time: the same secret never gives the same ciphertext.
        assert_ne!(key.encrypt("ak_one", &secret), sealed);
    }

    #[test]
    fn secrets_and_keys_never_print() {
        let secret = AppSecret::generate();
        let key = SecretsKey::from_hex(&"ab".repeat(32)).expect("key");
        let text = format!("{secret:?} {key:?} {:?}", Some(&secret));
        assert!(!text.contains(secret.expose()), "{text}");
        assert!(!text.contains("abab"), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }
}
