//! ScyllaDB / Cassandra access for the pipeline: connecting ([`session`]) and the versioned
//! schema ([`migrate`]). Only CQL that both ScyllaDB and Apache Cassandra 5 accept is used,
//! and every data statement is prepared.

pub mod directory;
pub mod log;
pub mod migrate;
pub mod policy;
pub mod ratelog;
pub mod schedule;
pub mod session;
pub mod tenants;

pub use directory::{CassandraDirectory, Directory, DirectoryError, Invalidation, MemoryDirectory};
pub use migrate::{migrate, Migration, MigrationReport, MIGRATIONS};
pub use session::{connect, StoreError};
