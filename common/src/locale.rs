//! Locale fallback, shared by template rendering (router) and the preference page (ingest), so
//! a user reads both in the same language.
//!
//! Guarantees: tags compare case-insensitively with `_` read as `-`; a chain lists each given
//! locale, then its language (`ko-KR` → `ko`), without repeats. Not done: region fallback
//! between siblings (`pt-BR` never falls back to `pt-PT`); the wrong language is worse than the
//! default.

/// A locale tag in the form locales are compared in: trimmed, lowercase, `-` separated.
pub fn normalize(tag: &str) -> String {
    tag.trim().replace('_', "-").to_ascii_lowercase()
}

/// Normalized locales to look for, in order: each given one, then its language; no repeats.
pub fn chain(locales: &[Option<&str>]) -> Vec<String> {
    let mut chain: Vec<String> = Vec::new();
    for locale in locales.iter().flatten() {
        let full = normalize(locale);
        if full.is_empty() {
            continue;
        }
        let language = full.split('-').next().unwrap_or_default().to_owned();
        for candidate in [full, language] {
            if !candidate.is_empty() && !chain.contains(&candidate) {
                chain.push(candidate);
            }
        }
    }
    chain
}

/// The first of `available` (normalized tags) that the chain of `locales` reaches.
pub fn pick<'a>(locales: &[Option<&str>], available: &[&'a str]) -> Option<&'a str> {
    chain(locales)
        .iter()
        .find_map(|wanted| available.iter().find(|have| **have == wanted).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_tries_each_locale_then_its_language() {
        assert_eq!(
            chain(&[Some("ko_KR"), None, Some(" EN-gb "), Some("ko")]),
            ["ko-kr", "ko", "en-gb", "en"]
        );
        assert_eq!(
            pick(&[Some("de-AT"), Some("ko")], &["en", "ko"]),
            Some("ko")
        );
        assert_eq!(pick(&[Some("de")], &["en", "ko"]), None);
    }
}
