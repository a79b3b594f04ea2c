//! API keys and auth tokens configured as "read this file" or "read this environment variable".
//!
//! Guarantees: a file secret is re-read when the file changes (through
//! [`crate::providers::credentials::WatchedFile`]), so a rotated key is used without a restart; an
//! environment secret is read once at startup. Surrounding whitespace (the trailing newline of a
//! secret file) is trimmed and an empty secret is refused. The value never appears in `Debug`
//! output, errors or logs.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use crate::providers::credentials::{CredentialError, WatchedFile};

/// Where a secret comes from, as written in config: `{ file = "..." }` or `{ env = "VAR" }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretConfig {
    /// A file holding the secret; re-read when it changes.
    File(PathBuf),
    /// An environment variable holding the secret; read once.
    Env(String),
}

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
    let text = std::str::from_utf8(bytes).map_err(|_| "not utf-8".to_owned())?;
    let text = text.trim();
    if text.is_empty() {
        return Err("empty".to_owned());
    }
    Ok(text.to_owned())
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

    #[test]
    fn config_reads_file_or_env() {
        let file: SecretConfig = serde_json::from_str(r#"{"file":"/run/key"}"#).unwrap();
        assert_eq!(file, SecretConfig::File("/run/key".into()));
        let env: SecretConfig = serde_json::from_str(r#"{"env":"KEY"}"#).unwrap();
        assert_eq!(env, SecretConfig::Env("KEY".into()));
    }
}
