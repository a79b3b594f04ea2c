//! The dispatchers in the embedded mode: one per channel over the in-memory stores the
//! gateway and the router share, each with its provider from the simulators' table.

use notify_common::topics::CHANNELS;
use notify_common::{Config, Health, Shutdown};
use notify_dispatchers::stage::Stores;
use notify_schemas::registry::StageSchemas;
use notify_schemas::Channel;

use crate::{stage_err, EmbeddedError};

/// One dispatcher per channel, each with its provider from the simulators' table; the retry
/// movers (one per tier, serving every channel) are started once.
pub(crate) fn start(
    config: &Config,
    shutdown: &Shutdown,
    health: &Health,
    stores: &Stores,
) -> Result<(), EmbeddedError> {
    use notify_dispatchers::providers::registry;
    use notify_dispatchers::stage;
    let mut movers_started = false;
    for name in CHANNELS {
        let channel = Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == name)
            .ok_or_else(|| stage_err("dispatch")(&format!("unknown channel {name}")))?;
        let list_unsubscribe =
            notify_dispatchers::providers::email::ListUnsubscribe::from_config(&config.links)
                .map_err(|e| stage_err("dispatch")(&e))?;
        let provider =
            registry::build_provider_with(channel, &config.dispatch.providers, list_unsubscribe)
                .map_err(|e| stage_err("dispatch")(&e))?;
        let parts = stage::build_with(
            config,
            channel,
            provider,
            health.clone(),
            stores.clone(),
            StageSchemas::default(),
        )
        .map_err(|e| stage_err("dispatch")(&e))?;
        if !movers_started {
            for mover in parts.movers {
                shutdown.spawn("retry-mover", mover.run(shutdown.token().clone()));
            }
            movers_started = true;
        }
        shutdown.spawn("dispatcher", parts.dispatcher.run(shutdown.token().clone()));
    }
    Ok(())
}
