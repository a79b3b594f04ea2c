//! Plumbing the REST providers (Twilio, Vonage, SendGrid) share: the HTTP client, base URL
//! checks, timeout defaults and the outcome of a request that got no answer.
//!
//! Guarantees: clients follow no redirects and ignore proxy environment variables, so provider
//! traffic (and its credentials) never silently goes elsewhere; every request has a connect
//! and a whole-request timeout.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use crate::providers::http::{read_capped, MAX_ANSWER_BYTES};
use crate::providers::provider::{Outcome, Reason};
use crate::providers::push_http::unanswered;
use crate::providers::secret::{Secret, SecretError};

/// Why a REST provider (Twilio, Vonage, SendGrid) could not be built; the message names the
/// provider, and for a credential which one.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The configuration is inconsistent.
    #[error("invalid {provider} config: {reason}")]
    Config {
        /// The provider.
        provider: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The credential could not be loaded.
    #[error("{provider} {what}: {source}")]
    Secret {
        /// The provider.
        provider: &'static str,
        /// Which credential (`auth token`, `api key`, ...).
        what: &'static str,
        /// Why.
        source: SecretError,
    },
    /// The HTTP client could not be built.
    #[error("{provider} http client: {source}")]
    Client {
        /// The provider.
        provider: &'static str,
        /// Why.
        source: reqwest::Error,
    },
}

impl RestError {
    /// Makes the configuration errors of `provider`.
    pub(crate) fn config(provider: &'static str) -> impl Fn(String) -> Self {
        move |reason| RestError::Config { provider, reason }
    }

    /// Makes the error of `provider`'s credential `what`.
    pub(crate) fn secret(
        provider: &'static str,
        what: &'static str,
    ) -> impl Fn(SecretError) -> Self {
        move |source| RestError::Secret {
            provider,
            what,
            source,
        }
    }

    /// Makes the HTTP client errors of `provider`.
    pub(crate) fn client(provider: &'static str) -> impl Fn(reqwest::Error) -> Self {
        move |source| RestError::Client { provider, source }
    }
}

/// What a provider answered: status, headers and at most [`MAX_ANSWER_BYTES`] of the body.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Reads the answer to a sent request. A request that got no answer is the outcome of
/// [`unanswered`] (never reached the provider: a free retry; written and then unanswered: an
/// ambiguous one). A body that broke off after the status line came is an ambiguous retry too:
/// the provider had the request.
pub(crate) async fn read_answer(
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<Answer, Outcome> {
    let response = sent.map_err(unanswered)?;
    let status = response.status();
    let headers = response.headers().clone();
    match read_capped(response, MAX_ANSWER_BYTES).await {
        Ok((body, _)) => Ok(Answer {
            status,
            headers,
            body,
        }),
        Err(err) => Err(Outcome::retry(
            Reason::AnswerLost,
            format!("answer broke off: {}", err.without_url()),
        )),
    }
}

/// The current value of a provider's credential; one that cannot be read (a rotated file
/// half-written, a removed file) is a `provider_auth` retry, never a failed message. `what`
/// names the credential in the log and the detail, never its value.
pub(crate) fn credential(
    secret: &Secret,
    provider: &'static str,
    what: &'static str,
) -> Result<Arc<String>, Outcome> {
    secret.get().map_err(|err| {
        tracing::warn!(provider, error = %err, "{what} unavailable");
        Outcome::retry(Reason::ProviderAuth, format!("{what} unavailable"))
    })
}

/// A reqwest client with the configured timeouts, no redirects and no proxy from the
/// environment (provider traffic must not silently go elsewhere).
pub(crate) fn http_client(
    timeout_ms: u64,
    connect_timeout_ms: u64,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(timeout_ms))
        .connect_timeout(Duration::from_millis(connect_timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
}

/// Checks a configured base URL: absolute http(s), no query or fragment.
pub(crate) fn check_base_url(base_url: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(base_url).map_err(|e| format!("base_url: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
        return Err("base_url must be an http(s) url without a query".to_owned());
    }
    Ok(base_url.trim_end_matches('/').to_owned())
}

pub(crate) fn default_timeout_ms() -> u64 {
    10_000
}

pub(crate) fn default_connect_timeout_ms() -> u64 {
    3_000
}
