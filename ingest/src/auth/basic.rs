//! HTTP Basic with `appKey:appSecret`.
//!
//! Guarantees: the presented secret is compared with the stored hash in constant time, and an
//! unknown app key costs the same hash and comparison (against a dummy hash) as a wrong secret,
//! so neither the answer nor its timing tells a client which of the two was wrong.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use notify_store::tenants::{AppRecord, SECRET_HASH_LEN};
use subtle::ConstantTimeEq;

use super::secrets::AppSecret;
use super::Reject;

/// Longest accepted app key; generated ones are 23 characters.
const MAX_APP_KEY_LEN: usize = 64;

/// Compared against when the app key is unknown. No secret hashes to it in practice (finding one
/// would be a SHA-256 preimage).
const DUMMY_HASH: [u8; SECRET_HASH_LEN] = [0; SECRET_HASH_LEN];

/// The app key and secret of the credentials part of a Basic header (after `Basic `).
pub(crate) fn parse(encoded: &str) -> Result<(String, AppSecret), Reject> {
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| Reject::Malformed)?;
    let text = String::from_utf8(decoded).map_err(|_| Reject::Malformed)?;
    let (app_key, secret) = text.split_once(':').ok_or(Reject::Malformed)?;
    if app_key.is_empty()
        || app_key.len() > MAX_APP_KEY_LEN
        || !app_key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        || secret.is_empty()
    {
        return Err(Reject::Malformed);
    }
    Ok((app_key.to_owned(), AppSecret::new(secret.to_owned())))
}

/// Checks `secret` against `app` (`None` when the key is unknown) and returns the app it
/// authenticates.
pub(crate) fn check(secret: &AppSecret, app: Option<AppRecord>) -> Result<AppRecord, Reject> {
    let presented = secret.hash();
    let expected = app.as_ref().map_or(&DUMMY_HASH, |app| &app.secret_hash);
    let matches: bool = presented.ct_eq(expected).into();
    match app {
        None => Err(Reject::UnknownApp),
        Some(_) if !matches => Err(Reject::WrongSecret),
        Some(app) if app.disabled => Err(Reject::Disabled),
        Some(app) => Ok(app),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(text: &str) -> String {
        STANDARD.encode(text)
    }

    #[test]
    fn parses_key_and_secret() {
        let (key, secret) = parse(&encode("ak_abc:as_x:y")).expect("parses");
        assert_eq!(key, "ak_abc");
        // Only the first colon separates: the secret may contain more.
        assert_eq!(secret.expose(), "as_x:y");
    }

    #[test]
    fn rejects_malformed_credentials() {
        for bad in [
            "not base64!".to_owned(),
            encode("no-colon"),
            encode(":secret"),
            encode("ak_abc:"),
            encode("ak abc:secret"),
            encode(&format!("{}:secret", "a".repeat(65))),
        ] {
            assert_eq!(parse(&bad).err(), Some(Reject::Malformed), "{bad}");
        }
    }
}
