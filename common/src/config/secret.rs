//! A secret named in configuration by where it is kept, `{ file = "..." }` or
//! `{ env = "VAR" }`, never by its value, so a configuration file can be shared and printed.
//!
//! Guarantees: [`SecretConfig::read`] trims surrounding whitespace (the trailing newline of a
//! mounted secret file) and refuses an empty or non-UTF-8 value; its errors name the file or
//! variable, never the value.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where a secret is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretConfig {
    /// A file holding the secret (a mounted Kubernetes Secret, for one).
    File(PathBuf),
    /// An environment variable holding the secret.
    Env(String),
}

/// Why a secret could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretReadError {
    /// The file could not be read, is not UTF-8 or holds only whitespace.
    #[error("secret file {path}: {reason}")]
    File {
        /// The configured path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The variable is unset, not UTF-8 or empty.
    #[error("environment variable {0} is unset or empty")]
    Env(String),
}

impl SecretConfig {
    /// The secret's value now, trimmed.
    pub fn read(&self) -> Result<String, SecretReadError> {
        match self {
            SecretConfig::File(path) => {
                let bytes = std::fs::read(path).map_err(|err| SecretReadError::File {
                    path: path.clone(),
                    reason: err.to_string(),
                })?;
                parse(&bytes).map_err(|reason| SecretReadError::File {
                    path: path.clone(),
                    reason: reason.to_owned(),
                })
            }
            SecretConfig::Env(var) => std::env::var(var)
                .ok()
                .and_then(|value| parse(value.as_bytes()).ok())
                .ok_or_else(|| SecretReadError::Env(var.clone())),
        }
    }
}

/// A secret's text from raw bytes: UTF-8, trimmed, not empty.
pub fn parse(bytes: &[u8]) -> Result<String, &'static str> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not utf-8")?;
    let text = text.trim();
    if text.is_empty() {
        return Err("empty");
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_read_trimmed_from_a_file_or_the_environment() {
        let dir = std::env::temp_dir().join(format!("notify-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("password");
        std::fs::write(&path, "s3cret\n").unwrap();
        assert_eq!(SecretConfig::File(path.clone()).read().unwrap(), "s3cret");
        std::fs::write(&path, " \n").unwrap();
        let empty = SecretConfig::File(path.clone()).read().unwrap_err();
        assert!(empty.to_string().contains("empty"), "{empty}");
        let missing = SecretConfig::File(dir.join("absent")).read().unwrap_err();
        assert!(missing.to_string().contains("absent"), "{missing}");
        assert_eq!(
            SecretConfig::Env("NOTIFY_TEST_SURELY_UNSET_VAR".into()).read(),
            Err(SecretReadError::Env("NOTIFY_TEST_SURELY_UNSET_VAR".into()))
        );
        // PATH is set wherever tests run; reading it needs no environment mutation
        assert!(SecretConfig::Env("PATH".into()).read().is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn config_names_a_file_or_a_variable() {
        let file: SecretConfig = serde_json::from_str(r#"{"file":"/run/key"}"#).unwrap();
        assert_eq!(file, SecretConfig::File("/run/key".into()));
        let env: SecretConfig = serde_json::from_str(r#"{"env":"KEY"}"#).unwrap();
        assert_eq!(env, SecretConfig::Env("KEY".into()));
        assert!(serde_json::from_str::<SecretConfig>(r#"{"value":"x"}"#).is_err());
    }
}
