//! Fault acting shared by the simulators: the REST ones (Twilio, Vonage, SendGrid, web push)
//! and the HTTP/2 push ones (APNs, FCM).
//!
//! Guarantees: [`act_out_next`] acts out the next fault for the recipient: a dropped connection
//! closes the socket without an answer (it never returns), a slow fault waits and lets the
//! request through, a status fault is handed back for the simulator to write in its
//! provider's own error format, a drop after accepting is handed back for the push simulators
//! to act out once the message is in the ledger ([`answer_accepted`]), and a `GOAWAY` starts
//! the connection's graceful shutdown and lets the request through. [`act_out`] applies the fixed latency first, as the REST
//! simulators do on arrival (the push simulators apply it themselves, before their checks).

use std::time::Duration;

use axum::http::HeaderValue;
use axum::response::Response;
use axum::Extension;

use crate::tls::ConnectionKill;
use crate::{Fault, Faults};

/// A status fault to answer with: HTTP code and `Retry-After` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StatusFault {
    pub code: u16,
    pub retry_after_s: Option<u64>,
}

impl StatusFault {
    /// `response` with this fault's `Retry-After` header, when it has one.
    pub(crate) fn with_retry_after(self, mut response: Response) -> Response {
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(seconds));
        }
        response
    }
}

/// A fault acted out that still leaves the request to be answered.
#[derive(Debug, Clone)]
pub(crate) enum Acted {
    /// Answer with this status.
    Status(StatusFault),
    /// A drop with no connection to close: the request was served without the connection loop
    /// (as `Router::oneshot` in tests serves it), so the simulator answers an error instead.
    NotDropped,
    /// Accept the message, then close the connection without an answer (see
    /// [`accepted_then_dropped`]).
    DropAfterAccept(Option<ConnectionKill>),
}

/// Answers an accepted message: normally, or, for [`Acted::DropAfterAccept`], by closing the
/// connection without an answer (it never returns then). Without a connection to close it
/// answers normally.
pub(crate) async fn answer_accepted(acted: Option<&Acted>, response: Response) -> Response {
    if let Some(Acted::DropAfterAccept(Some(kill))) = acted {
        kill.kill();
        return std::future::pending().await;
    }
    response
}

/// Acts out latency and the next fault for `recipient`; `Some` is a status to answer with.
pub(crate) async fn act_out(
    faults: &Faults,
    recipient: &str,
    kill: Option<Extension<ConnectionKill>>,
) -> Option<StatusFault> {
    tokio::time::sleep(faults.latency()).await;
    match act_out_next(faults, recipient, kill).await? {
        Acted::DropAfterAccept(Some(kill)) => {
            kill.kill();
            std::future::pending().await
        }
        Acted::Status(fault) => Some(fault),
        // Served without the connection loop: the closest thing is a gateway error. A REST
        // simulator drops before accepting.
        Acted::NotDropped | Acted::DropAfterAccept(None) => Some(StatusFault {
            code: 502,
            retry_after_s: None,
        }),
    }
}

/// Acts out the next fault for `recipient` (no latency); `Some` is what to answer.
pub(crate) async fn act_out_next(
    faults: &Faults,
    recipient: &str,
    kill: Option<Extension<ConnectionKill>>,
) -> Option<Acted> {
    match faults.next(recipient)? {
        Fault::Status {
            code,
            retry_after_s,
        } => Some(Acted::Status(StatusFault {
            code,
            retry_after_s,
        })),
        Fault::Drop => match kill {
            Some(Extension(kill)) => {
                kill.kill();
                std::future::pending().await
            }
            None => Some(Acted::NotDropped),
        },
        Fault::DropAfterAccept => Some(Acted::DropAfterAccept(kill.map(|Extension(k)| k))),
        Fault::GoAway => {
            if let Some(Extension(kill)) = kill {
                kill.go_away();
            }
            None
        }
        Fault::Slow { ms } => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            None
        }
    }
}
