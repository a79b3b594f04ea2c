//! Provider receipts on the real stack: the dispatcher gives Twilio a status callback URL and
//! SendGrid custom args with the delivery's ids; the Twilio simulator calls back signed (`sent`,
//! then `delivered`) and the SendGrid simulator posts its signed Event Webhook (`processed`,
//! `delivered`); the gateway reports `delivered` on `notify.status` and in the status look-up.
//! Forged, tampered and unsigned callbacks are refused; a replayed Twilio callback reports
//! nothing new (stale and replayed SendGrid posts: `notify-ingest`'s receipt route tests).

use std::time::Duration;

use anyhow::{ensure, Context};
use notify_schemas::{DeliveryStatus, Receipt, Stage, Status};

use crate::harness::Settings;
use crate::run::{self, Run};
use crate::workload::Shape;

/// The signed form of a `delivered` callback about `sent`, as Twilio would post it.
fn callback(sent: &DeliveryStatus, to: &str) -> Vec<(String, String)> {
    let sid = sent.provider_message_id.clone().unwrap_or_default();
    [
        ("AccountSid", "ACsim"),
        ("MessageSid", sid.as_str()),
        ("MessageStatus", "delivered"),
        ("To", to),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec()
}

fn receipts_of(statuses: &[DeliveryStatus], sent: &DeliveryStatus) -> usize {
    statuses
        .iter()
        .filter(|s| s.delivery_id == sent.delivery_id && s.receipt.is_some())
        .count()
}

/// Each of `events`' dispatcher status with the gateway's receipt after it, waiting up to a
/// minute for all of them; reports how many arrived, and fails naming the receipt log lines
/// when some did not.
pub(crate) async fn receipt_pairs(
    run: &Run,
    events: &[uuid::Uuid],
    what: &str,
) -> anyhow::Result<Vec<(DeliveryStatus, DeliveryStatus)>> {
    let pairs_now = || {
        run.observer.with(|seen| {
            let of = |event: &uuid::Uuid, stage| {
                seen.statuses
                    .iter()
                    .find(|s| s.event_id == *event && s.stage == stage)
                    .cloned()
            };
            events
                .iter()
                .filter_map(|e| Some((of(e, Stage::Dispatcher)?, of(e, Stage::Tracker)?)))
                .collect::<Vec<_>>()
        })
    };
    let mut pairs = pairs_now();
    for _ in 0..120 {
        if pairs.len() == events.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        pairs = pairs_now();
    }
    crate::observe::report(format_args!(
        "receipts: {} of {} {what} events reported delivered",
        pairs.len(),
        events.len()
    ));
    ensure!(
        pairs.len() == events.len(),
        "receipts missing: {} of {}\n{}",
        pairs.len(),
        events.len(),
        run.pipeline.lines_naming("receipt")
    );
    Ok(pairs)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn provider_receipts_are_reported_and_forgeries_refused() -> anyhow::Result<()> {
    let _turn = run::turn().await;
    let settings = Settings {
        receipts: true,
        ..Settings::default()
    };
    let run = Run::start(settings, Shape::new(20, false)).await?;
    // five SMS-only and five email-only notifications to users who take them
    let client = reqwest::Client::new();
    let mut events = Vec::new();
    for channel in ["sms", "email"] {
        let takers = run
            .users
            .iter()
            .filter(|u| !u.opted_out && u.targets.iter().any(|t| t.channel.as_str() == channel))
            .take(5);
        for user in takers {
            let body = serde_json::json!({
                "user_id": user.id, "category": "orders", "channels": [channel],
                "content": {"sms": {"text": "your order shipped"},
                            "email": {"subject": "Shipped", "text": "your order shipped"}}
            });
            events.push(run.api.accepted(&body, &[]).await?);
        }
    }
    let users: Vec<_> = run
        .users
        .iter()
        .filter(|u| !u.opted_out && u.targets.iter().any(|t| t.channel.as_str() == "sms"))
        .take(1)
        .collect();
    ensure!(
        events.len() == 10,
        "seeded users take SMS and email: {}",
        events.len()
    );

    // every event: the dispatcher's SENT, then the gateway's DELIVERED receipt
    let pairs = receipt_pairs(&run, &events, "SMS and email").await?;
    for (sent, receipt) in &pairs {
        ensure!(sent.status == Status::Sent, "{sent:?}");
        ensure!(receipt.receipt == Some(Receipt::Delivered), "{receipt:?}");
        ensure!(receipt.status == Status::Sent, "{receipt:?}");
        ensure!(
            receipt.delivery_id == sent.delivery_id,
            "{receipt:?} vs {sent:?}"
        );
        ensure!(
            receipt.provider_message_id == sent.provider_message_id,
            "{receipt:?} vs {sent:?}"
        );
        ensure!(receipt.user_id == sent.user_id && receipt.category.as_deref() == Some("orders"));
        ensure!(receipt.recipient == sent.recipient, "redacted alike");
    }

    let providers: std::collections::BTreeSet<_> = pairs
        .iter()
        .filter_map(|(_, r)| r.provider.clone())
        .collect();
    ensure!(
        providers == ["sendgrid", "twilio"].map(String::from).into(),
        "receipts from {providers:?}"
    );

    // SendGrid's webhook unsigned, or signed with another key, is refused
    let other_key = notify_sim::sendgrid_events::EventWebhook::new();
    let events_body = b"[]".to_vec();
    let now = (notify_common::clock::now_ms() / 1000).to_string();
    let sendgrid_url = format!("{}/v1/receipts/sendgrid", run.pipeline.api);
    let unsigned = client
        .post(&sendgrid_url)
        .body(events_body.clone())
        .send()
        .await?;
    let foreign = client
        .post(&sendgrid_url)
        .header(
            "X-Twilio-Email-Event-Webhook-Signature",
            other_key.sign(&now, &events_body),
        )
        .header("X-Twilio-Email-Event-Webhook-Timestamp", &now)
        .body(events_body)
        .send()
        .await?;
    let answers = [unsigned.status().as_u16(), foreign.status().as_u16()];
    ensure!(
        answers == [403, 403],
        "SendGrid forgeries answered {answers:?}"
    );

    // the status look-up shows the receipt as the delivery's state
    let (sent, _) = pairs
        .iter()
        .find(|(s, _)| s.channel == Some(notify_schemas::Channel::Sms))
        .context("an SMS receipt")?;
    let look_up: serde_json::Value = client
        .get(format!(
            "{}/v1/notifications/{}",
            run.pipeline.api, sent.event_id
        ))
        .basic_auth(&run.pipeline.app.key, Some(&run.pipeline.app.secret))
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        look_up.to_string().contains("\"delivered\""),
        "look-up does not show delivered: {look_up}"
    );

    // forgeries: no signature, a wrong token, a signed callback with another tenant in its URL
    let token = run.pipeline.provider_secret("twilio", "auth_token")?;
    let base = run
        .pipeline
        .provider_setting("twilio", "status_callback_base")?;
    let to = users[0]
        .targets
        .iter()
        .find(|t| t.channel.as_str() == "sms")
        .map(|t| t.key.clone())
        .context("sms target")?;
    let query = format!(
        "delivery_id={}&tenant={}&event_id={}&user_id={}&category=orders",
        sent.delivery_id.context("delivery id")?,
        sent.tenant,
        sent.event_id,
        users[0].id
    );
    let form = callback(sent, &to);
    let post = |url: String, signature: Option<String>| {
        let mut request = client.post(url).form(&form);
        if let Some(signature) = signature {
            request = request.header("X-Twilio-Signature", signature);
        }
        request.send()
    };
    let url = format!("{base}?{query}");
    let signed = notify_sim::twilio::twilio_signature(&token, &url, &form);
    let forged = notify_sim::twilio::twilio_signature("not-the-token", &url, &form);
    let other_tenant = url.replace(&format!("tenant={}", sent.tenant), "tenant=someone-else");
    let refusals = [
        post(url.clone(), None).await?.status().as_u16(),
        post(url.clone(), Some(forged)).await?.status().as_u16(),
        post(other_tenant, Some(signed.clone()))
            .await?
            .status()
            .as_u16(),
    ];
    ensure!(
        refusals == [403, 403, 403],
        "forgeries answered {refusals:?}"
    );

    // a replay of a genuine callback is taken and reports nothing new
    let before = run.observer.with(|seen| receipts_of(&seen.statuses, sent));
    let replay = post(url, Some(signed)).await?.status().as_u16();
    ensure!(replay == 204, "replay answered {replay}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = run.observer.with(|seen| receipts_of(&seen.statuses, sent));
    ensure!(
        before == 1 && after == 1,
        "receipts of one delivery: {before} then {after}"
    );
    run.finish().await;
    Ok(())
}
