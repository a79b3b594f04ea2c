//! The web push client: the only file of the module that touches the network.
//!
//! Guarantees: one POST per delivery to the subscription endpoint, after the SSRF guard
//! allowed it (redirects and proxies are off, DNS answers are checked); the body is the RFC
//! 8291 encryption of the JSON payload; every answer is classified (never a panic), reading at
//! most [`crate::providers::http::MAX_ANSWER_BYTES`] of it. Logs name the push service host, never the
//! endpoint path (it is the subscription's capability), keys or auth secrets.
//!
//! Classification, and why:
//!
//! | answer | outcome |
//! |---|---|
//! | 2xx (201 Created, 202 with `Prefer: respond-async`) | `Sent`, `Location` as the message id |
//! | 404, 410 | `InvalidRecipient` (`token_invalid`): the subscription is gone, remove it |
//! | 413 | `Failed` (`bad_message`) |
//! | 400 | `Failed` (`bad_message`): the same request would be refused again |
//! | 401 | `Retry` (`provider_auth`): the service refused our VAPID token (expired, clock skew, key replaced mid-flight); the cached token of that origin is dropped and a fresh one is made, and the retry tiers bound the attempts |
//! | 403 naming a JWT problem (Apple's `BadJwtToken`, `ExpiredJwtToken`) | `Retry` (`provider_auth`), like 401: Apple answers 403 for tokens it refuses (a `sub` it does not accept, an expired token); the cached token is dropped |
//! | other 403 | `Failed` (`provider_auth`): the subscription was made for another application server key (FCM); retrying with ours cannot work, but it is a credential fault, so the subscription is **not** removed (a key roll-back would revive it) |
//! | 408 | `Retry` (`connection`) |
//! | 429 | `Retry` (`rate_limited`) after `Retry-After` |
//! | 5xx | `Retry` (`provider_unavailable`) after `Retry-After` when given |
//! | other | `Failed` (`unexpected_response`) |
//! | connect error, timeout, dropped connection | `Retry` (`connection`) |
//! | endpoint refused by the SSRF guard | `Failed` (`unsupported`) |
//! | malformed `p256dh`/`auth` in the subscription | `Failed` (`bad_address`) |
//! | payload over 3993 bytes | `Failed` (`bad_message`) |
//! | VAPID key file unreadable at first use | `Retry` (`provider_auth`) |

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use notify_schemas::records::{Recipient, RenderedContent};
use notify_schemas::Delivery;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use reqwest::StatusCode;

use super::classify::classify;
use super::config::{ConfigError, WebPushConfig};
use super::crypto::{self, CryptoError, UaKeys};
use super::encode;
use super::endpoint::{check_url, EndpointError, EndpointPolicy, GuardedResolver};
use super::vapid::{TokenCache, VapidKey};
use crate::providers::credentials::{CredentialError, WatchedFile};
use crate::providers::http::{read_capped, MAX_ANSWER_BYTES};
use crate::providers::provider::{Outcome, Provider, Reason};

/// Why the provider could not be built.
#[derive(Debug, thiserror::Error)]
pub enum WebPushError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The VAPID key file cannot be read or parsed.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// The HTTP client could not be built.
    #[error("cannot build the web push http client: {0}")]
    Client(#[source] reqwest::Error),
}

/// Sends web push messages (RFC 8030) encrypted with RFC 8291 and signed with VAPID (RFC 8292).
#[derive(Debug)]
pub struct WebPushProvider {
    client: reqwest::Client,
    key: WatchedFile<VapidKey>,
    tokens: TokenCache,
    subject: String,
    default_ttl_s: u32,
    policy: EndpointPolicy,
}

impl WebPushProvider {
    /// Validates the config, reads the VAPID key (so a bad path fails at startup) and builds
    /// the HTTP client.
    pub fn new(config: WebPushConfig) -> Result<Self, WebPushError> {
        config.validate()?;
        let key = WatchedFile::open(&config.vapid_key_file, VapidKey::parse)?;
        let policy = config.endpoint_policy();
        let timeout = Duration::from_millis(config.request_timeout_ms);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver::new(&policy)))
            .https_only(!policy.allow_insecure_loopback)
            .user_agent(concat!("notify-webpush/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(WebPushError::Client)?;
        Ok(Self {
            client,
            key,
            tokens: TokenCache::new(),
            subject: config.subject,
            default_ttl_s: config.default_ttl_s,
            policy,
        })
    }

    /// The VAPID public key in base64url: the `applicationServerKey` browsers must subscribe
    /// with. Reflects a replaced key file.
    pub fn public_key(&self) -> Result<String, CredentialError> {
        Ok(self.key.get()?.public_key().to_owned())
    }
}

#[async_trait]
impl Provider for WebPushProvider {
    fn name(&self) -> &'static str {
        "webpush"
    }

    async fn send(&self, delivery: &Delivery) -> Outcome {
        let Recipient::WebPush(subscription) = &delivery.recipient else {
            return Outcome::failed(
                Reason::Unsupported,
                "recipient is not a web push subscription",
            );
        };
        let RenderedContent::Push(push) = &delivery.content else {
            return Outcome::failed(Reason::Unsupported, "content is not push content");
        };
        let url = match check_url(&subscription.endpoint, &self.policy) {
            Ok(url) => url,
            Err(err) => {
                tracing::warn!(delivery_id = %delivery.delivery_id, error = %err, "web push endpoint refused");
                return Outcome::failed(Reason::Unsupported, err.to_string());
            }
        };
        let host = url.host_str().unwrap_or_default().to_owned();
        let origin = url.origin().ascii_serialization();

        let keys = match UaKeys::from_base64url(&subscription.p256dh, &subscription.auth) {
            Ok(keys) => keys,
            Err(err) => return Outcome::failed(Reason::BadAddress, err.to_string()),
        };
        let body = match crypto::encrypt(&encode::payload(delivery, push), &keys) {
            Ok(body) => body,
            Err(err @ CryptoError::TooLarge { .. }) => {
                return Outcome::failed(Reason::BadMessage, err.to_string())
            }
            Err(err) => return Outcome::failed(Reason::BadAddress, err.to_string()),
        };
        let key = match self.key.get() {
            Ok(key) => key,
            Err(err) => {
                tracing::error!(error = %err, "vapid key unavailable");
                return Outcome::retry(Reason::ProviderAuth, "vapid key unavailable");
            }
        };
        let now = SystemTime::now();
        let authorization = self.tokens.authorization(&key, &origin, &self.subject, now);
        let ttl = encode::ttl(
            push.ttl_seconds,
            self.default_ttl_s,
            delivery.expires_at,
            millis(now),
        );

        let mut request = self
            .client
            .post(url)
            .header("TTL", ttl)
            .header("Urgency", encode::urgency(delivery.priority))
            .header(CONTENT_ENCODING, "aes128gcm")
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(AUTHORIZATION, authorization)
            .body(body);
        if let Some(topic) = push.collapse_key.as_deref().and_then(encode::topic) {
            request = request.header("Topic", topic);
        }

        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => {
                // reqwest's error text would carry the endpoint, a bearer capability.
                let err = err.without_url();
                let outcome = transport_failure(&err);
                tracing::warn!(delivery_id = %delivery.delivery_id, push_host = %host, error = %err, "web push request failed");
                return outcome;
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        // The status decides; a body cut off or broken mid-read only loses the detail text.
        let body = read_capped(response, MAX_ANSWER_BYTES)
            .await
            .map(|(body, _)| body)
            .unwrap_or_default();
        let outcome = classify(status, &headers, &body);
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            self.tokens.forget(&origin);
        }
        match &outcome {
            Outcome::Sent { .. } => {
                tracing::debug!(delivery_id = %delivery.delivery_id, push_host = %host, status = status.as_u16(), "web push accepted")
            }
            _ => {
                tracing::info!(delivery_id = %delivery.delivery_id, push_host = %host, status = status.as_u16(), outcome = ?outcome, "web push not accepted")
            }
        }
        outcome
    }
}

/// Outcome of a request that got no answer: refused by the SSRF guard at resolution time
/// (permanent), or a transport failure (transient).
fn transport_failure(err: &reqwest::Error) -> Outcome {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<EndpointError>() {
            return match refused {
                EndpointError::Unresolved => {
                    Outcome::retry(Reason::Connection, refused.to_string())
                }
                _ => Outcome::failed(Reason::Unsupported, refused.to_string()),
            };
        }
        source = current.source();
    }
    let detail = if err.is_timeout() {
        "request timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "connection lost before an answer"
    };
    Outcome::retry(Reason::Connection, detail)
}

fn millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
