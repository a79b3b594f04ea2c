//! Unsubscribe and the preference page on the real stack, in a real browser: an email rendered
//! from a template carries `{{ preferences_url }}` and the `List-Unsubscribe` headers; the
//! preference page opened from the link as the SendGrid simulator received it, in Debian's
//! Chromium driven by Playwright (JavaScript off), turns a category off on email, and the next
//! send of that category is suppressed `opted_out`. The one-click POST, exactly as a mail
//! client sends it, opts out of another category and reports `unsubscribed` once. Forged,
//! tampered, expired and wrong-purpose links are refused and change nothing; a forged form
//! cannot turn a critical category off.

use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context};
use notify_common::links::LinkKeys;
use notify_common::preference_links::{PageClaims, PreferenceLinks};
use notify_schemas::{DeliveryStatus, Receipt, Stage, Status, Uuid};
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::Settings;
use crate::run::{self, Run};
use crate::workload::Shape;

const USER: &str = "reader";

fn peer(variable: &str, command: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/peers.d/chromium");
        let out = Command::new(script).arg(command).output().expect(script);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    })
}

/// Sends one templated email of `category` to the reader; its event id.
async fn send(run: &Run, category: &str) -> anyhow::Result<Uuid> {
    let body = json!({
        "user_id": USER, "category": category, "channels": ["email"],
        "template": {"id": "weekly", "params": {"name": "Kim"}}
    });
    run.api.accepted(&body, &[]).await
}

/// The first status of `event` that `wanted` accepts, waiting up to 60 s.
async fn status_of(
    run: &Run,
    event: Uuid,
    wanted: impl Fn(&DeliveryStatus) -> bool,
) -> anyhow::Result<DeliveryStatus> {
    for _ in 0..120 {
        let found = run.observer.with(|seen| {
            seen.statuses
                .iter()
                .find(|s| s.event_id == event && wanted(s))
                .cloned()
        });
        if let Some(found) = found {
            return Ok(found);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let seen = run.observer.with(|seen| {
        seen.statuses
            .iter()
            .filter(|s| s.event_id == event)
            .map(|s| format!("{:?}/{:?}/{:?}", s.stage, s.status, s.reason))
            .collect::<Vec<_>>()
    });
    anyhow::bail!("event {event}: no such status, saw {seen:?}")
}

/// The email of `delivery` as the SendGrid simulator took it (text, headers).
async fn sent_email(run: &Run, delivery: Uuid) -> anyhow::Result<Value> {
    let ledger = run.pipeline.ledger("sendgrid").await?;
    ledger
        .into_iter()
        .find(|entry| entry["delivery_id"] == delivery.to_string())
        .map(|entry| entry["summary"].clone())
        .context("the email is not in the SendGrid ledger")
}

/// The link under `path` (`/p/`, `/u/`) in `text`.
fn link_in(text: &str, api: &str, path: &str) -> anyhow::Result<String> {
    let start = text
        .find(&format!("{api}{path}"))
        .with_context(|| format!("no {path} link in {text:?}"))?;
    let end = text[start..]
        .find(|c: char| c.is_whitespace() || c == '>' || c == '"')
        .map_or(text.len(), |end| start + end);
    Ok(text[start..end].to_owned())
}

async fn preferences(run: &Run) -> anyhow::Result<Value> {
    let path = format!("/v1/users/{USER}/preferences");
    let (status, body) = run.api.call(Method::GET, &path, &json!({}), None).await?;
    ensure!(status == 200, "preferences: {status} {body}");
    Ok(body)
}

async fn seed(run: &Run) -> anyhow::Result<()> {
    let api = &run.api;
    for (id, body) in [
        ("digest", json!({"description": "Weekly digest"})),
        ("offers", json!({"description": "Offers"})),
        (
            "security",
            json!({"description": "Security alerts", "critical": true}),
        ),
    ] {
        let (status, answer) = api
            .call(Method::PUT, &format!("/v1/categories/{id}"), &body, None)
            .await?;
        ensure!(status < 300, "category {id}: {status} {answer}");
    }
    let user = json!({"email": "reader@example.com", "locale": "ko-KR"});
    let (status, answer) = api
        .call(Method::PUT, &format!("/v1/users/{USER}"), &user, None)
        .await?;
    ensure!(status < 300, "user: {status} {answer}");
    let text = "Hello {{ name }}. Manage your notifications: {{ preferences_url }}";
    let template = json!({"variants": [
        {"locale": "en", "channel": "email", "subject": "Your digest", "text": text},
        {"locale": "ko", "channel": "email", "subject": "주간 소식", "text": text},
    ]});
    let (status, answer) = api
        .call(Method::PUT, "/v1/templates/weekly", &template, None)
        .await?;
    ensure!(status < 300, "template: {status} {answer}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack and the browser peer: run scripts/test"]
async fn a_recipient_opts_out_in_a_browser_and_in_one_click() -> anyhow::Result<()> {
    let _turn = run::turn().await;
    let settings = Settings {
        links: true,
        ..Settings::default()
    };
    let run = Run::start(settings, Shape::new(4, false)).await?;
    seed(&run).await?;
    let api = run.pipeline.api.clone();
    let client = reqwest::Client::new();

    // 1. an email with the preference link in its text and the unsubscribe headers
    let first = send(&run, "digest").await?;
    let sent = status_of(&run, first, |s| s.stage == Stage::Dispatcher).await?;
    ensure!(sent.status == Status::Sent, "{sent:?}");
    let email = sent_email(&run, sent.delivery_id.context("delivery id")?).await?;
    let page_url = link_in(email["text"].as_str().context("text")?, &api, "/p/")?;
    let headers = &email["headers"];
    ensure!(
        headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click",
        "{headers}"
    );

    // 2. refused links change nothing: tampered, forged, wrong purpose, expired
    let token = page_url.rsplit('/').next().context("token")?.to_owned();
    // one character of the claims changed (the first ones are the expiry's zero bytes)
    let flip = if &token[14..15] == "x" { "y" } else { "x" };
    let tampered = format!("{api}/p/{}{flip}{}", &token[..14], &token[15..]);
    let key = std::fs::read(run.pipeline.dir.join("links-key"))?;
    let ours = PreferenceLinks::new(&api, LinkKeys::new(&[&key])?, 60);
    let theirs = PreferenceLinks::new(&api, LinkKeys::new(&[[7u8; 32]])?, 60);
    let claims = PageClaims {
        tenant: run.pipeline.app.tenant.clone(),
        user_id: USER.into(),
        locale: None,
    };
    let now_s = notify_common::clock::now_ms() / 1000;
    let expired = ours.page_url(&claims, now_s - 61);
    let forged = theirs.page_url(&claims, now_s);
    let wrong_purpose = format!("{api}/u/{token}");
    for (what, url, code) in [
        ("tampered", &tampered, 403),
        ("forged", &forged, 403),
        ("expired", &expired, 410),
        ("wrong purpose", &wrong_purpose, 403),
    ] {
        let answer = client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await?;
        let status = answer.status().as_u16();
        let page = answer.text().await?;
        ensure!(status == code, "{what} link answered {status}");
        ensure!(page.contains("Nothing was changed"), "{what}: {page}");
    }
    ensure!(
        preferences(&run).await?["preferences"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "a refused link changed preferences"
    );

    // 3. the browser: the page (Korean, the user's locale) turns digest off on email
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/peers.d/preference_page.py"
    );
    let output = Command::new(peer("NOTIFY_IT_PLAYWRIGHT_PYTHON", "python"))
        .arg(script)
        .args(["--browser", &peer("NOTIFY_IT_CHROMIUM", "browser")])
        .args([
            "--url",
            &page_url,
            "--category",
            "digest",
            "--channel",
            "email",
        ])
        .args(["--critical", "security"])
        .output()
        .context("run the browser")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "browser failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim())?;
    crate::observe::report(format_args!("preferences: the browser saw {seen}"));
    ensure!(seen["status"] == 200 && seen["lang"] == "ko", "{seen}");
    // the seeded categories and ours, each a fieldset of five channels, every box labelled
    let legends = seen["legends"].as_u64().unwrap_or_default();
    ensure!(seen["unlabelled"] == 0 && legends >= 3, "{seen}");
    ensure!(
        seen["checkboxes"] == legends * 5,
        "categories x 5 channels: {seen}"
    );
    ensure!(seen["critical_disabled"] == true && seen["critical_checked"] == true);
    ensure!(seen["before"] == true && seen["toggled"] == true, "{seen}");
    ensure!(
        seen["after"] == false && seen["reloaded"] == false,
        "{seen}"
    );
    ensure!(seen["after_status"] == 1, "the save is confirmed: {seen}");
    let csp = seen["headers"]["content-security-policy"]
        .as_str()
        .unwrap_or_default();
    ensure!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("script"),
        "{csp}"
    );
    ensure!(
        seen["headers"]["referrer-policy"] == "no-referrer",
        "{seen}"
    );
    let stored = preferences(&run).await?;
    ensure!(
        stored
            .to_string()
            .contains(r#"{"category":"digest","channel":"email","enabled":false}"#),
        "{stored}"
    );

    // 4. one-click, exactly as a mail client posts it: no cookies, that body, no redirect
    let offers = send(&run, "offers").await?;
    let sent = status_of(&run, offers, |s| s.stage == Stage::Dispatcher).await?;
    let delivery = sent.delivery_id.context("delivery id")?;
    let email = sent_email(&run, delivery).await?;
    let header = email["headers"]["List-Unsubscribe"]
        .as_str()
        .context("header")?;
    let one_click = link_in(header, &api, "/u/")?;
    for _ in 0..2 {
        let answer = client
            .post(&one_click)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await?;
        ensure!(
            answer.status().as_u16() == 200,
            "one-click: {}",
            answer.status()
        );
    }
    let receipt = status_of(&run, offers, |s| s.receipt == Some(Receipt::Unsubscribed)).await?;
    ensure!(receipt.stage == Stage::Tracker && receipt.delivery_id == Some(delivery));
    ensure!(receipt.category.as_deref() == Some("offers"), "{receipt:?}");

    // 5. the router reads the new preferences (after its directory cache) and suppresses
    tokio::time::sleep(Duration::from_secs(6)).await;
    for category in ["digest", "offers"] {
        let again = send(&run, category).await?;
        let outcome = status_of(&run, again, |s| s.stage == Stage::Router).await?;
        ensure!(
            outcome.status == Status::Suppressed && outcome.reason.as_deref() == Some("opted_out"),
            "{category} again: {outcome:?}"
        );
    }
    // 6. a forged form cannot turn the critical category off (its boxes are disabled, so a
    // browser never sends them; an empty form says "everything off")
    let answer = client.post(&page_url).body("").send().await?;
    ensure!(
        answer.status().as_u16() == 200,
        "forged form: {}",
        answer.status()
    );
    let stored = preferences(&run).await?.to_string();
    ensure!(
        !stored.contains("\"security\""),
        "critical written: {stored}"
    );

    let unsubscribed = run.observer.with(|seen| {
        seen.statuses
            .iter()
            .filter(|s| s.receipt == Some(Receipt::Unsubscribed))
            .count()
    });
    ensure!(
        unsubscribed == 1,
        "one-click twice reported {unsubscribed} times"
    );
    crate::observe::report(format_args!(
        "preferences: browser opt-out and one-click both suppressed opted_out"
    ));
    run.finish().await;
    Ok(())
}
