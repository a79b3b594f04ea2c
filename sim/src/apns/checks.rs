//! What the fake APNs checks before it looks at faults: the ES256 provider token (403 reasons)
//! and the `apns-*` headers and device token (400 reasons).

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::{SimState, MAX_COLLAPSE_ID_BYTES, PUSH_TYPES};
use crate::ledger::now_ms;

#[derive(Deserialize)]
struct ProviderClaims {
    iss: String,
    iat: i64,
}

impl SimState {
    /// Checks the provider token; the error is the APNs 403 reason.
    pub(super) fn authenticate(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or("MissingProviderToken")?
            .to_str()
            .map_err(|_| "InvalidProviderToken")?;
        let jwt = value
            .strip_prefix("bearer ")
            .or_else(|| value.strip_prefix("Bearer "))
            .ok_or("InvalidProviderToken")?;
        let header = jsonwebtoken::decode_header(jwt).map_err(|_| "InvalidProviderToken")?;
        if header.alg != Algorithm::ES256 {
            return Err("InvalidProviderToken");
        }
        let signer = self.signer.read().unwrap_or_else(|e| e.into_inner());
        if header.kid.as_deref() != Some(signer.key_id.as_str()) {
            return Err("InvalidProviderToken");
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<ProviderClaims>(jwt, &signer.key, &validation)
            .map_err(|_| "InvalidProviderToken")?
            .claims;
        if claims.iss != self.team_id {
            return Err("InvalidProviderToken");
        }
        let now = now_ms() / 1000;
        if claims.iat > now + 60 {
            return Err("InvalidProviderToken");
        }
        if now - claims.iat > self.max_token_age_s as i64 {
            return Err("ExpiredProviderToken");
        }
        Ok(())
    }

    /// Checks the `apns-*` headers and the token; the error is the APNs 400 reason.
    pub(super) fn check_request(
        &self,
        token: &str,
        headers: &HeaderMap,
    ) -> Result<(), &'static str> {
        for name in [
            "apns-topic",
            "apns-push-type",
            "apns-priority",
            "apns-expiration",
            "apns-collapse-id",
            "apns-id",
        ] {
            if headers.get_all(name).iter().count() > 1 {
                return Err("DuplicateHeaders");
            }
        }
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if token.is_empty() {
            return Err("MissingDeviceToken");
        }
        if !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("BadDeviceToken");
        }
        let topic = text("apns-topic").ok_or("MissingTopic")?;
        if self.topic.as_deref().is_some_and(|want| want != topic) {
            return Err("TopicDisallowed");
        }
        if let Some(push_type) = headers.get("apns-push-type") {
            let push_type = push_type.to_str().map_err(|_| "InvalidPushType")?;
            if !PUSH_TYPES.contains(&push_type) {
                return Err("InvalidPushType");
            }
        }
        if let Some(priority) = headers.get("apns-priority") {
            match priority.to_str() {
                Ok("10") if text("apns-push-type") == Some("background") => {
                    return Err("BadPriority")
                }
                Ok("1" | "5" | "10") => {}
                _ => return Err("BadPriority"),
            }
        }
        if let Some(expiration) = headers.get("apns-expiration") {
            let ok = expiration
                .to_str()
                .ok()
                .is_some_and(|v| v.parse::<u64>().is_ok());
            if !ok {
                return Err("BadExpirationDate");
            }
        }
        if let Some(collapse) = headers.get("apns-collapse-id") {
            if collapse.len() > MAX_COLLAPSE_ID_BYTES {
                return Err("BadCollapseId");
            }
        }
        if let Some(id) = headers.get("apns-id") {
            let ok = id.to_str().ok().is_some_and(|v| {
                v.len() == 36
                    && uuid::Uuid::parse_str(v).is_ok()
                    && !v.bytes().any(|b| b.is_ascii_uppercase())
            });
            if !ok {
                return Err("BadMessageId");
            }
        }
        Ok(())
    }
}
