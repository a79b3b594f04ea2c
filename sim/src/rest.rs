//! The handle every plain-HTTP REST simulator (Twilio, Vonage, SendGrid) returns: the running
//! server, its base URL, and the ledger and faults behind its `/_sim/` control routes.
//!
//! Guarantees: [`RestSim::serve`] serves the provider's routes and the control routes on one
//! listener, and dropping the handle stops the server.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

use crate::control::{self, Control};
use crate::tls::{self, SimError, SimServer, Transport};
use crate::{Faults, Ledger};

/// What the handlers of a REST simulator share: its settings and its ledger and faults.
#[derive(Debug)]
pub(crate) struct RestState<S> {
    pub settings: S,
    pub control: Control,
}

/// A running REST simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct RestSim {
    server: SimServer,
    base_url: String,
    control: Control,
}

impl RestSim {
    /// Serves `routes`, with a [`RestState`] of `settings` and a new control, plus the `/_sim/`
    /// control routes over plain HTTP on `listener`. Must be called inside a Tokio runtime.
    pub(crate) fn serve<S: Send + Sync + 'static>(
        listener: TcpListener,
        settings: S,
        routes: Router<Arc<RestState<S>>>,
    ) -> Result<Self, SimError> {
        let control = Control::default();
        let state = Arc::new(RestState {
            settings,
            control: control.clone(),
        });
        let routes = routes.with_state(state);
        let addr = listener.local_addr()?;
        let router = routes.merge(control::routes(control.clone()));
        let server = tls::serve(listener, router, Transport::Plain, false)?;
        Ok(Self {
            server,
            base_url: format!("http://{addr}"),
            control,
        })
    }

    /// `http://127.0.0.1:<port>`: the client's `base_url`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
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

#[cfg(test)]
#[path = "rest_tests.rs"]
mod tests;

/// Sends a webhook `request` to `url` as a provider does: an answer other than 2xx, or none, is
/// logged as `what` and not retried.
pub(crate) async fn post_webhook(request: reqwest::RequestBuilder, url: &str, what: &str) {
    match request.send().await {
        Ok(answer) if answer.status().is_success() => {}
        Ok(answer) => tracing::warn!(%url, status = %answer.status(), "{what} refused"),
        Err(err) => tracing::warn!(%url, error = %err, "{what} failed"),
    }
}
