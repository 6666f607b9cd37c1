//! Printing: tables for people, JSON for scripts.

use serde::Serialize;
use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tabled::settings::{Format, Style};
use tabled::{Table, Tabled};

/// Print `value` as JSON, or else the table of `rows` (or `empty` when none).
pub fn print<T: Serialize, R: Tabled>(json: bool, value: &T, rows: Vec<R>, empty: &str) {
    if json {
        print_json(value);
    } else if rows.is_empty() {
        println!("{empty}");
    } else {
        let mut table = Table::new(rows);
        table
            .with(Format::content(|s| cell(s).into_owned()))
            .with(Style::psql());
        println!("{table}");
    }
}

pub fn print_json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{}", json_shown(&text)),
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}

/// Two-column key/value table.
pub fn print_pairs(pairs: &[(&str, String)]) {
    let rows: Vec<[String; 2]> = pairs
        .iter()
        .map(|(k, v)| [k.to_string(), v.clone()])
        .collect();
    let mut builder = tabled::builder::Builder::default();
    for row in rows {
        builder.push_record(row);
    }
    let mut table = builder.build();
    table
        .with(Format::content(|s| cell(s).into_owned()))
        .with(Style::blank());
    println!("{table}");
}

/// Whether `c` could drive a terminal or reorder what it shows: control
/// characters (C0, DEL, C1: escape sequences start with ESC or CSI) and the
/// bidirectional embeddings, overrides and isolates.
fn steers(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every character that [`steers`] the terminal, line breaks
/// aside, written as its escape (`\u{1b}` for ESC): nothing the server sends
/// (a file name, the summary a client wrote, an error message) reaches the
/// terminal as a command.
pub fn shown(text: &str) -> Cow<'_, str> {
    escaped(text, |c| c != '\n' && steers(c))
}

/// [`shown`] for one line (a table cell): line breaks escaped too.
pub fn cell(text: &str) -> Cow<'_, str> {
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

/// JSON text with the characters that [`steers`] the terminal and that
/// JSON leaves as they are (DEL, C1, bidirectional controls; the others
/// are escaped already) written as `\uXXXX`: the same JSON value.
pub fn json_shown(text: &str) -> Cow<'_, str> {
    if !text.chars().any(steers) {
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

/// A millisecond timestamp as RFC 3339 (UTC, seconds).
pub fn time(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// How long ago a millisecond timestamp was, e.g. `12s ago`.
pub fn age(ms: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let secs = now.saturating_sub(ms) / 1000;
    format!(
        "{} ago",
        humantime::format_duration(Duration::from_secs(secs))
    )
}

/// Bytes for people: `512 B`, `1.5 MiB`.
pub fn size(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}
