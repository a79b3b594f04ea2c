//! The SMTP sink spoken to line by line: command order, RSET, NOOP, dot-unstuffing, size
//! limits, fault replies and the control API on its own listener.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::*;
use crate::faults::{FaultRule, FaultSettings};

struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    async fn connect(sim: &SmtpSim) -> Self {
        let stream = TcpStream::connect(sim.local_addr()).await.unwrap();
        let (read, writer) = stream.into_split();
        let mut client = Self {
            reader: BufReader::new(read),
            writer,
        };
        assert!(client.reply().await.starts_with("220 "));
        client
    }

    /// The whole (possibly multi-line) reply; empty when the server closed the connection.
    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).await.unwrap() == 0 {
                return all;
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    async fn send(&mut self, text: &str) -> String {
        self.writer.write_all(text.as_bytes()).await.unwrap();
        self.reply().await
    }

    /// Sends `text` and asserts the reply starts with `code` (e.g. `"250 "`).
    async fn expect(&mut self, text: &str, code: &str) {
        let reply = self.send(text).await;
        assert!(reply.starts_with(code), "{text:?} answered {reply:?}");
    }
}

async fn sink(settings: SmtpSimSettings) -> SmtpSim {
    serve(TcpListener::bind("127.0.0.1:0").await.unwrap(), settings).unwrap()
}

#[tokio::test]
async fn a_session_is_checked_in_order_and_the_message_unstuffed() {
    let sim = sink(SmtpSimSettings::default()).await;
    let mut c = Client::connect(&sim).await;
    c.expect("MAIL FROM:<a@b.example>\r\n", "503 ").await;
    let ehlo = c.send("EHLO client.test\r\n").await;
    assert!(ehlo.contains("250-SIZE 10485760"), "{ehlo}");
    c.expect("RCPT TO:<x@y.example>\r\n", "503 ").await;
    c.expect("DATA\r\n", "503 ").await;
    c.expect("MAIL FROM:<a@b.example>\r\n", "250 ").await;
    c.expect("MAIL FROM:<a@b.example>\r\n", "503 ").await;
    c.expect("RCPT TO:<x@y.example>\r\n", "250 ").await;
    c.expect("RSET\r\n", "250 ").await;
    assert!(
        c.send("DATA\r\n").await.starts_with("503 "),
        "RSET forgot the recipients"
    );
    c.expect("NOOP\r\n", "250 ").await;
    c.expect("FROB\r\n", "500 ").await;
    c.expect("MAIL FROM:<a@b.example>\r\n", "250 ").await;
    c.expect("RCPT TO:<x@y.example>\r\n", "250 ").await;
    c.expect("RCPT TO:<z@y.example>\r\n", "250 ").await;
    c.expect("DATA\r\n", "354 ").await;
    let message = "X-Notify-Delivery-Id: d-1\r\nSubject: Hello\r\n  world\r\n\r\n..leading dot\r\nbody\r\n.\r\n";
    assert!(c.send(message).await.starts_with("250 "));
    c.expect("QUIT\r\n", "221 ").await;

    let entries = sim.ledger().entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].delivery_id.as_deref(), Some("d-1"));
    assert_eq!(entries[0].recipient, "x@y.example,z@y.example");
    assert_eq!(entries[0].summary["subject"], "Hello  world");
    assert_eq!(entries[0].summary["mail_from"], "a@b.example");
    let raw = entries[0].summary["raw"].as_str().unwrap();
    assert!(raw.ends_with("\r\n.leading dot\r\nbody\r\n"), "{raw:?}");
}

#[tokio::test]
async fn size_limits_are_enforced_before_and_after_data() {
    let sim = sink(SmtpSimSettings {
        max_message_bytes: 100,
        ..SmtpSimSettings::default()
    })
    .await;
    let mut c = Client::connect(&sim).await;
    c.send("EHLO client.test\r\n").await;
    let declared = c.send("MAIL FROM:<a@b.example> SIZE=101\r\n").await;
    assert!(declared.starts_with("552 "), "{declared}");
    c.send("MAIL FROM:<a@b.example>\r\n").await;
    c.send("RCPT TO:<x@y.example>\r\n").await;
    c.send("DATA\r\n").await;
    let big = format!("Subject: big\r\n\r\n{}\r\n.\r\n", "x".repeat(200));
    assert!(c.send(&big).await.starts_with("552 "));
    // The session is still in step after the refused message.
    c.expect("NOOP\r\n", "250 ").await;
    assert!(sim.ledger().is_empty());
}

#[tokio::test]
async fn faults_answer_per_recipient_and_421_closes() {
    let sim = sink(SmtpSimSettings::default()).await;
    let rule = |code, to: &str| FaultRule {
        fault: Fault::Status {
            code,
            retry_after_s: None,
        },
        count: None,
        recipients: vec![to.to_owned()],
    };
    sim.faults().set(FaultSettings {
        rules: vec![
            rule(550, "gone@y.example"),
            rule(429, "busy@y.example"),
            rule(503, "down@y.example"),
        ],
        ..FaultSettings::default()
    });
    let mut c = Client::connect(&sim).await;
    c.send("HELO client.test\r\n").await;
    c.send("MAIL FROM:<a@b.example>\r\n").await;
    c.expect("RCPT TO:<gone@y.example>\r\n", "550 ").await;
    c.expect("RCPT TO:<busy@y.example>\r\n", "451 ").await;
    c.expect("RCPT TO:<ok@y.example>\r\n", "250 ").await;
    c.expect("RCPT TO:<down@y.example>\r\n", "421 ").await;
    assert_eq!(c.reply().await, "", "421 closes the connection");
}

#[tokio::test]
async fn control_api_is_served_on_its_own_listener() {
    let sim = serve_with_control(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        SmtpSimSettings::default(),
    )
    .unwrap();
    let url = sim.control_url().unwrap();
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /_sim/ledger HTTP/1.1\r\nhost: sim\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut answer)
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("[]"), "{answer}");
}

#[tokio::test]
async fn auth_plain_is_required_when_configured() {
    let sim = sink(SmtpSimSettings {
        credentials: Some(("u".into(), "p".into())),
        ..SmtpSimSettings::default()
    })
    .await;
    let mut c = Client::connect(&sim).await;
    assert!(c
        .send("EHLO client.test\r\n")
        .await
        .contains("250-AUTH PLAIN"));
    c.expect("MAIL FROM:<a@b.example>\r\n", "530 ").await;
    // base64("\0u\0wrong") and base64("\0u\0p")
    c.expect("AUTH PLAIN AHUAd3Jvbmc=\r\n", "535 ").await;
    assert!(c.send("AUTH PLAIN\r\n").await.starts_with("334"));
    c.expect("AHUAcA==\r\n", "235 ").await;
    c.expect("MAIL FROM:<a@b.example>\r\n", "250 ").await;
}

#[tokio::test]
async fn bounce_mailboxes_are_refused_at_rcpt_and_recorded_nowhere() {
    let sim = sink(SmtpSimSettings::default()).await;
    let mut c = Client::connect(&sim).await;
    c.expect("EHLO client.test\r\n", "250").await;
    c.expect("MAIL FROM:<a@b.example>\r\n", "250 ").await;
    for gone in ["bounce@y.example", "Bounce+pipeline@y.example"] {
        let reply = c.send(&format!("RCPT TO:<{gone}>\r\n")).await;
        assert!(reply.starts_with("550 5.1.1 "), "{gone}: {reply:?}");
    }
    // a local part that only starts with the word is an ordinary mailbox
    c.expect("RCPT TO:<bouncer@y.example>\r\n", "250 ").await;
    c.expect("DATA\r\n", "354 ").await;
    assert!(c
        .send("Subject: x\r\n\r\nbody\r\n.\r\n")
        .await
        .starts_with("250 "));
    let entries = sim.ledger().entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].recipient, "bouncer@y.example");
}
