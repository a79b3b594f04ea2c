//! The APNs client: the only APNs file that touches the network.
//!
//! Guarantees: HTTP/2 only (ALPN `h2`), one pooled connection multiplexing every request,
//! answers read with a size cap, no redirects followed, and neither the provider token nor the
//! device token ever appears in a log line or an outcome detail (request errors are stripped of
//! their URL, which holds the device token).

use std::time::Duration;

use async_trait::async_trait;
use notify_schemas::Delivery;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};

use super::classify::{self, Answer};
use super::encode::{self, ApnsRequest};
use super::token::ProviderTokens;
use super::{ApnsConfig, ApnsError, PushError};
use crate::providers::http::{read_capped, retry_after, MAX_ANSWER_BYTES};
use crate::providers::provider::{Outcome, Provider, Reason};
use crate::providers::push_http::{self, unanswered};

/// An APNs account (one team, key and app) sending over HTTP/2.
#[derive(Debug)]
pub struct ApnsProvider {
    base: String,
    topic: String,
    client: reqwest::Client,
    pub(super) tokens: ProviderTokens,
}

impl ApnsProvider {
    /// Validates `config`, reads the key (failing now if it is missing or not a P-256 key) and
    /// builds the HTTP/2 client. Connections are opened on the first send.
    pub fn new(config: ApnsConfig) -> Result<Self, ApnsError> {
        config.validate().map_err(PushError::Config)?;
        let tokens = ProviderTokens::new(&config.key_file, &config.key_id, &config.team_id)?;
        let timeout = Duration::from_millis(config.request_timeout_ms);
        let builder = push_http::client_builder(timeout).http2_prior_knowledge();
        let client = push_http::build_client(builder, config.ca_file.as_deref())?;
        Ok(Self {
            base: config.base().to_owned(),
            topic: config.topic,
            client,
            tokens,
        })
    }

    /// Sends one request with `token`; an `Err` is the outcome of a request that got no answer.
    async fn post(&self, request: &ApnsRequest, token: &str) -> Result<Answer, Outcome> {
        let url = format!("{}/3/device/{}", self.base, request.token);
        let mut builder = self
            .client
            .post(url)
            .header(AUTHORIZATION, format!("bearer {token}"))
            .header(CONTENT_TYPE, "application/json")
            .header("apns-topic", &self.topic)
            .header("apns-push-type", request.push_type)
            .header("apns-priority", request.priority.to_string())
            .header("apns-expiration", request.expiration.to_string())
            .header("apns-id", &request.apns_id)
            .body(request.payload.clone());
        if let Some(collapse_id) = &request.collapse_id {
            builder = builder.header("apns-collapse-id", collapse_id);
        }
        let response = builder.send().await.map_err(unanswered)?;
        let status = response.status().as_u16();
        let apns_id = response
            .headers()
            .get("apns-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let wait = retry_after(response.headers());
        // The status is authoritative; a body cut short only loses the reason.
        let body = match read_capped(response, MAX_ANSWER_BYTES).await {
            Ok((body, _)) => body,
            Err(_) => Vec::new(),
        };
        Ok(Answer::new(status, &body, apns_id, wait))
    }
}

#[async_trait]
impl Provider for ApnsProvider {
    fn name(&self) -> &'static str {
        "apns"
    }

    async fn send(&self, delivery: &Delivery) -> Outcome {
        let request = match encode::encode(delivery, push_http::now_s()) {
            Ok(request) => request,
            Err(outcome) => return outcome,
        };
        let token = match self.tokens.current() {
            Ok(token) => token,
            Err(err) => {
                tracing::warn!(error = %err, "no apns provider token");
                return Outcome::retry(Reason::ProviderAuth, "no provider token");
            }
        };
        let answer = match self.post(&request, &token.value).await {
            Ok(answer) => answer,
            Err(outcome) => return outcome,
        };
        if !answer.is_token_rejection() {
            return classify::classify(&answer);
        }
        let renewed = match self.tokens.renew_rejected(&token) {
            Ok(Some(renewed)) => renewed,
            Ok(None) => return classify::classify(&answer),
            Err(err) => {
                tracing::warn!(error = %err, "cannot renew apns provider token");
                return classify::classify(&answer);
            }
        };
        tracing::info!(
            reason = answer.reason.as_deref().unwrap_or(""),
            "apns refused the provider token, retrying once with a new one"
        );
        match self.post(&request, &renewed.value).await {
            Ok(answer) => {
                if answer.is_token_rejection() {
                    tracing::warn!(
                        reason = answer.reason.as_deref().unwrap_or(""),
                        "apns refused a renewed provider token, check the key id, team id and key file"
                    );
                }
                classify::classify(&answer)
            }
            Err(outcome) => outcome,
        }
    }
}
