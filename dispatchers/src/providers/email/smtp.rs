//! SMTP submission with lettre: one message per delivery over a pooled async connection.
//!
//! The message is `multipart/alternative` (text/plain, then text/html) when both bodies are
//! present, a single part otherwise. `Message-ID` is `<{delivery_id}@{domain}>` (domain from
//! `message_id_domain` or the sender's domain), so a replayed delivery carries the same id and
//! receivers can recognise it; the `X-Notify-Delivery-Id` header carries the id as well, and
//! `X-Notify-Tenant` and `X-Notify-Event-Id` name the delivery's tenant and event, so a bounce
//! message (DSN) returning the header can be matched to the delivery's log row by the gateway
//! (`POST /v1/receipts/smtp/dsn`, whose shared secret is `dsn_secret` here; the dispatcher
//! does not read it).
//!
//! Transport: `tls = "none"` (plaintext, for a loopback relay), `"starttls"` (STARTTLS required,
//! port 587 by default) or `"tls"` (implicit TLS, port 465). Credentials are optional; the
//! password is read from a file (re-read when it changes, which rebuilds the transport) or the
//! environment.
//!
//! Classification of the SMTP reply (RFC 5321 §4.2.1), by its code and the enhanced status code
//! (RFC 3463) at the start of its text where the relay gives one (`smtp_reply`):
//!
//! | reply | outcome |
//! |---|---|
//! | 2xx | `Sent`, message id = the `Message-ID` |
//! | 4xx (421, 450, 451, 452, ...) | `Retry` `ProviderUnavailable` |
//! | 530, 534, 535 (authentication) | `Retry` `ProviderAuth` |
//! | 5xx with 5.1.1, 5.1.2, 5.1.3, 5.1.6, 5.1.10 (no such mailbox or domain, bad syntax, moved, null MX) | `InvalidRecipient` `BadAddress`: the address goes on the tenant's suppression list |
//! | 550, 551, 553 without an enhanced code, whose text names the recipient (user, mailbox, unknown, ...) and no policy | `InvalidRecipient` `BadAddress`, listed |
//! | 5xx with 5.1.7, 5.1.8 (our sender's address) | `Failed` `BadMessage` |
//! | 5xx with another 5.1.x | `Failed` `BadAddress`, not listed |
//! | 5xx with 5.7.x (policy, spam, authentication of the message) | `Failed` `BadMessage`, not listed |
//! | other 550, 551, 553 (5.2.2 mailbox full with 550, no enhanced code and another text) | `Failed` `BadAddress`, not listed |
//! | other 5xx (552 mailbox full or message too large, 554, ...) | `Failed` `BadMessage` |
//! | connect failure, drop, unreadable reply, timeout, TLS failure | `Retry` `Connection` |

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use notify_schemas::Delivery;
use serde::Deserialize;

use super::list_unsubscribe::{self, ListUnsubscribe};
use super::smtp_reply::classify_reply;
use super::{email_parts, redact_email, DELIVERY_ID_HEADER, EVENT_ID_HEADER, TENANT_HEADER};
use crate::providers::provider::{Outcome, Provider, Reason};
use crate::providers::secret::{Secret, SecretConfig, SecretError};

/// How the connection to the relay is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plaintext; only for a relay on loopback or a trusted network.
    None,
    /// Plaintext, upgraded with STARTTLS; refused if the relay does not offer it.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

/// Configuration of one SMTP relay.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Relay host name (also the TLS server name).
    pub host: String,
    /// Relay port; 25 for `none`, 587 for `starttls`, 465 for `tls` when unset.
    #[serde(default)]
    pub port: Option<u16>,
    /// Connection security.
    #[serde(default)]
    pub tls: SmtpTls,
    /// User name for AUTH; no authentication when unset.
    #[serde(default)]
    pub username: Option<String>,
    /// Password for AUTH; required with `username`.
    #[serde(default)]
    pub password: Option<SecretConfig>,
    /// Name sent in EHLO; the machine's host name when unset.
    #[serde(default)]
    pub hello_name: Option<String>,
    /// Domain of the generated `Message-ID`; the sender's domain when unset.
    #[serde(default)]
    pub message_id_domain: Option<String>,
    /// Timeout of each SMTP command.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Most pooled connections to the relay.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// The secret the relay's bounce mailbox forwards DSNs to the gateway with; read by the
    /// gateway only.
    #[serde(default)]
    pub dsn_secret: Option<SecretConfig>,
}

fn default_timeout_ms() -> u64 {
    30_000
}

fn default_max_connections() -> u32 {
    10
}

/// Why an SMTP provider could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// The configuration is inconsistent.
    #[error("invalid smtp config: {0}")]
    Config(String),
    /// The password could not be loaded.
    #[error("smtp password: {0}")]
    Secret(#[from] SecretError),
    /// The transport could not be built (TLS parameters).
    #[error("smtp transport: {0}")]
    Transport(#[from] lettre::transport::smtp::Error),
}

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// A pooled transport with the password it was built with.
///
/// lettre's pool spawns Tokio tasks when it is built and when it is dropped, and panics
/// without a runtime. It is therefore built on first use (always inside the runtime), and when
/// dropped outside a runtime (a provider outliving it at process exit) it is leaked instead.
struct Pooled {
    password: Option<Arc<String>>,
    transport: Option<Transport>,
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_err() {
            std::mem::forget(self.transport.take());
        }
    }
}

/// Sends email through one SMTP relay.
pub struct SmtpProvider {
    config: SmtpConfig,
    password: Option<Secret>,
    /// Built on first send; rebuilt when the password changes.
    transport: Mutex<Option<Pooled>>,
    /// Unsubscribe headers, when links are configured.
    list_unsubscribe: Option<Arc<ListUnsubscribe>>,
}

impl std::fmt::Debug for SmtpProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpProvider")
            .field("host", &self.config.host)
            .field("port", &self.config.port)
            .field("tls", &self.config.tls)
            .finish_non_exhaustive()
    }
}

impl SmtpProvider {
    /// Checks the config and loads the password; the connection pool is built on the first
    /// send, so this works outside a Tokio runtime.
    pub fn new(config: SmtpConfig) -> Result<Self, SmtpError> {
        if config.host.is_empty() {
            return Err(SmtpError::Config("host must not be empty".into()));
        }
        if config.username.is_some() != config.password.is_some() {
            return Err(SmtpError::Config(
                "username and password go together".into(),
            ));
        }
        if config.max_connections == 0 {
            return Err(SmtpError::Config("max_connections must be positive".into()));
        }
        let password = config.password.as_ref().map(Secret::load).transpose()?;
        tls(&config)?;
        Ok(Self {
            config,
            password,
            transport: Mutex::new(None),
            list_unsubscribe: None,
        })
    }

    /// Adds the unsubscribe headers of [`list_unsubscribe`] to every message.
    pub fn with_list_unsubscribe(mut self, headers: Option<Arc<ListUnsubscribe>>) -> Self {
        self.list_unsubscribe = headers;
        self
    }

    /// The transport to use now, rebuilt if the password file changed.
    fn transport(&self) -> Result<Transport, Outcome> {
        let current = match self.password.as_ref().map(Secret::get).transpose() {
            Ok(current) => current,
            Err(err) => {
                tracing::warn!(provider = "smtp", error = %err, "smtp password unavailable");
                return Err(Outcome::retry(Reason::ProviderAuth, "password unavailable"));
            }
        };
        let mut slot = self.transport.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(Pooled {
            password,
            transport: Some(transport),
        }) = slot.as_ref()
        {
            let same = match (password, &current) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if same {
                return Ok(transport.clone());
            }
        }
        let transport = build(&self.config, current.as_deref().map(String::as_str))
            .map_err(|_| Outcome::retry(Reason::Connection, "transport cannot be built"))?;
        *slot = Some(Pooled {
            password: current,
            transport: Some(transport.clone()),
        });
        Ok(transport)
    }
}

/// The TLS mode and default port of the configured security.
fn tls(config: &SmtpConfig) -> Result<(Tls, u16), SmtpError> {
    Ok(match config.tls {
        SmtpTls::None => (Tls::None, 25),
        SmtpTls::Starttls => (Tls::Required(TlsParameters::new(config.host.clone())?), 587),
        SmtpTls::Tls => (Tls::Wrapper(TlsParameters::new(config.host.clone())?), 465),
    })
}

fn build(config: &SmtpConfig, password: Option<&str>) -> Result<Transport, SmtpError> {
    let (tls, port) = tls(config)?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
        .port(config.port.unwrap_or(port))
        .tls(tls)
        .timeout(Some(Duration::from_millis(config.timeout_ms)))
        .pool_config(PoolConfig::new().max_size(config.max_connections));
    if let Some(name) = &config.hello_name {
        builder = builder.hello_name(ClientId::Domain(name.clone()));
    }
    if let (Some(user), Some(password)) = (&config.username, password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.to_owned()));
    }
    Ok(builder.build())
}

/// Builds the MIME message of a delivery; `Err` is the outcome for a message that cannot be
/// built.
pub(crate) fn message(
    delivery: &Delivery,
    message_id_domain: Option<&str>,
    list_unsubscribe: Option<&ListUnsubscribe>,
) -> Result<(Message, String), Outcome> {
    let parts = email_parts(delivery)?;
    let id = delivery.delivery_id.to_string();
    let domain = message_id_domain.unwrap_or(parts.from.email.domain());
    let message_id = format!("<{id}@{domain}>");
    let mut builder = Message::builder()
        .from(parts.from)
        .to(parts.to)
        .subject(parts.email.subject.clone())
        .message_id(Some(message_id.clone()))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(DELIVERY_ID_HEADER),
            id,
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(TENANT_HEADER),
            delivery.tenant.clone(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(EVENT_ID_HEADER),
            delivery.event_id.to_string(),
        ));
    if let Some(reply_to) = parts.reply_to {
        builder = builder.reply_to(reply_to);
    }
    for (name, value) in list_unsubscribe::headers_for(list_unsubscribe, delivery) {
        builder = builder.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(name),
            value,
        ));
    }
    let built = match (&parts.email.text, &parts.email.html) {
        (Some(text), Some(html)) => builder.multipart(MultiPart::alternative_plain_html(
            text.clone(),
            html.clone(),
        )),
        (None, Some(html)) => builder.singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(html.clone()),
        ),
        (text, None) => builder.singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(text.clone().unwrap_or_default()),
        ),
    };
    built
        .map(|m| (m, message_id))
        .map_err(|_| Outcome::failed(Reason::BadMessage, "message cannot be built"))
}

/// Classifies a failed SMTP transaction; see the module table.
pub fn classify(err: &lettre::transport::smtp::Error) -> Outcome {
    if let Some(code) = err.status() {
        // lettre keeps the reply's text (every line, joined) as the error's source
        let text = std::error::Error::source(err)
            .map(ToString::to_string)
            .unwrap_or_default();
        return classify_reply(u16::from(code), &text);
    }
    if err.is_timeout() {
        Outcome::retry(Reason::Connection, "timed out")
    } else if err.is_tls() {
        Outcome::retry(Reason::Connection, "tls failed")
    } else if err.is_response() {
        // lettre reports a connection closed mid-reply as an unreadable reply.
        Outcome::retry(Reason::Connection, "connection closed or unreadable reply")
    } else {
        Outcome::retry(Reason::Connection, "connection failed")
    }
}

#[async_trait]
impl Provider for SmtpProvider {
    fn name(&self) -> &'static str {
        "smtp"
    }

    async fn send(&self, delivery: &Delivery) -> Outcome {
        let (message, message_id) = match message(
            delivery,
            self.config.message_id_domain.as_deref(),
            self.list_unsubscribe.as_deref(),
        ) {
            Ok(built) => built,
            Err(outcome) => return outcome,
        };
        let transport = match self.transport() {
            Ok(transport) => transport,
            Err(outcome) => return outcome,
        };
        match transport.send(message).await {
            Ok(_) => Outcome::Sent {
                provider_message_id: Some(message_id),
            },
            Err(err) => {
                let outcome = classify(&err);
                let to = delivery.recipient.key();
                tracing::debug!(provider = "smtp", delivery_id = %delivery.delivery_id, to = %redact_email(to), outcome = ?outcome, "email not accepted");
                outcome
            }
        }
    }
}
