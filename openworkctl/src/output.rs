//! Printing: tables for people, JSON for scripts.

use serde::Serialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tabled::settings::{Format, Style};
use tabled::{Table, Tabled};

// What the server sends (a file name, the summary a client wrote, an error
// message) is printed with whatever could drive the terminal escaped:
// `shown` keeps line breaks, `cell` (one line, a table cell) escapes them
// too, `json_shown` writes such characters in JSON text as `\uXXXX`.
pub use openwork_shared::shown::{json as json_shown, line as cell, lines as shown};

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
