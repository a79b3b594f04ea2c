//! Bounces on the SMTP path, on the real stack with email going out through the SMTP simulator
//! alone: a recipient the relay refuses at RCPT (`550 5.1.1` for `bounce+…@`) fails its
//! delivery as `bad_address` and is listed by the dispatcher; a bounce message (DSN) the relay
//! mails back later for a message it had taken, built around the header the dispatcher really
//! sent and posted to the gateway's `/v1/receipts/smtp/dsn`, reports `bounced` and lists that
//! address. The next email to either is suppressed by the router as `bounced`.

use std::time::Duration;

use anyhow::{ensure, Context};
use notify_schemas::{Receipt, Stage, Status};
use serde_json::json;

use crate::harness::Settings;
use crate::run::{self, Run};
use crate::suppression::{send_email, status_of};
use crate::workload::Shape;

const REFUSED: (&str, &str) = ("refused", "bounce+smtp@example.com");
const LATER: (&str, &str) = ("bounced-later", "moved+smtp@example.com");

/// The raw header block of the message the SMTP simulator took for `address`.
async fn sent_header(run: &Run, address: &str) -> anyhow::Result<String> {
    for _ in 0..60 {
        let ledger = run.pipeline.ledger("smtp").await?;
        let raw = ledger
            .iter()
            .find(|e| e["recipient"] == address)
            .and_then(|e| e["summary"]["raw"].as_str());
        if let Some(raw) = raw {
            let end = raw.find("\r\n\r\n").context("no end of header")?;
            return Ok(raw[..end + 2].to_owned());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::bail!("the SMTP simulator took no message for {address}")
}

/// A DSN after RFC 3464 saying `address` failed for good (5.1.1), returning `header`.
fn dsn(address: &str, header: &str) -> String {
    format!(
        "From: MAILER-DAEMON@relay.example\r\nTo: bounces@example.com\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"dsn\"\r\n\r\n\
         --dsn\r\nContent-Type: text/plain\r\n\r\nThe mailbox has gone away.\r\n\
         --dsn\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; relay.example\r\n\r\n\
         Final-Recipient: rfc822; {address}\r\nAction: failed\r\nStatus: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 mailbox moved away\r\n\r\n\
         --dsn\r\nContent-Type: text/rfc822-headers\r\n\r\n{header}\r\n--dsn--\r\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn smtp_refusals_and_bounce_messages_suppress_the_next_email() -> anyhow::Result<()> {
    let _turn = run::turn().await;
    let settings = Settings {
        email_over_smtp: true,
        ..Settings::default()
    };
    let run = Run::start(settings, Shape::new(4, false)).await?;
    for (user, email) in [REFUSED, LATER] {
        let body = json!({"email": email, "time_zone": "UTC"});
        run.api.put(&format!("/v1/users/{user}"), body).await?;
    }

    // refused in the SMTP dialogue: failed as a bad address, listed by the dispatcher
    let refused = send_email(&run, REFUSED.0).await?;
    let failed = status_of(&run, refused, Stage::Dispatcher).await?;
    ensure!(
        failed.status == Status::Failed && failed.reason.as_deref() == Some("bad_address"),
        "expected failed (bad_address): {failed:?}"
    );

    // taken by the relay, bounced later: the DSN comes back through the bounce mailbox
    let later = send_email(&run, LATER.0).await?;
    let sent = status_of(&run, later, Stage::Dispatcher).await?;
    ensure!(sent.status == Status::Sent, "{sent:?}");
    let header = sent_header(&run, LATER.1).await?;
    let secret = std::fs::read_to_string(run.pipeline.dir.join("dsn-secret"))?;
    let answer = reqwest::Client::new()
        .post(format!("{}/v1/receipts/smtp/dsn", run.pipeline.api))
        .bearer_auth(secret.trim())
        .header("content-type", "message/rfc822")
        .body(dsn(LATER.1, &header))
        .send()
        .await?;
    ensure!(answer.status() == 204, "dsn answered {}", answer.status());
    let tracked = status_of(&run, later, Stage::Tracker).await?;
    ensure!(tracked.receipt == Some(Receipt::Bounced), "{tracked:?}");

    // routers read the list through a cache of router.cache_ttl_ms (5 s by default)
    tokio::time::sleep(Duration::from_secs(6)).await;
    for (user, _) in [REFUSED, LATER] {
        let next = send_email(&run, user).await?;
        let routed = status_of(&run, next, Stage::Router).await?;
        ensure!(
            routed.status == Status::Suppressed && routed.reason.as_deref() == Some("bounced"),
            "expected suppressed (bounced) for {user}: {routed:?}"
        );
    }
    crate::observe::report(format_args!(
        "smtp bounces: RCPT refusal and DSN listed; next emails suppressed (bounced)"
    ));
    run.finish().await;
    Ok(())
}
