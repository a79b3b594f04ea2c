//! Plumbing every stage of the pipeline needs, and nothing stage-specific: typed configuration
//! ([`config`]), Kafka client setup and topic administration ([`kafka`]), logging and metrics
//! ([`telemetry`]), cooperative shutdown ([`shutdown`]), the one start-up path of the stage
//! binaries ([`stage`]), dead-letter header names ([`dead_letter`]), the one publishing path
//! every stage produces through ([`publish`]), the stages' codecs from the schema registry
//! settings ([`schema_registry`]), the one clock ([`clock`]), signed links
//! ([`links`]), secrets at rest ([`sealed`]) and the SSRF guard for URLs tenants and users
//! hand us ([`ssrf`]).

pub mod clock;
pub mod config;
pub mod dead_letter;
pub mod group_watch;
pub mod health;
pub mod kafka;
pub mod kafka_publisher;
pub mod links;
pub mod locale;
pub mod log_pacer;
pub mod metrics;
pub mod preference_links;
pub mod publish;
pub mod rebootstrap;
pub mod schema_registry;
pub mod sealed;
pub mod shutdown;
pub mod ssrf;
pub mod stage;
pub mod telemetry;
pub mod topics;
pub mod trace;
pub mod tracking;

pub use config::{Config, ConfigError};
pub use health::Health;
pub use shutdown::Shutdown;
