//! Signed, expiring tokens for the links a message carries back to the gateway.
//!
//! A token is `<body>.<key id>.<mac>`: the body (base64url) is the expiry (Unix seconds, 8
//! bytes big-endian) followed by the caller's claims; the MAC is HMAC-SHA256 over the purpose,
//! the key id and the body, so a token made for one purpose (a click) is refused for another
//! (an unsubscribe). Guarantees: [`LinkKeys::verify`] accepts only a token signed by one of
//! the configured keys for that purpose and not yet expired, compares in constant time, and
//! says why it refused without echoing the token. The first key signs; rotation is "new key
//! first, old key kept until its links expired". Not guaranteed: that a token is used once
//! (a tracked open may be loaded twice; callers dedup).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;

use crate::config::links::LinksConfig;

/// The shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// What a link is for; a token verifies only for the purpose it was signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A tracked link: record a click, then redirect.
    Click,
    /// The open pixel.
    Open,
    /// One-click unsubscribe from a category on a channel.
    Unsubscribe,
    /// The user's preference page.
    Preferences,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Click => "click",
            Purpose::Open => "open",
            Purpose::Unsubscribe => "unsubscribe",
            Purpose::Preferences => "preferences",
        }
    }
}

/// Why a token was refused, or keys could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not three parts, bad base64, or too short.
    #[error("malformed token")]
    Malformed,
    /// Signed by a key that is not (or no longer) configured.
    #[error("unknown signing key")]
    UnknownKey,
    /// The MAC does not match: forged or tampered.
    #[error("bad signature")]
    BadSignature,
    /// Past its expiry.
    #[error("expired")]
    Expired,
    /// A configured key is too short or cannot be read.
    #[error("links.keys: {0}")]
    Key(String),
}

impl LinkError {
    /// A short machine-readable name, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            LinkError::Malformed => "malformed",
            LinkError::UnknownKey => "unknown_key",
            LinkError::BadSignature => "bad_signature",
            LinkError::Expired => "expired",
            LinkError::Key(_) => "key",
        }
    }
}

/// The keys links are signed and verified with.
#[derive(Clone)]
pub struct LinkKeys {
    /// (key id, key); the first signs.
    keys: Vec<(String, hmac::Key)>,
}

impl std::fmt::Debug for LinkKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("LinkKeys").field("key_ids", &ids).finish()
    }
}

impl LinkKeys {
    /// Keys from their secret values, the signing one first; each at least [`MIN_KEY_BYTES`].
    pub fn new<S: AsRef<[u8]>>(secrets: &[S]) -> Result<Self, LinkError> {
        if secrets.is_empty() {
            return Err(LinkError::Key("at least one key is needed".into()));
        }
        let keys = secrets
            .iter()
            .enumerate()
            .map(|(i, secret)| {
                let secret = secret.as_ref();
                if secret.len() < MIN_KEY_BYTES {
                    return Err(LinkError::Key(format!(
                        "key {} is {} bytes, at least {MIN_KEY_BYTES} are needed",
                        i + 1,
                        secret.len()
                    )));
                }
                Ok((key_id(secret), hmac::Key::new(hmac::HMAC_SHA256, secret)))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// The configured keys, or `None` while links are off (no `public_base_url`).
    pub fn from_config(config: &LinksConfig) -> Result<Option<Self>, LinkError> {
        if config.public_base_url.is_none() {
            return Ok(None);
        }
        let secrets = config
            .keys
            .iter()
            .map(|key| key.read().map_err(|e| LinkError::Key(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(&secrets).map(Some)
    }

    /// A token carrying `claims` for `purpose`, valid until `expires_at_s` (Unix seconds).
    pub fn sign(&self, purpose: Purpose, claims: &[u8], expires_at_s: i64) -> String {
        let (id, key) = &self.keys[0];
        let mut body = Vec::with_capacity(8 + claims.len());
        body.extend_from_slice(&expires_at_s.to_be_bytes());
        body.extend_from_slice(claims);
        let body = URL_SAFE_NO_PAD.encode(body);
        let mac = hmac::sign(key, &signed_text(purpose, id, &body));
        format!("{body}.{id}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()))
    }

    /// The claims of `token` if it was signed for `purpose` by a configured key and has not
    /// expired at `now_s`.
    pub fn verify(&self, purpose: Purpose, token: &str, now_s: i64) -> Result<Vec<u8>, LinkError> {
        let mut parts = token.split('.');
        let (Some(body), Some(id), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(LinkError::Malformed);
        };
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| LinkError::Malformed)?;
        let (_, key) = self
            .keys
            .iter()
            .find(|(known, _)| known == id)
            .ok_or(LinkError::UnknownKey)?;
        hmac::verify(key, &signed_text(purpose, id, body), &mac)
            .map_err(|_| LinkError::BadSignature)?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| LinkError::Malformed)?;
        let (expiry, claims) = body.split_at_checked(8).ok_or(LinkError::Malformed)?;
        let expires_at_s = i64::from_be_bytes(expiry.try_into().map_err(|_| LinkError::Malformed)?);
        if now_s >= expires_at_s {
            return Err(LinkError::Expired);
        }
        Ok(claims.to_vec())
    }
}

/// A short public name of a key: the first 4 bytes of its HMAC over a fixed label, in hex.
fn key_id(secret: &[u8]) -> String {
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, secret),
        b"notify link key id",
    );
    tag.as_ref()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn signed_text(purpose: Purpose, id: &str, body: &str) -> Vec<u8> {
    [purpose.as_str().as_bytes(), id.as_bytes(), body.as_bytes()].join(&0u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &[u8; 32] = b"an old key of thirty-two bytes!!";
    const NEW: &[u8; 32] = b"a new key, also thirty-two bytes";

    #[test]
    fn a_token_verifies_for_its_purpose_until_it_expires() {
        let keys = LinkKeys::new(&[NEW]).unwrap();
        let token = keys.sign(Purpose::Click, b"tn_1|d-1", 1_000);
        assert_eq!(
            keys.verify(Purpose::Click, &token, 999).unwrap(),
            b"tn_1|d-1"
        );
        assert_eq!(
            keys.verify(Purpose::Click, &token, 1_000),
            Err(LinkError::Expired)
        );
        assert_eq!(
            keys.verify(Purpose::Open, &token, 1),
            Err(LinkError::BadSignature)
        );
    }

    #[test]
    fn tampered_forged_and_malformed_tokens_are_refused() {
        let keys = LinkKeys::new(&[NEW]).unwrap();
        let token = keys.sign(Purpose::Open, b"claims", 1_000);
        let (body, rest) = token.split_once('.').unwrap();
        let later = URL_SAFE_NO_PAD.encode([&9_999i64.to_be_bytes()[..], b"claims"].concat());
        assert_eq!(
            keys.verify(Purpose::Open, &format!("{later}.{rest}"), 1),
            Err(LinkError::BadSignature)
        );
        let other = LinkKeys::new(&[b"somebody else's key of 32 bytes!"]).unwrap();
        let forged = other.sign(Purpose::Open, b"claims", 1_000);
        assert_eq!(
            keys.verify(Purpose::Open, &forged, 1),
            Err(LinkError::UnknownKey)
        );
        for bad in ["", "a.b", "a.b.c.d", &format!("{body}.{}", "x.y")] {
            assert!(keys.verify(Purpose::Open, bad, 1).is_err(), "{bad}");
        }
    }

    #[test]
    fn rotation_signs_with_the_first_key_and_verifies_with_all() {
        let before = LinkKeys::new(&[OLD]).unwrap();
        let during = LinkKeys::new(&[NEW, OLD]).unwrap();
        let after = LinkKeys::new(&[NEW]).unwrap();
        let old_link = before.sign(Purpose::Unsubscribe, b"u", 10);
        let new_link = during.sign(Purpose::Unsubscribe, b"u", 10);
        assert!(during.verify(Purpose::Unsubscribe, &old_link, 1).is_ok());
        assert!(after.verify(Purpose::Unsubscribe, &new_link, 1).is_ok());
        assert_eq!(
            after.verify(Purpose::Unsubscribe, &old_link, 1),
            Err(LinkError::UnknownKey)
        );
    }

    #[test]
    fn short_or_missing_keys_are_refused_and_never_printed() {
        assert!(LinkKeys::new::<&[u8]>(&[]).is_err());
        let short = LinkKeys::new(&[b"short"]).unwrap_err();
        assert!(short.to_string().contains("5 bytes"), "{short}");
        let keys = LinkKeys::new(&[NEW]).unwrap();
        assert!(!format!("{keys:?}").contains("thirty"));
    }
}
