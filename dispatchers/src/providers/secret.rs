//! API keys and auth tokens configured as "read this file" or "read this environment variable".
//!
//! Guarantees: a file secret is re-read when the file changes (through
//! [`crate::providers::credentials::WatchedFile`]), so a rotated key is used without a restart; an
//! environment secret is read once at startup. Surrounding whitespace (the trailing newline of a
//! secret file) is trimmed and an empty secret is refused. The value never appears in `Debug`
//! output, errors or logs.

use std::fmt;
use std::sync::Arc;

use crate::providers::credentials::{CredentialError, WatchedFile};

pub use notify_common::config::SecretConfig;

/// Why a secret could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The secret file could not be read or is empty.
    #[error(transparent)]
    File(#[from] CredentialError),
    /// The environment variable is unset, not unicode or empty.
    #[error("environment variable {0} is unset or empty")]
    Env(String),
}

/// A loaded secret.
pub struct Secret {
    source: Source,
}

enum Source {
    File(WatchedFile<String>),
    Value(Arc<String>),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::File(file) => write!(f, "Secret(file {})", file.path().display()),
            Source::Value(_) => f.write_str("Secret(<redacted>)"),
        }
    }
}

impl Secret {
    /// Loads the secret now, so a missing file or variable is reported at startup.
    pub fn load(config: &SecretConfig) -> Result<Self, SecretError> {
        let source = match config {
            SecretConfig::File(path) => Source::File(WatchedFile::open(path, parse)?),
            SecretConfig::Env(var) => {
                let value = std::env::var(var).map_err(|_| SecretError::Env(var.clone()))?;
                let value = parse(value.as_bytes()).map_err(|_| SecretError::Env(var.clone()))?;
                Source::Value(Arc::new(value))
            }
        };
        Ok(Self { source })
    }

    #[cfg(test)]
    /// A secret given directly, for tests and embedded mode.
    pub fn from_value(value: impl Into<String>) -> Self {
        Self {
            source: Source::Value(Arc::new(value.into())),
        }
    }

    /// The current value; a changed file is re-read, a broken replacement keeps the last good
    /// value.
    pub fn get(&self) -> Result<Arc<String>, SecretError> {
        match &self.source {
            Source::File(file) => Ok(file.get()?),
            Source::Value(value) => Ok(value.clone()),
        }
    }
}

fn parse(bytes: &[u8]) -> Result<String, String> {
    notify_common::config::secret::parse(bytes).map_err(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::test_support::Scratch;

    #[test]
    fn file_secrets_are_trimmed_and_never_shown() {
        let dir = Scratch::new("secret");
        let path = dir.write("token", "s3cret\n");
        let secret = Secret::load(&SecretConfig::File(path.clone())).unwrap();
        assert_eq!(*secret.get().unwrap(), "s3cret");
        assert!(!format!("{secret:?}").contains("s3cret"));
        std::fs::write(&path, "  \n").unwrap();
        assert!(Secret::load(&SecretConfig::File(path)).is_err());
        assert!(Secret::load(&SecretConfig::Env("NOTIFY_TEST_SURELY_UNSET_VAR".into())).is_err());
        // PATH is set wherever tests run; reading it needs no environment mutation.
        let path = Secret::load(&SecretConfig::Env("PATH".into())).unwrap();
        assert_eq!(*path.get().unwrap(), std::env::var("PATH").unwrap().trim());
        assert!(!format!("{:?}", Secret::from_value("abc")).contains("abc"));
    }
}
