use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::routing::get;

use super::*;

#[test]
fn only_loopback_web_links_are_fetched() {
    for url in [
        "http://127.0.0.1:8080/t/o/x",
        "https://localhost/t/c/y",
        "http://[::1]:9/t/c/z",
        "http://127.9.9.9/",
    ] {
        assert!(on_loopback(url), "{url}");
    }
    for url in [
        "https://shop.example/",
        "http://10.0.0.1/t/c/x",
        "http://127.0.0.1.evil.example/",
        "http://user@127.0.0.1/",
        "ftp://127.0.0.1/",
        "mailto:a@127.0.0.1",
    ] {
        assert!(!on_loopback(url), "{url}");
    }
}

#[test]
fn links_are_found_in_quoted_printable_and_base64_parts() {
    let html = r#"<a href="http://127.0.0.1:1/t/c/abc.k.m">x</a><img src="http://127.0.0.1:1/t/o/def.k.m" width="1">"#;
    let qp = html.replace('=', "=3D");
    let qp = format!("{}=\r\n{}", &qp[..40], &qp[40..]);
    let mime = format!(
        "Subject: s\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{qp}\r\n--b--\r\n"
    );
    let expected = TrackedLinks {
        pixel: Some("http://127.0.0.1:1/t/o/def.k.m".into()),
        click: Some("http://127.0.0.1:1/t/c/abc.k.m".into()),
    };
    assert_eq!(tracked_links(&[&mime]), expected);
    let b64 = format!(
        "Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        STANDARD.encode(html)
    );
    assert_eq!(tracked_links(&[&b64]), expected);
    assert_eq!(
        tracked_links(&[r#"<a href="https://shop.example/">x</a>"#]),
        TrackedLinks::default()
    );
}

#[tokio::test]
async fn a_click_is_fetched_without_following_its_redirect() {
    let hits = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let (click, target) = (hits.clone(), hits.clone());
    let app = axum::Router::new()
        .route(
            "/t/c/{token}",
            get(move || async move {
                click[0].fetch_add(1, Ordering::SeqCst);
                axum::response::Redirect::to("/elsewhere")
            }),
        )
        .route(
            "/elsewhere",
            get(move || async move {
                target[1].fetch_add(1, Ordering::SeqCst);
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    fetch(&format!("http://{addr}/t/c/tok")).await;
    assert_eq!(hits[0].load(Ordering::SeqCst), 1);
    assert_eq!(hits[1].load(Ordering::SeqCst), 0);
}
