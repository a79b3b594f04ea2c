//! Command-line interface of the `notify` binary.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use notify_store::tenants::Scopes;

/// Notification pipeline: ingest gateway, router, dispatchers and operator tools.
#[derive(Debug, Parser)]
#[command(name = "notify", version, about)]
pub struct Cli {
    /// TOML configuration file; `NOTIFY_<SECTION>__<KEY>` environment variables override it.
    #[arg(long, short, global = true, env = "NOTIFY_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole pipeline in this process to try it: ingest, router, every dispatcher and
    /// provider simulator, on librdkafka's mock cluster with in-memory stores seeded with a
    /// demo tenant. Nothing is durable. Prints the API address, an app key and secret and a
    /// curl to paste, sends a small sample and prints what became of it, then runs until
    /// Ctrl-C. Builds its own configuration: of the configuration file and environment only
    /// the log settings apply.
    Demo {
        /// Address of the ingest API.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Send this many mixed sample notifications through the API, print a per-channel
        /// summary and exit (non-zero if any did not reach a final outcome).
        #[arg(long, value_name = "N")]
        send: Option<usize>,
        /// Without `--send`: how many sample notifications to send at start-up (the summary
        /// shows the pipeline working before you send your own); 0 sends none.
        #[arg(long, value_name = "N", default_value_t = 20, conflicts_with = "send")]
        sample: usize,
        /// How long `--send` waits for every final outcome.
        #[arg(long, default_value_t = 120)]
        timeout_s: u64,
        /// Where the simulators' generated test credentials are written.
        #[arg(long, default_value = "target/notify-demo")]
        dir: PathBuf,
    },
    /// Run the HTTP ingest gateway and admin API.
    Ingest,
    /// Run the router stage (notify.requests -> notify.deliveries.<channel>).
    Router,
    /// Run the dispatcher of one channel.
    Dispatch {
        /// Which channel's deliveries to consume.
        #[arg(long, value_enum)]
        channel: ChannelArg,
    },
    /// Run the webhook sender: posts tenants' status events (notify.status) to their
    /// registered endpoints, signed, retried, in order per delivery.
    Webhooks,
    /// Run every provider simulator (APNs, FCM, web push, Twilio, Vonage, SendGrid, SMTP) on
    /// loopback with fresh test credentials, and write the `[dispatch.providers]` table that
    /// points the dispatchers at them to `<dir>/providers.toml`. Runs until Ctrl-C.
    Sim {
        /// Where to write the generated credentials and providers.toml.
        #[arg(long, default_value = "target/notify-sim")]
        dir: PathBuf,
        /// First port (the simulators take 8 consecutive ports); 0 picks free ports.
        #[arg(long, default_value_t = 17100)]
        port_base: u16,
    },
    /// Load run against the running system (see `scripts/bench`): provisions its own tenant
    /// and users, finds the highest rate the pipeline sustains end to end, measures latency
    /// from accept to arrival at the provider simulators at 50 % and 80 % of it, with CPU and
    /// memory per process, and writes bench-report.json, bench-report.md and latency.svg.
    Loadgen(crate::loadgen::LoadArgs),
    /// Inspect or replay the dead-letter topic.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Create or upgrade the database schema (keyspace, tables); safe to re-run.
    Migrate,
    /// Manage the pipeline's Kafka topics.
    Topics {
        #[command(subcommand)]
        action: TopicsAction,
    },
    /// Manage the pipeline's Avro schemas in the schema registry (`[schema_registry]`).
    Schemas {
        #[command(subcommand)]
        action: SchemasAction,
    },
    /// Manage tenants.
    Tenants {
        #[command(subcommand)]
        action: TenantsAction,
    },
    /// Manage a tenant's apps (API credentials).
    Apps {
        #[command(subcommand)]
        action: AppsAction,
    },
    /// Publish one notification straight to Kafka (the JSON of POST /v1/notifications), as a
    /// producer service would without the HTTP gateway.
    Produce {
        /// Tenant the notification belongs to.
        #[arg(long)]
        tenant: String,
        /// JSON file; standard input when omitted.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Engagement per category and per template from `notify.status`: sent, delivered,
    /// opened, clicked, open and click rates (distinct deliveries over sent).
    Report {
        /// Only this tenant's notifications.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Check that Kafka and the database answer; exits non-zero if either does not.
    Check,
    /// Print the effective configuration (defaults, file and environment merged) as TOML.
    Config,
}

/// Topic administration.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum TopicsAction {
    /// Create every missing topic with the configured partition counts; safe to re-run.
    Create,
    /// List the pipeline's topics with their partition counts.
    List,
}

/// Schema registry administration.
#[derive(Debug, Clone, Subcommand)]
pub enum SchemasAction {
    /// Register the schemas under every topic's subject (`<topic>-value`) and set each
    /// subject's compatibility rule; refuses (and changes nothing of that subject) a schema its
    /// registered versions are not compatible with. Safe to re-run.
    Register {
        /// Compatibility rule of the subjects: backward or stricter.
        #[arg(long, value_enum, default_value = "backward")]
        compatibility: CompatibilityArg,
        /// Folder with `notification_request.avsc`, `delivery.avsc` and `delivery_status.avsc`
        /// to register instead of the ones this binary was built with (e.g. a new version,
        /// checked before it ships).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// Compatibility rules `notify schemas register` sets: those that keep every record already
/// written readable by the new schema.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompatibilityArg {
    Backward,
    BackwardTransitive,
    Full,
    FullTransitive,
}

impl From<CompatibilityArg> for notify_schemas::registry::Compatibility {
    fn from(arg: CompatibilityArg) -> Self {
        use notify_schemas::registry::Compatibility as C;
        match arg {
            CompatibilityArg::Backward => C::Backward,
            CompatibilityArg::BackwardTransitive => C::BackwardTransitive,
            CompatibilityArg::Full => C::Full,
            CompatibilityArg::FullTransitive => C::FullTransitive,
        }
    }
}

/// Tenant administration.
#[derive(Debug, Clone, Subcommand)]
pub enum TenantsAction {
    /// Create a tenant and print its id.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
    },
    /// Print a tenant's policy settings as JSON, or replace them with `--set <file>` (critical
    /// bypass, default locale, rate limits, over-limit policy; see docs/design.md).
    Settings {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// JSON file with the new settings (`-` for standard input); they replace the old
        /// ones as a whole and reach the routers within their cache TTL.
        #[arg(long)]
        set: Option<PathBuf>,
    },
}

/// App (credential) administration.
#[derive(Debug, Clone, Subcommand)]
pub enum AppsAction {
    /// Create an app and print its key and secret; the secret is shown only this once.
    Create {
        /// Tenant the app authenticates as.
        #[arg(long)]
        tenant: String,
        /// Algorithm its bearer tokens are pinned to.
        #[arg(long, value_enum)]
        jwt_alg: Option<crate::tenants::JwtAlg>,
        /// PEM file with the ES256 public key (with `--jwt-alg es256`).
        #[arg(long)]
        jwt_public_key: Option<PathBuf>,
        /// What the key may do, comma-separated: `send` (create notifications), `status` (read
        /// a notification's status), `admin` (users, devices, preferences, templates,
        /// categories). The default leaves `admin` out: give it only to keys that need it.
        #[arg(long, default_value_t = Scopes::DEFAULT)]
        scopes: Scopes,
    },
    /// Stop accepting an app's credentials.
    Disable {
        /// The app key.
        #[arg(long)]
        key: String,
    },
    /// Accept a disabled app's credentials again.
    Enable {
        /// The app key.
        #[arg(long)]
        key: String,
    },
}

/// Delivery channels as command-line values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ChannelArg {
    Apns,
    Fcm,
    Webpush,
    Sms,
    Email,
}

impl From<ChannelArg> for notify_schemas::Channel {
    fn from(channel: ChannelArg) -> Self {
        match channel {
            ChannelArg::Apns => notify_schemas::Channel::Apns,
            ChannelArg::Fcm => notify_schemas::Channel::Fcm,
            ChannelArg::Webpush => notify_schemas::Channel::WebPush,
            ChannelArg::Sms => notify_schemas::Channel::Sms,
            ChannelArg::Email => notify_schemas::Channel::Email,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use notify_store::tenants::Scope;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn demo_takes_an_address_and_a_count() {
        let cli = Cli::try_parse_from(["notify", "demo", "--send", "1000"]).expect("parses");
        assert!(matches!(
            cli.command,
            Command::Demo {
                send: Some(1000),
                ..
            }
        ));
        assert!(Cli::try_parse_from(["notify", "demo", "--listen", "nowhere"]).is_err());
    }

    fn create_app_scopes(args: &[&str]) -> Result<Scopes, clap::Error> {
        let base = ["notify", "apps", "create", "--tenant", "tn_1"];
        let cli = Cli::try_parse_from(base.iter().chain(args))?;
        match cli.command {
            Command::Apps {
                action: AppsAction::Create { scopes, .. },
            } => Ok(scopes),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn apps_create_takes_scopes_and_defaults_to_least_privilege() {
        assert_eq!(create_app_scopes(&[]).ok(), Some(Scopes::DEFAULT));
        assert_eq!(Scopes::DEFAULT.to_string(), "send,status");
        assert_eq!(
            create_app_scopes(&["--scopes", "send,status,admin"]).ok(),
            Some(Scopes::ALL)
        );
        assert_eq!(
            create_app_scopes(&["--scopes", "status"]).ok(),
            Some(Scopes::only(Scope::Status))
        );
        let unknown = create_app_scopes(&["--scopes", "send,root"]).expect_err("unknown scope");
        assert!(
            unknown.to_string().contains("unknown scope \"root\""),
            "{unknown}"
        );
        assert!(create_app_scopes(&["--scopes", ""]).is_err());
        assert!(create_app_scopes(&["--scopes", ","]).is_err());
    }

    #[test]
    fn dispatch_requires_a_known_channel() {
        assert!(Cli::try_parse_from(["notify", "dispatch", "--channel", "apns"]).is_ok());
        assert!(Cli::try_parse_from(["notify", "dispatch", "--channel", "pigeon"]).is_err());
        assert!(Cli::try_parse_from(["notify", "dispatch"]).is_err());
        assert!(Cli::try_parse_from(["notify", "webhooks"]).is_ok());
    }
}

/// Dead-letter operations.
#[derive(Debug, Clone, Subcommand)]
pub enum DlqAction {
    /// List dead letters (one line each: where from, why), oldest first.
    Inspect {
        #[command(flatten)]
        filter: DlqFilterArgs,
        /// Print at most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Produce dead letters again: a dispatcher's to its channel topic with a fresh retry
    /// budget (the notification log stops a second send), a router's to the topic it came from.
    Replay {
        #[command(flatten)]
        filter: DlqFilterArgs,
        /// Only say what would be replayed.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Which dead letters a DLQ command applies to.
#[derive(Debug, Clone, clap::Args)]
pub struct DlqFilterArgs {
    /// Error kind (`retries_exhausted`, `decode`, `unknown_tenant`, ...).
    #[arg(long)]
    pub reason: Option<String>,
    /// Channel (`apns`, `fcm`, `webpush`, `sms`, `email`).
    #[arg(long)]
    pub channel: Option<String>,
    /// Stage that dead-lettered it (`router`, `dispatcher`, `webhooks`).
    #[arg(long)]
    pub stage: Option<String>,
    /// Dead-lettered at or after this RFC 3339 instant, e.g. 2026-11-27T10:00:00Z.
    #[arg(long)]
    pub since: Option<String>,
    /// Dead-lettered before this RFC 3339 instant.
    #[arg(long)]
    pub until: Option<String>,
}
