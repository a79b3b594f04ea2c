//! The compatibility rules a registry subject can be held to.

/// Compatibility levels a subject can be set to; `Backward` and stricter keep old records
/// readable by new readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compatibility {
    /// A new schema can read data written by the previous one.
    Backward,
    /// ... by every earlier one.
    BackwardTransitive,
    /// The previous schema can read data written by the new one.
    Forward,
    /// ... every earlier one can.
    ForwardTransitive,
    /// Both backward and forward with the previous schema.
    Full,
    /// ... with every earlier one.
    FullTransitive,
}

impl Compatibility {
    /// The level as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Compatibility::Backward => "BACKWARD",
            Compatibility::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Compatibility::Forward => "FORWARD",
            Compatibility::ForwardTransitive => "FORWARD_TRANSITIVE",
            Compatibility::Full => "FULL",
            Compatibility::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Parses the API's spelling (any case).
    pub fn parse(text: &str) -> Option<Self> {
        [
            Compatibility::Backward,
            Compatibility::BackwardTransitive,
            Compatibility::Forward,
            Compatibility::ForwardTransitive,
            Compatibility::Full,
            Compatibility::FullTransitive,
        ]
        .into_iter()
        .find(|level| level.as_str().eq_ignore_ascii_case(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_levels_parse_in_any_case() {
        assert_eq!(
            Compatibility::parse("backward"),
            Some(Compatibility::Backward)
        );
        assert_eq!(
            Compatibility::parse("FULL_TRANSITIVE"),
            Some(Compatibility::FullTransitive)
        );
        assert_eq!(Compatibility::parse("NONE"), None);
    }
}
