//! Router stage: consumes `notify.requests`, enriches each request from the directory (users,
//! devices, preferences, templates), applies policy and fans out one delivery per channel and
//! recipient. Not built yet: this crate reserves its place in the workspace until the router
//! issue lands.
