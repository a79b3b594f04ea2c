//! The router against the real stack: requests in on a real topic, directory data in a real
//! keyspace, deliveries, statuses and dead letters read back from real topics.
//!
//! `harness.rs` holds the harness; the tests are grouped by concern in the modules below.

mod flows;
mod harness;
mod isolation;
mod policy;
