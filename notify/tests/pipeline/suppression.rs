//! The suppression list on the real stack: the SendGrid simulator hard-bounces mail to
//! `bounce+…@` and reports `complaint+…@` as spam after delivering it, through its signed Event
//! Webhook; the gateway puts both addresses on the list, and the next email to either is
//! suppressed by the router (`bounced`, `complained`) and never reaches a dispatcher. A user
//! texting STOP to the Twilio simulator's number (signed inbound webhook) is suppressed for SMS
//! as `opted_out`.

use std::time::Duration;

use anyhow::{ensure, Context};
use notify_schemas::{DeliveryStatus, Receipt, Stage, Status, Uuid};
use serde_json::json;

use crate::harness::Settings;
use crate::run::{self, Run};
use crate::workload::Shape;

const STOPPER: (&str, &str) = ("stopper", "+821055507788");

const MAILBOXES: [(&str, &str); 2] = [
    ("bouncer", "bounce+pipeline@example.com"),
    ("complainer", "complaint+pipeline@example.com"),
];

pub(crate) async fn send_email(run: &Run, user: &str) -> anyhow::Result<Uuid> {
    send(run, user, "email").await
}

async fn send(run: &Run, user: &str, channel: &str) -> anyhow::Result<Uuid> {
    let body = json!({
        "user_id": user, "category": "orders", "channels": [channel],
        "content": {"email": {"subject": "Shipped", "text": "your order shipped"},
                    "sms": {"text": "your order shipped"}}
    });
    run.api.accepted(&body, &[]).await
}

/// The first status of `event` from `stage`, waiting up to a minute.
pub(crate) async fn status_of(
    run: &Run,
    event: Uuid,
    stage: Stage,
) -> anyhow::Result<DeliveryStatus> {
    for _ in 0..120 {
        let found = run.observer.with(|seen| {
            seen.statuses
                .iter()
                .find(|s| s.event_id == event && s.stage == stage)
                .cloned()
        });
        if let Some(status) = found {
            return Ok(status);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::bail!(
        "no {stage:?} status for {event}\n{}",
        run.pipeline.lines_naming("suppress")
    )
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn a_bounce_a_complaint_or_a_stop_suppresses_the_next_send_to_the_address(
) -> anyhow::Result<()> {
    let _turn = run::turn().await;
    let settings = Settings {
        receipts: true,
        ..Settings::default()
    };
    let run = Run::start(settings, Shape::new(4, false)).await?;
    for (user, email) in MAILBOXES {
        run.api
            .put(
                &format!("/v1/users/{user}"),
                json!({"email": email, "time_zone": "UTC"}),
            )
            .await?;
    }

    run.api
        .put(
            &format!("/v1/users/{}", STOPPER.0),
            json!({"phone": STOPPER.1, "time_zone": "UTC"}),
        )
        .await?;
    // the user texts STOP to the number, through the simulator's signed inbound webhook
    let twilio = run
        .pipeline
        .sims
        .get("twilio")
        .context("twilio simulator")?;
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{twilio}/_sim/inbound"))
        .json(&json!({
            "url": format!("{}/v1/receipts/twilio/inbound", run.pipeline.api),
            "from": STOPPER.1, "body": "STOP",
        }))
        .send()
        .await?
        .json()
        .await?;
    ensure!(answer["status"] == 200, "inbound STOP answered {answer}");

    let mut first = Vec::new();
    for (user, _) in MAILBOXES {
        first.push(send_email(&run, user).await?);
    }
    let expected = [Receipt::Bounced, Receipt::Complained];
    for (event, receipt) in first.iter().zip(expected) {
        // the complaint follows a `delivered` receipt: wait for the one that matters
        let mut seen = None;
        for _ in 0..120 {
            seen = run.observer.with(|s| {
                s.statuses
                    .iter()
                    .find(|st| st.event_id == *event && st.receipt == Some(receipt))
                    .cloned()
            });
            if seen.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let seen = seen.with_context(|| format!("no {receipt:?} receipt for {event}"))?;
        ensure!(seen.stage == Stage::Tracker, "{seen:?}");
    }

    // routers read the list through a cache of router.cache_ttl_ms (5 s by default)
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut second = Vec::new();
    for (user, _) in MAILBOXES {
        second.push(send_email(&run, user).await?);
    }
    second.push(send(&run, STOPPER.0, "sms").await?);
    for (event, reason) in second.iter().zip(["bounced", "complained", "opted_out"]) {
        let routed = status_of(&run, *event, Stage::Router).await?;
        ensure!(
            routed.status == Status::Suppressed && routed.reason.as_deref() == Some(reason),
            "expected suppressed ({reason}): {routed:?}"
        );
    }
    // a seeded user's email still goes out: the list holds only the listed addresses
    let other = run
        .users
        .iter()
        .find(|u| !u.opted_out && u.targets.iter().any(|t| t.channel.as_str() == "email"))
        .context("a seeded user who takes email")?;
    let control = send_email(&run, &other.id).await?;
    let sent = status_of(&run, control, Stage::Dispatcher).await?;
    ensure!(sent.status == Status::Sent, "{sent:?}");
    let dispatched = run.observer.with(|seen| {
        seen.statuses
            .iter()
            .filter(|s| second.contains(&s.event_id) && s.stage == Stage::Dispatcher)
            .count()
    });
    ensure!(
        dispatched == 0,
        "{dispatched} suppressed emails reached a dispatcher"
    );
    crate::observe::report(format_args!(
        "suppression: bounce, complaint and STOP listed; next sends suppressed (bounced, complained, opted_out)"
    ));
    run.finish().await;
    Ok(())
}
