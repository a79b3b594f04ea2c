//! Delivery status notifications (RFC 3464) a relay mails back after it took a message: what
//! they say about each recipient, and which of our deliveries they are about. Pure: no I/O.
//!
//! A DSN is a `multipart/report; report-type=delivery-status` message (RFC 6522) whose
//! `message/delivery-status` part holds one per-message field group and one group per
//! recipient (`Final-Recipient`, `Action`, `Status`, ...), and whose last part returns the
//! original message (`message/rfc822`) or only its header (`text/rfc822-headers`). The MIME
//! structure is read with `mail-parser`; each field group is parsed as a header block.
//!
//! The SMTP dispatcher writes `X-Notify-Delivery-Id`, `X-Notify-Tenant` and
//! `X-Notify-Event-Id` into every message (and a `Message-ID` of `<{delivery_id}@…>`), so the
//! returned header names the delivery. Guarantees: malformed input is an `Err` saying what is
//! missing, never a panic; a DSN whose returned header does not name one of our deliveries
//! parses with no [`Dsn::delivery`]. Not checked here: that the recipient is the delivery's
//! (the route compares it with the notification log).

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use notify_schemas::Receipt;
use notify_store::suppressions::SuppressionReason;
use uuid::Uuid;

/// Header of the SMTP dispatcher's messages carrying the delivery id.
pub const DELIVERY_ID_HEADER: &str = "X-Notify-Delivery-Id";
/// Header of the SMTP dispatcher's messages carrying the delivery's tenant.
pub const TENANT_HEADER: &str = "X-Notify-Tenant";
/// Header of the SMTP dispatcher's messages carrying the delivery's event id.
pub const EVENT_ID_HEADER: &str = "X-Notify-Event-Id";

/// Most recipient groups read from one DSN; a relay reports one message, and ours have one
/// recipient each.
const MAX_RECIPIENTS: usize = 100;

/// What a DSN's `Action` field says happened (RFC 3464 §2.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Could not be delivered and will not be tried again.
    Failed,
    /// Not delivered yet; the relay keeps trying.
    Delayed,
    /// Delivered to the recipient's mailbox.
    Delivered,
    /// Passed on to a system that sends no DSNs.
    Relayed,
    /// Delivered to a list or alias that expanded it.
    Expanded,
}

impl Action {
    /// The lower-case name, a metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Delivered => "delivered",
            Action::Relayed => "relayed",
            Action::Expanded => "expanded",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        // the field may carry a comment after the action: `failed (bad mailbox)`
        let word = text.split(|c: char| c.is_whitespace() || c == '(').next()?;
        Some(match word.to_ascii_lowercase().as_str() {
            "failed" => Action::Failed,
            "delayed" => Action::Delayed,
            "delivered" => Action::Delivered,
            "relayed" => Action::Relayed,
            "expanded" => Action::Expanded,
            _ => return None,
        })
    }
}

/// What a DSN reports about one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientReport {
    /// The address of `Final-Recipient` (its `rfc822;` type dropped), as written.
    pub final_recipient: String,
    /// `Action`.
    pub action: Action,
    /// `Status`, the enhanced status code as (class, subject, detail).
    pub status: (u8, u16, u16),
}

impl RecipientReport {
    /// Whether the mail system refused the address itself for good: no such mailbox (5.1.1) or
    /// domain (5.1.2), bad syntax (5.1.3), moved without forwarding (5.1.6), null MX (5.1.10).
    pub fn refuses_address(&self) -> bool {
        let (class, subject, detail) = self.status;
        self.action == Action::Failed
            && class == 5
            && subject == 1
            && matches!(detail, 1 | 2 | 3 | 6 | 10)
    }

    /// The receipt this recipient's report records, with its reason and whether the address
    /// goes on the suppression list; `None` for reports that are not final failures (a delay,
    /// a delivery or relay the dispatcher's `sent` already covers).
    pub fn receipt(&self) -> Option<(Receipt, &'static str, Option<SuppressionReason>)> {
        if self.action != Action::Failed {
            return None;
        }
        Some(if self.refuses_address() {
            (
                Receipt::Bounced,
                "smtp_bounce",
                Some(SuppressionReason::Bounced),
            )
        } else {
            // a policy block, a full mailbox: the address may well be right
            (Receipt::Bounced, "smtp_failed", None)
        })
    }
}

/// The delivery a DSN's returned header names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRef {
    /// The delivery id.
    pub delivery_id: Uuid,
    /// Its tenant.
    pub tenant: String,
    /// Its event.
    pub event_id: Uuid,
}

/// A parsed DSN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    /// One report per recipient group, in order.
    pub recipients: Vec<RecipientReport>,
    /// The delivery of the returned message, if it is one of ours.
    pub delivery: Option<DeliveryRef>,
}

/// Why a body is not a DSN that can be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsnError {
    /// Not a MIME message at all.
    #[error("not an RFC 5322 message")]
    NotAMessage,
    /// Not `multipart/report; report-type=delivery-status`.
    #[error("not a delivery status notification (multipart/report; report-type=delivery-status)")]
    NotAReport,
    /// No `message/delivery-status` part.
    #[error("the report has no message/delivery-status part")]
    NoStatusPart,
    /// A recipient group lacks a field or has one that cannot be read.
    #[error("recipient {index}: {problem}")]
    Recipient {
        /// 1-based position of the group.
        index: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// The status part names no recipient.
    #[error("the delivery-status part has no per-recipient fields")]
    NoRecipients,
    /// More recipient groups than [`MAX_RECIPIENTS`].
    #[error("more than {MAX_RECIPIENTS} recipients")]
    TooManyRecipients,
}

/// Parses one raw DSN message.
pub fn parse(raw: &[u8]) -> Result<Dsn, DsnError> {
    let parser = MessageParser::new();
    let message = parser.parse(raw).ok_or(DsnError::NotAMessage)?;
    let is_report = message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct
                .attribute("report-type")
                .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
    });
    if !is_report {
        return Err(DsnError::NotAReport);
    }
    let mut status = None;
    let mut delivery = None;
    for part in message.parts.iter().skip(1) {
        if part.is_content_type("message", "delivery-status") {
            status.get_or_insert_with(|| part.contents());
        } else if let PartType::Message(original) = &part.body {
            delivery = delivery.or_else(|| delivery_of(original));
        } else if part.is_content_type("text", "rfc822-headers") {
            let headers = parser.parse_headers(part.contents());
            delivery = delivery.or_else(|| headers.as_ref().and_then(delivery_of));
        }
    }
    let status = status.ok_or(DsnError::NoStatusPart)?;
    let recipients = recipient_reports(&parser, status)?;
    Ok(Dsn {
        recipients,
        delivery,
    })
}

/// The recipient groups of a `message/delivery-status` body: every field group after the
/// first (the per-message fields), groups separated by empty lines.
fn recipient_reports(
    parser: &MessageParser,
    body: &[u8],
) -> Result<Vec<RecipientReport>, DsnError> {
    let text = String::from_utf8_lossy(body).replace("\r\n", "\n");
    let groups: Vec<&str> = text
        .split("\n\n")
        .filter(|g| !g.trim().is_empty())
        .skip(1)
        .collect();
    if groups.is_empty() {
        return Err(DsnError::NoRecipients);
    }
    if groups.len() > MAX_RECIPIENTS {
        return Err(DsnError::TooManyRecipients);
    }
    groups
        .iter()
        .enumerate()
        .map(|(i, group)| {
            let problem = |problem| DsnError::Recipient {
                index: i + 1,
                problem,
            };
            let block = format!("{group}\n\n");
            let fields = parser
                .parse_headers(block.as_bytes())
                .ok_or(problem("not a field group"))?;
            let field = |name: &'static str| {
                fields
                    .header_raw(name)
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
            };
            let final_recipient = field("Final-Recipient")
                .and_then(address_of)
                .ok_or(problem("no Final-Recipient address"))?;
            let action = field("Action").and_then(Action::parse).ok_or(problem(
                "no Action of failed, delayed, delivered, relayed or expanded",
            ))?;
            let status = field("Status")
                .and_then(status_code)
                .ok_or(problem("no Status code (class.subject.detail)"))?;
            Ok(RecipientReport {
                final_recipient,
                action,
                status,
            })
        })
        .collect()
}

/// The address of a `Final-Recipient` value `rfc822; ann@example.org`.
fn address_of(value: &str) -> Option<String> {
    let (kind, address) = value.split_once(';')?;
    let address = address.trim().trim_start_matches('<').trim_end_matches('>');
    (kind.trim().eq_ignore_ascii_case("rfc822") && address.contains('@'))
        .then(|| address.to_owned())
}

/// The enhanced status code at the start of a `Status` value (RFC 3463).
fn status_code(value: &str) -> Option<(u8, u16, u16)> {
    let code = value
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()?;
    let mut parts = code.split('.');
    let mut number = |max_len: usize| {
        let part = parts.next()?;
        let digits =
            (1..=max_len).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit());
        digits.then(|| part.parse::<u16>().ok()).flatten()
    };
    let (class, subject, detail) = (number(1)?, number(3)?, number(3)?);
    if parts.next().is_some() || !matches!(class, 2 | 4 | 5) {
        return None;
    }
    Some((class as u8, subject, detail))
}

/// The delivery named by a returned header: our headers, or the delivery id of a
/// `Message-ID` when the relay kept that header only with ours.
fn delivery_of(original: &Message<'_>) -> Option<DeliveryRef> {
    let field = |name: &'static str| original.header_raw(name).map(str::trim);
    let from_message_id = || -> Option<Uuid> {
        let id = original.message_id()?;
        id.split('@').next()?.parse().ok()
    };
    let delivery_id: Uuid = field(DELIVERY_ID_HEADER)
        .and_then(|v| v.parse().ok())
        .or_else(from_message_id)?;
    Some(DeliveryRef {
        delivery_id,
        tenant: field(TENANT_HEADER).filter(|t| !t.is_empty())?.to_owned(),
        event_id: field(EVENT_ID_HEADER)?.parse().ok()?,
    })
}
