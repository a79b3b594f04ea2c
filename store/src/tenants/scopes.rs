//! What an app may do: the [`Scope`]s of its key, as a small non-empty set ([`Scopes`]).
//!
//! Guarantees: a [`Scopes`] is never empty, so "no scopes" cannot be stored and later read back
//! as something else (CQL stores an empty set as null, and a null `apps.scopes` means a row
//! written before scopes existed, which keeps every scope; see [`Scopes::LEGACY`]). Names are
//! parsed strictly: an unknown name is an error, never ignored.

use std::fmt;
use std::str::FromStr;

/// One permission of an app key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Create notifications (`POST /v1/notifications`, `POST /v1/notifications/batch`).
    Send,
    /// Read what became of a notification (`GET /v1/notifications/{event_id}`).
    Status,
    /// Manage the tenant's users, devices, preferences, templates and categories.
    Admin,
}

impl Scope {
    /// Every scope, in the order they are printed.
    pub const ALL: [Scope; 3] = [Scope::Send, Scope::Status, Scope::Admin];

    /// The name used on the command line, in the database and in the API.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Send => "send",
            Scope::Status => "status",
            Scope::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Scope::Send => 1,
            Scope::Status => 2,
            Scope::Admin => 4,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a scope list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// A name that is not a scope.
    #[error("unknown scope {0:?} (known: send, status, admin)")]
    Unknown(String),
    /// No scope at all; a key that may do nothing is a mistake.
    #[error("at least one scope is needed (send, status, admin)")]
    Empty,
}

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(name: &str) -> Result<Self, ScopeError> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.name() == name)
            .ok_or_else(|| ScopeError::Unknown(name.to_owned()))
    }
}

/// A non-empty set of scopes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

impl Scopes {
    /// What a new key gets unless told otherwise: it may send and read status, not administer.
    pub const DEFAULT: Scopes = Scopes(1 | 2);

    /// Every scope: a tenant admin key.
    pub const ALL: Scopes = Scopes(1 | 2 | 4);

    /// What an app row written before scopes existed has: every scope, as every key was a
    /// tenant admin then.
    pub const LEGACY: Scopes = Scopes::ALL;

    /// Exactly `scope`.
    pub fn only(scope: Scope) -> Self {
        Scopes(scope.bit())
    }

    /// These scopes and `scope`.
    pub fn with(self, scope: Scope) -> Self {
        Scopes(self.0 | scope.bit())
    }

    /// The scopes in `scopes`; [`ScopeError::Empty`] if there are none.
    pub fn from_scopes(scopes: impl IntoIterator<Item = Scope>) -> Result<Self, ScopeError> {
        let bits = scopes.into_iter().fold(0, |bits, scope| bits | scope.bit());
        if bits == 0 {
            return Err(ScopeError::Empty);
        }
        Ok(Scopes(bits))
    }

    /// The scopes named in `names`, each a scope name.
    pub fn from_names<S: AsRef<str>>(
        names: impl IntoIterator<Item = S>,
    ) -> Result<Self, ScopeError> {
        let scopes = names
            .into_iter()
            .map(|name| name.as_ref().parse())
            .collect::<Result<Vec<Scope>, _>>()?;
        Self::from_scopes(scopes)
    }

    /// Whether `scope` is one of these.
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// The scopes, in [`Scope::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// The scope names, in [`Scope::ALL`] order.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Scope::name).collect()
    }
}

/// `send,status`: the form `--scopes` takes.
impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

/// Parses a comma-separated list (`send,status`); blanks around names are ignored, repeats
/// are harmless.
impl FromStr for Scopes {
    type Err = ScopeError;

    fn from_str(list: &str) -> Result<Self, ScopeError> {
        Self::from_names(list.split(',').map(str::trim).filter(|s| !s.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_strictly_and_print_back() {
        let scopes: Scopes = "status, send,send".parse().expect("parses");
        assert_eq!(scopes, Scopes::DEFAULT);
        assert_eq!(scopes.to_string(), "send,status");
        assert_eq!("send,status,admin".parse(), Ok(Scopes::ALL));
        assert_eq!(
            "send,root".parse::<Scopes>(),
            Err(ScopeError::Unknown("root".into()))
        );
        assert_eq!(
            "Send".parse::<Scopes>(),
            Err(ScopeError::Unknown("Send".into()))
        );
        assert_eq!("".parse::<Scopes>(), Err(ScopeError::Empty));
        assert_eq!(" , ".parse::<Scopes>(), Err(ScopeError::Empty));
    }

    #[test]
    fn default_is_less_than_all() {
        assert!(Scopes::DEFAULT.contains(Scope::Send));
        assert!(Scopes::DEFAULT.contains(Scope::Status));
        assert!(!Scopes::DEFAULT.contains(Scope::Admin));
        assert!(Scope::ALL.iter().all(|s| Scopes::ALL.contains(*s)));
        assert_eq!(Scopes::LEGACY, Scopes::ALL);
        assert_eq!(Scopes::only(Scope::Admin).names(), ["admin"]);
        assert_eq!(
            Scopes::only(Scope::Admin).with(Scope::Send).names(),
            ["send", "admin"]
        );
    }
}
