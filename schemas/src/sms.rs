//! SMS encoding detection and segment counting (3GPP TS 23.038 GSM-7, else UCS-2).
//!
//! Guarantees: the count is what a provider bills for a concatenated message: GSM-7 fits 160
//! septets in one segment and 153 per segment once split (the rest of each segment is the
//! user-data header); UCS-2 fits 70 UTF-16 units, 67 once split. A two-septet extension
//! character (escape + char) and a UTF-16 surrogate pair are never split across segments, as
//! real encoders keep them whole, so such a text may need one segment more than a plain
//! division suggests.
//!
//! Not modelled: national language shift tables (Turkish, Portuguese, Indian scripts) and
//! provider "smart encoding" that replaces curly quotes with straight ones; both can only make
//! a text cheaper than counted here.

use serde::Serialize;

/// Character set an SMS is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// GSM 03.38 default alphabet with its extension table, 7 bits per character.
    Gsm7,
    /// UTF-16 code units, 16 bits each; used as soon as one character is outside GSM-7.
    Ucs2,
}

/// Septets in a single-segment GSM-7 message.
pub const GSM7_SINGLE: u32 = 160;
/// Septets per segment of a concatenated GSM-7 message.
pub const GSM7_PER_SEGMENT: u32 = 153;
/// UTF-16 units in a single-segment UCS-2 message.
pub const UCS2_SINGLE: u32 = 70;
/// UTF-16 units per segment of a concatenated UCS-2 message.
pub const UCS2_PER_SEGMENT: u32 = 67;

/// The GSM 03.38 basic table in code order, without 0x1B (the escape to the extension table).
const GSM7_BASIC: &str = concat!(
    "@£$¥èéùìòÇ\nØø\rÅå",
    "\u{0394}_\u{03A6}\u{0393}\u{039B}\u{03A9}\u{03A0}\u{03A8}\u{03A3}\u{0398}\u{039E}ÆæßÉ",
    " !\"#¤%&'()*+,-./",
    "0123456789:;<=>?",
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§",
    "¿abcdefghijklmnopqrstuvwxyzäöñüà",
);

/// The extension table: each is sent as escape + char and takes two septets.
const GSM7_EXTENSION: &str = "\u{000C}^{}\\[~]|€";

/// Septets `c` takes in GSM-7 (1 or 2), or `None` when it has no GSM-7 form.
pub fn gsm7_septets(c: char) -> Option<u32> {
    if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else if GSM7_BASIC.contains(c) {
        Some(1)
    } else {
        None
    }
}

/// The encoding `text` is sent in and the number of segments it takes; an empty text takes 0.
pub fn sms_segments(text: &str) -> (Encoding, u32) {
    if text.is_empty() {
        return (Encoding::Gsm7, 0);
    }
    if text.chars().all(|c| gsm7_septets(c).is_some()) {
        let units = text.chars().map(|c| gsm7_septets(c).unwrap_or(1));
        (Encoding::Gsm7, count(units, GSM7_SINGLE, GSM7_PER_SEGMENT))
    } else {
        let units = text.chars().map(|c| c.len_utf16() as u32);
        (Encoding::Ucs2, count(units, UCS2_SINGLE, UCS2_PER_SEGMENT))
    }
}

/// Segments for characters of the given unit sizes: one if they fit `single`, else packed
/// greedily into segments of `per_segment` without splitting a character.
fn count(units: impl Iterator<Item = u32> + Clone, single: u32, per_segment: u32) -> u32 {
    let total: u64 = units.clone().map(u64::from).sum();
    if total <= u64::from(single) {
        return 1;
    }
    let mut segments = 1;
    let mut used = 0;
    for unit in units {
        if used + unit > per_segment {
            segments += 1;
            used = 0;
        }
        used += unit;
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_table_has_127_distinct_characters() {
        let mut chars: Vec<char> = GSM7_BASIC.chars().collect();
        assert_eq!(chars.len(), 127);
        chars.sort_unstable();
        chars.dedup();
        assert_eq!(chars.len(), 127);
        assert!(GSM7_EXTENSION.chars().all(|c| !GSM7_BASIC.contains(c)));
    }

    #[test]
    fn empty_text_takes_no_segment() {
        assert_eq!(sms_segments(""), (Encoding::Gsm7, 0));
    }

    #[test]
    fn gsm7_single_segment_boundary() {
        assert_eq!(sms_segments(&"a".repeat(160)), (Encoding::Gsm7, 1));
        assert_eq!(sms_segments(&"a".repeat(161)), (Encoding::Gsm7, 2));
    }

    #[test]
    fn gsm7_concatenated_boundary() {
        assert_eq!(sms_segments(&"a".repeat(306)), (Encoding::Gsm7, 2));
        assert_eq!(sms_segments(&"a".repeat(307)), (Encoding::Gsm7, 3));
        assert_eq!(sms_segments(&"a".repeat(459)), (Encoding::Gsm7, 3));
    }

    #[test]
    fn extension_characters_count_two() {
        for c in ['€', '{', '}', '[', ']', '~', '|', '^', '\\', '\u{000C}'] {
            assert_eq!(gsm7_septets(c), Some(2), "{c:?}");
        }
        // 80 euro signs are 160 septets: one segment; one more character tips it over
        assert_eq!(sms_segments(&"€".repeat(80)), (Encoding::Gsm7, 1));
        assert_eq!(
            sms_segments(&format!("{}a", "€".repeat(80))),
            (Encoding::Gsm7, 2)
        );
        assert_eq!(
            sms_segments(&format!("{}{{", "a".repeat(159))),
            (Encoding::Gsm7, 2)
        );
    }

    #[test]
    fn extension_character_is_not_split_across_segments() {
        // 152 septets, then a two-septet char that cannot fit in the one septet left
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(sms_segments(&text), (Encoding::Gsm7, 3));
        // the same length with the euro sign moved to the start packs into two
        let text = format!("€{}", "a".repeat(304));
        assert_eq!(sms_segments(&text), (Encoding::Gsm7, 2));
    }

    #[test]
    fn gsm7_accented_and_greek_letters_stay_gsm7() {
        assert_eq!(sms_segments("Café Ñoño ΔΩ £5 @home ù").0, Encoding::Gsm7);
    }

    #[test]
    fn non_gsm_character_switches_the_whole_text_to_ucs2() {
        assert_eq!(sms_segments("안녕하세요"), (Encoding::Ucs2, 1));
        assert_eq!(sms_segments("ç"), (Encoding::Ucs2, 1)); // only capital Ç is in the table
        assert_eq!(sms_segments("ú"), (Encoding::Ucs2, 1)); // only ù of the u accents
        assert_eq!(sms_segments(&"a".repeat(70)), (Encoding::Gsm7, 1));
        assert_eq!(
            sms_segments(&format!("{}é안", "a".repeat(68))),
            (Encoding::Ucs2, 1)
        );
    }

    #[test]
    fn ucs2_boundaries() {
        assert_eq!(sms_segments(&"가".repeat(70)), (Encoding::Ucs2, 1));
        assert_eq!(sms_segments(&"가".repeat(71)), (Encoding::Ucs2, 2));
        assert_eq!(sms_segments(&"가".repeat(134)), (Encoding::Ucs2, 2));
        assert_eq!(sms_segments(&"가".repeat(135)), (Encoding::Ucs2, 3));
    }

    #[test]
    fn emoji_are_surrogate_pairs_counting_two() {
        assert_eq!(sms_segments(&"😀".repeat(35)), (Encoding::Ucs2, 1));
        assert_eq!(
            sms_segments(&format!("{}a", "😀".repeat(35))),
            (Encoding::Ucs2, 2)
        );
        // 66 units then a pair: the pair does not fit the 67th unit and starts segment two
        let text = format!("{}😀{}", "가".repeat(66), "가".repeat(66));
        assert_eq!(sms_segments(&text), (Encoding::Ucs2, 3));
    }
}
