//! What a negative SMTP reply means for the delivery: the reply code (RFC 5321 §4.2) read
//! together with the enhanced status code (RFC 3463) that most relays put first in the text.
//! Pure: the table in `smtp.rs` is the contract, this is its implementation.
//!
//! Only a refusal of the recipient's address itself is an [`Outcome::InvalidRecipient`], whose
//! address the handler puts on the suppression list: listing an address for a policy block, a
//! full mailbox or a problem with our own sender would stop mail the recipient wants.

use std::fmt;

use crate::providers::provider::{Outcome, Reason};

/// An enhanced mail system status code, `class.subject.detail` (RFC 3463 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnhancedStatus {
    /// 2 success, 4 persistent transient failure, 5 permanent failure.
    pub class: u8,
    /// 1 addressing, 2 mailbox, 3 mail system, 4 network, 5 protocol, 6 content, 7 security.
    pub subject: u16,
    /// The detail within the subject.
    pub detail: u16,
}

impl EnhancedStatus {
    /// The code at the start of `text` (`5.1.1 user unknown`), if there is one.
    pub fn leading(text: &str) -> Option<Self> {
        Self::parse(text.split_whitespace().next()?)
    }

    /// `text` as exactly one code: a class of 2, 4 or 5 and two numbers of one to three digits.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('.');
        let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let number = |part: &str| {
            let digits = (1..=3).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit());
            digits.then(|| part.parse::<u16>().ok()).flatten()
        };
        let class = match class {
            "2" => 2,
            "4" => 4,
            "5" => 5,
            _ => return None,
        };
        Some(Self {
            class,
            subject: number(subject)?,
            detail: number(detail)?,
        })
    }

    /// Whether it says the recipient's address does not exist or cannot exist: bad mailbox
    /// (x.1.1), bad domain (x.1.2), bad address syntax (x.1.3), moved without a forwarding
    /// address (x.1.6), a domain that accepts no mail (null MX, x.1.10, RFC 7505).
    pub fn refuses_address(self) -> bool {
        self.subject == 1 && matches!(self.detail, 1 | 2 | 3 | 6 | 10)
    }
}

impl fmt::Display for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// Words of a reply without an enhanced code that name the recipient as the problem.
const RECIPIENT_WORDS: [&str; 7] = [
    "user",
    "mailbox",
    "recipient",
    "no such",
    "unknown",
    "not local",
    "does not exist",
];

/// Words that make a refusal about something else: policy, reputation, content, our sender.
const OTHER_WORDS: [&str; 9] = [
    "spam",
    "policy",
    "block",
    "blacklist",
    "reputation",
    "virus",
    "content",
    "sender",
    "relay",
];

/// Whether a reply without an enhanced code clearly refuses the recipient's address.
fn names_recipient(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    RECIPIENT_WORDS.iter().any(|w| text.contains(w))
        && !OTHER_WORDS.iter().any(|w| text.contains(w))
}

/// The outcome of a negative reply `code` whose text (after the code) is `text`.
pub fn classify_reply(code: u16, text: &str) -> Outcome {
    if (400..=499).contains(&code) {
        return Outcome::retry(Reason::ProviderUnavailable, format!("smtp {code}"));
    }
    if matches!(code, 530 | 534 | 535) {
        return Outcome::retry(Reason::ProviderAuth, format!("smtp {code}"));
    }
    // a code whose class contradicts the reply's is not trusted, and neither is the text then
    let leading = EnhancedStatus::leading(text);
    let enhanced = leading.filter(|e| u16::from(e.class) == code / 100);
    let detail = match enhanced {
        Some(e) => format!("smtp {code} {e}"),
        None => format!("smtp {code}"),
    };
    let by_code = |detail: String| match code {
        550 | 551 | 553 => Outcome::failed(Reason::BadAddress, detail),
        _ => Outcome::failed(Reason::BadMessage, detail),
    };
    let refused = |detail: String| Outcome::InvalidRecipient {
        reason: Reason::BadAddress,
        since: None,
        detail,
    };
    match enhanced {
        Some(e) if e.refuses_address() => refused(detail),
        // x.1.7 and x.1.8 are our sender's address, not the recipient's
        Some(e) if e.subject == 1 && matches!(e.detail, 7 | 8) => {
            Outcome::failed(Reason::BadMessage, detail)
        }
        Some(e) if e.subject == 1 => Outcome::failed(Reason::BadAddress, detail),
        // security or policy: the message (or its sender) was refused, the address may be fine
        Some(e) if e.subject == 7 => Outcome::failed(Reason::BadMessage, detail),
        Some(_) => by_code(detail),
        None if leading.is_none() && matches!(code, 550 | 551 | 553) && names_recipient(text) => {
            refused(detail)
        }
        None => by_code(detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::test_support::reason;

    fn listed(outcome: &Outcome) -> bool {
        matches!(
            outcome,
            Outcome::InvalidRecipient {
                reason: Reason::BadAddress,
                ..
            }
        )
    }

    #[test]
    fn enhanced_codes_parse_only_in_their_grammar() {
        let code = EnhancedStatus::parse("5.1.10").unwrap();
        assert_eq!((code.class, code.subject, code.detail), (5, 1, 10));
        assert_eq!(code.to_string(), "5.1.10");
        assert_eq!(
            EnhancedStatus::leading("4.2.2 mailbox full").map(|c| c.to_string()),
            Some("4.2.2".into())
        );
        for bad in [
            "3.1.1", "5.1", "5.1.1.1", "5.1.1000", "5.x.1", "5..1", "", "550",
        ] {
            assert_eq!(EnhancedStatus::parse(bad), None, "{bad:?}");
        }
        assert_eq!(EnhancedStatus::leading("user unknown"), None);
    }

    #[test]
    fn a_refused_mailbox_or_domain_is_an_invalid_recipient() {
        for (code, text) in [
            (550, "5.1.1 <ann@example.org>: user unknown"),
            (550, "5.1.2 bad destination system address"),
            (553, "5.1.3 mailbox name not allowed"),
            (551, "5.1.6 user has moved, no forwarding address"),
            (556, "5.1.10 domain does not accept mail (null MX)"),
            (550, "no such user here"),
            (551, "user not local; please try <ann@elsewhere.example>"),
            (553, "requested action not taken: mailbox name not allowed"),
        ] {
            let outcome = classify_reply(code, text);
            assert!(listed(&outcome), "{code} {text}: {outcome:?}");
        }
        let Outcome::InvalidRecipient { detail, since, .. } = classify_reply(550, "5.1.1 x") else {
            unreachable!()
        };
        assert_eq!((detail.as_str(), since), ("smtp 550 5.1.1", None));
    }

    #[test]
    fn policy_blocks_full_mailboxes_and_sender_problems_are_never_listed() {
        for (code, text, expected) in [
            (550, "5.7.1 message rejected as spam", Reason::BadMessage),
            (554, "5.7.1 relay access denied", Reason::BadMessage),
            (
                550,
                "5.7.26 unauthenticated email is not accepted",
                Reason::BadMessage,
            ),
            (552, "5.2.2 mailbox full", Reason::BadMessage),
            (550, "5.2.2 mailbox full", Reason::BadAddress),
            (552, "message size exceeds fixed limit", Reason::BadMessage),
            (
                553,
                "5.1.7 bad sender mailbox address syntax",
                Reason::BadMessage,
            ),
            (
                550,
                "5.1.8 sender domain does not resolve",
                Reason::BadMessage,
            ),
            (550, "5.1.0 other address status", Reason::BadAddress),
            (
                550,
                "mailbox unavailable: blocked by policy",
                Reason::BadAddress,
            ),
            (
                550,
                "sender address rejected: user unknown in relay",
                Reason::BadAddress,
            ),
            (550, "requested action not taken", Reason::BadAddress),
            (554, "transaction failed", Reason::BadMessage),
        ] {
            let outcome = classify_reply(code, text);
            assert!(!listed(&outcome), "{code} {text}: {outcome:?}");
            assert_eq!(reason(&outcome), Some(expected), "{code} {text}");
        }
    }

    #[test]
    fn transient_and_authentication_replies_are_retried_whatever_their_text() {
        for (code, text, expected) in [
            (450, "4.1.1 mailbox busy", Reason::ProviderUnavailable),
            (452, "4.2.2 mailbox full", Reason::ProviderUnavailable),
            (421, "4.3.2 closing", Reason::ProviderUnavailable),
            (
                535,
                "5.7.8 authentication credentials invalid",
                Reason::ProviderAuth,
            ),
            (530, "5.7.0 authentication required", Reason::ProviderAuth),
        ] {
            let outcome = classify_reply(code, text);
            assert!(matches!(outcome, Outcome::Retry { .. }), "{code} {text}");
            assert_eq!(reason(&outcome), Some(expected));
        }
        // an enhanced code of another class than the reply's is ignored
        assert!(!listed(&classify_reply(550, "4.1.1 mailbox busy")));
    }
}
