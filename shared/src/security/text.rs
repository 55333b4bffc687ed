//! Rules for the free text people store here (usernames, item and concept names).
//!
//! A control character has no place in a name and breaks things downstream: SQLite's
//! `length()` stops at a NUL, so a `CHECK (length(name) ...)` fails for such text, and
//! terminals and logs misbehave on the rest. Text is refused before it reaches storage.

/// Why a piece of text cannot be stored, as a sentence for the client.
pub const CONTROL_CHARACTERS: &str = "Control characters (such as NUL or newline) are not allowed.";

/// Whether `text` holds a control character (Unicode category Cc: NUL, tab, newline, DEL, ...).
pub fn has_control_characters(text: &str) -> bool {
    text.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::has_control_characters;

    #[test]
    fn control_characters_are_found_anywhere_and_ordinary_text_passes() {
        for bad in [
            "\u{0}",
            "a\u{0}b",
            "tab\there",
            "line\n",
            "\u{7f}",
            "\u{85}x",
            "\u{1e}[q",
        ] {
            assert!(has_control_characters(bad), "{bad:?}");
        }
        for good in ["Item A", "Ünïcødé ✓", "a b", "日本語", "O'Brien"] {
            assert!(!has_control_characters(good), "{good:?}");
        }
    }
}
