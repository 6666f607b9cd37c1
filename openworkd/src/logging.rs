//! Logging through `tracing`, written in the reference's two formats:
//! `pretty` (the message alone on stdout) and `json` (one OpenTelemetry-
//! style record a line, the event's fields as attributes). Code logs with
//! the `tracing` macros; `info`/`warn`/`error` are shorthands for a message.

use crate::config::LogFormat;
use serde_json::{Map, Value, json};
use std::fmt;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// Writes each event as one line on stdout, through a buffered writer on
/// its own thread: a request never waits for the terminal or the journal,
/// and lines that arrive together leave in one write.
struct Lines {
    format: LogFormat,
    run_id: String,
    version: String,
    out: tracing_appender::non_blocking::NonBlocking,
}

/// The event's message and its other fields.
#[derive(Default)]
struct Fields {
    message: String,
    attributes: Map<String, Value>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, json!(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, json!(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, json!(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, json!(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, json!(format!("{value:?}")));
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
        } else {
            self.attributes.insert(field.name().to_owned(), value);
        }
    }
}

fn severity(level: &Level) -> (&'static str, u8) {
    match *level {
        Level::ERROR => ("ERROR", 17),
        Level::WARN => ("WARN", 13),
        Level::INFO => ("INFO", 9),
        Level::DEBUG => ("DEBUG", 5),
        Level::TRACE => ("TRACE", 1),
    }
}

impl<S: Subscriber> Layer<S> for Lines {
    /// Only the daemon's own lines, at INFO and above: libraries' debug
    /// and trace events cost nothing and print nothing.
    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if *metadata.level() <= Level::INFO && metadata.target().starts_with("openworkd") {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let line = match self.format {
            LogFormat::Json => {
                let (text, number) = severity(event.metadata().level());
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis()
                    * 1_000_000;
                let mut attributes = fields.attributes;
                attributes.insert("run.id".into(), json!(self.run_id));
                attributes.insert("process.pid".into(), json!(std::process::id()));
                json!({
                    "timeUnixNano": nanos.to_string(),
                    "severityText": text,
                    "severityNumber": number,
                    "body": fields.message,
                    "attributes": attributes,
                    "resource": {
                        "service.name": "openwork-server",
                        "service.version": self.version,
                        "service.instance.id": self.run_id,
                    },
                })
                .to_string()
            }
            _ => fields.message,
        };
        let mut line = line.into_bytes();
        line.push(b'\n');
        let _ = self.out.clone().write_all(&line);
    }
}

/// Keeps the log writer running; dropping it writes out every line still
/// queued (hold it until the daemon stops).
pub struct Flush {
    _writer: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// Install the process-wide subscriber (once; later calls are ignored).
/// Lines are queued, never dropped (a full queue makes the logger wait),
/// and written out in batches.
pub fn init(format: LogFormat, run_id: String, version: String) -> Flush {
    let stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout());
    let (out, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("openworkd-log")
        .finish(stdout);
    let subscriber = tracing_subscriber::registry().with(Lines {
        format,
        run_id,
        version,
        out,
    });
    match tracing::subscriber::set_global_default(subscriber) {
        Ok(()) => Flush {
            _writer: Some(guard),
        },
        Err(_) => Flush { _writer: None },
    }
}

pub fn info(message: &str) {
    tracing::info!("{message}");
}

pub fn warn(message: &str) {
    tracing::warn!("{message}");
}

pub fn error(message: &str) {
    tracing::error!("{message}");
}
