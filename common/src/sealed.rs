//! Secrets at rest: the operator's secrets key (`ingest.secrets_key_file`, 64 hex digits) and
//! the authenticated encryption (ChaCha20-Poly1305) of the secrets the system must read back in
//! clear: app secrets (the HMAC key of HS256 tokens, in the ingest gateway) and tenants'
//! webhook signing secrets (the webhook sender).
//!
//! Guarantees: [`SecretsKey`] cannot be printed (`Debug` shows `[redacted]`, there is no
//! `Display`). Every ciphertext is bound to associated data naming what it belongs to (an app
//! key, a webhook endpoint id), so a ciphertext copied onto another row does not decrypt. Not
//! guaranteed: wiping keys or clear text from memory after use.

use std::fmt;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

use crate::config::IngestConfig;

/// First byte of every ciphertext, so the format can change later.
const CIPHERTEXT_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// Why the secrets key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretsKeyError {
    /// The file could not be read.
    #[error("cannot read the secrets key file {path}: {source}")]
    Read {
        /// The configured file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The contents are not 64 hex digits. The text itself is never part of the message.
    #[error("the secrets key must be 64 hex digits (32 bytes), optionally followed by a newline")]
    Format,
}

/// Why a stored ciphertext could not be decrypted: another key was configured than the one it
/// was sealed with, or the row was altered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the stored secret does not decrypt with the configured secrets key")]
pub struct DecryptError;

/// The operator's 32-byte key encrypting secrets at rest (ChaCha20-Poly1305).
#[derive(Clone)]
pub struct SecretsKey([u8; 32]);

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretsKey([redacted])")
    }
}

impl SecretsKey {
    /// A key from raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key from 64 hex digits; surrounding whitespace is ignored.
    pub fn from_hex(text: &str) -> Result<Self, SecretsKeyError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| SecretsKeyError::Format)?;
        Ok(Self(bytes))
    }

    /// Reads a key file holding 64 hex digits.
    pub fn from_file(path: &Path) -> Result<Self, SecretsKeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| SecretsKeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_hex(&text)
    }

    /// The key named by `ingest.secrets_key_file`, or `None` when none is configured.
    pub fn load(config: &IngestConfig) -> Result<Option<Self>, SecretsKeyError> {
        config
            .secrets_key_file
            .as_deref()
            .map(Self::from_file)
            .transpose()
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(&self.0))
    }

    /// Encrypts `clear` bound to `aad`: version byte, random 96-bit nonce, ciphertext and tag.
    /// A random nonce is safe here: one key seals one secret per app or endpoint created or
    /// rotated, far below the 2^32 messages where random 96-bit nonces start to risk a
    /// collision.
    pub fn seal(&self, aad: &[u8], clear: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload { msg: clear, aad };
        // Cannot fail for a secret of a few dozen bytes (the limit is 256 GiB); were it to,
        // the empty result would only fail to decrypt later, never leak anything.
        let sealed = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(CIPHERTEXT_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts what [`SecretsKey::seal`] produced for the same `aad`.
    pub fn open(&self, aad: &[u8], stored: &[u8]) -> Result<Vec<u8>, DecryptError> {
        let (version, rest) = stored.split_first().ok_or(DecryptError)?;
        if *version != CIPHERTEXT_VERSION || rest.len() < NONCE_LEN {
            return Err(DecryptError);
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let payload = Payload { msg: sealed, aad };
        self.cipher()
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| DecryptError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_round_trips_and_is_bound_to_its_associated_data() {
        let key = SecretsKey::from_bytes([9; 32]);
        let sealed = key.seal(b"one", b"the secret");
        assert_eq!(key.open(b"one", &sealed), Ok(b"the secret".to_vec()));
        assert_eq!(key.open(b"two", &sealed), Err(DecryptError));
        assert_eq!(
            SecretsKey::from_bytes([8; 32]).open(b"one", &sealed),
            Err(DecryptError)
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().expect("non-empty") ^= 1;
        assert_eq!(key.open(b"one", &tampered), Err(DecryptError));
        assert_eq!(key.open(b"one", &[]), Err(DecryptError));
        // A fresh nonce each time: the same secret never gives the same ciphertext.
        assert_ne!(key.seal(b"one", b"the secret"), sealed);
    }

    #[test]
    fn key_parsing_and_printing() {
        let hex_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
        assert!(SecretsKey::from_hex(hex_key).is_ok());
        assert!(matches!(
            SecretsKey::from_hex("0011"),
            Err(SecretsKeyError::Format)
        ));
        assert!(matches!(
            SecretsKey::from_hex(&"zz".repeat(32)),
            Err(SecretsKeyError::Format)
        ));
        let missing = SecretsKey::from_file(Path::new("/nonexistent/secrets.key"));
        assert!(matches!(missing, Err(SecretsKeyError::Read { .. })));
        let key = SecretsKey::from_hex(&"ab".repeat(32)).expect("key");
        let text = format!("{key:?}");
        assert!(
            !text.contains("abab") && text.contains("[redacted]"),
            "{text}"
        );
    }
}
