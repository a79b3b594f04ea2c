//! The webhook HTTP client: the only code of the stage that calls out.
//!
//! Guarantees: every POST goes through the SSRF guard shared with web push
//! (`notify_common::ssrf`) at send time, not only at registration: the URL is checked again
//! (scheme, port, IP literals) and the client's resolver refuses a host that resolves to a
//! forbidden address when it connects, so a DNS record changed after registration cannot turn
//! an endpoint inward. Redirects and proxies are off; the answer's body is never read (only its
//! status counts). Errors and logs never carry the URL (its path or query may be a
//! capability) nor the signature.

use std::time::Duration;

use async_trait::async_trait;
use notify_common::config::WebhooksConfig;
use notify_common::ssrf::{check_url, EndpointPolicy, GuardedResolver};
use reqwest::header::{CONTENT_TYPE, USER_AGENT};

use crate::metrics as m;
use crate::retry::Attempt;

/// Posts one signed body to one URL.
#[async_trait]
pub trait Poster: Send + Sync + std::fmt::Debug {
    /// POSTs `body` as JSON with `headers` to `url`, and says what came of it.
    async fn post(&self, url: &str, headers: &[(&'static str, String)], body: Vec<u8>) -> Attempt;
}

/// [`Poster`] over HTTPS, behind the SSRF guard.
#[derive(Debug, Clone)]
pub struct HttpPoster {
    client: reqwest::Client,
    policy: EndpointPolicy,
}

/// The guard's policy for webhook endpoints: https on the allowed ports (loopback http only
/// with the test switch), any public host.
pub fn policy(config: &WebhooksConfig) -> EndpointPolicy {
    EndpointPolicy {
        allow_insecure_loopback: config.allow_insecure_loopback,
        allowed_ports: config.allowed_ports.clone(),
        allowed_hosts: Vec::new(),
    }
}

impl HttpPoster {
    /// A client with the configured timeout and the guard's resolver.
    pub fn new(config: &WebhooksConfig) -> Result<Self, reqwest::Error> {
        let policy = policy(config);
        let client = reqwest::Client::builder()
            .dns_resolver(std::sync::Arc::new(GuardedResolver::new(&policy)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_millis(config.request_timeout_ms))
            .pool_max_idle_per_host(4)
            .build()?;
        Ok(Self { client, policy })
    }
}

fn failed(error: &'static str, why: String) -> Attempt {
    metrics::counter!(m::FAILED_ATTEMPTS_TOTAL, "error" => error).increment(1);
    Attempt::Failed(why)
}

#[async_trait]
impl Poster for HttpPoster {
    async fn post(&self, url: &str, headers: &[(&'static str, String)], body: Vec<u8>) -> Attempt {
        let url = match check_url(url, &self.policy) {
            Ok(url) => url,
            Err(err) => return failed("refused", format!("endpoint refused: {err}")),
        };
        let mut request = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(
                USER_AGENT,
                concat!("notify-webhooks/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        match request.body(body).send().await {
            Ok(answer) if answer.status().is_success() => Attempt::Taken,
            Ok(answer) => failed(
                "status",
                format!("endpoint answered {}", answer.status().as_u16()),
            ),
            Err(err) if err.is_timeout() => failed("timeout", "endpoint timed out".into()),
            // the guard's refusal surfaces as a connect error whose source names the range
            Err(err) => {
                let err = err.without_url();
                let text = error_chain(&err);
                let kind = if text.contains("not allowed") {
                    "refused"
                } else {
                    "connect"
                };
                failed(kind, format!("endpoint unreachable: {text}"))
            }
        }
    }
}

/// The error and its sources, `: `-separated.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
