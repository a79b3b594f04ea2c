//! Template rendering per delivery: [`notify_router::render::Renderer::render`], which the router
//! calls once per channel of every templated request. It picks the template's latest version and
//! the variant for the locale (request, user, tenant default), compiles every field (templates
//! are not cached, see the module's doc) and renders it with the request's params, then checks
//! the content against the channel's limits.
//!
//! - `push`: an APNs variant, title, body and two data values, one with a `default` filter;
//! - `email`: subject, an HTML part (auto-escaped, an `{% if %}`) and a plain-text part;
//! - `sms`: one short text.
//!
//! The request is [`notify_schemas::samples::full_request`] (locale `ko-KR`, three params) plus a
//! `name` param with HTML-special characters. The tenant has versions 2 and 3 of the template,
//! each in `en` and `ko`, for these channels; `ko` is found after `ko-kr`, as the language.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use notify_router::render::Renderer;
use notify_schemas::{samples, Channel, NotificationRequest, RenderedContent};
use notify_store::directory::Template;

const FROM: &str = "Acme <no-reply@acme.example>";
const TEMPLATE_ID: &str = "order_shipped_v3";

fn variant(version: u32, locale: &str, channel: Channel) -> Template {
    let mut template = Template::empty(TEMPLATE_ID, version, locale, channel);
    let tag = format!("[{locale} v{version}]");
    match channel {
        Channel::Apns | Channel::Fcm | Channel::WebPush => {
            template.title = Some(format!("{tag} {{{{ name }}}}, your order shipped"));
            template.body = Some(format!(
                "{tag} {{{{ product }}}} (order {{{{ order }}}}) is on its way and arrives \
                 {{{{ eta | default(\"soon\") }}}}."
            ));
            template.data = BTreeMap::from([
                ("order_id".to_owned(), "{{ order }}".to_owned()),
                (
                    "screen".to_owned(),
                    "{{ screen | default(\"orders\") }}".to_owned(),
                ),
            ]);
        }
        Channel::Sms => {
            template.text = Some(format!("{tag} Acme: order {{{{ order }}}} shipped."));
        }
        Channel::Email => {
            template.subject = Some(format!("{tag} Order {{{{ order }}}} has shipped"));
            template.html = Some(format!(
                "<html><body><h1>{tag} Hello {{{{ name }}}},</h1>\n\
                 <p>Your <b>{{{{ product }}}}</b> (order {{{{ order }}}}) is on its way.</p>\n\
                 {{% if eta is defined %}}<p>It arrives {{{{ eta }}}}.</p>{{% endif %}}\n\
                 <p><a href=\"https://acme.example/orders/{{{{ order }}}}\">Track it</a></p>\n\
                 </body></html>"
            ));
            template.text = Some(format!(
                "{tag} Hello {{{{ name }}}},\n\nYour {{{{ product }}}} (order {{{{ order }}}}) \
                 is on its way.\nTrack it: https://acme.example/orders/{{{{ order }}}}\n"
            ));
        }
    }
    template
}

fn templates() -> Vec<Template> {
    let mut all = Vec::new();
    for version in [2, 3] {
        for locale in ["en", "ko"] {
            for channel in [Channel::Apns, Channel::Sms, Channel::Email] {
                all.push(variant(version, locale, channel));
            }
        }
    }
    all
}

fn request() -> NotificationRequest {
    let mut request = samples::full_request();
    request
        .template
        .as_mut()
        .expect("the sample request names a template")
        .params
        .insert("name".into(), "Kim & <Lee>".into());
    request
}

fn bench(c: &mut Criterion) {
    let renderer = Renderer::new();
    let templates = templates();
    let request = request();
    let render = |channel: Channel| {
        renderer.render(channel, &templates, &request, Some("ko-KR"), "en-US", FROM)
    };

    let push = render(Channel::Apns).expect("push renders");
    assert_eq!(push.locale.as_deref(), Some("ko"));
    match &push.content {
        RenderedContent::Push(push) => assert!(push.title.contains("[ko v3] Kim & <Lee>")),
        other => panic!("expected push content, got {other:?}"),
    }
    match render(Channel::Email).expect("email renders").content {
        RenderedContent::Email(email) => {
            assert!(email.html.unwrap().contains("Kim &amp; &lt;Lee&gt;"))
        }
        other => panic!("expected email content, got {other:?}"),
    }
    assert!(render(Channel::Sms).is_ok());

    let mut group = c.benchmark_group("render");
    group.throughput(Throughput::Elements(1));
    for (name, channel) in [
        ("push", Channel::Apns),
        ("email", Channel::Email),
        ("sms", Channel::Sms),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                renderer
                    .render(
                        black_box(channel),
                        black_box(&templates),
                        black_box(&request),
                        Some("ko-KR"),
                        "en-US",
                        FROM,
                    )
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
