//! Set-up shared by the embedded pipeline's tests.

use std::path::PathBuf;

use notify_embedded::{Embedded, Options};

/// The embedded pipeline on a loopback port, its simulators' files in a fresh temporary
/// directory (returned, for the test to remove).
pub async fn start() -> (Embedded, PathBuf) {
    let dir = std::env::temp_dir().join(format!("notify-embedded-{}", uuid::Uuid::new_v4()));
    let embedded = Embedded::start(Options {
        listen: "127.0.0.1:0".parse().expect("address"),
        sim_dir: dir.clone(),
    })
    .await
    .expect("embedded pipeline starts");
    (embedded, dir)
}
