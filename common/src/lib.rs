//! Plumbing every stage of the pipeline needs, and nothing stage-specific: typed configuration
//! ([`config`]), Kafka client setup and topic administration ([`kafka`]), logging and metrics
//! ([`telemetry`]), cooperative shutdown ([`shutdown`]) and dead-letter headers ([`dlq`]).

pub mod config;
pub mod dlq;
pub mod health;
pub mod kafka;
pub mod shutdown;
pub mod telemetry;
pub mod topics;

pub use config::{Config, ConfigError};
pub use health::Health;
pub use shutdown::Shutdown;
