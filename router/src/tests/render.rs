use notify_schemas::{
    Channel, EmailContent, InlineContent, NotificationRequest, PushContent, RenderedContent,
    SmsContent,
};
use notify_store::directory::Template;

use super::*;
use crate::render::{sms_segment_count, RenderError, Rendered, Renderer};

const FROM: &str = "Acme <no-reply@acme.example>";

fn render(
    channel: Channel,
    templates: &[Template],
    request: &NotificationRequest,
    user_locale: Option<&str>,
) -> Result<Rendered, RenderError> {
    Renderer::new().render(channel, templates, request, user_locale, "en-US", FROM)
}

fn sms_text(rendered: &Rendered) -> &str {
    match &rendered.content {
        RenderedContent::Sms(sms) => &sms.text,
        other => panic!("expected SMS content, got {other:?}"),
    }
}

/// SMS variants in several locales, each saying which one it is.
fn greetings() -> Vec<Template> {
    ["ko", "ja-JP", "en", "pt-BR", "pt"]
        .into_iter()
        .map(|locale| sms_variant(locale, &format!("{locale} {{{{ name }}}}")))
        .collect()
}

fn sms_request(locale: Option<&str>) -> NotificationRequest {
    let mut request = with_template(request(&[Channel::Sms]), &[("name", "Kim")]);
    request.locale = locale.map(str::to_owned);
    request
}

#[test]
fn locale_falls_back_from_request_to_user_to_language_to_tenant_default() {
    let templates = greetings();
    let pick = |request_locale: Option<&str>, user_locale: Option<&str>| {
        let rendered = render(
            Channel::Sms,
            &templates,
            &sms_request(request_locale),
            user_locale,
        )
        .expect("renders");
        (sms_text(&rendered).to_owned(), rendered.locale)
    };
    // the request's locale first, down to its language
    assert_eq!(pick(Some("ko-KR"), Some("ja-JP")).0, "ko Kim");
    // then the user's, exactly (case and separator do not matter)
    assert_eq!(
        pick(None, Some("JA_jp")),
        ("ja-JP Kim".to_owned(), Some("ja-JP".to_owned()))
    );
    // then the user's language
    assert_eq!(pick(None, Some("ko-KR")).0, "ko Kim");
    // then the tenant default (en-US), down to its language
    assert_eq!(pick(Some("fr-FR"), Some("de-DE")).0, "en Kim");
    assert_eq!(pick(None, None).0, "en Kim");
    // the request's language comes before the user's locale
    assert_eq!(pick(Some("pt-PT"), Some("ko-KR")).0, "pt Kim");
    // an exact match beats the bare language
    assert_eq!(pick(Some("pt-BR"), None).0, "pt-BR Kim");
    assert_eq!(pick(Some("pt-PT"), None).0, "pt Kim");
}

#[test]
fn no_variant_in_any_fallback_locale_is_an_error() {
    let templates = vec![sms_variant("ko", "{{ name }}")];
    let err = Renderer::new()
        .render(
            Channel::Sms,
            &templates,
            &sms_request(Some("fr-CA")),
            Some("de"),
            "en-US",
            FROM,
        )
        .expect_err("no variant");
    assert_eq!(
        err,
        RenderError::NoVariant {
            template_id: "welcome".into(),
            channel: Channel::Sms,
            tried: vec![
                "fr-ca".into(),
                "fr".into(),
                "de".into(),
                "en-us".into(),
                "en".into()
            ],
        }
    );
    assert_eq!(
        err.to_string(),
        "template welcome has no sms variant for locales fr-ca, fr, de, en-us, en"
    );
    assert!(err.is_permanent());
}

#[test]
fn missing_variable_is_an_error_that_names_it() {
    let templates = vec![sms_variant("en", "code {{ code }} for {{ name }}")];
    let err = render(Channel::Sms, &templates, &sms_request(None), None).expect_err("undefined");
    let message = err.to_string();
    assert!(matches!(err, RenderError::Template { .. }), "{err:?}");
    assert!(message.contains("not in params: code"), "{message}");
    assert!(message.contains("sms.text"), "{message}");
    assert!(
        message.starts_with("template welcome v1 (en, sms): undefined value"),
        "{message}"
    );
    // an optional variable says so
    let templates = vec![sms_variant("en", "{{ name }}{{ coupon | default('') }}")];
    let rendered = render(Channel::Sms, &templates, &sms_request(None), None).expect("renders");
    assert_eq!(sms_text(&rendered), "Kim");
}

#[test]
fn syntax_errors_and_runaway_templates_fail() {
    let templates = vec![sms_variant("en", "{{ name ")];
    let err = render(Channel::Sms, &templates, &sms_request(None), None).expect_err("syntax");
    assert!(err.to_string().contains("syntax error"), "{err}");

    let templates = vec![sms_variant(
        "en",
        "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}",
    )];
    let err = render(Channel::Sms, &templates, &sms_request(None), None).expect_err("fuel");
    assert!(err.to_string().contains("fuel"), "{err}");
}

fn email_variant() -> Template {
    Template {
        subject: Some("Hi {{ name }} <3".into()),
        html: Some("<p>Hello {{ name }}</p>".into()),
        text: Some("Hello {{ name }}".into()),
        ..variant("en", Channel::Email)
    }
}

#[test]
fn only_the_email_html_part_is_escaped() {
    let request = with_template(
        request(&[Channel::Email]),
        &[("name", "<b>Tom & \"Jerry\"</b>")],
    );
    let rendered = render(Channel::Email, &[email_variant()], &request, None).expect("renders");
    let RenderedContent::Email(email) = rendered.content else {
        panic!("expected email content");
    };
    assert_eq!(
        email.html.as_deref(),
        Some("<p>Hello &lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;&#x2f;b&gt;</p>")
    );
    assert_eq!(email.subject, "Hi <b>Tom & \"Jerry\"</b> <3");
    assert_eq!(email.text.as_deref(), Some("Hello <b>Tom & \"Jerry\"</b>"));
    assert_eq!(email.from, FROM);
    assert_eq!(rendered.locale.as_deref(), Some("en"));
}

#[test]
fn push_and_sms_text_are_not_escaped() {
    let push = Template {
        title: Some("{{ name }} & co".into()),
        body: Some("<{{ name }}>".into()),
        data: [("deep_link".to_owned(), "app://u/{{ name }}".to_owned())].into(),
        ..variant("en", Channel::Fcm)
    };
    let request = with_template(request(&[Channel::Fcm]), &[("name", "A&B")]);
    let rendered = render(Channel::Fcm, &[push], &request, None).expect("renders");
    let RenderedContent::Push(push) = rendered.content else {
        panic!("expected push content");
    };
    assert_eq!(push.title, "A&B & co");
    assert_eq!(push.body, "<A&B>");
    assert_eq!(push.data["deep_link"], "app://u/A&B");
}

#[test]
fn sms_segments_are_counted_on_the_rendered_text() {
    // the template is short, the rendered text is not
    let templates = vec![sms_variant("ko", "{{ name }}님 안녕하세요")];
    let mut request = sms_request(Some("ko"));
    request
        .template
        .as_mut()
        .unwrap()
        .params
        .insert("name".into(), "가".repeat(70));
    let rendered = render(Channel::Sms, &templates, &request, None).expect("renders");
    let RenderedContent::Sms(sms) = rendered.content else {
        panic!("expected SMS content");
    };
    assert_eq!(sms.segments, 2);
    assert_eq!(sms_segment_count(&sms.text), 2);
    assert_eq!(sms_segment_count(&"a".repeat(160)), 1);
    assert_eq!(sms_segment_count(&"a".repeat(161)), 2);
    assert_eq!(sms_segment_count(""), 0);
}

fn inline() -> InlineContent {
    InlineContent {
        push: Some(PushContent {
            title: "Inline {{ title }}".into(),
            body: "inline body".into(),
            data: Default::default(),
            image_url: Some("https://img.example/1.png".into()),
            click_url: None,
            sound: Some("default".into()),
            badge: Some(3),
        }),
        sms: Some(SmsContent {
            text: "inline sms".into(),
        }),
        email: Some(EmailContent {
            subject: "inline subject".into(),
            html: Some("<p>{{ not a template }}</p>".into()),
            text: None,
        }),
    }
}

#[test]
fn inline_content_is_used_as_given_without_a_template() {
    let mut request = request(&[Channel::Apns]);
    request.content = Some(inline());
    request.locale = Some("ko-KR".into());
    let rendered = render(Channel::Apns, &[], &request, None).expect("renders");
    assert_eq!(rendered.locale.as_deref(), Some("ko-KR"));
    let RenderedContent::Push(push) = rendered.content else {
        panic!("expected push content");
    };
    assert_eq!(push.title, "Inline {{ title }}");
    assert_eq!(push.badge, Some(3));
    assert_eq!(push.image_url.as_deref(), Some("https://img.example/1.png"));

    let rendered = render(Channel::Email, &[], &request, None).expect("renders");
    let RenderedContent::Email(email) = rendered.content else {
        panic!("expected email content");
    };
    assert_eq!(email.html.as_deref(), Some("<p>{{ not a template }}</p>"));
    assert_eq!(email.from, FROM);

    let rendered = render(Channel::Sms, &[], &request, None).expect("renders");
    assert_eq!(sms_text(&rendered), "inline sms");
}

#[test]
fn template_wins_over_inline_and_inline_fills_the_gaps() {
    let mut request = sms_request(None);
    request.content = Some(inline());
    // the template has SMS: it wins
    let templates = vec![sms_variant("en", "template {{ name }}")];
    let rendered = render(Channel::Sms, &templates, &request, None).expect("renders");
    assert_eq!(sms_text(&rendered), "template Kim");
    // it has no email variant: inline email is used
    let rendered = render(Channel::Email, &templates, &request, None).expect("renders");
    assert!(
        matches!(rendered.content, RenderedContent::Email(ref e) if e.subject == "inline subject")
    );
    // it has SMS only in Korean, the fallback chain does not reach it: inline SMS
    let templates = vec![sms_variant("ko", "template {{ name }}")];
    let rendered = render(Channel::Sms, &templates, &request, None).expect("renders");
    assert_eq!(sms_text(&rendered), "inline sms");
    // the template does not exist at all: inline
    let rendered = render(Channel::Sms, &[], &request, None).expect("renders");
    assert_eq!(sms_text(&rendered), "inline sms");
}

#[test]
fn nothing_to_render_is_an_error() {
    let request = request(&[Channel::Sms]);
    assert_eq!(
        render(Channel::Sms, &[], &request, None),
        Err(RenderError::NoContent {
            channel: Channel::Sms
        })
    );
    let request = sms_request(None);
    assert_eq!(
        render(Channel::Sms, &[], &request, None),
        Err(RenderError::NotFound {
            template_id: "welcome".into()
        })
    );
}

#[test]
fn a_variant_without_its_required_field_is_an_error() {
    let templates = vec![variant("en", Channel::Sms)];
    let err = render(Channel::Sms, &templates, &sms_request(None), None).expect_err("no text");
    assert_eq!(err.to_string(), "template welcome v1 (en, sms) has no text");
    let email = Template {
        html: None,
        text: None,
        ..email_variant()
    };
    let request = with_template(request(&[Channel::Email]), &[("name", "Kim")]);
    let err = render(Channel::Email, &[email], &request, None).expect_err("no body");
    assert!(
        matches!(
            err,
            RenderError::MissingField {
                field: "html or text",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn the_highest_version_given_is_used() {
    let old = sms_variant("en", "old {{ name }}");
    let new = Template {
        version: 2,
        ..sms_variant("ko", "new {{ name }}")
    };
    let other = Template {
        template_id: "other".into(),
        version: 9,
        ..sms_variant("en", "other")
    };
    let rendered = render(
        Channel::Sms,
        &[old, new, other],
        &sms_request(None),
        Some("ko"),
    )
    .expect("renders");
    assert_eq!(sms_text(&rendered), "new Kim");
}
