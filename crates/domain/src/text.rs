//! Free text people type that others read (a reason for ending or leaving a call): the one
//! rule REST and signaling both apply, so nothing reaches another participant's screen or the
//! audit trail that one path would have refused.

/// Why a piece of free text is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TextRefused {
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must not contain control characters")]
    ControlCharacters,
}

/// Trims `raw`; blank is `None`. Longer than `max` characters, or holding a control character
/// (newlines included, which would forge lines in logs and exports), is refused.
pub fn free_text(raw: Option<&str>, max: usize) -> Result<Option<String>, TextRefused> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > max {
        return Err(TextRefused::TooLong(max));
    }
    if text.chars().any(char::is_control) {
        return Err(TextRefused::ControlCharacters);
    }
    Ok(Some(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_is_nothing_and_text_is_trimmed() {
        assert_eq!(free_text(None, 10), Ok(None));
        assert_eq!(free_text(Some("   "), 10), Ok(None));
        assert_eq!(free_text(Some("  done  "), 10), Ok(Some("done".into())));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert_eq!(free_text(Some("ééééé"), 5), Ok(Some("ééééé".into())));
        assert_eq!(free_text(Some("éééééé"), 5), Err(TextRefused::TooLong(5)));
    }

    #[test]
    fn control_characters_are_refused_anywhere_inside() {
        for bad in ["a\nb", "a\u{0}b", "left\u{1b}[31m", "a\rb", "a\u{85}b"] {
            assert_eq!(
                free_text(Some(bad), 100),
                Err(TextRefused::ControlCharacters),
                "{bad:?}"
            );
        }
    }
}
