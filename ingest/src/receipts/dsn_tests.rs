//! DSN parsing against reports written here after RFC 3464's layout: a single hard bounce, a
//! report for several recipients, a delay, a report about a message that is not ours, and
//! reports missing their parts.

use super::dsn::*;
use notify_schemas::Receipt;
use notify_store::suppressions::SuppressionReason;

const DELIVERY: &str = "6f1c2d3e-0000-4000-8000-000000000001";
const EVENT: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

/// One per-recipient field group.
fn recipient(address: &str, action: &str, status: &str) -> String {
    format!(
        "Final-Recipient: rfc822; {address}\r\nAction: {action}\r\nStatus: {status}\r\n\
         Diagnostic-Code: smtp; {} {status} refused\r\n",
        if status.starts_with('5') { 550 } else { 451 }
    )
}

/// The header block of a message the SMTP dispatcher sent.
fn our_headers(to: &str) -> String {
    format!(
        "From: acme <no-reply@acme.example>\r\nTo: {to}\r\nSubject: Order shipped\r\n\
         Message-ID: <{DELIVERY}@acme.example>\r\nX-Notify-Delivery-Id: {DELIVERY}\r\n\
         X-Notify-Tenant: acme\r\nX-Notify-Event-Id: {EVENT}\r\n"
    )
}

/// A report of `groups` whose last part returns `original` as `original_type`.
fn report(groups: &[String], original_type: &str, original: &str) -> String {
    let b = "report-boundary-42";
    let mut out = format!(
        "From: Mail Delivery System <mailer-daemon@relay.example>\r\n\
         To: bounces@acme.example\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n boundary=\"{b}\"\r\n\r\n\
         --{b}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         Your message could not be delivered to one or more recipients.\r\n\r\n\
         --{b}\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; relay.example\r\nArrival-Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n"
    );
    for group in groups {
        out.push_str("\r\n");
        out.push_str(group);
    }
    out.push_str(&format!(
        "\r\n--{b}\r\nContent-Type: {original_type}\r\n\r\n{original}"
    ));
    if original_type == "message/rfc822" {
        out.push_str("\r\nThe body of the notification.\r\n");
    }
    out.push_str(&format!("\r\n--{b}--\r\n"));
    out
}

#[test]
fn a_hard_bounce_names_the_delivery_and_lists_the_address() {
    for kind in ["message/rfc822", "text/rfc822-headers"] {
        let raw = report(
            &[recipient("Ann@Example.org", "failed", "5.1.1")],
            kind,
            &our_headers("Ann@Example.org"),
        );
        let dsn = parse(raw.as_bytes()).unwrap();
        let delivery = dsn.delivery.expect(kind);
        assert_eq!(delivery.delivery_id.to_string(), DELIVERY);
        assert_eq!(delivery.tenant, "acme");
        assert_eq!(delivery.event_id.to_string(), EVENT);
        assert_eq!(dsn.recipients.len(), 1);
        let r = &dsn.recipients[0];
        assert_eq!(r.final_recipient, "Ann@Example.org");
        assert_eq!((r.action, r.status), (Action::Failed, (5, 1, 1)));
        assert_eq!(
            r.receipt(),
            Some((
                Receipt::Bounced,
                "smtp_bounce",
                Some(SuppressionReason::Bounced)
            ))
        );
    }
}

#[test]
fn every_recipient_group_is_read_and_only_address_refusals_list() {
    let raw = report(
        &[
            recipient("gone@example.org", "failed", "5.1.1"),
            recipient("nodomain@nowhere.example", "failed", "5.1.10"),
            recipient("spam@example.org", "failed", "5.7.1 (blocked)"),
            recipient("full@example.org", "failed", "5.2.2"),
            recipient("fine@example.org", "delivered", "2.0.0"),
            recipient("passed@example.org", "relayed", "2.0.0"),
        ],
        "text/rfc822-headers",
        &our_headers("gone@example.org"),
    );
    let dsn = parse(raw.as_bytes()).unwrap();
    let seen: Vec<_> = dsn
        .recipients
        .iter()
        .map(|r| {
            (
                r.final_recipient.as_str(),
                r.receipt().map(|(_, why, list)| (why, list)),
            )
        })
        .collect();
    let listed = Some(("smtp_bounce", Some(SuppressionReason::Bounced)));
    assert_eq!(
        seen,
        [
            ("gone@example.org", listed),
            ("nodomain@nowhere.example", listed),
            ("spam@example.org", Some(("smtp_failed", None))),
            ("full@example.org", Some(("smtp_failed", None))),
            ("fine@example.org", None),
            ("passed@example.org", None),
        ]
    );
}

#[test]
fn a_delay_is_no_receipt() {
    let raw = report(
        &[recipient("slow@example.org", "delayed", "4.4.7")],
        "text/rfc822-headers",
        &our_headers("slow@example.org"),
    );
    let dsn = parse(raw.as_bytes()).unwrap();
    assert_eq!(dsn.recipients[0].action, Action::Delayed);
    assert!(!dsn.recipients[0].refuses_address());
    assert_eq!(dsn.recipients[0].receipt(), None);
}

#[test]
fn a_report_about_another_senders_message_names_no_delivery() {
    let foreign = "From: someone@else.example\r\nMessage-ID: <abc@else.example>\r\n";
    let raw = report(
        &[recipient("ann@example.org", "failed", "5.1.1")],
        "text/rfc822-headers",
        foreign,
    );
    assert_eq!(parse(raw.as_bytes()).unwrap().delivery, None);
    // the delivery id alone (from Message-ID) is not enough without tenant and event
    let half = format!("Message-ID: <{DELIVERY}@acme.example>\r\n");
    let raw = report(
        &[recipient("ann@example.org", "failed", "5.1.1")],
        "text/rfc822-headers",
        &half,
    );
    assert_eq!(parse(raw.as_bytes()).unwrap().delivery, None);
}

#[test]
fn malformed_reports_say_what_is_missing() {
    let headers = our_headers("ann@example.org");
    let ok = recipient("ann@example.org", "failed", "5.1.1");
    assert_eq!(parse(b""), Err(DsnError::NotAMessage));
    let plain = "From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n";
    assert_eq!(parse(plain.as_bytes()), Err(DsnError::NotAReport));
    // a report of another type (a feedback report, say)
    let other = report(std::slice::from_ref(&ok), "text/rfc822-headers", &headers)
        .replace("report-type=delivery-status", "report-type=feedback-report");
    assert_eq!(parse(other.as_bytes()), Err(DsnError::NotAReport));
    let no_status = report(std::slice::from_ref(&ok), "text/rfc822-headers", &headers)
        .replace("message/delivery-status", "text/plain");
    assert_eq!(parse(no_status.as_bytes()), Err(DsnError::NoStatusPart));
    let no_groups = report(&[], "text/rfc822-headers", &headers);
    assert_eq!(parse(no_groups.as_bytes()), Err(DsnError::NoRecipients));
    for (group, problem) in [
        (
            ok.replace("Final-Recipient: rfc822; ", "Original-Recipient: rfc822; "),
            "Final-Recipient",
        ),
        (
            ok.replace("rfc822; ann@example.org", "x400; ann"),
            "Final-Recipient",
        ),
        (ok.replace("Action: failed", "Action: exploded"), "Action"),
        (ok.replace("Status: 5.1.1", "Status: 550"), "Status"),
        (ok.replace("Status: 5.1.1", "Status: 7.1.1"), "Status"),
    ] {
        let raw = report(&[ok.clone(), group], "text/rfc822-headers", &headers);
        let err = parse(raw.as_bytes()).unwrap_err();
        assert!(
            matches!(err, DsnError::Recipient { index: 2, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(problem), "{err}");
    }
    let many: Vec<String> = (0..101).map(|_| ok.clone()).collect();
    let raw = report(&many, "text/rfc822-headers", &headers);
    assert_eq!(parse(raw.as_bytes()), Err(DsnError::TooManyRecipients));
    // bytes that are not text anywhere must not panic
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert!(parse(&noise).is_err());
}
