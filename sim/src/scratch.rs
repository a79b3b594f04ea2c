//! [`Scratch`]: a folder of its own for one test's files (keys, certificates, secrets).

use std::path::{Path, PathBuf};

/// A new empty folder in the temp folder, removed with everything in it on drop.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// A new folder named after `what`, the process and a uuid, so parallel tests and test
    /// processes never share one.
    pub fn new(what: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "notify-{what}-test-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("create a scratch folder");
        Self(dir)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `content` to `name` in the folder and returns the file's path.
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).expect("write a scratch file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
