//! HTTP client pieces the push clients (APNs, FCM, web push) share: checks of their settings,
//! building a client that trusts an extra CA (for simulators), and turning a request that got no
//! answer into an [`Outcome`].
//!
//! Guarantees: an outcome detail never contains the request URL (it can hold a device token)
//! and is at most [`MAX_DETAIL_CHARS`] characters.

use std::error::Error as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify_schemas::records::{Recipient, RenderedContent, RenderedPush};
use notify_schemas::Delivery;

use crate::providers::credentials::CredentialError;
use crate::providers::provider::{Outcome, Reason};

/// Longest detail kept from a transport error.
pub const MAX_DETAIL_CHARS: usize = 200;

/// Longest wait for a TCP + TLS connection, within the request timeout.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default time for one push request, connect included.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;

/// Longest request timeout a push provider accepts: five minutes.
const MAX_REQUEST_TIMEOUT_MS: u64 = 300_000;

/// The serde default of `request_timeout_ms`.
pub(crate) fn default_request_timeout_ms() -> u64 {
    DEFAULT_REQUEST_TIMEOUT_MS
}

/// Checks a configured request timeout: between 1 ms and five minutes.
pub(crate) fn check_request_timeout_ms(timeout_ms: u64) -> Result<(), String> {
    if timeout_ms == 0 || timeout_ms > MAX_REQUEST_TIMEOUT_MS {
        return Err(format!(
            "request_timeout_ms must be between 1 and {MAX_REQUEST_TIMEOUT_MS}"
        ));
    }
    Ok(())
}

/// Checks a configured URL named `name`: http(s) with a host and no query or fragment.
pub(crate) fn check_url(name: &str, value: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(value).map_err(|e| format!("{name} is not a url: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err(format!("{name} must be an http(s) url"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{name} must not have a query or fragment"));
    }
    Ok(())
}

/// A client builder with the settings every push client uses: the request timeout, a bounded
/// connect timeout, no redirects, and our user agent.
pub(crate) fn client_builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(MAX_CONNECT_TIMEOUT))
        .pool_idle_timeout(Duration::from_secs(10 * 60))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("notify-dispatcher/", env!("CARGO_PKG_VERSION")))
}

/// Why a push provider (APNs, FCM) could not be built; `C` is the provider's configuration
/// error.
#[derive(Debug, thiserror::Error)]
pub enum PushError<C> {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(C),
    /// The credential file (APNs `.p8` key, FCM service account) cannot be read or is not a
    /// usable key.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// The HTTP client could not be built (its extra CA file included).
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// Why a push client (APNs, FCM) could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The extra CA file cannot be read or is not a PEM certificate.
    #[error("cannot use ca file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build http client: {0}")]
    Client(#[source] reqwest::Error),
}

/// Builds a push client from `builder`: connections kept alive while idle (pings every
/// minute), and `ca_file` trusted besides the public roots when given.
pub(crate) fn build_client(
    builder: reqwest::ClientBuilder,
    ca_file: Option<&Path>,
) -> Result<reqwest::Client, ClientError> {
    let mut builder = builder
        .http2_keep_alive_interval(Duration::from_secs(60))
        .http2_keep_alive_while_idle(true);
    if let Some(path) = ca_file {
        let cert = read_ca(path).map_err(|reason| ClientError::CaFile {
            path: path.to_owned(),
            reason,
        })?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(ClientError::Client)
}

/// Reads a PEM CA certificate to trust besides the public roots.
fn read_ca(path: &Path) -> Result<reqwest::Certificate, String> {
    let pem = std::fs::read(path).map_err(|e| e.to_string())?;
    reqwest::Certificate::from_pem(&pem).map_err(|e| e.to_string())
}

/// The outcome of a request that got no answer: retried as a connection problem, except a
/// request that could not even be built (an invalid header value), which would fail again.
pub(crate) fn request_failed(err: reqwest::Error) -> Outcome {
    if err.is_builder() {
        return Outcome::failed(Reason::BadMessage, "request could not be built");
    }
    let err = err.without_url();
    let mut detail = if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_connect() {
        "connect failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = err.source();
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    Outcome::retry(
        Reason::Connection,
        detail.chars().take(MAX_DETAIL_CHARS).collect::<String>(),
    )
}

/// The outcome of a request (push or REST) that got no answer. A request that never reached the provider (the
/// connection failed, the stream was refused or lay above a `GOAWAY`'s last stream id, or
/// the client cancelled it before it was written) is a [`Reason::Connection`] retry, free of
/// duplicates; any other, written and then without an answer (connection dropped mid-stream,
/// timeout), is a [`Reason::AnswerLost`] retry: the provider may have delivered it.
pub(crate) fn unanswered(err: reqwest::Error) -> Outcome {
    let never_reached = err.is_connect() || unprocessed(&err);
    match request_failed(err) {
        Outcome::Retry {
            reason: Reason::Connection,
            after,
            detail,
        } if !never_reached => Outcome::Retry {
            reason: Reason::AnswerLost,
            after,
            detail,
        },
        other => other,
    }
}

/// Whether the error chain says the provider did not process the request: an HTTP/2 stream it
/// refused (`REFUSED_STREAM`) or one its `GOAWAY` excluded, or a request hyper cancelled before
/// writing it.
fn unprocessed(err: &reqwest::Error) -> bool {
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(h2) = cause.downcast_ref::<h2::Error>() {
            // h2 fails a stream with a remote GOAWAY only when it lies above the last stream id
            if h2.reason() == Some(h2::Reason::REFUSED_STREAM)
                || (h2.is_go_away() && h2.is_remote())
            {
                return true;
            }
        }
        if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
            if hyper.is_canceled() {
                return true;
            }
        }
        source = cause.source();
    }
    false
}

/// Keeps a provider-given string short (at most `max` characters) and printable, for details
/// and logs.
pub(crate) fn short(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// Whole seconds since the Unix epoch, from the pipeline's one clock
/// ([`notify_common::clock`]): the time APNs and FCM requests carry.
pub(crate) fn now_s() -> i64 {
    notify_common::clock::now_ms() / 1000
}

/// What a provider's device tokens look like: their longest length, the bytes they may hold,
/// and the detail of an outcome for a token that does not fit.
pub(crate) struct TokenShape {
    /// Longest token, in characters.
    pub max_chars: usize,
    /// Whether a byte may stand in a token.
    pub byte_ok: fn(u8) -> bool,
    /// Detail of the invalid recipient outcome.
    pub detail: &'static str,
}

/// The trimmed device token and the push content of `delivery`. A delivery with another kind of
/// recipient or content is an `unsupported` failure naming `provider`; a token that is empty or
/// does not fit `shape` is an invalid recipient; neither makes a request.
pub(crate) fn push_parts<'a>(
    delivery: &'a Delivery,
    provider: &str,
    shape: &TokenShape,
) -> Result<(&'a str, &'a RenderedPush), Outcome> {
    let Recipient::DeviceToken(device) = &delivery.recipient else {
        return Err(Outcome::failed(
            Reason::Unsupported,
            format!("{provider} needs a device token recipient"),
        ));
    };
    let RenderedContent::Push(push) = &delivery.content else {
        return Err(Outcome::failed(
            Reason::Unsupported,
            format!("{provider} needs push content"),
        ));
    };
    let token = device.token.trim();
    if token.is_empty() || token.len() > shape.max_chars || !token.bytes().all(shape.byte_ok) {
        return Err(Outcome::InvalidRecipient {
            reason: Reason::TokenInvalid,
            since: None,
            detail: shape.detail.to_owned(),
        });
    }
    Ok((token, push))
}
