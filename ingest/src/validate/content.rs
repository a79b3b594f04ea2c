//! Rules for what a notification says: template references and inline content per channel
//! family, including provider payload size limits.
//!
//! Guarantees: content that passes fits every provider it is meant for, as far as it can be
//! known before rendering: the APNs and FCM payloads a dispatcher would build stay within 4096
//! bytes and the web push plaintext within 3993 bytes (4096 less the RFC 8291 header, padding
//! delimiter and tag); an SMS stays within the configured segment count; an email has a subject
//! that is safe as a header and a body within 512 KiB.
//!
//! Not guaranteed: the size of rendered templates (the router checks those after rendering, with
//! the same rules: `notify_schemas::limits`) or that URLs resolve.

use notify_schemas::limits::push_payload;
use notify_schemas::{Channel, EmailContent, PushContent, RenderedPush, SmsContent, TemplateRef};

use super::fields::{has_control, http_url, identifier, link_url};
use super::parse::pointer_token;
use super::sms::{gsm7_septets, sms_segments, Encoding};
use crate::problem::FieldError;

pub use notify_schemas::limits::{
    APNS_MAX_PAYLOAD_BYTES, FCM_MAX_PAYLOAD_BYTES, MAX_SUBJECT_CHARS, WEBPUSH_MAX_PAYLOAD_BYTES,
};
/// Most custom data keys in push content.
pub const MAX_DATA_KEYS: usize = 64;
/// Longest push data key, in bytes.
pub const MAX_DATA_KEY_BYTES: usize = 128;
/// Longest sound name, in bytes.
pub const MAX_SOUND_BYTES: usize = 256;
/// Largest email html or text body, in bytes.
pub const MAX_EMAIL_BODY_BYTES: usize = 512 * 1024;
/// Most template variables.
pub const MAX_TEMPLATE_PARAMS: usize = 64;
/// Longest template variable name, in bytes.
pub const MAX_PARAM_NAME_BYTES: usize = 64;
/// Longest template variable value, in bytes.
pub const MAX_PARAM_VALUE_BYTES: usize = 4096;
/// Largest sum of template variable names and values, in bytes.
pub const MAX_PARAMS_TOTAL_BYTES: usize = 16 * 1024;

/// Push data keys the providers reserve: `aps` is APNs' own dictionary at the payload's top
/// level; FCM refuses `from` and `message_type` and prefixes `google` and `gcm`.
fn reserved_data_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    matches!(lower.as_str(), "aps" | "from" | "message_type")
        || lower.starts_with("google")
        || lower.starts_with("gcm")
}

/// Checks a template reference; errors go under `/template`.
pub fn check_template(template: &TemplateRef, errors: &mut Vec<FieldError>) {
    if let Err(e) = identifier(&template.template_id) {
        errors.push(FieldError::new("/template/id", e));
    }
    let params = &template.params;
    if params.len() > MAX_TEMPLATE_PARAMS {
        errors.push(FieldError::new(
            "/template/params",
            format!("must have at most {MAX_TEMPLATE_PARAMS} entries"),
        ));
        return;
    }
    let mut total = 0;
    for (name, value) in params {
        let path = format!("/template/params/{}", pointer_token(name));
        total += name.len() + value.len();
        if name.is_empty() || name.len() > MAX_PARAM_NAME_BYTES || has_control(name) {
            errors.push(FieldError::new(
                path,
                format!("must have a name of 1 to {MAX_PARAM_NAME_BYTES} bytes without control characters"),
            ));
        } else if value.len() > MAX_PARAM_VALUE_BYTES {
            errors.push(FieldError::new(
                path,
                format!("must be at most {MAX_PARAM_VALUE_BYTES} bytes"),
            ));
        }
    }
    if total > MAX_PARAMS_TOTAL_BYTES {
        errors.push(FieldError::new(
            "/template/params",
            format!("must be at most {MAX_PARAMS_TOTAL_BYTES} bytes in all"),
        ));
    }
}

/// Checks push content; errors go under `/content/push`. The payload size is checked against
/// each provider in `targets` (push channels only; others are ignored).
pub fn check_push(push: &PushContent, targets: &[Channel], errors: &mut Vec<FieldError>) {
    const BASE: &str = "/content/push";
    let before = errors.len();
    if push.title.trim().is_empty() {
        errors.push(FieldError::new(
            format!("{BASE}/title"),
            "must not be empty",
        ));
    }
    if push.body.trim().is_empty() {
        errors.push(FieldError::new(format!("{BASE}/body"), "must not be empty"));
    }
    if push.data.len() > MAX_DATA_KEYS {
        errors.push(FieldError::new(
            format!("{BASE}/data"),
            format!("must have at most {MAX_DATA_KEYS} keys"),
        ));
    } else {
        for key in push.data.keys() {
            let path = format!("{BASE}/data/{}", pointer_token(key));
            if key.is_empty() || key.len() > MAX_DATA_KEY_BYTES || has_control(key) {
                errors.push(FieldError::new(
                    path,
                    format!("must have a key of 1 to {MAX_DATA_KEY_BYTES} bytes without control characters"),
                ));
            } else if reserved_data_key(key) {
                errors.push(FieldError::new(
                    path,
                    "uses a key reserved by APNs or FCM (aps, from, message_type, google*, gcm*)",
                ));
            }
        }
    }
    if let Some(url) = &push.image_url {
        if let Err(e) = http_url(url) {
            errors.push(FieldError::new(format!("{BASE}/image_url"), e));
        }
    }
    if let Some(url) = &push.click_url {
        if let Err(e) = link_url(url) {
            errors.push(FieldError::new(format!("{BASE}/click_url"), e));
        }
    }
    if let Some(sound) = &push.sound {
        if sound.is_empty() || sound.len() > MAX_SOUND_BYTES || has_control(sound) {
            errors.push(FieldError::new(
                format!("{BASE}/sound"),
                format!("must be 1 to {MAX_SOUND_BYTES} bytes without control characters"),
            ));
        }
    }
    if push.badge.is_some_and(|badge| badge < 0) {
        errors.push(FieldError::new(
            format!("{BASE}/badge"),
            "must not be negative",
        ));
    }
    if errors.len() > before {
        return; // sizes of content already refused would only repeat the complaint
    }

    let mut too_large = Vec::new();
    // measured as the router measures what it renders, so what passes here passes there
    let rendered = RenderedPush::from(push.clone());
    for &channel in targets {
        let (size, limit) = match channel {
            Channel::Apns | Channel::Fcm | Channel::WebPush => push_payload(channel, &rendered),
            Channel::Sms | Channel::Email => continue,
        };
        if size > limit {
            too_large.push(format!("{size} bytes for {channel} (at most {limit})"));
        }
    }
    if !too_large.is_empty() {
        errors.push(FieldError::new(
            BASE,
            format!("is too large: {}", too_large.join(", ")),
        ));
    }
}

/// Checks SMS content; errors go under `/content/sms`.
pub fn check_sms(sms: &SmsContent, max_segments: u32, errors: &mut Vec<FieldError>) {
    const PATH: &str = "/content/sms/text";
    if sms.text.trim().is_empty() {
        errors.push(FieldError::new(PATH, "must not be empty"));
        return;
    }
    let (encoding, segments) = sms_segments(&sms.text);
    if segments > max_segments {
        let why = match encoding {
            Encoding::Gsm7 => "GSM-7".to_owned(),
            Encoding::Ucs2 => {
                let culprit = sms.text.chars().find(|&c| gsm7_septets(c).is_none());
                match culprit {
                    Some(c) => format!("UCS-2, because {c:?} is not in GSM-7"),
                    None => "UCS-2".to_owned(),
                }
            }
        };
        errors.push(FieldError::new(
            PATH,
            format!("needs {segments} segments as {why}; at most {max_segments} are allowed"),
        ));
    }
}

/// Checks email content; errors go under `/content/email`.
pub fn check_email(email: &EmailContent, max_bytes: usize, errors: &mut Vec<FieldError>) {
    const BASE: &str = "/content/email";
    let before = errors.len();
    let subject = &email.subject;
    if subject.trim().is_empty() {
        errors.push(FieldError::new(
            format!("{BASE}/subject"),
            "must not be empty",
        ));
    } else if subject.chars().count() > MAX_SUBJECT_CHARS {
        errors.push(FieldError::new(
            format!("{BASE}/subject"),
            format!("must be at most {MAX_SUBJECT_CHARS} characters"),
        ));
    } else if has_control(subject) {
        // a CR or LF here would let the caller inject headers
        errors.push(FieldError::new(
            format!("{BASE}/subject"),
            "must not contain line breaks or other control characters",
        ));
    }
    for (name, body) in [("html", &email.html), ("text", &email.text)] {
        let Some(body) = body else { continue };
        if body.is_empty() {
            errors.push(FieldError::new(
                format!("{BASE}/{name}"),
                "must not be empty; omit it instead",
            ));
        } else if body.len() > MAX_EMAIL_BODY_BYTES {
            errors.push(FieldError::new(
                format!("{BASE}/{name}"),
                format!("must be at most {MAX_EMAIL_BODY_BYTES} bytes"),
            ));
        }
    }
    if email.html.is_none() && email.text.is_none() {
        errors.push(FieldError::new(BASE, "must have html, text or both"));
    }
    let total = email.subject.len()
        + email.html.as_deref().map_or(0, str::len)
        + email.text.as_deref().map_or(0, str::len);
    if errors.len() == before && total > max_bytes {
        errors.push(FieldError::new(
            BASE,
            format!("is {total} bytes in all; at most {max_bytes} are sent"),
        ));
    }
}
