//! Fault acting shared by the REST simulators (Twilio, Vonage, SendGrid).
//!
//! Guarantees: [`act_out`] applies the fixed latency, then the next fault for the recipient:
//! a dropped connection closes the socket without an answer (it never returns), a slow fault
//! waits and lets the request through, and a status fault is handed back for the simulator to
//! write in its provider's own error format.

use std::time::Duration;

use axum::Extension;

use crate::tls::ConnectionKill;
use crate::{Fault, Faults};

/// A status fault to answer with: HTTP code and `Retry-After` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StatusFault {
    pub code: u16,
    pub retry_after_s: Option<u64>,
}

/// Acts out latency and the next fault for `recipient`; `Some` is a status to answer with.
pub(crate) async fn act_out(
    faults: &Faults,
    recipient: &str,
    kill: Option<Extension<ConnectionKill>>,
) -> Option<StatusFault> {
    tokio::time::sleep(faults.latency()).await;
    match faults.next(recipient)? {
        Fault::Status {
            code,
            retry_after_s,
        } => Some(StatusFault {
            code,
            retry_after_s,
        }),
        Fault::Drop => match kill {
            Some(Extension(kill)) => {
                kill.kill();
                std::future::pending().await
            }
            // Served without the connection loop: the closest thing is a gateway error.
            None => Some(StatusFault {
                code: 502,
                retry_after_s: None,
            }),
        },
        Fault::Slow { ms } => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            None
        }
    }
}

/// Whether `number` is `+` and 8 to 15 digits, the first not 0.
pub(crate) fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

#[cfg(test)]
#[path = "rest_tests.rs"]
mod tests;
