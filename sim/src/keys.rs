//! Signing keys generated at run time for tests and the local simulators: a P-256 key in the
//! shape of an APNs `.p8` file and an RSA key in the shape of a Google service account's.
//!
//! Keys live in memory and in whatever file a test writes them to; none is ever committed. The
//! `Debug` output never shows the private half.

use std::fmt;

use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};

use crate::tls::SimError;

/// A private key (PKCS#8 PEM) and its public key (SPKI PEM).
#[derive(Clone)]
pub struct KeyPair {
    private_pem: String,
    public_pem: String,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public_pem", &self.public_pem)
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A new P-256 key: the private PEM is what an APNs `.p8` file holds.
    pub fn generate_p256() -> Result<Self, SimError> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| SimError::Key(e.to_string()))?;
        Ok(Self {
            private_pem: key.serialize_pem(),
            public_pem: key.public_key_pem(),
        })
    }

    /// A new 2048-bit RSA key: the private PEM is what a service account's `private_key` holds.
    pub fn generate_rsa() -> Result<Self, SimError> {
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .map_err(|e| SimError::Key(e.to_string()))?;
        let private_pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| SimError::Key(e.to_string()))?;
        let public_pem = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| SimError::Key(e.to_string()))?;
        Ok(Self {
            private_pem: private_pem.to_string(),
            public_pem,
        })
    }

    /// A key pair from an existing private key (PKCS#8 PEM, P-256 or RSA), e.g. the `.p8` file
    /// or service account key a dispatcher is configured with, so a simulator can verify it.
    pub fn from_private_pem(private_pem: &str) -> Result<Self, SimError> {
        if let Ok(key) = rsa::RsaPrivateKey::from_pkcs8_pem(private_pem) {
            let public_pem = key
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| SimError::Key(e.to_string()))?;
            return Ok(Self {
                private_pem: private_pem.to_owned(),
                public_pem,
            });
        }
        let key = rcgen::KeyPair::from_pem(private_pem)
            .map_err(|_| SimError::Key("not a pkcs#8 p-256 or rsa private key".to_owned()))?;
        Ok(Self {
            private_pem: private_pem.to_owned(),
            public_pem: key.public_key_pem(),
        })
    }

    /// The private key, PKCS#8 PEM.
    pub fn private_pem(&self) -> &str {
        &self.private_pem
    }

    /// The public key, SPKI PEM.
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_pem_and_differ() {
        let a = KeyPair::generate_p256().unwrap();
        let b = KeyPair::generate_p256().unwrap();
        assert!(a.private_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(a.public_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_ne!(a.private_pem(), b.private_pem());
        assert!(!format!("{a:?}").contains("PRIVATE"));
        let again = KeyPair::from_private_pem(a.private_pem()).unwrap();
        assert_eq!(again.public_pem(), a.public_pem());
        assert!(KeyPair::from_private_pem("not a key").is_err());
    }

    #[test]
    fn rsa_keys_round_trip_through_their_private_pem() {
        let key = KeyPair::generate_rsa().unwrap();
        assert!(key.private_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = KeyPair::from_private_pem(key.private_pem()).unwrap();
        assert_eq!(again.public_pem(), key.public_pem());
    }
}
