//! A simulated recipient for the email simulators: for a share of the messages they accept it
//! "opens" the message (fetches its open pixel, `/t/o/...`) and, for a smaller share, "clicks"
//! its first tracked link (`/t/c/...`), so the demo and the real stack show opens and clicks.
//!
//! Guarantees: only tracked links on a loopback host are fetched (the simulator never calls
//! out), and a click's redirect is not followed; nothing is fetched from a message without
//! tracked links. A failed fetch is logged, not retried.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// How long after accepting a message the recipient reads it: after the dispatcher logged it.
pub const READ_DELAY: Duration = Duration::from_millis(1_000);

/// What share of messages the recipient opens and clicks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recipient {
    /// Share of messages whose pixel is fetched, 0 to 1.
    pub open_rate: f64,
    /// Share of messages whose first tracked link is followed, 0 to 1.
    pub click_rate: f64,
}

impl Default for Recipient {
    /// Half the messages opened, a fifth clicked; `NOTIFY_SIM_OPEN_RATE` and
    /// `NOTIFY_SIM_CLICK_RATE` (0 to 1) override either.
    fn default() -> Self {
        let rate = |name: &str, default: f64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| (0.0..=1.0).contains(v))
                .unwrap_or(default)
        };
        Self {
            open_rate: rate("NOTIFY_SIM_OPEN_RATE", 0.5),
            click_rate: rate("NOTIFY_SIM_CLICK_RATE", 0.2),
        }
    }
}

/// The tracked links a message carries: its open pixel and its first tracked link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackedLinks {
    /// The open pixel.
    pub pixel: Option<String>,
    /// The first tracked link.
    pub click: Option<String>,
}

impl Recipient {
    /// Reads the message whose bodies are `bodies` (a MIME message, or an HTML and a text body)
    /// in the background, opening and clicking by the configured shares.
    pub fn read(&self, bodies: &[&str]) {
        let links = tracked_links(bodies);
        let open = links
            .pixel
            .filter(|_| rand::random::<f64>() < self.open_rate);
        let click = links
            .click
            .filter(|_| rand::random::<f64>() < self.click_rate);
        if open.is_none() && click.is_none() {
            return;
        }
        tokio::spawn(async move {
            tokio::time::sleep(READ_DELAY).await;
            for url in open.iter().chain(click.iter()) {
                fetch(url).await;
            }
        });
    }
}

/// GETs `url` if it is on a loopback host, without following a redirect.
pub async fn fetch(url: &str) {
    if !on_loopback(url) {
        tracing::debug!("simulated recipient: not fetching a link off loopback");
        return;
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build();
    let result = match client {
        Ok(client) => client.get(url).send().await.map(|r| r.status()),
        Err(err) => Err(err),
    };
    match result {
        Ok(status) => tracing::debug!(%status, "simulated recipient fetched a tracked link"),
        Err(err) => tracing::warn!(error = %err, "simulated recipient: fetch failed"),
    }
}

/// Whether `url` is http(s) to 127.0.0.0/8, `localhost` or `[::1]`.
pub fn on_loopback(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The pixel and first tracked link in `bodies`, each decoded from quoted-printable or base64
/// MIME parts first.
pub fn tracked_links(bodies: &[&str]) -> TrackedLinks {
    let mut links = TrackedLinks::default();
    for body in bodies.iter().flat_map(|b| decoded(b)) {
        links.pixel = links.pixel.or_else(|| link_with(&body, "/t/o/"));
        links.click = links.click.or_else(|| link_with(&body, "/t/c/"));
    }
    links
}

/// The first URL in `text` containing `path`, from its scheme to its closing quote or space.
fn link_with(text: &str, path: &str) -> Option<String> {
    let at = text.find(path)?;
    let start = text[..at].rfind("http")?;
    let end = at
        + text[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
            .unwrap_or(text.len() - at);
    Some(text[start..end].replace("&amp;", "&"))
}

/// Each MIME part's decoded body, then `body` as it is.
fn decoded(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in body.split("\r\n--").chain(body.split("\n--")) {
        let Some((head, content)) = part
            .split_once("\r\n\r\n")
            .or_else(|| part.split_once("\n\n"))
        else {
            continue;
        };
        let head = head.to_ascii_lowercase();
        if head.contains("content-transfer-encoding: quoted-printable") {
            out.push(quoted_printable(content));
        } else if head.contains("content-transfer-encoding: base64") {
            let joined: String = content
                .lines()
                .take_while(|l| !l.starts_with("--"))
                .collect();
            if let Ok(bytes) = STANDARD.decode(joined.trim()) {
                out.push(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
    out.push(body.to_owned());
    out
}

fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[path = "recipient_tests.rs"]
mod tests;
