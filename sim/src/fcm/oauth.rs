//! The fake Google token endpoint: verifies the service account's RS256 assertion and issues
//! random access tokens that the send endpoint accepts until they expire or are revoked.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::json;

use super::{SimState, GOOGLE_TOKEN_URI, MAX_LIVE_TOKENS};

impl SimState {
    pub(super) fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.live_tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn verify_assertion(&self, assertion: &str) -> Result<(), &'static str> {
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| "malformed assertion")?;
        if header.alg != Algorithm::RS256 {
            return Err("assertion must be signed with rs256");
        }
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
        validation.set_issuer(&[self.client_email.as_str()]);
        validation.set_audience(&[self.token_uri.as_str(), GOOGLE_TOKEN_URI]);
        validation.leeway = 60;
        let key = self.key.read().unwrap_or_else(|e| e.into_inner());
        let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation)
            .map_err(|_| "invalid jwt signature or claims")?
            .claims;
        if claims.exp - claims.iat > 3600 || claims.exp <= claims.iat {
            return Err("invalid jwt: exp must be within an hour after iat");
        }
        let scopes: Vec<&str> = claims.scope.split(' ').collect();
        let allowed = [
            "https://www.googleapis.com/auth/firebase.messaging",
            "https://www.googleapis.com/auth/cloud-platform",
        ];
        if !scopes.iter().any(|s| allowed.contains(s)) {
            return Err("invalid scope");
        }
        Ok(())
    }

    pub(super) fn bearer_ok(&self, headers: &HeaderMap) -> bool {
        let Some(token) = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        self.tokens()
            .get(token)
            .is_some_and(|expires| *expires > Instant::now())
    }
}

#[derive(Deserialize)]
struct AssertionClaims {
    iat: i64,
    exp: i64,
    scope: String,
}

#[derive(Deserialize)]
pub(super) struct TokenRequest {
    grant_type: String,
    assertion: Option<String>,
}

pub(super) async fn token(
    State(state): State<Arc<SimState>>,
    Form(request): Form<TokenRequest>,
) -> Response {
    if request.grant_type != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        let body =
            json!({ "error": "unsupported_grant_type", "error_description": "Invalid grant_type" });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    *state
        .last_assertion
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = request.assertion.clone();
    let verified = match request.assertion.as_deref() {
        Some(assertion) => state.verify_assertion(assertion),
        None => Err("missing assertion"),
    };
    if let Err(description) = verified {
        let body = json!({ "error": "invalid_grant", "error_description": description });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    let access_token = format!("sim-{}", uuid::Uuid::new_v4().simple());
    {
        let now = Instant::now();
        let mut tokens = state.tokens();
        tokens.retain(|_, expires| *expires > now);
        if tokens.len() >= MAX_LIVE_TOKENS {
            tokens.clear();
        }
        tokens.insert(access_token.clone(), now + state.token_lifetime);
    }
    state.tokens_issued.fetch_add(1, Ordering::Relaxed);
    Json(json!({
        "access_token": access_token,
        "expires_in": state.token_lifetime.as_secs(),
        "token_type": "Bearer",
    }))
    .into_response()
}
