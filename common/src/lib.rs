//! Plumbing every stage of the pipeline needs, and nothing stage-specific: typed configuration
//! ([`config`]), Kafka client setup and topic administration ([`kafka`]), logging and metrics
//! ([`telemetry`]) and cooperative shutdown ([`shutdown`]).

pub mod config;
pub mod kafka;
pub mod shutdown;
pub mod telemetry;
pub mod topics;

pub use config::{Config, ConfigError};
pub use shutdown::Shutdown;
