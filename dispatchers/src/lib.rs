//! Dispatchers: one consumer group per channel (APNs, FCM, web push, SMS, email) delivering
//! through its provider with retries, dedup and a dead-letter topic. Not built yet: this crate
//! reserves its place in the workspace until the dispatcher issue lands.
