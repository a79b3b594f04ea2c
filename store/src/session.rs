//! Building a driver session from configuration.

use std::time::Duration;

use notify_common::config::StoreConfig;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::{ExecutionError, NewSessionError, PrepareError, SchemaAgreementError};

/// What a database operation gives: `T`, or why it failed.
pub type StoreResult<T> = Result<T, StoreError>;

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No contact point answered.
    #[error("cannot connect to the database at {nodes}: {source}")]
    Connect {
        /// The configured contact points.
        nodes: String,
        /// The driver's error (boxed: it is large and rare).
        source: Box<NewSessionError>,
    },
    /// A statement failed to prepare.
    #[error("statement failed to prepare: {0}")]
    Prepare(Box<PrepareError>),
    /// A statement failed to execute.
    #[error("statement failed: {0}")]
    Execute(Box<ExecutionError>),
    /// A request made for several calls at once failed; each of them gets this.
    #[error("{0} (one request for several calls)")]
    Joined(std::sync::Arc<StoreError>),
    /// A result did not have the expected shape.
    #[error("unexpected result: {0}")]
    Result(String),
    /// Nodes did not agree on the schema after a change.
    #[error("schema agreement not reached: {0}")]
    SchemaAgreement(Box<SchemaAgreementError>),
    /// The configuration cannot be used (for example a keyspace name that is not an identifier).
    #[error("invalid store configuration: {0}")]
    Config(String),
    /// An applied migration no longer matches the one in this binary.
    #[error("migration {version} ({name}) was applied with checksum {applied} but this binary has {expected}; migrations must never change once released")]
    MigrationChanged {
        /// The migration version.
        version: i32,
        /// Its name.
        name: &'static str,
        /// Checksum recorded in the database.
        applied: String,
        /// Checksum of the migration in this binary.
        expected: String,
    },
}

// The driver's errors are large; boxing them keeps every `StoreResult<_>` small.
impl From<PrepareError> for StoreError {
    fn from(err: PrepareError) -> Self {
        Self::Prepare(Box::new(err))
    }
}

impl From<ExecutionError> for StoreError {
    fn from(err: ExecutionError) -> Self {
        Self::Execute(Box::new(err))
    }
}

impl From<SchemaAgreementError> for StoreError {
    fn from(err: SchemaAgreementError) -> Self {
        Self::SchemaAgreement(Box::new(err))
    }
}

/// Connects to the cluster named in `config`, logging in and speaking TLS when it says so.
/// The session is not bound to a keyspace; every statement names its keyspace so one session
/// can serve tests with their own keyspaces.
pub async fn connect(config: &StoreConfig) -> StoreResult<Session> {
    let profile = ExecutionProfile::builder()
        .request_timeout(Some(Duration::from_millis(config.request_timeout_ms)))
        .build();
    let mut builder = SessionBuilder::new()
        .known_nodes(&config.nodes)
        .connection_timeout(Duration::from_secs(5))
        .default_execution_profile_handle(profile.into_handle());
    if let (Some(user), Some(password)) = (&config.username, &config.password) {
        let password = password
            .read()
            .map_err(|err| StoreError::Config(format!("store.password: {err}")))?;
        builder = builder.user(user, password);
    }
    if let Some(tls) = &config.tls {
        builder = builder.tls_context(Some(crate::tls::client_config(tls)?));
    }
    builder.build().await.map_err(|source| StoreError::Connect {
        nodes: config.nodes.join(","),
        source: Box::new(source),
    })
}
