//! Logging through `tracing`, written in the reference's two formats:
//! `pretty` (the message alone on stdout) and `json` (one OpenTelemetry-
//! style record a line, the event's fields as attributes). Code logs with
//! the `tracing` macros; `info`/`warn`/`error` are shorthands for a message.

use crate::config::LogFormat;
use parking_lot::{Condvar, Mutex};
use std::fmt;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// Writes each event as one line on stdout through [`Sink`].
struct Lines {
    format: LogFormat,
    /// What ends every JSON line (it never changes).
    json_tail: String,
    out: Arc<Sink>,
}

/// Lines waiting to be written. A request only appends to its thread's
/// buffer (no system call, no thread to wake, no lock another core
/// holds); a writer thread writes every buffer out every [`FLUSH_EVERY`],
/// or sooner when one passes [`FLUSH_BYTES`]. Warnings and errors are
/// written at once, with everything buffered before them. Lines of one
/// thread keep their order; within one batch, lines of different threads
/// are grouped by thread.
struct Sink {
    /// Every thread's buffer (dropped once its thread ended and it was
    /// written out).
    buffers: Mutex<Vec<Arc<Mutex<Vec<u8>>>>>,
    wake: Mutex<()>,
    full: Condvar,
    /// The batch being written; held while writing, so batches leave in
    /// the order they were taken.
    writing: Mutex<Vec<u8>>,
    stop: AtomicBool,
}

thread_local! {
    /// This thread's buffer in the sink.
    static BUFFER: std::cell::OnceCell<Arc<Mutex<Vec<u8>>>> = const { std::cell::OnceCell::new() };
}

const FLUSH_EVERY: Duration = Duration::from_millis(20);
const FLUSH_BYTES: usize = 64 * 1024;

impl Sink {
    fn push(&self, line: &[u8], urgent: bool) {
        self.push_with(urgent, |pending| pending.extend_from_slice(line));
    }

    /// Append a line written in place by `write` (no line of its own).
    fn push_with(&self, urgent: bool, write: impl FnOnce(&mut Vec<u8>)) {
        let size = BUFFER.with(|buffer| {
            let buffer = buffer.get_or_init(|| {
                let buffer = Arc::new(Mutex::new(Vec::new()));
                self.buffers.lock().push(buffer.clone());
                buffer
            });
            let mut pending = buffer.lock();
            write(&mut pending);
            pending.len()
        });
        if urgent {
            self.flush();
        } else if size >= FLUSH_BYTES {
            self.full.notify_one();
        }
    }

    fn flush(&self) {
        let mut batch = self.writing.lock();
        {
            let mut buffers = self.buffers.lock();
            for buffer in buffers.iter() {
                let mut pending = buffer.lock();
                batch.extend_from_slice(&pending);
                pending.clear();
            }
            buffers.retain(|buffer| Arc::strong_count(buffer) > 1);
        }
        if !batch.is_empty() {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&batch);
            let _ = out.flush();
            batch.clear();
        }
    }

    fn run(&self) {
        while !self.stop.load(Ordering::Acquire) {
            self.full.wait_for(&mut self.wake.lock(), FLUSH_EVERY);
            self.flush();
        }
    }
}

/// The event's message and its other fields.
#[derive(Default)]
struct Fields {
    message: String,
    /// The other fields as JSON object members, each followed by a comma.
    attributes: String,
    /// Only JSON lines carry the fields; pretty lines are the message.
    keep: bool,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.put(field, &value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, &value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, &value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, &value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else if self.keep {
            self.put(field, &format!("{value:?}"));
        }
    }
}

impl Fields {
    /// Add `"name":value,` (JSON lines only).
    fn put(&mut self, field: &Field, value: &impl serde::Serialize) {
        if !self.keep {
            return;
        }
        let (name, value) = (
            serde_json::to_string(field.name()).unwrap_or_default(),
            serde_json::to_string(value).unwrap_or_default(),
        );
        for part in [name.as_str(), ":", value.as_str(), ","] {
            self.attributes.push_str(part);
        }
    }
}

/// The end of every JSON line of this process: the run id and process id
/// closing the attributes, then the resource.
fn json_tail(run_id: &str, version: &str) -> String {
    let text = |s: &str| serde_json::to_string(s).unwrap_or_default();
    format!(
        "\"run.id\":{run},\"process.pid\":{pid}}},\"resource\":{{\"service.name\":\"openwork-server\",\"service.version\":{version},\"service.instance.id\":{run}}}}}",
        run = text(run_id),
        pid = std::process::id(),
        version = text(version),
    )
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

impl<S: Subscriber> Layer<S> for &'static Lines {
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
        let mut fields = Fields {
            keep: self.format == LogFormat::Json,
            ..Fields::default()
        };
        event.record(&mut fields);
        let line = match self.format {
            LogFormat::Json => {
                let (text, number) = severity(event.metadata().level());
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis()
                    * 1_000_000;
                format!(
                    "{{\"timeUnixNano\":\"{nanos}\",\"severityText\":\"{text}\",\"severityNumber\":{number},\"body\":{body},\"attributes\":{{{attributes}{tail}",
                    body = serde_json::to_string(&fields.message).unwrap_or_default(),
                    attributes = fields.attributes,
                    tail = self.json_tail,
                )
            }
            _ => fields.message,
        };
        let mut line = line.into_bytes();
        line.push(b'\n');
        self.out
            .push(&line, *event.metadata().level() <= Level::WARN);
    }
}

/// Keeps the log writer running; dropping it stops the writer and writes
/// out every line still buffered (hold it until the daemon stops).
pub struct Flush {
    sink: Arc<Sink>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Flush {
    fn drop(&mut self) {
        self.sink.stop.store(true, Ordering::Release);
        self.sink.full.notify_one();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        self.sink.flush();
    }
}

/// Install the process-wide subscriber (once; later calls are ignored).
/// Lines are buffered, never dropped, and written out in batches.
pub fn init(format: LogFormat, run_id: String, version: String) -> Flush {
    let sink = Arc::new(Sink {
        buffers: Mutex::new(Vec::new()),
        wake: Mutex::new(()),
        full: Condvar::new(),
        writing: Mutex::new(Vec::with_capacity(FLUSH_BYTES)),
        stop: AtomicBool::new(false),
    });
    let running = sink.clone();
    let writer = std::thread::Builder::new()
        .name("openworkd-log".into())
        .spawn(move || running.run())
        .ok();
    let lines = LINES.get_or_init(|| Lines {
        format,
        json_tail: json_tail(&run_id, &version),
        out: sink.clone(),
    });
    let subscriber = tracing_subscriber::registry().with(lines);
    let _ = tracing::subscriber::set_global_default(subscriber);
    Flush { sink, writer }
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

/// The process's lines: events through `tracing`, request lines straight
/// into the buffer (in the same formats, without an event to build and
/// dispatch).
static LINES: std::sync::OnceLock<Lines> = std::sync::OnceLock::new();

/// One answered request, as its log line tells it.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub ms: u64,
    /// Which kind of credential was presented (never the credential).
    pub auth: &'a str,
    /// The cause of a server error.
    pub error: Option<&'a str>,
}

/// Log one request line: INFO, WARN for 4xx (written at once), ERROR for
/// 5xx. Nothing happens before [`init`].
pub fn request(line: &Request<'_>) {
    let Some(lines) = LINES.get() else {
        return;
    };
    let level = match line.status {
        500.. => Level::ERROR,
        400.. => Level::WARN,
        _ => Level::INFO,
    };
    lines
        .out
        .push_with(level <= Level::WARN, |out| match lines.format {
            LogFormat::Json => write_json(out, &level, line, &lines.json_tail),
            _ => {
                write_message(out, line);
                out.push(b'\n');
            }
        });
}

/// `METHOD PATH STATUS MSms`, as written (no formatting machinery).
fn write_message(out: &mut Vec<u8>, line: &Request<'_>) {
    let mut number = itoa::Buffer::new();
    out.extend_from_slice(line.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(line.path.as_bytes());
    out.push(b' ');
    out.extend_from_slice(number.format(line.status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(number.format(line.ms).as_bytes());
    out.extend_from_slice(b"ms");
}

fn write_json(out: &mut Vec<u8>, level: &Level, line: &Request<'_>, tail: &str) {
    let (text, severity) = severity(level);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        * 1_000_000;
    let string = |out: &mut Vec<u8>, s: &str| {
        let _ = serde_json::to_writer(&mut *out, s);
    };
    let mut number = itoa::Buffer::new();
    out.extend_from_slice(b"{\"timeUnixNano\":\"");
    out.extend_from_slice(number.format(nanos).as_bytes());
    out.extend_from_slice(b"\",\"severityText\":\"");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\",\"severityNumber\":");
    out.extend_from_slice(number.format(severity).as_bytes());
    out.extend_from_slice(b",\"body\":");
    // The message, escaped: built in place, then escaped as a whole only
    // when it needs it.
    let at = out.len();
    write_message(out, line);
    if out[at..]
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
    {
        let message = String::from_utf8_lossy(&out[at..]).into_owned();
        out.truncate(at);
        string(out, &message);
    } else {
        out.insert(at, b'"');
        out.push(b'"');
    }
    out.extend_from_slice(b",\"attributes\":{\"method\":");
    string(out, line.method);
    out.extend_from_slice(b",\"path\":");
    string(out, line.path);
    out.extend_from_slice(b",\"status\":");
    out.extend_from_slice(number.format(line.status).as_bytes());
    out.extend_from_slice(b",\"durationMs\":");
    out.extend_from_slice(number.format(line.ms).as_bytes());
    out.extend_from_slice(b",\"auth\":");
    string(out, line.auth);
    if let Some(error) = line.error {
        out.extend_from_slice(b",\"error\":");
        string(out, error);
    }
    out.push(b',');
    out.extend_from_slice(tail.as_bytes());
    out.push(b'\n');
}
