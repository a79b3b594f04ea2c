//! The handle every plain-HTTP REST simulator (Twilio, Vonage, SendGrid) returns: the running
//! server, its base URL, and the ledger and faults behind its `/_sim/` control routes.
//!
//! Guarantees: [`RestSim::start`] serves the provider's routes and the control routes on one
//! listener, and dropping the handle stops the server.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

use crate::control::{self, Control};
use crate::tls::{self, SimError, SimServer, Transport};
use crate::{Faults, Ledger};

/// A running REST simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct RestSim {
    server: SimServer,
    base_url: String,
    control: Control,
}

impl RestSim {
    /// Serves `routes` plus the `/_sim/` control routes of `control` over plain HTTP on
    /// `listener`. Must be called inside a Tokio runtime.
    pub(crate) fn start(
        listener: TcpListener,
        routes: Router,
        control: Control,
    ) -> Result<Self, SimError> {
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
