//! ScyllaDB / Cassandra access for the pipeline: connecting ([`session`]), the versioned
//! schema ([`migrate`]) and every table behind a narrow trait with a Cassandra and an
//! in-memory implementation that pass one conformance suite: the [`directory`], the
//! [`schedule`], the [`ratelog`], the [`notification_log`], [`idempotency`] claims,
//! [`tenants`] and their [`settings`], the [`suppressions`], tenants' [`webhooks`] and their
//! backlog. Only CQL that both ScyllaDB and Apache Cassandra 5
//! accept is used, and every data statement is prepared.

mod cql;
pub mod directory;
pub mod idempotency;
pub mod migrate;
pub mod notification_log;
pub mod ratelog;
pub mod schedule;
pub mod session;
pub mod settings;
pub mod suppressions;
pub mod tenants;
mod tls;
pub mod webhooks;

pub use directory::{CassandraDirectory, Directory, DirectoryError, Invalidation, MemoryDirectory};
pub use migrate::{migrate, Migration, MigrationReport, MIGRATIONS};
pub use session::{connect, StoreError, StoreResult};
