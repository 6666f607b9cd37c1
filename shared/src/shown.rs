//! Text that came from elsewhere (a request path, a file name, the summary
//! a client wrote) printed where a person reads it: a character that could
//! drive a terminal or reorder a line is written as its escape instead.

use std::borrow::Cow;

/// Whether `c` could drive a terminal or reorder what it shows: control
/// characters (C0, DEL, C1: escape sequences start with ESC or CSI) and the
/// bidirectional embeddings, overrides and isolates.
pub fn steers(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every character that [`steers`], line breaks aside, written
/// as its escape (`\u{1b}` for ESC).
pub fn lines(text: &str) -> Cow<'_, str> {
    escaped(text, |c| c != '\n' && steers(c))
}

/// [`lines`] for one line: line breaks escaped too.
pub fn line(text: &str) -> Cow<'_, str> {
    escaped(text, steers)
}

fn escaped(text: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escape(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// JSON text with the characters that [`steers`] and that JSON leaves as
/// they are (DEL, C1, the bidirectional controls; serializers escape the
/// others) written as `\uXXXX`: the same JSON value. Such characters only
/// occur inside JSON strings, where the escape means the same.
pub fn json(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && steers(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c != '\n' && steers(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steering_characters_are_escaped_and_json_keeps_its_value() {
        let text = "a\u{1b}[2J\u{9b}31m\u{202e}b\nc\u{7f}";
        assert_eq!(line(text), "a\\u{1b}[2J\\u{9b}31m\\u{202e}b\\u{a}c\\u{7f}");
        assert_eq!(lines(text), "a\\u{1b}[2J\\u{9b}31m\\u{202e}b\nc\\u{7f}");
        assert!(matches!(line("plain é ✓"), Cow::Borrowed(_)));
        let encoded = serde_json::to_string(&text).unwrap();
        let safe = json(&encoded);
        assert!(!safe.chars().any(steers), "{safe}");
        assert_eq!(serde_json::from_str::<String>(&safe).unwrap(), text);
    }
}
