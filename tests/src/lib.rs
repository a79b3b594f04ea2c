//! The one test-support place of the integration tests, shared by every test that needs the
//! real stack (this crate's `tests/`, the `notify` binary's end-to-end and CLI tests). The
//! tests themselves are `#[ignore]`d so a bare `cargo test` needs nothing running;
//! `scripts/test` starts the real stack and runs them with `--include-ignored`. Each carries
//! the same reason, word for word, so `cargo test -- --list --ignored` and a search find them
//! all: `#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]` (an attribute
//! takes only a literal, so it is written out at each test rather than named once here).
//!
//! Every test works in names of its own (topics, consumer groups, keyspaces) so tests run in
//! parallel and can be re-run against the same long-lived stack, and a [`Scratch`] guard
//! removes its topics and keyspace when the test ends, passed or failed.
//!
//! - [`stack`]: where the stack is, fresh names, a test's own config, provisioning, and
//!   stopping one server of the stack for an outage test;
//! - [`scratch`]: the guard that removes a test's topics and keyspace;
//! - [`records`]: reading records back (with their headers) and producing raw ones;
//! - [`wait`]: polling until a condition holds, within a limit;
//! - [`webhook_receiver`]: a tenant's webhook endpoint and the signature check a tenant writes;
//! - [`fake_broker`]: a one-node Kafka cluster whose Metadata answer once lists no broker.

pub mod fake_broker;
pub mod metric_names;
pub mod records;
pub mod scratch;
pub mod stack;
pub mod wait;
pub mod webhook_receiver;

pub use records::{produce, read_quiet, read_until, Seen};
pub use scratch::Scratch;
pub use stack::{
    brokers, brokers_sasl_ssl, cassandra, kafka_config, provision, schema_registry, stack_tls_dir,
    store_config, unique, ServerDown,
};
pub use wait::poll_until;
pub use webhook_receiver::{signature_verifies, Taken, WebhookReceiver};
