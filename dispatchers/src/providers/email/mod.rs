//! Email providers: the SendGrid v3 Mail Send API and plain SMTP (lettre).
//!
//! Guarantees: each provider sends one [`notify_schemas::Delivery`] with a
//! [`notify_schemas::Recipient::Email`] recipient and [`notify_schemas::RenderedContent::Email`]
//! content as one message with the plain-text part first and the HTML part second, carries the
//! delivery id where the provider keeps it (SendGrid `personalizations[0].custom_args.delivery_id`; SMTP header
//! `X-Notify-Delivery-Id` and a `Message-ID` derived from it, with `X-Notify-Tenant` and
//! `X-Notify-Event-Id` beside it), and classifies every answer
//! into an [`crate::Outcome`] by status or reply code. Addresses and credentials are never
//! logged; logs carry a redacted address ([`redact_email`]).
//!
//! Configuration (`*_ms` durations; secrets from a file, re-read when it changes, or the
//! environment; SendGrid's `base_url` defaults to the real API):
//!
//! ```toml
//! [dispatch.providers.sendgrid]
//! api_key = { file = "/run/secrets/sendgrid-api-key" }
//!
//! [dispatch.providers.smtp]
//! host = "smtp.example.com"
//! tls = "starttls"          # "none" (loopback relays only), "starttls" (587) or "tls" (465)
//! username = "notify"
//! password = { file = "/run/secrets/smtp-password" }
//! message_id_domain = "notify.example.com"
//! dsn_secret = { file = "/run/secrets/smtp-dsn-secret" }   # read by the gateway only
//! ```

pub mod list_unsubscribe;
pub mod sendgrid;
pub mod smtp;
pub mod smtp_reply;

#[cfg(test)]
mod tests;

pub use crate::providers::rest::RestError;
pub use list_unsubscribe::ListUnsubscribe;
pub use sendgrid::{SendGridConfig, SendGridError, SendGridProvider};
pub use smtp::{SmtpConfig, SmtpError, SmtpProvider, SmtpTls};

use lettre::message::Mailbox;
use notify_schemas::{Delivery, EmailAddress, Recipient, RenderedContent, RenderedEmail};

use crate::providers::provider::{Outcome, Reason};

/// Header carrying the delivery id in every SMTP message.
pub const DELIVERY_ID_HEADER: &str = "X-Notify-Delivery-Id";
/// Header carrying the delivery's tenant in every SMTP message (bounce messages return it).
pub const TENANT_HEADER: &str = "X-Notify-Tenant";
/// Header carrying the delivery's event id in every SMTP message (bounce messages return it).
pub const EVENT_ID_HEADER: &str = "X-Notify-Event-Id";

/// The parsed parts of an email delivery.
pub(crate) struct EmailParts<'a> {
    pub to: Mailbox,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    pub email: &'a RenderedEmail,
    pub address: &'a str,
}

/// Parses the recipient, sender and reply-to of an email delivery, or the outcome for a
/// delivery that cannot be sent as email.
pub(crate) fn email_parts(delivery: &Delivery) -> Result<EmailParts<'_>, Outcome> {
    let Recipient::Email(EmailAddress { address, name }) = &delivery.recipient else {
        return Err(Outcome::failed(
            Reason::Unsupported,
            "recipient is not an email address",
        ));
    };
    let RenderedContent::Email(email) = &delivery.content else {
        return Err(Outcome::failed(Reason::Unsupported, "content is not email"));
    };
    let to_address = address
        .parse()
        .map_err(|_| Outcome::failed(Reason::BadAddress, "recipient address is invalid"))?;
    let to = Mailbox::new(name.clone(), to_address);
    let from: Mailbox = email
        .from
        .parse()
        .map_err(|_| Outcome::failed(Reason::BadMessage, "from address is invalid"))?;
    let reply_to = email
        .reply_to
        .as_deref()
        .map(str::parse::<Mailbox>)
        .transpose()
        .map_err(|_| Outcome::failed(Reason::BadMessage, "reply-to address is invalid"))?;
    Ok(EmailParts {
        to,
        from,
        reply_to,
        email,
        address,
    })
}

/// An address safe to log: first character of the local part and the domain, e.g.
/// `j…@example.com`.
pub fn redact_email(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}…@{domain}")
        }
        None => "…".to_owned(),
    }
}
