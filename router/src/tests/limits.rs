//! Content caps applied after rendering: a template that renders past its channel's limit, or
//! inline content a producer wrote straight to Kafka past it, fails that channel only.

use notify_schemas::limits::{ContentError, ContentLimits};
use notify_schemas::{Channel, EmailContent, InlineContent, SmsContent};
use notify_store::directory::Template;

use super::*;
use crate::render::{RenderError, Renderer};

const FROM: &str = "Acme <no-reply@acme.example>";

fn limits() -> ContentLimits {
    ContentLimits {
        sms_max_segments: 2,
        email_max_bytes: 10_000,
    }
}

fn email_variant(subject: &str, html: &str) -> Template {
    Template {
        subject: Some(subject.into()),
        html: Some(html.into()),
        ..variant("en", Channel::Email)
    }
}

fn render(channel: Channel, templates: &[Template], request: &NotificationRequest) -> RenderError {
    Renderer::with_limits(limits())
        .render(channel, templates, request, None, "en", FROM)
        .expect_err("over the cap")
}

#[test]
fn a_loop_that_renders_past_the_email_cap_fails_with_sizes() {
    let looped = format!(
        "{{% for i in range(10) %}}{}{{% endfor %}}",
        "x".repeat(1_500)
    );
    let templates = [email_variant("Digest", &looped)];
    let err = render(
        Channel::Email,
        &templates,
        &with_template(request(&[Channel::Email]), &[]),
    );
    assert_eq!(
        err,
        RenderError::Content {
            source: ContentError::TooLarge {
                channel: Channel::Email,
                size: 15_006,
                limit: 10_000,
                unit: "bytes"
            }
        }
    );
    // one loop step less fits
    let fits = format!(
        "{{% for i in range(6) %}}{}{{% endfor %}}",
        "x".repeat(1_500)
    );
    Renderer::with_limits(limits())
        .render(
            Channel::Email,
            &[email_variant("Digest", &fits)],
            &with_template(request(&[Channel::Email]), &[]),
            None,
            "en",
            FROM,
        )
        .expect("fits");
}

#[test]
fn a_param_cannot_smuggle_a_header_into_the_subject() {
    let templates = [email_variant("Hello {{ name }}", "<p>hi</p>")];
    let request = with_template(
        request(&[Channel::Email]),
        &[("name", "Kim\r\nBcc: everyone@example.com")],
    );
    assert_eq!(
        render(Channel::Email, &templates, &request),
        RenderError::Content {
            source: ContentError::SubjectControl
        }
    );
}

#[test]
fn rendered_sms_past_the_segment_cap_fails() {
    let templates = [sms_variant("en", "{{ code }} {{ code }} {{ code }}")];
    let request = with_template(request(&[Channel::Sms]), &[("code", &"7".repeat(120))]);
    let err = render(Channel::Sms, &templates, &request);
    assert!(
        matches!(
            err,
            RenderError::Content {
                source: ContentError::TooLarge {
                    size: 3,
                    limit: 2,
                    ..
                }
            }
        ),
        "{err:?}"
    );
}

#[test]
fn inline_content_is_capped_as_well() {
    let mut sms = request(&[Channel::Sms]);
    sms.content = Some(InlineContent {
        push: None,
        sms: Some(SmsContent {
            text: "a".repeat(400),
        }),
        email: None,
    });
    assert!(matches!(
        render(Channel::Sms, &[], &sms),
        RenderError::Content { .. }
    ));
    let mut email = request(&[Channel::Email]);
    email.content = Some(InlineContent {
        push: None,
        sms: None,
        email: Some(EmailContent {
            subject: "Report".into(),
            html: Some("h".repeat(20_000)),
            text: None,
        }),
    });
    let err = render(Channel::Email, &[], &email);
    assert!(err.to_string().starts_with("too large for"), "{err}");
}

#[test]
fn a_push_body_past_the_provider_limit_fails_for_that_provider() {
    let templates = [Template {
        body: Some("{% for i in range(5) %}{{ word }}{% endfor %}".into()),
        ..variant("en", Channel::Apns)
    }];
    let request = with_template(request(&[Channel::Apns]), &[("word", &"w".repeat(1_000))]);
    let err = render(Channel::Apns, &templates, &request);
    assert!(
        matches!(
            err,
            RenderError::Content {
                source: ContentError::TooLarge { limit: 4096, .. }
            }
        ),
        "{err:?}"
    );
}
