//! The accept loop: each connection, plain or TLS, served by hyper
//! (HTTP/1.1) within the limits every connection gets, and the stop.
//!
//! - A TLS handshake must be over within [`HANDSHAKE_TIMEOUT`]. A request
//!   head must arrive within [`HEAD_TIMEOUT`] of the connection's start
//!   (or of the handshake's end) or of the previous answer. A client that
//!   sends nothing, sends headers byte by byte or keeps idle connections
//!   cannot hold them open for long.
//! - A request body must not stop arriving for [`HEAD_TIMEOUT`] either:
//!   a body silent that long ends with [`Stalled`] (answered
//!   `408 request_timeout`). Nor may the client stop taking an answer for
//!   as long: the connection is then closed.
//! - An answer given before its request's body is all read (a body too
//!   large, a refused credential, an unknown route) does not cut the
//!   client off mid-send: the rest of the body, up to [`DRAIN_LIMIT`]
//!   and for [`DRAIN_TIME`] at most, is read and dropped, so the client
//!   finishes sending and reads the answer (see [`drain`]).
//! - At the stop, no connection is accepted any more; idle ones are closed,
//!   requests under way get [`STOP_GRACE`] to finish, and what is still
//!   open after it is closed.
//!
//! Every connection has a [`Slot`] in a registry: its task's waker and the
//! deadlines it is waiting under. One task looks at the registry once a
//! second and wakes the connections whose deadline has passed, and the
//! stop wakes them all. A request head's deadline is set and cleared in
//! the connection's own slot, without a runtime timer per request.

use crate::http::Connections;
use hyper::server::conn::http1::Builder;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;

/// How long a request head may take to arrive, from the connection's start
/// or the previous answer.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long requests under way at the stop may take to finish.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// How much of a body left unread by its answer is still read and
/// dropped before the connection is closed.
pub const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;
/// How long such a body may take to arrive before the connection is
/// closed.
pub const DRAIN_TIME: Duration = Duration::from_secs(10);
/// How often deadlines are looked at (a deadline is met to within this).
const TICK: Duration = Duration::from_secs(1);

/// Serve `connections` on `listener` until `stop` resolves, then stop as
/// described above. `tls` makes each connection a TLS one first.
pub async fn serve(
    listener: TcpListener,
    connections: Connections,
    tls: Option<&'static crate::tls::Tls>,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let registry = Arc::new(Registry::default());
    tokio::spawn(look_at_deadlines(Arc::downgrade(&registry)));
    let mut builder = Builder::new();
    builder.header_read_timeout(HEAD_TIMEOUT);
    let tasks = TaskTracker::new();
    let mut refusals = Refusals::default();
    let mut stop = pin!(stop);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, or the peer gave up before the
                // accept: not a reason to stop, nor to spin.
                refusals.note(&e);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (number, slot) = registry.enter();
        let front = connections.front(peer, BodyWatch(slot.clone()));
        let connection = Connection {
            number,
            slot,
            registry: registry.clone(),
        };
        tasks.spawn(connection.serve(tcp, TowerToHyperService::new(front), builder.clone(), tls));
    }
    drop(listener);
    registry.stop();
    tasks.close();
    if tokio::time::timeout(STOP_GRACE, tasks.wait())
        .await
        .is_err()
    {
        crate::logging::warn(&format!(
            "stopping: {} connection(s) still busy after {} s are closed",
            tasks.len(),
            STOP_GRACE.as_secs()
        ));
    }
    Ok(())
}

/// Failed accepts, logged at most once a [`REPORT_EVERY`]: when the
/// descriptors run out, every retry fails until a connection closes.
#[derive(Default)]
struct Refusals {
    reported: Option<Instant>,
    since: u64,
}

/// How often failed accepts are reported.
const REPORT_EVERY: Duration = Duration::from_secs(60);

impl Refusals {
    fn note(&mut self, e: &std::io::Error) {
        let now = Instant::now();
        if self.reported.is_some_and(|at| now < at + REPORT_EVERY) {
            self.since += 1;
            return;
        }
        let more = match self.since {
            0 => String::new(),
            n => format!(" ({n} more since the last report)"),
        };
        crate::logging::warn(&format!("cannot accept a connection: {e}{more}"));
        self.reported = Some(now);
        self.since = 0;
    }
}

/// Wake connections whose deadline passed, once a [`TICK`], while the
/// registry is in use.
async fn look_at_deadlines(registry: Weak<Registry>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(registry) = registry.upgrade() else {
            return;
        };
        let now = Instant::now();
        registry.each(|slot| slot.wake_if_due(now));
    }
}

/// The connections being served.
#[derive(Default)]
struct Registry {
    stopping: AtomicBool,
    /// Each open connection's slot, by number. A connection takes its own
    /// out as it ends: a slot left until the next look at deadlines kept
    /// its memory from being freed, and thousands of short connections a
    /// second left the heap tens of MiB larger.
    slots: Mutex<HashMap<u64, Weak<Slot>>>,
    entered: AtomicU64,
}

impl Registry {
    /// A new connection's number and slot.
    fn enter(&self) -> (u64, Arc<Slot>) {
        let slot = Arc::new(Slot::default());
        let number = self.entered.fetch_add(1, Ordering::Relaxed);
        self.slots.lock().insert(number, Arc::downgrade(&slot));
        (number, slot)
    }

    fn leave(&self, number: u64) {
        self.slots.lock().remove(&number);
    }

    /// Run `f` on every open connection's slot.
    fn each(&self, f: impl Fn(&Slot)) {
        for slot in self.slots.lock().values().filter_map(Weak::upgrade) {
            f(&slot);
        }
    }

    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.each(Slot::wake);
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
}

/// One connection's task waker, and the deadlines it waits under.
#[derive(Default)]
struct Slot {
    armed: Mutex<Armed>,
    /// Numbers the deadlines set (0 is the connection's own, before
    /// hyper's).
    next: AtomicU64,
}

#[derive(Default)]
struct Armed {
    waker: Option<Waker>,
    /// A request head's (or the handshake's), numbered.
    deadline: Option<(Instant, u64)>,
    /// A request body's and the socket's, while they wait ([`Quiet`]).
    silences: [Option<Instant>; 2],
}

/// What may not stay silent for [`HEAD_TIMEOUT`] besides a request head.
#[derive(Clone, Copy)]
enum Quiet {
    /// The request body being read.
    Body = 0,
    /// The client taking the answer (the socket's writes).
    Taking = 1,
}

impl Slot {
    fn track(&self, waker: &Waker) {
        self.armed.lock().waker = Some(waker.clone());
    }

    fn arm(&self, deadline: Instant, number: u64) {
        self.armed.lock().deadline = Some((deadline, number));
    }

    /// Clear deadline `number`, if it is still the one set.
    fn disarm(&self, number: u64) {
        let mut armed = self.armed.lock();
        if armed.deadline.is_some_and(|(_, n)| n == number) {
            armed.deadline = None;
        }
    }

    fn wake(&self) {
        if let Some(waker) = &self.armed.lock().waker {
            waker.wake_by_ref();
        }
    }

    fn set_silence(&self, quiet: Quiet, deadline: Option<Instant>) {
        self.armed.lock().silences[quiet as usize] = deadline;
    }

    fn wake_if_due(&self, now: Instant) {
        let armed = self.armed.lock();
        let due = armed.deadline.map(|(at, _)| at).into_iter();
        if due
            .chain(armed.silences.into_iter().flatten())
            .any(|at| at <= now)
            && let Some(waker) = &armed.waker
        {
            waker.wake_by_ref();
        }
    }
}

/// A wait that may last [`HEAD_TIMEOUT`] at most, with its deadline in the
/// connection's slot while it waits.
struct Silence {
    slot: Arc<Slot>,
    quiet: Quiet,
    deadline: Option<Instant>,
}

impl Silence {
    fn new(slot: Arc<Slot>, quiet: Quiet) -> Silence {
        Silence {
            slot,
            quiet,
            deadline: None,
        }
    }

    /// Watch `polled`: a wait starts the clock, progress stops it; `None`
    /// once the wait has lasted too long.
    fn watch<T>(&mut self, polled: Poll<T>) -> Option<Poll<T>> {
        match polled {
            Poll::Pending => {
                let now = Instant::now();
                let deadline = *self.deadline.get_or_insert_with(|| {
                    let deadline = now + HEAD_TIMEOUT;
                    self.slot.set_silence(self.quiet, Some(deadline));
                    deadline
                });
                if now < deadline {
                    return Some(Poll::Pending);
                }
                self.clear();
                None
            }
            ready => {
                self.clear();
                Some(ready)
            }
        }
    }

    fn clear(&mut self) {
        if self.deadline.take().is_some() {
            self.slot.set_silence(self.quiet, None);
        }
    }
}

impl Drop for Silence {
    fn drop(&mut self) {
        self.clear();
    }
}

struct Connection {
    /// Its number in the registry.
    number: u64,
    slot: Arc<Slot>,
    registry: Arc<Registry>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.registry.leave(self.number);
    }
}

type Service = TowerToHyperService<crate::http::Front>;

impl Connection {
    async fn serve(
        self,
        tcp: TcpStream,
        service: Service,
        builder: Builder,
        tls: Option<&'static crate::tls::Tls>,
    ) {
        // The task's waker (a spawned task keeps the one it has).
        poll_fn(|cx| {
            self.slot.track(cx.waker());
            Poll::Ready(())
        })
        .await;
        match tls {
            None => self.run(tcp, service, builder).await,
            Some(tls) => {
                let handshake = self
                    .bounded(HANDSHAKE_TIMEOUT, tls.acceptor().accept(tcp))
                    .await;
                if let Some(Ok(stream)) = handshake {
                    self.run(stream, service, builder).await;
                }
            }
        }
    }

    /// `work`'s output, unless the daemon stops or `within` passes first.
    async fn bounded<F: Future>(&self, within: Duration, work: F) -> Option<F::Output> {
        let deadline = Instant::now() + within;
        self.slot.arm(deadline, 0);
        let mut work = pin!(work);
        let out = poll_fn(|cx| {
            if self.registry.stopping() || Instant::now() >= deadline {
                return Poll::Ready(None);
            }
            work.as_mut().poll(cx).map(Some)
        })
        .await;
        self.slot.disarm(0);
        out
    }

    /// Serve requests on `io` until the client closes, a head is late, or
    /// the daemon stops.
    async fn run<I>(&self, io: I, service: Service, mut builder: Builder)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        builder.timer(HeadTimer(self.slot.clone()));
        let io = Taking {
            io,
            silence: Silence::new(self.slot.clone(), Quiet::Taking),
        };
        let conn = builder.serve_connection(TokioIo::new(io), service);
        let mut conn = pin!(conn.with_upgrades());
        let mut closing = false;
        let _ = poll_fn(|cx| {
            if !closing && self.registry.stopping() {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            conn.as_mut().poll(cx)
        })
        .await;
    }
}

/// hyper's timer for one connection's request heads: the deadline is kept
/// in the connection's slot.
struct HeadTimer(Arc<Slot>);

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HeadSleep {
            slot: self.0.clone(),
            deadline,
            number: self.0.next.fetch_add(1, Ordering::Relaxed) + 1,
            armed: false,
        })
    }
}

/// Resolves at `deadline`; woken by the registry's look at deadlines (the
/// task's waker is in the slot already: hyper polls it from the
/// connection's task).
struct HeadSleep {
    slot: Arc<Slot>,
    deadline: Instant,
    number: u64,
    armed: bool,
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if !self.armed {
            // Just made, a head's timeout away: the look at deadlines
            // wakes the task once it passes (no clock to read per request).
            self.armed = true;
            self.slot.arm(self.deadline, self.number);
            return Poll::Pending;
        }
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl hyper::rt::Sleep for HeadSleep {}

impl Drop for HeadSleep {
    fn drop(&mut self) {
        if self.armed {
            self.slot.disarm(self.number);
        }
    }
}

/// Why a request body ended early: nothing of it arrived for
/// [`HEAD_TIMEOUT`].
#[derive(Debug)]
pub struct Stalled;

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "The request body stopped arriving (nothing for {} s)",
            HEAD_TIMEOUT.as_secs()
        )
    }
}

impl std::error::Error for Stalled {}

/// Watches the request bodies of one connection.
#[derive(Clone)]
pub struct BodyWatch(Arc<Slot>);

impl BodyWatch {
    /// `body`, ending with [`Stalled`] once nothing of it arrives for
    /// [`HEAD_TIMEOUT`] (the deadline is in the connection's slot: the
    /// body is read on the connection's task).
    pub fn body(&self, body: axum::body::Body) -> axum::body::Body {
        axum::body::Body::new(Watched {
            inner: body,
            silence: Silence::new(self.0.clone(), Quiet::Body),
            over: false,
        })
    }
}

struct Watched {
    inner: axum::body::Body,
    silence: Silence,
    /// The body ended, completely or with an error.
    over: bool,
}

impl Drop for Watched {
    /// A body dropped before its end is read to its end elsewhere, when
    /// what is left of it may be: hyper goes on reading the connection
    /// while the body is wanted, and closes it once the body is dropped,
    /// which would reset a client still sending.
    fn drop(&mut self) {
        use hyper::body::Body;
        if self.over || self.inner.is_end_stream() {
            return;
        }
        let left = self.inner.size_hint().lower();
        if left > DRAIN_LIMIT {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let body = std::mem::take(&mut self.inner);
            runtime.spawn(drain(body));
        }
    }
}

/// Read `body` to its end and drop what arrives: at most [`DRAIN_LIMIT`]
/// bytes, for at most [`DRAIN_TIME`].
async fn drain(mut body: axum::body::Body) {
    use http_body_util::BodyExt;
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    let mut left = DRAIN_LIMIT;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, body.frame()).await {
        let size = frame.data_ref().map_or(0, |data| data.len() as u64);
        match left.checked_sub(size) {
            Some(rest) => left = rest,
            None => return,
        }
    }
}

impl hyper::body::Body for Watched {
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<axum::body::Bytes>, axum::BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let polled = match this.silence.watch(polled) {
            Some(polled) => polled.map(|frame| frame.map(|f| f.map_err(Into::into))),
            None => Poll::Ready(Some(Err(Box::new(Stalled) as axum::BoxError))),
        };
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            this.over = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's socket whose writes may not wait for [`HEAD_TIMEOUT`]:
/// a client that takes nothing of an answer that long is cut off.
struct Taking<I> {
    io: I,
    silence: Silence,
}

impl<I> Taking<I> {
    fn watch<T>(&mut self, polled: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        self.silence.watch(polled).unwrap_or_else(|| {
            Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client took nothing of the answer for 30 s",
            )))
        })
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Taking<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Taking<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.watch(polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.watch(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(cx);
        self.watch(polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_shutdown(cx);
        self.watch(polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_takes_its_slot_out_of_the_registry_as_it_ends() {
        let registry = Arc::new(Registry::default());
        let connections: Vec<_> = (0..3)
            .map(|_| {
                let (number, slot) = registry.enter();
                Connection {
                    number,
                    slot,
                    registry: registry.clone(),
                }
            })
            .collect();
        assert_eq!(registry.slots.lock().len(), 3);
        let woken = AtomicU64::new(0);
        registry.each(|_| {
            woken.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(woken.load(Ordering::Relaxed), 3);
        drop(connections);
        assert!(registry.slots.lock().is_empty());
    }
}
