//! What `notify config` prints: the effective configuration as TOML with every secret replaced.
//!
//! Guarantees: a value is replaced by [`REDACTED`] when its key names a secret (a word of the
//! key, split at `.`, `_` and `-`, is one of [`SECRET_WORDS`], or the whole key is one of
//! librdkafka's secret-bearing properties in [`SECRET_PROPERTIES`]), at any depth, whatever
//! its type; the password part of a `scheme://user:password@host` URL anywhere is replaced too.
//! Not replaced: references to a secret (a key whose last word is `file`, `path`, `location`
//! or `dir`, and the `{ file = "..." }` / `{ env = "VAR" }` tables providers read secrets
//! from), since they name where the secret is, not what it is.
//! Not guaranteed: a secret stored under an innocent key name (`log_filter = "hunter2"`).

use toml::Value;

/// Printed in place of a secret.
pub const REDACTED: &str = "<redacted>";

/// Words that make a key secret-bearing wherever they appear in it.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "secrets",
    "key",
    "apikey",
    "token",
    "credential",
    "credentials",
    "pem",
    "jaas",
];

/// librdkafka properties that carry a secret under a name without a secret word.
const SECRET_PROPERTIES: &[&str] = &["sasl.oauthbearer.config"];

/// Last words of keys that point at a secret rather than hold it.
const REFERENCE_WORDS: &[&str] = &["file", "path", "location", "dir", "id"];

/// Replaces every secret in `value` (a configuration as a TOML tree) by [`REDACTED`].
pub fn redact(value: &mut Value) {
    match value {
        Value::Table(table) => {
            for (key, child) in table.iter_mut() {
                if is_secret_key(key) && !is_reference(child) {
                    *child = Value::String(REDACTED.to_owned());
                } else {
                    redact(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::String(text) => {
            if let Some(clean) = redact_url_password(text) {
                *text = clean;
            }
        }
        _ => {}
    }
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    if SECRET_PROPERTIES.contains(&key.as_str()) {
        return true;
    }
    let words: Vec<&str> = key.split(['.', '_', '-']).collect();
    let points_elsewhere = words
        .last()
        .is_some_and(|last| REFERENCE_WORDS.contains(last));
    !points_elsewhere && words.iter().any(|word| SECRET_WORDS.contains(word))
}

/// `{ file = "..." }` or `{ env = "VAR" }`: where a provider reads a secret from.
fn is_reference(value: &Value) -> bool {
    match value {
        Value::Table(table) => {
            table.len() == 1
                && table
                    .iter()
                    .all(|(k, v)| (k == "file" || k == "env") && v.is_str())
        }
        _ => false,
    }
}

/// `scheme://user:password@rest` with the password replaced; `None` when there is none.
fn redact_url_password(text: &str) -> Option<String> {
    let start = text.find("://")? + 3;
    let authority_end = text[start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| start + i);
    let at = text[start..authority_end].rfind('@')? + start;
    let colon = text[start..at].find(':')? + start;
    Some(format!("{}{REDACTED}{}", &text[..=colon], &text[at..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_recognised_by_their_words() {
        let cases = [
            ("sasl.password", true),
            ("ssl.key.password", true),
            ("ssl.keystore.password", true),
            ("ssl.key.pem", true),
            ("sasl.oauthbearer.client.secret", true),
            ("sasl.oauthbearer.config", true),
            ("password", true),
            ("api_key", true),
            ("api_secret", true),
            ("auth_token", true),
            ("apiKey", true),
            ("client-secret", true),
            ("ssl.key.location", false),
            ("secrets_key_file", false),
            ("vapid_key_file", false),
            ("key_id", false),
            ("keyspace", false),
            ("sasl.username", false),
            ("brokers", false),
            ("monkey", false),
        ];
        for (key, secret) in cases {
            assert_eq!(is_secret_key(key), secret, "{key}");
        }
    }

    #[test]
    fn url_passwords_are_replaced() {
        let cases = [
            (
                "https://u:pw@host:8443/x",
                Some("https://u:<redacted>@host:8443/x"),
            ),
            (
                "smtp://user:p%40ss@mail.example.com",
                Some("smtp://user:<redacted>@mail.example.com"),
            ),
            ("https://host/path?a=b@c", None),
            ("https://user@host", None),
            ("127.0.0.1:9092", None),
        ];
        for (text, want) in cases {
            assert_eq!(redact_url_password(text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn nested_secrets_are_replaced_and_references_kept() {
        let mut value: Value = toml::from_str(
            r#"
            [store]
            username = "notify"
            password = "cassandra-pw"
            [p.smtp]
            password = { file = "secrets/smtp" }
            [p.sendgrid]
            api_key = { env = "SENDGRID_KEY" }
            [p.vonage]
            api_secret = { inline = "vonage-secret" }
            [[p.list]]
            token = ["array-secret"]
            "#,
        )
        .expect("toml");
        redact(&mut value);
        let text = toml::to_string(&value).expect("toml");
        for secret in ["cassandra-pw", "vonage-secret", "array-secret"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        for kept in ["secrets/smtp", "SENDGRID_KEY", "username = \"notify\""] {
            assert!(text.contains(kept), "{kept} missing from {text}");
        }
    }
}
