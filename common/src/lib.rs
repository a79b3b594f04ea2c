//! Plumbing every stage of the pipeline needs, and nothing stage-specific: typed configuration
//! ([`config`]), Kafka client setup and topic administration ([`kafka`]), logging and metrics
//! ([`telemetry`]), cooperative shutdown ([`shutdown`]), dead-letter headers ([`dlq`]), the one
//! publishing path every stage produces through ([`publish`]) and the one clock ([`clock`]).

pub mod clock;
pub mod config;
pub mod dlq;
pub mod health;
pub mod kafka;
pub mod publish;
pub mod shutdown;
pub mod telemetry;
pub mod topics;

pub use config::{Config, ConfigError};
pub use health::Health;
pub use shutdown::Shutdown;
