//! The control API every simulator serves under `/_sim/`:
//!
//! - `GET /_sim/ledger`: every accepted message, JSON array of [`crate::Accepted`]; with
//!   `?from=N`, only those after the first `N` (a load run polls it without reading it all again);
//! - `DELETE /_sim/ledger`: forget them;
//! - `GET /_sim/faults` and `PUT /_sim/faults`: read or replace the [`FaultSettings`].

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

use crate::faults::FaultSettings;
use crate::{Faults, Ledger};

/// State of the control API: the simulator's ledger and faults.
#[derive(Debug, Clone, Default)]
pub struct Control {
    /// What the simulator accepted.
    pub ledger: Ledger,
    /// How it misbehaves.
    pub faults: Faults,
}

/// Routes under `/_sim/`, to merge into a simulator's router (or serve alone for the SMTP sink).
pub fn routes(control: Control) -> Router {
    Router::new()
        .route("/_sim/ledger", get(ledger).delete(clear))
        .route("/_sim/faults", get(get_faults).put(put_faults))
        .with_state(control)
}

/// Query of `GET /_sim/ledger`.
#[derive(Debug, serde::Deserialize)]
struct LedgerQuery {
    /// Entries to skip, in arrival order.
    #[serde(default)]
    from: usize,
}

async fn ledger(
    State(control): State<Control>,
    Query(query): Query<LedgerQuery>,
) -> Json<Vec<crate::Accepted>> {
    Json(control.ledger.entries_from(query.from))
}

async fn clear(State(control): State<Control>) -> StatusCode {
    control.ledger.clear();
    StatusCode::NO_CONTENT
}

async fn get_faults(State(control): State<Control>) -> Json<FaultSettings> {
    Json(control.faults.get())
}

async fn put_faults(
    State(control): State<Control>,
    Json(settings): Json<FaultSettings>,
) -> StatusCode {
    control.faults.set(settings);
    StatusCode::NO_CONTENT
}
