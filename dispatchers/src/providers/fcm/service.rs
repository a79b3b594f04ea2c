//! The FCM client: the only FCM file that touches the network (token endpoint and
//! `messages:send`).
//!
//! Guarantees: one access token at a time is fetched (concurrent sends wait for it instead of
//! each asking Google), reused until a minute before it expires, dropped and fetched again once
//! when a send answers 401 without an FCM error code; answers are read with a size cap; no
//! redirects are followed; tokens, the key and the registration token never appear in a log
//! line or an outcome detail.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use notify_schemas::Delivery;
use reqwest::header::CONTENT_TYPE;
use tokio::sync::Mutex;

use super::auth::{self, CachedToken, ServiceAccount, TokenAnswer, TokenRefusal};
use super::classify::{self, Answer};
use super::encode;
use super::{FcmConfig, FcmError, PushError};
use crate::providers::credentials::WatchedFile;
use crate::providers::http::{read_capped, retry_after, MAX_ANSWER_BYTES};
use crate::providers::provider::{Outcome, Provider, Reason};
use crate::providers::push_http::{self, request_failed, unanswered};

/// A Firebase project's sender (one service account) on FCM HTTP v1.
#[derive(Debug)]
pub struct FcmProvider {
    base: String,
    client: reqwest::Client,
    account: WatchedFile<ServiceAccount>,
    token: Mutex<Option<CachedToken>>,
    fetches: AtomicU64,
}

impl FcmProvider {
    /// Validates `config`, reads the service account file (failing now if it is missing or
    /// unusable) and builds the HTTP client. No token is fetched until the first send.
    pub fn new(config: FcmConfig) -> Result<Self, FcmError> {
        config.validate().map_err(PushError::Config)?;
        let account = WatchedFile::open(&config.service_account_file, auth::parse_service_account)?;
        let timeout = Duration::from_millis(config.request_timeout_ms);
        let builder = push_http::client_builder(timeout);
        let client = push_http::build_client(builder, config.ca_file.as_deref())?;
        Ok(Self {
            base: config.base().to_owned(),
            client,
            account,
            token: Mutex::new(None),
            fetches: AtomicU64::new(0),
        })
    }

    /// How many access tokens were fetched.
    #[cfg(test)]
    pub(crate) fn token_fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The access token to send with, fetched when there is none usable. `Err` is the outcome
    /// for the delivery when no token can be had.
    async fn access_token(&self) -> Result<(Arc<str>, Arc<ServiceAccount>), Outcome> {
        let account = self.account.get().map_err(|err| {
            tracing::warn!(error = %err, "fcm service account unusable");
            Outcome::retry(Reason::ProviderAuth, "service account unusable")
        })?;
        // Held across the fetch: concurrent sends wait for one token request.
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref() {
            if token.usable(Instant::now(), &account) {
                return Ok((token.token.clone(), account));
            }
        }
        let fresh = self.fetch_token(account.clone()).await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok((token, account))
    }

    /// Forgets `token` if it is still the cached one.
    async fn drop_token(&self, token: &str) {
        let mut cached = self.token.lock().await;
        if cached.as_ref().is_some_and(|c| &*c.token == token) {
            *cached = None;
        }
    }

    async fn fetch_token(&self, account: Arc<ServiceAccount>) -> Result<CachedToken, Outcome> {
        let assertion = auth::assertion(&account, push_http::now_s() as u64).map_err(|err| {
            tracing::warn!(error = %err, "cannot sign fcm token assertion");
            Outcome::retry(Reason::ProviderAuth, "cannot sign token assertion")
        })?;
        let started = Instant::now();
        let response = self
            .client
            .post(&account.token_uri)
            .form(&[("grant_type", auth::GRANT_TYPE), ("assertion", &assertion)])
            .send()
            .await
            .map_err(request_failed)?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        let body = read_capped(response, MAX_ANSWER_BYTES)
            .await
            .map_err(request_failed)?
            .0;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        if status == 200 {
            let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
                Outcome::retry(
                    Reason::UnexpectedResponse,
                    "token endpoint answer unreadable",
                )
            })?;
            tracing::debug!(expires_in_s = answer.expires_in, "fetched fcm access token");
            return Ok(CachedToken::new(answer, account, started));
        }
        let error = serde_json::from_slice::<TokenRefusal>(&body)
            .map(|r| {
                r.error
                    .chars()
                    .filter(|c| c.is_ascii_graphic())
                    .take(64)
                    .collect()
            })
            .unwrap_or_else(|_| "no error code".to_owned());
        let detail = format!("token endpoint {status} {error}");
        let reason = match status {
            429 => Reason::RateLimited,
            500..=599 => Reason::ProviderUnavailable,
            400..=499 => {
                tracing::warn!(status, error = %error, "fcm token endpoint refused the service account");
                Reason::ProviderAuth
            }
            _ => Reason::UnexpectedResponse,
        };
        Err(Outcome::Retry {
            reason,
            after: wait,
            detail,
        })
    }

    /// Sends `body` with `token`; `Err` is the outcome of a request that got no answer.
    async fn post(
        &self,
        account: &ServiceAccount,
        token: &str,
        body: &[u8],
    ) -> Result<Answer, Outcome> {
        let url = format!(
            "{}/v1/projects/{}/messages:send",
            self.base, account.project_id
        );
        let response = self
            .client
            .post(url)
            .bearer_auth(token)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await
            .map_err(unanswered)?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        // The status is authoritative; a body cut short only loses the error code.
        let body = match read_capped(response, MAX_ANSWER_BYTES).await {
            Ok((body, _)) => body,
            Err(_) => Vec::new(),
        };
        Ok(Answer::new(status, &body, wait))
    }
}

#[async_trait]
impl Provider for FcmProvider {
    fn name(&self) -> &'static str {
        "fcm"
    }

    async fn send(&self, delivery: &Delivery) -> Outcome {
        let body = match encode::encode(delivery, push_http::now_s()) {
            Ok(body) => body,
            Err(outcome) => return outcome,
        };
        let (token, account) = match self.access_token().await {
            Ok(found) => found,
            Err(outcome) => return outcome,
        };
        let answer = match self.post(&account, &token, &body).await {
            Ok(answer) => answer,
            Err(outcome) => return outcome,
        };
        if !answer.is_access_token_rejection() {
            return classify::classify(&answer);
        }
        tracing::debug!("fcm refused the access token, fetching a new one");
        self.drop_token(&token).await;
        let (token, account) = match self.access_token().await {
            Ok(found) => found,
            Err(outcome) => return outcome,
        };
        match self.post(&account, &token, &body).await {
            Ok(answer) => classify::classify(&answer),
            Err(outcome) => outcome,
        }
    }
}
