//! Logging through `tracing`, written in the reference's two formats:
//! `pretty` (the message alone on stdout) and `json` (one OpenTelemetry-
//! style record a line, the event's fields as attributes). Code logs with
//! the `tracing` macros; `info`/`warn`/`error` are shorthands for a message.

use crate::config::LogFormat;
use axum::http::Method;
use openwork_shared::shown;
use parking_lot::{Condvar, Mutex};
use smallvec::SmallVec;
use std::fmt;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// Writes each event as one line on stdout through [`Sink`].
struct Lines {
    out: Arc<Sink>,
}

/// Lines waiting to be written. A request only appends to its thread's
/// queue (no system call, no thread to wake, no lock another core holds);
/// a writer thread writes every queue out every [`FLUSH_EVERY`], or sooner
/// when one holds [`FLUSH_ENTRIES`]. A request line is queued as the few
/// facts it tells and formatted by the writer, in one buffer it keeps, so
/// the request's thread neither formats it nor writes its bytes. Each
/// thread has two queues the writer swaps. Warnings and errors are written
/// at once, with everything queued before them. Lines of one thread keep
/// their order, and each batch is written in the order its lines were
/// made, whichever threads made them.
struct Sink {
    format: LogFormat,
    /// What ends every JSON line (it never changes).
    json_tail: String,
    /// Every thread's queues (dropped once its thread ended and they
    /// were written out).
    queues: Mutex<Vec<Arc<Mutex<Queues>>>>,
    wake: Mutex<()>,
    full: Condvar,
    /// The batch being written, formatted; held while writing, so batches
    /// leave in the order they were taken.
    writing: Mutex<Vec<u8>>,
    stop: AtomicBool,
}

/// One thread's queued lines, and the emptied queue they are swapped with.
#[derive(Default)]
struct Queues {
    entries: Vec<Entry>,
    spare: Vec<Entry>,
}

enum Entry {
    /// A line as written, and when it was made.
    Line(SystemTime, Vec<u8>),
    /// A request line, formatted when written.
    Request(Answered),
}

impl Entry {
    fn made(&self) -> SystemTime {
        match self {
            Entry::Line(at, _) => *at,
            Entry::Request(answered) => answered.at,
        }
    }
}

thread_local! {
    /// This thread's queues in the sink.
    static QUEUE: std::cell::OnceCell<Arc<Mutex<Queues>>> = const { std::cell::OnceCell::new() };
}

const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// Enough that a busy server's lines wait for the timer rather than wake
/// the writer on their own.
const FLUSH_ENTRIES: usize = 8192;
/// The formatted batch's buffer is kept between batches up to this size.
const KEPT_BYTES: usize = 4 * 1024 * 1024;

impl Sink {
    fn push(&self, entry: Entry, urgent: bool) {
        let queued = QUEUE.with(|queue| {
            let queue = queue.get_or_init(|| {
                let queue = Arc::new(Mutex::new(Queues::default()));
                self.queues.lock().push(queue.clone());
                queue
            });
            let entries = &mut queue.lock().entries;
            entries.push(entry);
            entries.len()
        });
        if urgent {
            self.flush();
        } else if queued >= FLUSH_ENTRIES {
            self.full.notify_one();
        }
    }

    fn flush(&self) {
        let mut text = self.writing.lock();
        let mut batch = Vec::new();
        // Take every queue's entries; a queue whose thread ended is
        // dropped once taken.
        self.queues.lock().retain(|queue| {
            let alive = Arc::strong_count(queue) > 1;
            let mut held = queue.lock();
            if !held.entries.is_empty() {
                let spare = std::mem::take(&mut held.spare);
                batch.push((queue.clone(), std::mem::replace(&mut held.entries, spare)));
            }
            alive
        });
        if batch.is_empty() {
            return;
        }
        // Each thread's entries are already in time order: the stable sort
        // merges those runs.
        let mut merged = Vec::with_capacity(batch.iter().map(|(_, e)| e.len()).sum());
        for (queue, mut entries) in batch {
            merged.append(&mut entries);
            queue.lock().spare = entries;
        }
        merged.sort_by_key(Entry::made);
        for entry in merged {
            match entry {
                Entry::Line(_, line) => text.extend_from_slice(&line),
                Entry::Request(answered) => self.write_request(&mut text, &answered),
            }
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&text);
        let _ = out.flush();
        text.clear();
        text.shrink_to(KEPT_BYTES);
    }

    fn write_request(&self, out: &mut Vec<u8>, line: &Answered) {
        match self.format {
            LogFormat::Json => write_json(out, line, line.at, &self.json_tail),
            _ => {
                write_message(out, line);
                out.push(b'\n');
            }
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
        let value = shown::json(&value);
        for part in [name.as_str(), ":", &*value, ","] {
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
            keep: self.out.format == LogFormat::Json,
            ..Fields::default()
        };
        event.record(&mut fields);
        let made = SystemTime::now();
        let mut line = match self.out.format {
            LogFormat::Json => {
                let mut line = Vec::new();
                json_head(&mut line, event.metadata().level(), made);
                json_string(&mut line, &fields.message);
                line.extend_from_slice(b",\"attributes\":{");
                line.extend_from_slice(fields.attributes.as_bytes());
                line.extend_from_slice(self.out.json_tail.as_bytes());
                line
            }
            _ => shown::lines(&fields.message).into_owned().into_bytes(),
        };
        line.push(b'\n');
        self.out.push(
            Entry::Line(made, line),
            *event.metadata().level() <= Level::WARN,
        );
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
        format,
        json_tail: json_tail(&run_id, &version),
        queues: Mutex::new(Vec::new()),
        wake: Mutex::new(()),
        full: Condvar::new(),
        writing: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
    });
    let running = sink.clone();
    let writer = std::thread::Builder::new()
        .name("openworkd-log".into())
        .spawn(move || running.run())
        .ok();
    let lines = LINES.get_or_init(|| Lines { out: sink.clone() });
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
pub struct Answered {
    pub method: Method,
    /// The path (no query), copied: most fit in place.
    pub path: SmallVec<[u8; 64]>,
    pub status: u16,
    pub ms: u64,
    /// Which kind of credential was presented (never the credential).
    pub auth: &'static str,
    /// The cause of a server error.
    pub error: Option<String>,
    /// When it was answered, read from the wall clock then: the clock may
    /// be stepped before the line is written.
    pub at: SystemTime,
}

/// Log one request line: INFO, WARN for 4xx and ERROR for 5xx (both
/// written at once). Nothing happens before [`init`].
pub fn request(line: Answered) {
    if let Some(lines) = LINES.get() {
        let urgent = line.status >= 400;
        lines.out.push(Entry::Request(line), urgent);
    }
}

fn level_of(status: u16) -> Level {
    match status {
        500.. => Level::ERROR,
        400.. => Level::WARN,
        _ => Level::INFO,
    }
}

impl Answered {
    fn path(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.path)
    }
}

/// `METHOD PATH STATUS MSms`, as written (no formatting machinery); a
/// path holding what could drive a terminal is written escaped.
fn write_message(out: &mut Vec<u8>, line: &Answered) {
    let mut number = itoa::Buffer::new();
    out.extend_from_slice(line.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(shown::line(&line.path()).as_bytes());
    out.push(b' ');
    out.extend_from_slice(number.format(line.status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(number.format(line.ms).as_bytes());
    out.extend_from_slice(b"ms");
}

/// The start of every JSON line, up to its body's value:
/// `{"timeUnixNano":"…","severityText":"…","severityNumber":N,"body":`.
fn json_head(out: &mut Vec<u8>, level: &Level, at: SystemTime) {
    let (text, severity) = severity(level);
    let millis = at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let mut number = itoa::Buffer::new();
    out.extend_from_slice(b"{\"timeUnixNano\":\"");
    // Milliseconds, in nanoseconds.
    out.extend_from_slice(number.format(millis).as_bytes());
    out.extend_from_slice(b"000000\",\"severityText\":\"");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\",\"severityNumber\":");
    out.extend_from_slice(number.format(severity).as_bytes());
    out.extend_from_slice(b",\"body\":");
}

fn write_json(out: &mut Vec<u8>, line: &Answered, at: SystemTime, tail: &str) {
    json_head(out, &level_of(line.status), at);
    let mut number = itoa::Buffer::new();
    // Only the method and the path can hold what JSON escapes.
    let (method, path) = (line.method.as_str(), line.path());
    if plain(method) && plain(&path) {
        out.push(b'"');
        write_message(out, line);
        out.push(b'"');
    } else {
        let mut message = Vec::new();
        write_message(&mut message, line);
        json_string(out, &String::from_utf8_lossy(&message));
    }
    out.extend_from_slice(b",\"attributes\":{\"method\":");
    json_string(out, method);
    out.extend_from_slice(b",\"path\":");
    json_string(out, &path);
    out.extend_from_slice(b",\"status\":");
    out.extend_from_slice(number.format(line.status).as_bytes());
    out.extend_from_slice(b",\"durationMs\":");
    out.extend_from_slice(number.format(line.ms).as_bytes());
    out.extend_from_slice(b",\"auth\":");
    json_string(out, line.auth);
    if let Some(error) = &line.error {
        out.extend_from_slice(b",\"error\":");
        json_string(out, error);
    }
    out.push(b',');
    out.extend_from_slice(tail.as_bytes());
    out.push(b'\n');
}

/// Whether `s` is the same inside JSON quotes (nothing to escape, nothing
/// that could drive a terminal).
fn plain(s: &str) -> bool {
    !s.chars().any(|c| c == '"' || c == '\\' || shown::steers(c))
}

/// `s` as a JSON string, copied as it is when nothing needs escaping;
/// what could drive a terminal is written as `\uXXXX`.
fn json_string(out: &mut Vec<u8>, s: &str) {
    if plain(s) {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let encoded = serde_json::to_string(s).unwrap_or_default();
        out.extend_from_slice(shown::json(&encoded).as_bytes());
    }
}
