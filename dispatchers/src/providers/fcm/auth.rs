//! Google service account credentials for FCM: the key file, the RS256 JWT assertion of the
//! OAuth2 JWT-bearer grant, and the cached access token. Pure: the token request itself is sent
//! by the service module.
//!
//! Guarantees: a service account file is accepted only if its key can sign and its `token_uri`
//! and `project_id` are usable (so a broken replacement keeps the previous account, see
//! [`crate::providers::credentials::WatchedFile`]); an access token is used until [`REFRESH_MARGIN`] before
//! it expires and never past a change of the service account file. Neither the key nor a token
//! appears in `Debug` output or errors.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// The OAuth2 scope for sending with FCM.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// The grant type of the service account flow.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// An access token is replaced this long before Google says it expires.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// Lifetime asked for in the assertion (Google's maximum).
const ASSERTION_LIFETIME_S: u64 = 3600;

/// A parsed service account key file.
pub(crate) struct ServiceAccount {
    pub client_email: String,
    pub project_id: String,
    pub token_uri: String,
    key_id: Option<String>,
    key: EncodingKey,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("project_id", &self.project_id)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ServiceAccountFile {
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    token_uri: String,
    project_id: String,
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

/// Parses a service account JSON file and proves its key can sign. Errors never quote the
/// file.
pub(crate) fn parse_service_account(bytes: &[u8]) -> Result<ServiceAccount, String> {
    let file: ServiceAccountFile = serde_json::from_slice(bytes).map_err(|e| {
        // Only the position: serde's message can quote a value, which may be the key.
        format!(
            "not a service account json file (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    if file.client_email.trim().is_empty() {
        return Err("client_email is empty".to_owned());
    }
    let project_ok = !file.project_id.is_empty()
        && file
            .project_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b':');
    if !project_ok {
        return Err("project_id is not a project id".to_owned());
    }
    crate::providers::push_http::check_url("token_uri", &file.token_uri)?;
    let key = EncodingKey::from_rsa_pem(file.private_key.as_bytes())
        .map_err(|_| "private_key is not a pem rsa private key".to_owned())?;
    let account = ServiceAccount {
        client_email: file.client_email,
        project_id: file.project_id,
        token_uri: file.token_uri,
        key_id: file.private_key_id.filter(|id| !id.is_empty()),
        key,
    };
    assertion(&account, 0).map_err(|_| "private_key cannot sign".to_owned())?;
    Ok(account)
}

/// The signed JWT assertion for the token request, issued at `now_s` (epoch seconds).
pub(crate) fn assertion(account: &ServiceAccount, now_s: u64) -> Result<String, String> {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = account.key_id.clone();
    let claims = AssertionClaims {
        iss: &account.client_email,
        scope: SCOPE,
        aud: &account.token_uri,
        iat: now_s,
        exp: now_s + ASSERTION_LIFETIME_S,
    };
    jsonwebtoken::encode(&header, &claims, &account.key).map_err(|e| e.to_string())
}

/// A successful token endpoint answer.
#[derive(Deserialize)]
pub(crate) struct TokenAnswer {
    pub access_token: String,
    pub expires_in: u64,
}

/// The `error` of a refused token request (`invalid_grant`, ...), for the outcome detail.
#[derive(Deserialize)]
pub(crate) struct TokenRefusal {
    pub error: String,
}

/// An access token and what it is good for.
pub(crate) struct CachedToken {
    pub token: Arc<str>,
    pub account: Arc<ServiceAccount>,
    pub refresh_at: Instant,
}

impl CachedToken {
    /// A token from `answer`, fetched at `fetched_at` with `account`'s key.
    pub(crate) fn new(
        answer: TokenAnswer,
        account: Arc<ServiceAccount>,
        fetched_at: Instant,
    ) -> Self {
        let lifetime = Duration::from_secs(answer.expires_in);
        // A token shorter-lived than the margin is used for half its life instead.
        let usable = lifetime
            .checked_sub(REFRESH_MARGIN)
            .filter(|d| !d.is_zero())
            .unwrap_or(lifetime / 2);
        Self {
            token: answer.access_token.into(),
            account,
            refresh_at: fetched_at + usable,
        }
    }

    /// Whether it may be used now for `account`.
    pub(crate) fn usable(&self, now: Instant, account: &Arc<ServiceAccount>) -> bool {
        now < self.refresh_at && Arc::ptr_eq(&self.account, account)
    }
}

impl fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedToken")
            .field("refresh_at", &self.refresh_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account_json(private_key: &str) -> String {
        serde_json::json!({
            "type": "service_account", "project_id": "demo-project",
            "private_key_id": "k1", "private_key": private_key,
            "client_email": "sender@demo-project.iam.gserviceaccount.com",
            "token_uri": "https://oauth2.googleapis.com/token"
        })
        .to_string()
    }

    #[test]
    fn the_assertion_carries_the_claims_google_wants() {
        let key = notify_sim::keys::KeyPair::generate_rsa().unwrap();
        let account = parse_service_account(account_json(key.private_pem()).as_bytes()).unwrap();
        let jwt = assertion(&account, 1_000).unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.kid.as_deref(), Some("k1"));
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.set_audience(&["https://oauth2.googleapis.com/token"]);
        let decoding =
            jsonwebtoken::DecodingKey::from_rsa_pem(key.public_pem().as_bytes()).unwrap();
        let claims = jsonwebtoken::decode::<serde_json::Value>(&jwt, &decoding, &validation)
            .unwrap()
            .claims;
        assert_eq!(claims["iss"], "sender@demo-project.iam.gserviceaccount.com");
        assert_eq!(claims["scope"], SCOPE);
        assert_eq!(claims["iat"], 1_000);
        assert_eq!(claims["exp"], 4_600);
    }

    #[test]
    fn the_assertion_signature_verifies_with_a_plain_rsa_verifier() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;
        use rsa::pkcs8::DecodePublicKey as _;
        use rsa::signature::Verifier as _;

        let key = notify_sim::keys::KeyPair::generate_rsa().unwrap();
        let account = parse_service_account(account_json(key.private_pem()).as_bytes()).unwrap();
        let jwt = assertion(&account, 1_000).unwrap();
        let (signed, signature) = jwt.rsplit_once('.').unwrap();
        let public = rsa::RsaPublicKey::from_public_key_pem(key.public_pem()).unwrap();
        let verifying = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public);
        let signature = rsa::pkcs1v15::Signature::try_from(
            URL_SAFE_NO_PAD.decode(signature).unwrap().as_slice(),
        )
        .unwrap();
        verifying.verify(signed.as_bytes(), &signature).unwrap();
        assert!(verifying.verify(b"tampered", &signature).is_err());
    }

    #[test]
    fn broken_files_are_refused_without_quoting_them() {
        let err = parse_service_account(br#"{"private_key": "SECRET-MATERIAL""#).unwrap_err();
        assert!(!err.contains("SECRET"), "{err}");
        let err = parse_service_account(account_json("SECRET-MATERIAL").as_bytes()).unwrap_err();
        assert!(!err.contains("SECRET"), "{err}");
        let key = notify_sim::keys::KeyPair::generate_rsa().unwrap();
        let bad_project = account_json(key.private_pem()).replace("demo-project\"", "a/b\"");
        assert!(parse_service_account(bad_project.as_bytes()).is_err());
    }

    #[test]
    fn a_cached_token_is_refreshed_a_minute_early() {
        let key = notify_sim::keys::KeyPair::generate_rsa().unwrap();
        let account =
            Arc::new(parse_service_account(account_json(key.private_pem()).as_bytes()).unwrap());
        let start = Instant::now();
        let answer = TokenAnswer {
            access_token: "t".into(),
            expires_in: 3599,
        };
        let cached = CachedToken::new(answer, account.clone(), start);
        assert!(cached.usable(start + Duration::from_secs(3538), &account));
        assert!(!cached.usable(start + Duration::from_secs(3539), &account));
        let other =
            Arc::new(parse_service_account(account_json(key.private_pem()).as_bytes()).unwrap());
        assert!(!cached.usable(start, &other));
        let short = TokenAnswer {
            access_token: "t".into(),
            expires_in: 30,
        };
        let cached = CachedToken::new(short, account.clone(), start);
        assert!(cached.usable(start + Duration::from_secs(14), &account));
        assert!(!cached.usable(start + Duration::from_secs(15), &account));
    }
}
