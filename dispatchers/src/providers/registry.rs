//! From the raw `[dispatch.providers]` table to the provider of one channel.
//!
//! Layout: one table per provider account, parsed into that provider's own typed configuration
//! (`[dispatch.providers.apns]` → `ApnsConfig`, `fcm`, `webpush`, `twilio`, `vonage`,
//! `sendgrid`, `smtp`). SMS and email may name two providers to fail over between:
//!
//! ```toml
//! [dispatch.providers.sms]          # optional; without it the one configured provider is used
//! primary = "twilio"
//! secondary = "vonage"
//! breaker = { consecutive_failures = 5 }
//! ```
//!
//! Guarantees: a channel whose provider is not configured, or whose configuration does not
//! parse or validate, is an error at start-up naming the table, never a dispatcher that
//! fails every send. Error texts never contain credentials (providers read those from files).

use std::sync::Arc;

use notify_schemas::Channel;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::providers::email::{ListUnsubscribe, SendGridProvider, SmtpProvider};
use crate::providers::failover::{BreakerConfig, Failover};
use crate::providers::provider::Provider;
use crate::providers::sms::{TwilioProvider, VonageProvider};
use crate::providers::{apns, fcm, webpush};

/// Why a channel's provider could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No provider is configured for the channel.
    #[error("no provider configured for {channel}: add [dispatch.providers.{wanted}]")]
    Missing {
        /// The channel.
        channel: Channel,
        /// The table(s) that would configure it.
        wanted: &'static str,
    },
    /// A provider's table did not parse or its provider refused it.
    #[error("[dispatch.providers.{table}]: {reason}")]
    Invalid {
        /// The table.
        table: String,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(table: &str, reason: impl ToString) -> RegistryError {
    RegistryError::Invalid {
        table: table.to_owned(),
        reason: reason.to_string(),
    }
}

/// The typed configuration in `[dispatch.providers.<table>]`, if present.
fn section<T: DeserializeOwned>(
    providers: &toml::Table,
    table: &str,
) -> Result<Option<T>, RegistryError> {
    providers
        .get(table)
        .map(|value| value.clone().try_into::<T>().map_err(|e| invalid(table, e)))
        .transpose()
}

/// Which providers of a channel to fail over between.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Routing {
    primary: String,
    secondary: Option<String>,
    #[serde(default)]
    breaker: Option<BreakerConfig>,
}

/// Builds the provider of `channel` from the raw providers table.
pub fn build_provider(
    channel: Channel,
    providers: &toml::Table,
) -> Result<Arc<dyn Provider>, RegistryError> {
    build_provider_with(channel, providers, None)
}

/// [`build_provider`], with email carrying the unsubscribe headers of `list_unsubscribe`.
pub fn build_provider_with(
    channel: Channel,
    providers: &toml::Table,
    list_unsubscribe: Option<Arc<ListUnsubscribe>>,
) -> Result<Arc<dyn Provider>, RegistryError> {
    let missing = |wanted| RegistryError::Missing { channel, wanted };
    match channel {
        Channel::Apns => {
            account(providers, "apns", apns::ApnsProvider::new)?.ok_or_else(|| missing("apns"))
        }
        Channel::Fcm => {
            account(providers, "fcm", fcm::FcmProvider::new)?.ok_or_else(|| missing("fcm"))
        }
        Channel::WebPush => account(providers, "webpush", webpush::WebPushProvider::new)?
            .ok_or_else(|| missing("webpush")),
        Channel::Sms => routed(
            channel,
            providers,
            None,
            "sms",
            &["twilio", "vonage"],
            "twilio or vonage",
        ),
        Channel::Email => routed(
            channel,
            providers,
            list_unsubscribe,
            "email",
            &["sendgrid", "smtp"],
            "sendgrid or smtp",
        ),
    }
}

/// One named provider account of SMS or email.
fn named(
    providers: &toml::Table,
    name: &str,
    list_unsubscribe: Option<&Arc<ListUnsubscribe>>,
) -> Result<Option<Arc<dyn Provider>>, RegistryError> {
    let headers = || list_unsubscribe.cloned();
    match name {
        "twilio" => account(providers, name, TwilioProvider::new),
        "vonage" => account(providers, name, VonageProvider::new),
        "sendgrid" => account(providers, name, |config| {
            SendGridProvider::new(config).map(|p| p.with_list_unsubscribe(headers()))
        }),
        "smtp" => account(providers, name, |config| {
            SmtpProvider::new(config).map(|p| p.with_list_unsubscribe(headers()))
        }),
        other => Err(invalid(other, "unknown provider")),
    }
}

/// The provider built by `build` from `[dispatch.providers.<table>]`, if the table is there.
fn account<C, P, E>(
    providers: &toml::Table,
    table: &str,
    build: impl FnOnce(C) -> Result<P, E>,
) -> Result<Option<Arc<dyn Provider>>, RegistryError>
where
    C: DeserializeOwned,
    P: Provider + 'static,
    E: ToString,
{
    section::<C>(providers, table)?
        .map(|config| build(config).map(|p| Arc::new(p) as Arc<dyn Provider>))
        .transpose()
        .map_err(|e| invalid(table, e))
}

/// SMS or email: the routing table's primary (and secondary, behind breakers), or the one
/// configured provider.
fn routed(
    channel: Channel,
    providers: &toml::Table,
    list_unsubscribe: Option<Arc<ListUnsubscribe>>,
    table: &'static str,
    candidates: &[&str],
    wanted: &'static str,
) -> Result<Arc<dyn Provider>, RegistryError> {
    let missing = RegistryError::Missing { channel, wanted };
    let routing: Option<Routing> = section(providers, table)?;
    let (primary, secondary, breaker) = match routing {
        Some(r) => (r.primary, r.secondary, r.breaker.unwrap_or_default()),
        None => {
            let mut configured = candidates.iter().filter(|c| providers.contains_key(**c));
            let primary = configured.next().ok_or(missing)?;
            (
                (*primary).to_owned(),
                configured.next().map(|s| (*s).to_owned()),
                BreakerConfig::default(),
            )
        }
    };
    for name in std::iter::once(&primary).chain(secondary.as_ref()) {
        if !candidates.contains(&name.as_str()) {
            return Err(invalid(
                table,
                format!("{name} is not a {channel} provider"),
            ));
        }
    }
    let first = named(providers, &primary, list_unsubscribe.as_ref())?
        .ok_or_else(|| invalid(table, format!("[dispatch.providers.{primary}] is missing")))?;
    let Some(secondary) = secondary else {
        return Ok(first);
    };
    let second = named(providers, &secondary, list_unsubscribe.as_ref())?.ok_or_else(|| {
        invalid(
            table,
            format!("[dispatch.providers.{secondary}] is missing"),
        )
    })?;
    Ok(Arc::new(
        Failover::new(table, first, second, breaker).map_err(|e| invalid(table, e))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_provider_is_named() {
        let empty = toml::Table::new();
        for channel in Channel::ALL {
            let err = build_provider(channel, &empty).expect_err("nothing configured");
            assert!(err.to_string().contains("[dispatch.providers."), "{err}");
        }
    }

    #[test]
    fn a_bad_table_names_itself() {
        let providers: toml::Table = toml::from_str("[apns]\nkey_id = 5\n").unwrap();
        let err = build_provider(Channel::Apns, &providers).expect_err("bad table");
        assert!(
            err.to_string().starts_with("[dispatch.providers.apns]"),
            "{err}"
        );
        let routing: toml::Table =
            toml::from_str("[sms]\nprimary = \"smtp\"\n[smtp]\nhost = \"h\"\n").unwrap();
        let err = build_provider(Channel::Sms, &routing).expect_err("not an sms provider");
        assert!(err.to_string().contains("not a sms provider"), "{err}");
    }
}
