//! The whole pipeline on the real stack, each stage its own `notify` process as in production:
//! a mixed workload sent through the HTTP API must end with exactly the expected terminal
//! statuses, and the provider simulators' ledgers must show every expected delivery exactly
//! once, with and without faults (the delivery promise of `docs/design.md`).
//!
//! Ignored by a bare `cargo test`; `scripts/test` runs them against the stack it starts. The
//! workload size comes from `NOTIFY_E2E_SIZE` (default 1,000 for the main test, smaller for the
//! fault tests); `NOTIFY_E2E_SIZE=10000` is the full run. Each test prints a `figures` line.
//! `outage.rs` stops Kafka or Cassandra of the shared stack mid-run (`NOTIFY_E2E_KAFKA_DOWN_S`
//! sets how long the broker stays down, 40 s by default).
//!
//! The box running CI is small, so the tests of this binary take turns (`run::turn`): two
//! pipelines at a time by default (`NOTIFY_E2E_PARALLEL`), because a test mostly waits; a test
//! that stops a server of the shared stack takes every turn (`run::whole_stack`).

mod accounting;
mod api;
mod faults;
mod harness;
mod ingest;
mod lost_answers;
mod mixed;
mod observe;
mod outage;
mod preferences;
mod probe;
mod process;
mod receipts;
mod registry;
mod registry_outage;
mod run;
mod scale;
mod seed;
mod smtp_bounce;
mod stage_config;
mod suppression;
mod tracing;
mod tracking;
mod vonage;
mod webhooks;
mod workload;
