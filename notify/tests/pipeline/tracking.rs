//! Opens and clicks on the real stack: with `[links]` on, the email dispatcher wraps a
//! template's link in a signed click link and adds an open pixel; the simulators' recipient
//! (set to open and click every message) loads the pixel and follows the link through the
//! gateway, which reports `OPENED` and `CLICKED` on `notify.status`, with the template, once
//! each per delivery; `notify report` shows the rates. Forged, tampered, stale, wrong-purpose
//! and open-redirect tokens are refused with no redirect and no status.

use std::time::Duration;

use anyhow::{ensure, Context};
use notify_common::clock::now_ms;
use notify_common::links::{LinkKeys, Purpose};
use notify_common::tracking::Tracker;
use notify_schemas::{DeliveryStatus, Receipt, Stage, Status, Uuid};
use serde_json::json;

use crate::harness::Settings;
use crate::process::notify_output;
use crate::run::{self, Run};
use crate::workload::Shape;

const TEMPLATE: &str = "tracked_update";
const DESTINATION: &str = "https://shop.example/orders/";

fn tracked(statuses: &[DeliveryStatus], events: &[Uuid], receipt: Receipt) -> Vec<DeliveryStatus> {
    statuses
        .iter()
        .filter(|s| events.contains(&s.event_id) && s.receipt == Some(receipt))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn opens_and_clicks_reach_the_status_topic_and_the_report() -> anyhow::Result<()> {
    let _turn = run::turn().await;
    let settings = Settings {
        receipts: true,
        tracking: true,
        ..Settings::default()
    };
    let run = Run::start(settings, Shape::new(12, false)).await?;
    let email = json!({"locale": "en", "channel": "email", "subject": "Order {{order_id}}",
        "html": format!(r#"<p>Shipped. <a href="{DESTINATION}{{{{order_id}}}}?a=1&amp;b=2">Track</a>
            or <a href="mailto:help@shop.example">ask</a></p>"#),
        "text": "Shipped: order {{order_id}}"});
    run.api
        .call(
            reqwest::Method::PUT,
            &format!("/v1/templates/{TEMPLATE}"),
            &json!({ "variants": [email] }),
            None,
        )
        .await?;
    let takers: Vec<_> = run
        .users
        .iter()
        .filter(|u| !u.opted_out && u.targets.iter().any(|t| t.channel.as_str() == "email"))
        .take(3)
        .collect();
    let mut events = Vec::new();
    for (i, user) in takers.iter().enumerate() {
        let body = json!({"user_id": user.id, "category": "orders", "channels": ["email"],
            "template": {"id": TEMPLATE, "params": {"order_id": i.to_string()}}});
        events.push(run.api.accepted(&body, &[]).await?);
    }
    ensure!(
        events.len() == 3,
        "seeded users take email: {}",
        events.len()
    );

    // the recipient opens and clicks every message: one OPENED and one CLICKED per delivery
    let mut done = (Vec::new(), Vec::new());
    for _ in 0..120 {
        done = run.observer.with(|seen| {
            let of = |r| tracked(&seen.statuses, &events, r);
            (of(Receipt::Opened), of(Receipt::Clicked))
        });
        if done.0.len() >= events.len() && done.1.len() >= events.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (opened, clicked) = &done;
    crate::observe::report(format_args!(
        "tracking: {} opened, {} clicked of {} emails",
        opened.len(),
        clicked.len(),
        events.len()
    ));
    ensure!(
        opened.len() == events.len() && clicked.len() == events.len(),
        "opened {opened:?}\nclicked {clicked:?}\n{}",
        run.pipeline.lines_naming("track")
    );
    for status in opened.iter().chain(clicked) {
        ensure!(status.stage == Stage::Tracker, "{status:?}");
        ensure!(
            matches!(status.status, Status::Opened | Status::Clicked),
            "{status:?}"
        );
        ensure!(
            status.template_id.as_deref() == Some(TEMPLATE),
            "{status:?}"
        );
        ensure!(status.category.as_deref() == Some("orders"), "{status:?}");
    }

    // a genuine link, taken from the message the provider got, and forgeries of it
    let links = sent_links(&run).await?;
    let click = links.click.context("no tracked link in the sent email")?;
    let pixel = links.pixel.context("no open pixel in the sent email")?;
    let base = format!("{}/t/", run.pipeline.api);
    ensure!(
        click.starts_with(&base) && pixel.starts_with(&base),
        "{click} {pixel}"
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let answer = client.get(&click).send().await?;
    ensure!(answer.status().as_u16() == 303, "{}", answer.status());
    let location = answer.headers()["location"].to_str()?.to_owned();
    ensure!(
        location.starts_with(DESTINATION) && location.ends_with("?a=1&b=2"),
        "{location}"
    );
    let key = std::fs::read_to_string(run.pipeline.dir.join("links-key"))?;
    let keys = LinkKeys::new(&[key.trim()])?;
    let token = click.rsplit('/').next().unwrap_or_default();
    let (claims, _) = Tracker::new(keys.clone(), &run.pipeline.api, 60)
        .verify_click(token, now_ms() / 1_000)
        .context("the sent link verifies")?;
    let stale = Tracker::new(keys.clone(), &run.pipeline.api, 60)
        .click_url(&claims, "https://shop.example/", now_ms() - 61_000)
        .context("stale link")?;
    let forged = Tracker::new(
        LinkKeys::new(&[b"not the gateway's key, 32 bytes!"])?,
        &run.pipeline.api,
        3_600,
    )
    .click_url(&claims, "https://evil.example/", now_ms())
    .context("forged link")?;
    let mut evil = serde_json::to_value(&claims)?;
    evil["l"] = "javascript:alert(1)".into();
    let script = keys.sign(
        Purpose::Click,
        evil.to_string().as_bytes(),
        now_ms() / 1_000 + 60,
    );
    let mut tampered = token.to_owned();
    let flip = if tampered.as_bytes()[20] == b'A' {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(20..21, flip);
    let pixel_token = pixel.rsplit('/').next().unwrap_or_default();
    let refused = [
        stale,
        forged,
        format!("{base}c/{script}"),
        format!("{base}c/{tampered}"),
        format!("{base}c/{pixel_token}"),
        format!("{base}o/{token}"),
    ];
    for url in &refused {
        let answer = client.get(url).send().await?;
        ensure!(
            answer.status().as_u16() == 404 && answer.headers().get("location").is_none(),
            "{url}: {}",
            answer.status()
        );
    }
    client.get(&pixel).send().await?.error_for_status()?;

    // nothing more was reported: the repeats are dropped, the forgeries recorded nothing
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (opened, clicked) = run.observer.with(|seen| {
        let of = |r| tracked(&seen.statuses, &events, r).len();
        (of(Receipt::Opened), of(Receipt::Clicked))
    });
    ensure!(
        (opened, clicked) == (events.len(), events.len()),
        "after repeats and forgeries: opened {opened}, clicked {clicked}"
    );

    // the rates, from notify.status alone
    let config = run.pipeline.config.clone();
    let report = tokio::task::spawn_blocking(move || notify_output(&config, &["report"])).await??;
    crate::observe::report(format_args!("notify report:\n{report}"));
    let row = report
        .lines()
        .find(|l| l.split_whitespace().next() == Some(TEMPLATE))
        .with_context(|| format!("no {TEMPLATE} row:\n{report}"))?;
    let cells: Vec<_> = row.split_whitespace().collect();
    ensure!(
        cells[1..5] == ["3", "3", "3", "3"] && row.matches("100.0 %").count() == 2,
        "{row}"
    );
    run.finish().await;
    Ok(())
}

/// The tracked links of one email the provider simulators accepted.
async fn sent_links(run: &Run) -> anyhow::Result<notify_sim::recipient::TrackedLinks> {
    for name in ["sendgrid", "smtp"] {
        if !run.pipeline.sims.contains_key(name) {
            continue;
        }
        for entry in run.pipeline.ledger(name).await? {
            let summary = &entry["summary"];
            let bodies: Vec<&str> = ["html", "text", "raw"]
                .iter()
                .filter_map(|k| summary[*k].as_str())
                .collect();
            let links = notify_sim::recipient::tracked_links(&bodies);
            if links.click.is_some() {
                return Ok(links);
            }
        }
    }
    anyhow::bail!("no sent email carries a tracked link")
}
