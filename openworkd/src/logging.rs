//! Log records, in the reference's two formats: `pretty` (the message
//! alone on stdout) and `json` (one structured record a line).

use crate::config::LogFormat;
use serde_json::{Map, Value, json};
use std::io::Write;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

struct Logger {
    format: LogFormat,
    run_id: String,
    version: String,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

pub fn init(format: LogFormat, run_id: String, version: String) {
    let _ = LOGGER.set(Logger {
        format,
        run_id,
        version,
    });
}

#[derive(Debug, Clone, Copy)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn text_and_number(self) -> (&'static str, u8) {
        match self {
            Level::Info => ("INFO", 9),
            Level::Warn => ("WARN", 13),
            Level::Error => ("ERROR", 17),
        }
    }
}

pub fn info(message: &str) {
    log(Level::Info, message, Map::new());
}

pub fn warn(message: &str) {
    log(Level::Warn, message, Map::new());
}

pub fn error(message: &str) {
    log(Level::Error, message, Map::new());
}

pub fn log(level: Level, message: &str, mut attributes: Map<String, Value>) {
    let line = match LOGGER.get() {
        Some(logger) if logger.format == LogFormat::Json => {
            let (text, number) = level.text_and_number();
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
                * 1_000_000;
            attributes.insert("run.id".into(), json!(logger.run_id));
            attributes.insert("process.pid".into(), json!(std::process::id()));
            json!({
                "timeUnixNano": nanos.to_string(),
                "severityText": text,
                "severityNumber": number,
                "body": message,
                "attributes": attributes,
                "resource": {
                    "service.name": "openwork-server",
                    "service.version": logger.version,
                    "service.instance.id": logger.run_id,
                },
            })
            .to_string()
        }
        _ => message.to_owned(),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
