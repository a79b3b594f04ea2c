//! SMTP sink: enough of RFC 5321 for a submission client (lettre) to deliver to it.
//!
//! Speaks EHLO/HELO (advertising `SIZE`, `8BITMIME`, `PIPELINING`), MAIL FROM (with a `SIZE=`
//! check), RCPT TO (at most 100), DATA with dot-unstuffing and a size cap (552 past it, after
//! reading the message to its end), RSET, NOOP, VRFY (252) and QUIT; AUTH PLAIN (required
//! before MAIL) when credentials are configured. STARTTLS is not offered. Commands out of
//! order answer 503, unknown ones 500, over-long command lines 500.
//!
//! Like a relay in front of a mailbox that does not exist, RCPT TO a local part `bounce` (or
//! `bounce+<tag>`, in any case) answers `550 5.1.1` and records nothing, the way the SendGrid
//! simulator hard-bounces those addresses.
//!
//! Faults are drawn once per RCPT for that recipient: a status fault answers the RCPT with an
//! SMTP reply (421 closes the connection; 429 → 451, HTTP-style 500–504 → 421, SMTP codes as
//! given), a drop closes the connection after the message's data arrived and before the reply,
//! a slow fault delays the final DATA reply. The fixed latency delays every final DATA reply.
//! Every accepted message is recorded once, with the delivery id from its
//! `X-Notify-Delivery-Id` header, the recipients joined by commas, and its subject, sender,
//! Message-ID and raw text (first 64 KiB) as the summary.
//!
//! The control API (`/_sim/`) is served on a separate HTTP listener ([`serve_with_control`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use crate::control::{self, Control};
use crate::tls::{self, SimError, SimServer, Transport, MAX_CONNECTIONS};
use crate::{Fault, Faults, Ledger};

/// Longest command line accepted (RFC 5321 §4.5.3.1.4 says 512; extensions make it longer).
const MAX_COMMAND_LINE: usize = 4096;
/// Most recipients in one transaction.
const MAX_RECIPIENTS: usize = 100;
/// How long a client may stay silent.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How much of a message the ledger keeps.
const SUMMARY_BYTES: usize = 64 * 1024;

/// Settings of the SMTP sink.
#[derive(Debug, Clone)]
pub struct SmtpSimSettings {
    /// Name in the greeting and EHLO reply.
    pub hostname: String,
    /// Largest message (after dot-unstuffing) accepted; advertised as `SIZE`.
    pub max_message_bytes: usize,
    /// User name and password clients must give with `AUTH PLAIN` before MAIL; no AUTH is
    /// offered when unset.
    pub credentials: Option<(String, String)>,
}

impl Default for SmtpSimSettings {
    fn default() -> Self {
        Self {
            hostname: "smtp.sim.notify.test".into(),
            max_message_bytes: 10 * 1024 * 1024,
            credentials: None,
        }
    }
}

/// A running SMTP sink. Dropping it stops it and closes its connections.
#[derive(Debug)]
pub struct SmtpSim {
    addr: SocketAddr,
    task: JoinHandle<()>,
    control_server: Option<SimServer>,
    control: Control,
}

impl Drop for SmtpSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSim {
    /// The SMTP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>` of the control API, when served.
    pub fn control_url(&self) -> Option<String> {
        self.control_server
            .as_ref()
            .map(|s| format!("http://{}", s.local_addr()))
    }

    /// What it accepted.
    pub fn ledger(&self) -> &Ledger {
        &self.control.ledger
    }

    /// Its fault settings.
    pub fn faults(&self) -> &Faults {
        &self.control.faults
    }
}

/// Starts the sink on `listener` without a control API. Must be called inside a Tokio runtime.
pub fn serve(listener: TcpListener, settings: SmtpSimSettings) -> Result<SmtpSim, SimError> {
    let addr = listener.local_addr()?;
    let control = Control::default();
    let state = Arc::new(Session {
        settings,
        control: control.clone(),
    });
    let task = tokio::spawn(accept_loop(listener, state));
    Ok(SmtpSim {
        addr,
        task,
        control_server: None,
        control,
    })
}

/// Starts the sink on `smtp` and its `/_sim/` control API (plain HTTP) on `control_http`.
pub fn serve_with_control(
    smtp: TcpListener,
    control_http: TcpListener,
    settings: SmtpSimSettings,
) -> Result<SmtpSim, SimError> {
    let mut sim = serve(smtp, settings)?;
    let routes = control::routes(sim.control.clone());
    sim.control_server = Some(tls::serve(control_http, routes, Transport::Plain, false)?);
    Ok(sim)
}

#[derive(Debug)]
struct Session {
    settings: SmtpSimSettings,
    control: Control,
}

async fn accept_loop(listener: TcpListener, state: Arc<Session>) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, _)) => {
                let state = state.clone();
                connections.spawn(async move {
                    let _permit = permit;
                    if let Err(err) = converse(stream, &state).await {
                        tracing::debug!(error = %err, "smtp sink connection ended");
                    }
                });
            }
            Err(err) => {
                tracing::warn!(error = %err, "smtp sink accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[derive(Default)]
struct Transaction {
    from: Option<String>,
    recipients: Vec<String>,
    drop_connection: bool,
    delay: Duration,
}

/// The address inside `FROM:<...>` / `TO:<...>`, and the parameters after it.
fn path_argument<'a>(arg: &'a str, keyword: &str) -> Option<(&'a str, &'a str)> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let (address, params) = rest.split_once('>')?;
    Some((address, params.trim()))
}

/// The SMTP reply acting out a status fault, and whether to close the connection after it.
fn fault_reply(code: u16) -> (String, bool) {
    match code {
        421 | 500..=504 => ("421 4.3.2 service not available, closing".into(), true),
        429 => ("451 4.7.1 rate limited, try again later".into(), false),
        550 => ("550 5.1.1 mailbox unavailable".into(), false),
        553 => ("553 5.1.3 mailbox name not allowed".into(), false),
        code @ 400..=599 => (format!("{code} simulated failure"), false),
        _ => ("451 4.3.0 simulated failure".into(), false),
    }
}

async fn converse(stream: TcpStream, state: &Session) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let host = &state.settings.hostname;
    let max = state.settings.max_message_bytes;
    write
        .write_all(format!("220 {host} ESMTP notify-sim\r\n").as_bytes())
        .await?;
    let mut greeted = false;
    let needs_auth = state.settings.credentials.is_some();
    let mut authenticated = false;
    let mut tx = Transaction::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = read_line(&mut reader, &mut line, MAX_COMMAND_LINE).await?;
        if n == 0 {
            return Ok(());
        }
        if !line.ends_with(b"\n") {
            write.write_all(b"500 5.5.2 line too long\r\n").await?;
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
        let reply: String = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                greeted = true;
                tx = Transaction::default();
                let auth = if needs_auth { "250-AUTH PLAIN\r\n" } else { "" };
                format!("250-{host}\r\n{auth}250-SIZE {max}\r\n250-8BITMIME\r\n250 PIPELINING")
            }
            "HELO" => {
                greeted = true;
                tx = Transaction::default();
                format!("250 {host}")
            }
            "AUTH" if !needs_auth => "502 5.5.1 authentication not offered".into(),
            "AUTH" if authenticated => "503 5.5.1 already authenticated".into(),
            "AUTH" => {
                let (mechanism, initial) = arg.split_once(' ').unwrap_or((arg, ""));
                if !mechanism.eq_ignore_ascii_case("PLAIN") {
                    "504 5.5.4 only PLAIN is offered".into()
                } else {
                    let mut response = initial.trim().to_owned();
                    if response.is_empty() {
                        write.write_all(b"334 \r\n").await?;
                        line.clear();
                        read_line(&mut reader, &mut line, MAX_COMMAND_LINE).await?;
                        response = String::from_utf8_lossy(&line).trim().to_owned();
                    }
                    if plain_matches(&response, state.settings.credentials.as_ref()) {
                        authenticated = true;
                        "235 2.7.0 authentication successful".into()
                    } else {
                        "535 5.7.8 authentication credentials invalid".into()
                    }
                }
            }
            "MAIL" if !greeted => "503 5.5.1 send EHLO or HELO first".into(),
            "MAIL" if needs_auth && !authenticated => "530 5.7.0 authentication required".into(),
            "MAIL" if tx.from.is_some() => "503 5.5.1 nested MAIL command".into(),
            "MAIL" => match path_argument(arg, "FROM:") {
                None => "501 5.5.4 syntax: MAIL FROM:<address>".into(),
                Some((_, params)) if declared_size(params).is_some_and(|s| s > max) => {
                    "552 5.3.4 message size exceeds fixed limit".into()
                }
                Some((from, _)) => {
                    tx.from = Some(from.to_owned());
                    "250 2.1.0 ok".into()
                }
            },
            "RCPT" if tx.from.is_none() => "503 5.5.1 need MAIL before RCPT".into(),
            "RCPT" => match path_argument(arg, "TO:") {
                None | Some(("", _)) => "501 5.5.4 syntax: RCPT TO:<address>".into(),
                Some(_) if tx.recipients.len() >= MAX_RECIPIENTS => {
                    "452 4.5.3 too many recipients".into()
                }
                Some((to, _)) if crate::sendgrid_events::outcome(to).contains(&"bounce") => {
                    "550 5.1.1 no such user here".into()
                }
                Some((to, _)) => match state.control.faults.next(to) {
                    Some(Fault::Status { code, .. }) => {
                        let (reply, close) = fault_reply(code);
                        if close {
                            write.write_all(format!("{reply}\r\n").as_bytes()).await?;
                            return Ok(());
                        }
                        reply
                    }
                    fault => {
                        match fault {
                            Some(Fault::Drop) => tx.drop_connection = true,
                            Some(Fault::Slow { ms }) => tx.delay += Duration::from_millis(ms),
                            _ => {}
                        }
                        tx.recipients.push(to.to_owned());
                        "250 2.1.5 ok".into()
                    }
                },
            },
            "DATA" if tx.recipients.is_empty() => "503 5.5.1 need RCPT before DATA".into(),
            "DATA" => {
                write
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let data = read_data(&mut reader, max).await?;
                if tx.drop_connection {
                    return Ok(());
                }
                tokio::time::sleep(state.control.faults.latency() + tx.delay).await;
                let transaction = std::mem::take(&mut tx);
                match data {
                    None => "552 5.3.4 message size exceeds fixed limit".into(),
                    Some(data) => accept(state, transaction, &data),
                }
            }
            "RSET" => {
                tx = Transaction::default();
                "250 2.0.0 ok".into()
            }
            "NOOP" => "250 2.0.0 ok".into(),
            "VRFY" => "252 2.5.2 cannot verify, will accept".into(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => "500 5.5.2 command not recognized".into(),
        };
        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}

/// Appends one line (or its first `limit` bytes) to `buf`; 0 at the end of the stream.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<usize> {
    let mut capped = reader.take(limit as u64);
    tokio::time::timeout(IDLE_TIMEOUT, capped.read_until(b'\n', buf))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

/// Whether a base64 `AUTH PLAIN` response (`authzid NUL user NUL password`) names the
/// expected user and password.
fn plain_matches(response: &str, expected: Option<&(String, String)>) -> bool {
    use base64::Engine;
    let Some((user, password)) = expected else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(response) else {
        return false;
    };
    let mut fields = decoded.split(|b| *b == 0);
    let (_authzid, given_user, given_password) = (fields.next(), fields.next(), fields.next());
    given_user == Some(user.as_bytes()) && given_password == Some(password.as_bytes())
}

fn declared_size(params: &str) -> Option<usize> {
    params.split_whitespace().find_map(|p| {
        let (key, value) = p.split_once('=')?;
        key.eq_ignore_ascii_case("SIZE")
            .then(|| value.parse().ok())
            .flatten()
    })
}

/// Reads message data up to the lone dot, unstuffing leading dots; `None` when it was larger
/// than `max` (the data is still read to its end so the session stays in step).
async fn read_data(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    max: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut too_big = false;
    let mut at_line_start = true;
    let mut chunk = Vec::new();
    loop {
        chunk.clear();
        let n = read_line(reader, &mut chunk, 8192).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if at_line_start && (chunk == b".\r\n" || chunk == b".\n") {
            return Ok((!too_big).then_some(data));
        }
        let part = if at_line_start && chunk.starts_with(b".") {
            &chunk[1..]
        } else {
            &chunk[..]
        };
        if data.len() + part.len() <= max {
            data.extend_from_slice(part);
        } else {
            too_big = true;
        }
        at_line_start = chunk.ends_with(b"\n");
    }
}

/// The value of header `name` in the message's header block, unfolded.
fn header(message: &str, name: &str) -> Option<String> {
    let head = message
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .replace("\r\n ", " ")
        .replace("\r\n\t", "\t");
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

fn accept(state: &Session, tx: Transaction, data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let queue_id = uuid::Uuid::new_v4().simple().to_string()[..12].to_uppercase();
    let raw: String = text.chars().take(SUMMARY_BYTES).collect();
    state.control.ledger.record(
        "smtp",
        header(&text, "X-Notify-Delivery-Id"),
        &tx.recipients.join(","),
        &queue_id,
        json!({
            "subject": header(&text, "Subject"),
            "message_id": header(&text, "Message-ID"),
            "mail_from": tx.from,
            "size": data.len(),
            "raw": raw,
        }),
    );
    crate::recipient::Recipient::default().read(&[&text]);
    format!("250 2.0.0 ok: queued as {queue_id}")
}

#[cfg(test)]
#[path = "smtp_tests.rs"]
mod tests;
