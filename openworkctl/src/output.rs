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

/// `text` with every character that could drive the terminal, line breaks
/// aside, written as its escape (`\u{1b}` for ESC): nothing the server
/// sends (a file name, the summary a client wrote, an error message)
/// reaches the terminal as a command.
pub fn shown(text: &str) -> Cow<'_, str> {
    openwork_shared::shown::lines(text)
}

/// [`shown`] for one line (a table cell): line breaks escaped too.
pub fn cell(text: &str) -> Cow<'_, str> {
    openwork_shared::shown::line(text)
}

/// JSON text holding such characters as `\uXXXX` (the same value).
pub fn json_shown(text: &str) -> Cow<'_, str> {
    openwork_shared::shown::json(text)
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
