//! Credential files that can be replaced without a restart.
//!
//! A [`WatchedFile`] re-reads its file when the modification time or length changes and parses
//! it again; the parsed value is shared until then. A file that disappears or no longer parses
//! keeps the last good value and reports the error, so a half-written replacement does not take
//! a provider down. Contents are never logged.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Why a credential file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The file could not be read.
    #[error("cannot read credential file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file was read but is not a valid credential.
    #[error("credential file {path} is not valid: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why; never the file's content.
        reason: String,
    },
}

type Parser<T> = dyn Fn(&[u8]) -> Result<T, String> + Send + Sync;

/// A credential file parsed into `T`, re-read when it changes on disk.
pub struct WatchedFile<T> {
    path: PathBuf,
    parse: Box<Parser<T>>,
    current: Mutex<Option<(Stamp, Arc<T>)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

impl<T> fmt::Debug for WatchedFile<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchedFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<T> WatchedFile<T> {
    /// Reads and parses the file now; fails if it cannot be read or parsed, so a bad path is
    /// reported at startup.
    pub fn open(
        path: impl AsRef<Path>,
        parse: impl Fn(&[u8]) -> Result<T, String> + Send + Sync + 'static,
    ) -> Result<Self, CredentialError> {
        let file = Self {
            path: path.as_ref().to_owned(),
            parse: Box::new(parse),
            current: Mutex::new(None),
        };
        file.get()?;
        Ok(file)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current value: re-read and re-parsed if the file changed since the last call. When
    /// the changed file cannot be read or parsed, the last good value is kept and returned.
    pub fn get(&self) -> Result<Arc<T>, CredentialError> {
        let stamp = std::fs::metadata(&self.path).ok().map(|m| Stamp {
            modified: m.modified().ok(),
            len: m.len(),
        });
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let (Some(stamp), Some((seen, value))) = (stamp, current.as_ref()) {
            if stamp == *seen {
                return Ok(value.clone());
            }
        }
        match self.load() {
            Ok(value) => {
                let value = Arc::new(value);
                if let Some(stamp) = stamp {
                    *current = Some((stamp, value.clone()));
                }
                Ok(value)
            }
            Err(err) => match current.as_ref() {
                Some((_, value)) => {
                    tracing::warn!(path = %self.path.display(), error = %err, "keeping the previous credential");
                    Ok(value.clone())
                }
                None => Err(err),
            },
        }
    }

    fn load(&self) -> Result<T, CredentialError> {
        let bytes = std::fs::read(&self.path).map_err(|source| CredentialError::Read {
            path: self.path.clone(),
            source,
        })?;
        (self.parse)(&bytes).map_err(|reason| CredentialError::Invalid {
            path: self.path.clone(),
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::test_support::Scratch;

    #[test]
    fn a_replaced_file_is_picked_up_and_a_broken_one_keeps_the_last_good_value() {
        let dir = Scratch::new("cred");
        let path = dir.write("key", "one");
        let parse = |b: &[u8]| {
            let text = std::str::from_utf8(b).map_err(|e| e.to_string())?;
            if text.starts_with('!') {
                Err("starts with !".to_owned())
            } else {
                Ok(text.to_owned())
            }
        };
        let file = WatchedFile::open(&path, parse).unwrap();
        assert_eq!(*file.get().unwrap(), "one");
        std::fs::write(&path, "second").unwrap();
        assert_eq!(*file.get().unwrap(), "second");
        std::fs::write(&path, "!broken").unwrap();
        assert_eq!(*file.get().unwrap(), "second");
        assert!(WatchedFile::open(dir.path().join("missing"), parse).is_err());
    }
}
