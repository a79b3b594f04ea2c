//! Provider simulators: fake APNs, FCM, web push, Twilio, Vonage, SendGrid and an SMTP sink,
//! each speaking the provider's real wire protocol, so dispatchers are tested and load-run
//! without reaching the internet.
//!
//! Every simulator shares two things: a [`Ledger`] of every message it accepted (with the
//! delivery id the client sent and the arrival time), and [`Faults`] that make it answer like
//! a provider having a bad day (latency, 429 + Retry-After, 5xx, invalid tokens, dropped
//! connections). Both are readable and settable over HTTP through [`control::routes`] under
//! `/_sim/`, so tests and load runs can drive a simulator in another process.

pub mod apns;
pub mod control;
mod fault_acting;
pub mod faults;
pub mod fcm;
pub mod keys;
pub mod ledger;
pub mod recipient;
pub mod rest;
pub mod scratch;
pub mod sendgrid;
pub mod sendgrid_events;
pub mod smtp;
pub mod suite;
#[cfg(test)]
mod test_support;
pub mod tls;
pub mod twilio;
pub mod vonage;
pub mod webpush;

pub use faults::{Fault, FaultRule, Faults};
pub use ledger::{Accepted, Ledger};
