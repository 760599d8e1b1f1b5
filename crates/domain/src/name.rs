//! People's display names, as the platform's tokens carry them (the `name` claim) and as
//! others read them: "Dr. Ada Lovelace is calling you". A name is PHI: the server stores it
//! and sends it to the people who share a call, and never logs it or puts it in the audit
//! trail (`docs/audit-trail.md`).
//!
//! The rule is [`crate::text`]'s free-text rule (trimmed, no control characters) with its own
//! length, plus one more refusal: bidirectional formatting characters, which can make a name
//! display as something else ("Dr. Smith" built from reversed text), are not names.

use crate::text::{TextRefused, free_text};

/// The longest display name kept, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// Why a display name is not used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameRefused {
    #[error("must be at most {MAX_DISPLAY_NAME_CHARS} characters")]
    TooLong,
    #[error("must not contain control characters")]
    ControlCharacters,
    #[error("must not contain bidirectional formatting characters")]
    Bidirectional,
}

/// A trimmed, non-empty name of at most [`MAX_DISPLAY_NAME_CHARS`] characters holding no
/// control or bidirectional formatting character. Constructed only by [`DisplayName::parse`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DisplayName(String);

/// Names are PHI: `Debug` never prints one, so a stray `{:?}` cannot put it in a log.
impl std::fmt::Debug for DisplayName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DisplayName(<redacted>)")
    }
}

impl DisplayName {
    /// `Ok(None)` for a blank name (nothing to show), `Err` for one that breaks the rule.
    pub fn parse(raw: &str) -> Result<Option<DisplayName>, NameRefused> {
        let text = free_text(Some(raw), MAX_DISPLAY_NAME_CHARS).map_err(|e| match e {
            TextRefused::TooLong(_) => NameRefused::TooLong,
            TextRefused::ControlCharacters => NameRefused::ControlCharacters,
        })?;
        match text {
            None => Ok(None),
            Some(t) if t.chars().any(is_bidi_control) => Err(NameRefused::Bidirectional),
            Some(t) => Ok(Some(DisplayName(t))),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Embeddings, overrides, isolates and marks that reorder how text displays (Unicode
/// Bidirectional Algorithm, UAX #9).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(raw: &str) -> Result<Option<String>, NameRefused> {
        DisplayName::parse(raw).map(|n| n.map(DisplayName::into_string))
    }

    #[test]
    fn a_name_is_trimmed_and_a_blank_one_is_no_name() {
        assert_eq!(name("  Dr. Ada Lovelace "), Ok(Some("Dr. Ada Lovelace".into())));
        assert_eq!(name("   "), Ok(None));
        assert_eq!(name(""), Ok(None));
    }

    #[test]
    fn names_in_any_script_are_kept_up_to_a_hundred_characters() {
        assert_eq!(name("Zoë Ñúñez-O’Brien"), Ok(Some("Zoë Ñúñez-O’Brien".into())));
        assert_eq!(name("李小龍"), Ok(Some("李小龍".into())));
        let hundred = "é".repeat(MAX_DISPLAY_NAME_CHARS);
        assert_eq!(name(&hundred), Ok(Some(hundred.clone())));
        assert_eq!(name(&format!("{hundred}é")), Err(NameRefused::TooLong));
    }

    #[test]
    fn a_name_that_would_forge_lines_or_terminal_codes_is_refused() {
        for bad in ["Ada\nLovelace", "Ada\u{0}", "\u{1b}[31mAda", "Ada\rBob", "Ada\u{85}Bob"] {
            assert_eq!(name(bad), Err(NameRefused::ControlCharacters), "{bad:?}");
        }
    }

    #[test]
    fn a_name_that_would_display_as_something_else_is_refused() {
        for bad in ["htimS .rD\u{202E}", "Ada\u{2066}Bob\u{2069}", "\u{200F}Ada"] {
            assert_eq!(name(bad), Err(NameRefused::Bidirectional), "{bad:?}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_name() {
        let n = DisplayName::parse("Ada Lovelace").expect("valid").expect("not blank");
        assert!(!format!("{n:?}").contains("Ada"));
    }
}
