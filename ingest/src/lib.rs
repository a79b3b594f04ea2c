//! Ingest gateway: authenticates tenants, validates notification requests, writes them as Avro
//! to `notify.requests` and answers only after Kafka acknowledged them; also serves the admin
//! API (users, devices, preferences, templates). Not built yet: this crate reserves its place
//! in the workspace until the ingest issue lands.
