//! Bearer JWTs.
//!
//! Look-up rule: the `iss` claim is the app key. It is read from the unverified payload only to
//! find the app; the token is then verified with that app's key and must name the same `iss`.
//! The `kid` header is ignored.
//!
//! Guarantees: the algorithm is pinned per app (HS256 keyed with the UTF-8 bytes of the app
//! secret exactly as issued, or ES256 with the registered P-256 public key) and never taken from
//! the token: a header naming any other algorithm, `none` included, is rejected before any key
//! is used. `exp`, `iat`, `iss` and `aud` are required; `aud` must equal
//! `ingest.jwt_audience`; `exp`, `nbf` and `iat` allow `ingest.jwt_leeway_s` of clock skew.
//! Not guaranteed: single use. A token is a bearer credential until it expires.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use notify_store::tenants::{AppRecord, JwtKey};
use serde::Deserialize;

use super::secrets::{AppSecretSealing, SecretsKey};
use super::{AuthError, Reject};

/// The settings a token is checked against.
#[derive(Debug, Clone)]
pub(crate) struct JwtSettings {
    pub(crate) audience: String,
    pub(crate) leeway_s: u64,
}

/// What verification learnt about a valid token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Verified {
    /// Unix seconds after which the token is refused (its `exp` plus the leeway).
    pub(crate) valid_until_s: u64,
}

/// The app key a token claims to come from, read without verifying anything.
pub(crate) fn claimed_app_key(token: &str) -> Result<String, Reject> {
    #[derive(Deserialize)]
    struct Issuer {
        iss: String,
    }
    let data = jsonwebtoken::dangerous::insecure_decode::<Issuer>(token)
        .map_err(|err| map_error(err.kind()).unwrap_or(Reject::MalformedToken))?;
    Ok(data.claims.iss)
}

/// The JOSE algorithm pinned by `key`.
fn algorithm(key: &JwtKey) -> Algorithm {
    match key {
        JwtKey::Hs256 => Algorithm::HS256,
        JwtKey::Es256 { .. } => Algorithm::ES256,
    }
}

/// Verifies `token` as coming from `app` at `now_s`.
pub(crate) fn verify(
    token: &str,
    app: &AppRecord,
    secrets_key: Option<&SecretsKey>,
    settings: &JwtSettings,
    now_s: u64,
) -> Result<Verified, AuthError> {
    let pinned = app.jwt.as_ref().ok_or(Reject::TokensNotEnabled)?;
    let alg = algorithm(pinned);
    // Compared before any key is built, so a token cannot choose how it is checked. `none`
    // and unknown names do not even parse as a header.
    let header = jsonwebtoken::decode_header(token).map_err(|_| Reject::MalformedToken)?;
    if header.alg != alg {
        return Err(Reject::AlgorithmMismatch.into());
    }
    let key = match pinned {
        JwtKey::Hs256 => {
            let (Some(secrets_key), Some(sealed)) = (secrets_key, &app.secret_ciphertext) else {
                // No secrets key configured, or the app was created without one.
                return Err(Reject::TokensNotEnabled.into());
            };
            let secret = secrets_key
                .decrypt(&app.app_key, sealed)
                .map_err(|err| AuthError::Internal(format!("app {}: {err}", app.app_key)))?;
            DecodingKey::from_secret(secret.expose().as_bytes())
        }
        JwtKey::Es256 { public_key_pem } => DecodingKey::from_ec_pem(public_key_pem.as_bytes())
            .map_err(|err| {
                AuthError::Internal(format!("app {}: stored public key: {err}", app.app_key))
            })?,
    };

    let mut validation = Validation::new(alg);
    validation.leeway = settings.leeway_s;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = true;
    validation.set_audience(&[&settings.audience]);
    validation.set_issuer(&[&app.app_key]);
    validation.set_required_spec_claims(&["exp", "aud", "iss"]);

    // jsonwebtoken checks exp, nbf, aud and iss but not iat: that is ours.
    #[derive(Deserialize)]
    struct Times {
        // Optional here so a missing one is reported by the validation as a missing claim.
        exp: Option<f64>,
        iat: Option<f64>,
    }
    let data = jsonwebtoken::decode::<Times>(token, &key, &validation).map_err(|err| {
        match map_error(err.kind()) {
            Some(reject) => AuthError::Unauthorized(reject),
            None => AuthError::Internal(format!("app {}: verifying a token: {err}", app.app_key)),
        }
    })?;
    let (Some(exp), Some(iat)) = (data.claims.exp, data.claims.iat) else {
        return Err(Reject::MissingClaim.into());
    };
    if iat > now_s.saturating_add(settings.leeway_s) as f64 {
        return Err(Reject::IssuedInFuture.into());
    }
    // exp is finite and not before now - leeway, or decode would have refused it.
    let exp = exp.max(0.0) as u64;
    Ok(Verified {
        valid_until_s: exp.saturating_add(settings.leeway_s),
    })
}

/// How a jsonwebtoken error is answered: a rejection of the token, or `None` for a fault of
/// ours (a stored key that cannot be used).
fn map_error(kind: &ErrorKind) -> Option<Reject> {
    Some(match kind {
        ErrorKind::InvalidSignature => Reject::BadSignature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => Reject::AlgorithmMismatch,
        ErrorKind::ExpiredSignature => Reject::Expired,
        ErrorKind::ImmatureSignature => Reject::NotYetValid,
        ErrorKind::InvalidAudience => Reject::WrongAudience,
        ErrorKind::InvalidIssuer => Reject::WrongIssuer,
        ErrorKind::MissingRequiredClaim(_) => Reject::MissingClaim,
        ErrorKind::InvalidToken
        | ErrorKind::InvalidClaimFormat(_)
        | ErrorKind::InvalidSubject
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => Reject::MalformedToken,
        ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat
        | ErrorKind::MissingAlgorithm
        | ErrorKind::RsaFailedSigning
        | ErrorKind::Signing(_)
        | ErrorKind::Provider(_) => return None,
        // Future kinds: refuse the token rather than answer 500.
        _ => Reject::MalformedToken,
    })
}

/// Why a public key cannot be registered for ES256.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a P-256 public key in PEM (-----BEGIN PUBLIC KEY-----): {0}")]
pub struct PublicKeyError(String);

/// Checks that `pem` is a P-256 public key that ES256 tokens can be verified with.
pub fn check_es256_public_key(pem: &str) -> Result<(), PublicKeyError> {
    let key =
        DecodingKey::from_ec_pem(pem.as_bytes()).map_err(|err| PublicKeyError(err.to_string()))?;
    // Verifying a dummy signature builds the P-256 verifying key: a key on another curve fails
    // there, while a usable key merely reports the signature as wrong.
    match jsonwebtoken::crypto::verify("AAAA", b"probe", &key, Algorithm::ES256) {
        Ok(_) => Ok(()),
        Err(err) => Err(PublicKeyError(err.to_string())),
    }
}
