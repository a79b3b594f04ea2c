use notify_common::links::LinkKeys;
use notify_schemas::{samples, RenderedPush};

use super::rewrite::{html_links, text_links, with_pixel};
use super::*;

const BASE: &str = "https://n.example";
const NOW_MS: i64 = 1_700_000_000_000;

fn tracker() -> Tracker {
    let keys = LinkKeys::new(&[b"dispatcher tracking key, 32 B!!!"]).unwrap();
    Tracker::new(keys, BASE, 3_600)
}

/// Wraps as `[url]`, so a test sees what was wrapped and with which destination.
fn mark(url: &str) -> Option<String> {
    (url.starts_with("http://") || url.starts_with("https://")).then(|| format!("[{url}]"))
}

#[test]
fn hrefs_are_wrapped_with_their_decoded_destination_and_quotes_kept() {
    let html = concat!(
        r#"<p>Hi <a href="https://a.example/x?a=1&amp;b=2">one</a>, "#,
        r#"<a class=btn HREF = 'https://b.example/"q"'>two</a>, "#,
        r#"<a href=https://c.example/y>three</a></p>"#,
    );
    assert_eq!(
        html_links(html, mark),
        concat!(
            r#"<p>Hi <a href="[https://a.example/x?a=1&amp;b=2]">one</a>, "#,
            r#"<a class=btn HREF = '[https://b.example/&quot;q&quot;]'>two</a>, "#,
            r#"<a href="[https://c.example/y]">three</a></p>"#,
        )
    );
}

#[test]
fn mail_phone_anchor_relative_and_non_attribute_links_are_left_alone() {
    let html = concat!(
        r#"<a href="mailto:help@shop.example">mail</a> <a href='tel:+8210'>call</a> "#,
        r##"<a href="#top">top</a> <a href="/orders">orders</a> <a data-href="https://d.example">x</a> "##,
        r#"<p>the href="https://e.example" in text</p><a href>empty</a>"#,
        r#"<link rel="stylesheet" href="https://fonts.example/a.css"><base href="https://f.example/">"#,
    );
    assert_eq!(html_links(html, mark), html);
}

#[test]
fn already_tracked_links_are_not_wrapped_again() {
    let tracker = tracker();
    let delivery = samples::full_email_delivery();
    let once = tracked(&tracker, &delivery, NOW_MS).unwrap();
    let twice = tracked(&tracker, &once, NOW_MS).unwrap();
    let RenderedContent::Email(once) = &once.content else {
        panic!("email")
    };
    let RenderedContent::Email(twice) = &twice.content else {
        panic!("email")
    };
    let count = |html: &str| html.matches("/t/c/").count();
    let html = once.html.as_deref().unwrap();
    assert_eq!(count(twice.html.as_deref().unwrap()), count(html));
    assert_eq!(twice.html.as_deref().unwrap().matches("/t/o/").count(), 2);
}

#[test]
fn text_urls_are_wrapped_without_their_trailing_punctuation() {
    let text = "See https://a.example/o?id=1. Or (http://b.example/x), mailto:c@d.example!";
    assert_eq!(
        text_links(text, mark),
        "See [https://a.example/o?id=1]. Or ([http://b.example/x]), mailto:c@d.example!"
    );
}

#[test]
fn the_pixel_goes_before_the_closing_body_or_at_the_end() {
    let with_body = with_pixel("<html><body><p>x</p></BODY></html>", "https://n/t/o/a&b");
    assert!(
        with_body.ends_with(r#"height:1px"></BODY></html>"#),
        "{with_body}"
    );
    assert!(with_body.contains(r#"src="https://n/t/o/a&amp;b""#));
    assert!(with_pixel("<p>x</p>", "u").starts_with("<p>x</p><img "));
}

#[test]
fn an_email_gets_signed_click_links_and_a_pixel_that_verify() {
    let tracker = tracker();
    let mut delivery = samples::full_email_delivery();
    let RenderedContent::Email(email) = &mut delivery.content else {
        panic!("email")
    };
    email.html = Some(r#"<a href="https://shop.example/o/1">order</a>"#.into());
    email.text = Some("Order: https://shop.example/o/1".into());
    let sent = tracked(&tracker, &delivery, NOW_MS).unwrap();
    let RenderedContent::Email(email) = &sent.content else {
        panic!("email")
    };
    let html = email.html.as_deref().unwrap();
    let token = |html: &str, path: &str| {
        let from = html.find(path).unwrap() + path.len();
        html[from..].split(['"', ' ']).next().unwrap().to_owned()
    };
    let (claims, destination) = tracker
        .verify_click(&token(html, "/t/c/"), NOW_MS / 1_000)
        .unwrap();
    assert_eq!(destination, "https://shop.example/o/1");
    assert_eq!(claims.delivery_id, delivery.delivery_id);
    let opened = tracker.verify_open(&token(html, "/t/o/"), NOW_MS / 1_000);
    assert_eq!(opened.unwrap().event_id, delivery.event_id);
    let text = email.text.as_deref().unwrap();
    assert!(text.starts_with(&format!("Order: {BASE}/t/c/")), "{text}");
    // the delivery record itself is untouched
    assert_ne!(sent, delivery);
}

#[test]
fn a_push_click_url_is_wrapped_unless_the_message_opts_out() {
    let tracker = tracker();
    let mut delivery = samples::full_push_delivery();
    delivery.content = RenderedContent::Push(RenderedPush {
        click_url: Some("https://shop.example/app".into()),
        ..RenderedPush::default()
    });
    let sent = tracked(&tracker, &delivery, NOW_MS).unwrap();
    let RenderedContent::Push(push) = &sent.content else {
        panic!("push")
    };
    assert!(push.click_url.as_deref().unwrap().starts_with(BASE));
    let RenderedContent::Push(push) = &mut delivery.content else {
        panic!("push")
    };
    push.data.insert(OPT_OUT_KEY.into(), "false".into());
    assert_eq!(tracked(&tracker, &delivery, NOW_MS), None);
    delivery.content = RenderedContent::Push(RenderedPush {
        click_url: Some("myapp://orders/1".into()),
        ..RenderedPush::default()
    });
    assert_eq!(tracked(&tracker, &delivery, NOW_MS), None);
    assert_eq!(
        tracked(&tracker, &samples::full_sms_delivery(), NOW_MS),
        None
    );
}

#[test]
fn the_simulated_recipient_finds_the_links_in_the_smtp_message_as_sent() {
    let tracker = tracker();
    let mut delivery = samples::full_email_delivery();
    let RenderedContent::Email(email) = &mut delivery.content else {
        panic!("email")
    };
    email.html = Some(r#"<p>Ihr <a href="https://shop.example/ö?a=1">Paket</a></p>"#.into());
    let sent = tracked(&tracker, &delivery, NOW_MS).unwrap();
    let (message, _) = crate::providers::email::smtp::message(&sent, None, None).unwrap();
    let raw = String::from_utf8(message.formatted()).unwrap();
    let links = notify_sim::recipient::tracked_links(&[&raw]);
    let token = |url: Option<String>| url.expect("link").rsplit('/').next().unwrap().to_owned();
    let now_s = NOW_MS / 1_000;
    assert!(
        tracker.verify_open(&token(links.pixel), now_s).is_ok(),
        "{raw}"
    );
    let (_, destination) = tracker.verify_click(&token(links.click), now_s).unwrap();
    assert_eq!(destination, "https://shop.example/ö?a=1");
}
