//! Ingest gateway: authenticates tenants, validates notification requests, writes them as Avro
//! to `notify.requests` (keyed `tenant:user`) and answers 202 only after Kafka acknowledged
//! them; also serves the tenant-scoped admin API (users, devices, preferences, templates,
//! categories), provider receipts (signed webhooks, [`receipts`]), tracked opens and clicks
//! ([`tracking`]), health endpoints and the OpenAPI document.

pub mod auth;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
pub mod preferences;
pub mod problem;
pub mod ratelimit;
pub mod readiness;
pub mod receipts;
pub mod routes;
pub mod server;
pub mod stage;
pub mod state;
pub mod tenant;
pub mod tracking;
pub mod validate;

pub use problem::{FieldError, Problem};
pub use tenant::Tenant;
