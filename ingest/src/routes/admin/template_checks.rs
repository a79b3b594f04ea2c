//! What a template version must be to be stored: each variant's fields for its channel, sizes
//! per field, and, for a variant written without template syntax, that it fits its channel as
//! the router would send it.

use std::collections::BTreeSet;

use notify_schemas::limits::ContentLimits;
use notify_schemas::{RenderedContent, RenderedEmail, RenderedPush, RenderedSms};
use notify_store::directory::{Channel, MAX_TEMPLATE_VARIANTS};

use super::checks::{self, record};
use super::templates::{TemplateBody, VariantBody};
use crate::problem::FieldError;
use crate::validate::fields;

/// Longest push title.
const MAX_TITLE_BYTES: usize = 1024;
/// Longest push body (an APNs payload is at most 4 KiB in all).
const MAX_BODY_BYTES: usize = 4096;
/// Longest email subject (RFC 5322 line length).
const MAX_SUBJECT_BYTES: usize = 998;
/// Longest email HTML.
const MAX_HTML_BYTES: usize = 256 * 1024;
/// Longest SMS text (before rendering; the router counts segments after).
const MAX_SMS_TEXT_BYTES: usize = 4096;
/// Longest plain-text email part.
const MAX_EMAIL_TEXT_BYTES: usize = 64 * 1024;
/// Most push data entries.
const MAX_DATA_ENTRIES: usize = 64;
/// Longest push data value.
const MAX_DATA_VALUE_BYTES: usize = 1024;

/// Every rule one variant breaks, with pointers under `at` (`/variants/2`).
fn check_variant(variant: &VariantBody, at: &str, errors: &mut Vec<FieldError>) {
    record(
        errors,
        &format!("{at}/locale"),
        fields::locale(&variant.locale),
    );
    let field = |name: &str| format!("{at}/{name}");
    let mut forbid = |name: &str, present: bool, channel: &str| {
        if present {
            errors.push(FieldError::new(
                field(name),
                format!("is not used by the {channel} channel"),
            ));
        }
    };
    let channel: Channel = variant.channel.into();
    match channel {
        Channel::Apns | Channel::Fcm | Channel::WebPush => {
            forbid("subject", variant.subject.is_some(), channel.as_str());
            forbid("html", variant.html.is_some(), channel.as_str());
            forbid("text", variant.text.is_some(), channel.as_str());
            if let Some(title) = &variant.title {
                record(
                    errors,
                    &field("title"),
                    checks::text(title, MAX_TITLE_BYTES, false),
                );
            }
            record(
                errors,
                &field("body"),
                checks::required_text(variant.body.as_deref(), MAX_BODY_BYTES, true),
            );
            if variant.data.len() > MAX_DATA_ENTRIES {
                errors.push(FieldError::new(
                    field("data"),
                    format!("must have at most {MAX_DATA_ENTRIES} entries"),
                ));
            }
            for (key, value) in &variant.data {
                let key_field = format!("{at}/data/{}", key.replace('~', "~0").replace('/', "~1"));
                if let Err(message) = fields::identifier(key) {
                    errors.push(FieldError::new(&key_field, format!("key {message}")));
                }
                record(
                    errors,
                    &key_field,
                    checks::text(value, MAX_DATA_VALUE_BYTES, true),
                );
            }
        }
        Channel::Sms => {
            forbid("title", variant.title.is_some(), "sms");
            forbid("body", variant.body.is_some(), "sms");
            forbid("subject", variant.subject.is_some(), "sms");
            forbid("html", variant.html.is_some(), "sms");
            forbid("data", !variant.data.is_empty(), "sms");
            record(
                errors,
                &field("text"),
                checks::required_text(variant.text.as_deref(), MAX_SMS_TEXT_BYTES, true),
            );
        }
        Channel::Email => {
            forbid("title", variant.title.is_some(), "email");
            forbid("body", variant.body.is_some(), "email");
            forbid("data", !variant.data.is_empty(), "email");
            record(
                errors,
                &field("subject"),
                checks::required_text(variant.subject.as_deref(), MAX_SUBJECT_BYTES, false),
            );
            if variant.html.is_none() && variant.text.is_none() {
                errors.push(FieldError::new(
                    field("html"),
                    "or text is required for email",
                ));
            }
            if let Some(html) = &variant.html {
                record(
                    errors,
                    &field("html"),
                    checks::required_text(Some(html), MAX_HTML_BYTES, true),
                );
            }
            if let Some(text) = &variant.text {
                record(
                    errors,
                    &field("text"),
                    checks::required_text(Some(text), MAX_EMAIL_TEXT_BYTES, true),
                );
            }
        }
    }
}

/// A variant without template syntax renders as it is written, so whether it fits its channel
/// (the provider's payload limit, the SMS segment cap, the email size cap the router applies)
/// is known now: one that cannot is refused here rather than failing every send.
fn check_fits(
    variant: &VariantBody,
    at: &str,
    limits: &ContentLimits,
    errors: &mut Vec<FieldError>,
) {
    let texts = [
        &variant.title,
        &variant.body,
        &variant.subject,
        &variant.html,
        &variant.text,
    ];
    let templated = texts
        .iter()
        .filter_map(|t| t.as_deref())
        .chain(variant.data.values().map(String::as_str))
        .any(|t| t.contains("{{") || t.contains("{%"));
    if templated {
        return;
    }
    let text = |t: &Option<String>| t.clone().unwrap_or_default();
    let channel: Channel = variant.channel.into();
    let content = match channel {
        Channel::Apns | Channel::Fcm | Channel::WebPush => {
            RenderedContent::Push(RenderedPush::text(
                text(&variant.title),
                text(&variant.body),
                variant.data.clone(),
            ))
        }
        Channel::Sms => RenderedContent::Sms(RenderedSms {
            text: text(&variant.text),
            segments: 0,
        }),
        Channel::Email => RenderedContent::Email(RenderedEmail {
            subject: text(&variant.subject),
            html: variant.html.clone(),
            text: variant.text.clone(),
            from: String::new(),
            reply_to: None,
        }),
    };
    if let Err(err) = limits.check(channel, &content) {
        errors.push(FieldError::new(
            at,
            format!("cannot be sent as written: {err}"),
        ));
    }
}

pub(super) fn check_body(body: &TemplateBody, limits: &ContentLimits) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if body.variants.is_empty() || body.variants.len() > MAX_TEMPLATE_VARIANTS {
        errors.push(FieldError::new(
            "/variants",
            format!("must have 1 to {MAX_TEMPLATE_VARIANTS} variants"),
        ));
        return errors;
    }
    let mut seen = BTreeSet::new();
    for (i, variant) in body.variants.iter().enumerate() {
        let at = format!("/variants/{i}");
        let before = errors.len();
        check_variant(variant, &at, &mut errors);
        if errors.len() == before {
            check_fits(variant, &at, limits, &mut errors);
        }
        if !seen.insert((variant.locale.as_str(), variant.channel as u8)) {
            errors.push(FieldError::new(at, "repeats an earlier locale and channel"));
        }
    }
    errors
}
