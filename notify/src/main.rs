//! The `notify` binary: parses the command line and configuration, sets up telemetry, runs one
//! stage or operator command, and drains on shutdown. All logic lives in the library crates.

mod admin;
mod cli;
mod demo;
mod dlq;
mod loadgen;
mod out;
mod produce;
mod redact;
mod report;
mod schemas;
mod sim;
mod tenants;

use std::process::ExitCode;

use clap::Parser;
use notify_common::stage::run_stage;

use crate::cli::{AppsAction, Cli, Command, SchemasAction, TenantsAction};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // the reader took what it wanted (`notify topics list | head`): not a failure
        Err(err) if out::is_closed_stdout(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", describe(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, skipping a cause whose text an outer message already
/// includes (library errors often embed their source).
fn describe(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = notify_common::Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Config => admin::print_config(&config),
        Command::Demo {
            listen,
            send,
            sample,
            timeout_s,
            dir,
        } => {
            // quiet by default: the demo prints what matters; RUST_LOG turns logs back on
            let telemetry = notify_common::config::TelemetryConfig {
                metrics_addr: None,
                log_filter: "warn,librdkafka=error".into(),
                ..config.telemetry.clone()
            };
            let telemetry = notify_common::config::TelemetryConfig {
                otlp_endpoint: None,
                ..telemetry
            };
            notify_common::telemetry::init(&telemetry, &notify_common::Health::new(), "demo")?;
            let mode = match send {
                Some(n) => demo::Mode::Send(n),
                None => demo::Mode::Serve { sample },
            };
            demo::run(
                listen,
                mode,
                &dir,
                std::time::Duration::from_secs(timeout_s),
            )
            .await
        }
        Command::Ingest => Ok(run_stage(&config, "ingest", |shutdown, _health| {
            notify_ingest::stage::run(&config, shutdown)
        })
        .await?),
        Command::Router => Ok(run_stage(&config, "router", |shutdown, health| {
            notify_router::stage::run(&config, shutdown, health)
        })
        .await?),
        Command::Webhooks => Ok(run_stage(&config, "webhooks", |shutdown, health| {
            notify_webhooks::stage::run(&config, shutdown, health)
        })
        .await?),
        Command::Dlq { action } => {
            init_tool_telemetry(&config)?;
            dlq::run(&config, action).await
        }
        Command::Loadgen(args) => {
            init_tool_telemetry(&config)?;
            loadgen::run(&config, args).await
        }
        Command::Sim { dir, port_base } => {
            init_tool_telemetry(&config)?;
            sim::run(&dir, port_base).await
        }
        Command::Dispatch { channel } => {
            let channel: notify_schemas::Channel = channel.into();
            let service = format!("dispatch-{}", channel.as_str());
            Ok(run_stage(&config, &service, |shutdown, health| {
                notify_dispatchers::stage::run(&config, channel, shutdown, health)
            })
            .await?)
        }
        Command::Tenants {
            action: TenantsAction::Create { name },
        } => {
            init_tool_telemetry(&config)?;
            tenants::create_tenant(&config, &name).await
        }
        Command::Tenants {
            action: TenantsAction::Settings { tenant, set },
        } => {
            init_tool_telemetry(&config)?;
            tenants::settings(&config, &tenant, set.as_deref()).await
        }
        Command::Apps { action } => {
            init_tool_telemetry(&config)?;
            match action {
                AppsAction::Create {
                    tenant,
                    jwt_alg,
                    jwt_public_key,
                    scopes,
                } => {
                    tenants::create_app(
                        &config,
                        &tenant,
                        jwt_alg,
                        jwt_public_key.as_deref(),
                        scopes,
                    )
                    .await
                }
                AppsAction::Disable { key } => tenants::set_app_disabled(&config, &key, true).await,
                AppsAction::Enable { key } => tenants::set_app_disabled(&config, &key, false).await,
            }
        }
        Command::Produce { tenant, file } => {
            init_tool_telemetry(&config)?;
            produce::produce(&config, &tenant, file.as_deref()).await
        }
        Command::Migrate => {
            init_tool_telemetry(&config)?;
            admin::migrate(&config).await
        }
        Command::Schemas {
            action: SchemasAction::Register { compatibility, dir },
        } => {
            init_tool_telemetry(&config)?;
            schemas::register(&config, compatibility.into(), dir.as_deref()).await
        }
        Command::Topics { action } => {
            init_tool_telemetry(&config)?;
            admin::topics(&config, action).await
        }
        Command::Report { tenant } => {
            init_tool_telemetry(&config)?;
            report::run(&config, tenant.as_deref()).await
        }
        Command::Check => {
            init_tool_telemetry(&config)?;
            admin::check(&config).await
        }
    }
}

/// Logging for one-shot operator commands: they must not hold the stages' metrics port.
fn init_tool_telemetry(config: &notify_common::Config) -> anyhow::Result<()> {
    let telemetry = notify_common::config::TelemetryConfig {
        metrics_addr: None,
        otlp_endpoint: None,
        ..config.telemetry.clone()
    };
    Ok(notify_common::telemetry::init(
        &telemetry,
        &notify_common::Health::new(),
        "tool",
    )?)
}
