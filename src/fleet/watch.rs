//! Async waits and readiness file descriptors for fleet rings: one watcher thread per ring and
//! process does the blocking wait on behalf of every task and descriptor that asked.
//!
//! A [`WaitAsync`] future (from [`FleetRing::wait_async`](super::FleetRing::wait_async), the
//! event bus's `wait_async`) or an armed [`Readiness`] descriptor adds an *interest* — a copy of
//! the reader's cursor and what to signal — to the ring's watch. The watcher thread, started
//! on first use and idle (parked, not registered with the ring: writers pay nothing) while no
//! interest is pending, runs the ring's waiting protocol with "does any interest have news?"
//! as its question; every interest whose cursor has news is signalled — its task woken, its
//! descriptor made readable — and dropped.
//!
//! No lost wake-up: an interest is added *before* its cursor is checked once more (the
//! future's poll, `arm`), and the watcher looks at every pending interest after each wake and
//! at least every [`RECHECK`]. Executor-agnostic: a future needs only its `Waker`.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll as TaskPoll, Waker};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};
use std::vec::Vec;

use super::RingCursor;
use super::store::{AnyStore, RingStore, with_store};
use crate::ring::{PayloadSize, SupportedPayload};

/// The longest the watcher sleeps before looking at its interests again (stall deadlines, a
/// ring dropped by its last handle).
const RECHECK: Duration = Duration::from_millis(50);

/// What to do when an interest's cursor has news.
enum Signal {
    Task(Waker),
    Fd(Arc<UnixStream>),
}

impl Signal {
    fn fire(self) {
        match self {
            Self::Task(waker) => waker.wake(),
            // Non-blocking: a full socket buffer already reads as ready.
            Self::Fd(stream) => drop((&*stream).write(&[1])),
        }
    }
}

struct Interest {
    id: u64,
    cursor: RingCursor,
    signal: Signal,
}

#[derive(Default)]
struct Interests {
    pending: Vec<Interest>,
    next_id: u64,
    /// The watcher thread runs (it exits when the ring's last handle is gone).
    running: bool,
}

/// One ring's watch: the interests, and the condition the idle watcher parks on.
#[derive(Default)]
pub(crate) struct Watch {
    interests: Mutex<Interests>,
    added: Condvar,
}

impl Watch {
    fn lock(&self) -> std::sync::MutexGuard<'_, Interests> {
        self.interests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds (or, for `id`, replaces) an interest; starts the watcher if it is not running.
    fn add<const N: usize>(
        &self,
        store: &Arc<RingStore<N>>,
        id: Option<u64>,
        cursor: RingCursor,
        signal: Signal,
    ) -> u64
    where
        PayloadSize<N>: SupportedPayload,
    {
        let mut interests = self.lock();
        let id = id.unwrap_or_else(|| {
            interests.next_id += 1;
            interests.next_id
        });
        interests.pending.retain(|i| i.id != id);
        interests.pending.push(Interest { id, cursor, signal });
        if !interests.running {
            interests.running = true;
            let weak = Arc::downgrade(store);
            let spawned = std::thread::Builder::new()
                .name("orbit-watch".into())
                .spawn(move || run(&weak));
            if spawned.is_err() {
                // No thread: signal at once, so the task polls (and waits again) rather than
                // hangs. It keeps trying on every wait.
                interests.running = false;
                for interest in interests.pending.drain(..) {
                    interest.signal.fire();
                }
            }
        }
        drop(interests);
        self.added.notify_one();
        id
    }

    fn remove(&self, id: u64) {
        self.lock().pending.retain(|i| i.id != id);
    }
}

/// The watcher thread of one ring: while interests are pending, waits on the ring for news
/// for any of them and signals those that have it; parks while none are pending; ends when
/// the ring's last handle is gone.
fn run<const N: usize>(store: &Weak<RingStore<N>>)
where
    PayloadSize<N>: SupportedPayload,
{
    loop {
        let Some(ring) = store.upgrade() else { return };
        let watch = ring.watch();
        {
            let interests = watch.lock();
            if interests.pending.is_empty() {
                // Idle: not registered with the ring, so writers pay nothing. The timeout lets
                // the thread notice that the ring's handles are all gone.
                drop(
                    watch
                        .added
                        .wait_timeout(interests, RECHECK)
                        .unwrap_or_else(PoisonError::into_inner),
                );
                continue;
            }
        }
        let view = ring.view();
        let any_news = || {
            watch
                .lock()
                .pending
                .iter()
                .any(|i| ring.has_news(&view, &i.cursor))
        };
        let _ = view.ring.wait_for(
            Instant::now().checked_add(RECHECK),
            !ring.read_only(),
            any_news,
        );
        let mut interests = watch.lock();
        let (ready, waiting): (Vec<_>, Vec<_>) = interests
            .pending
            .drain(..)
            .partition(|i| ring.has_news(&view, &i.cursor));
        interests.pending = waiting;
        drop(interests);
        for interest in ready {
            interest.signal.fire();
        }
    }
}

/// A future that completes when a poll of its cursor has something, from
/// [`FleetRing::wait_async`](super::FleetRing::wait_async) or
/// [`OrbitEventBus::wait_async`](crate::OrbitEventBus::wait_async): `.await` it, then poll.
/// Works on any executor; dropping it withdraws the interest.
#[must_use = "futures do nothing unless awaited"]
pub struct WaitAsync {
    store: AnyStore,
    cursor: RingCursor,
    id: Option<u64>,
}

impl core::fmt::Debug for WaitAsync {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WaitAsync")
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl WaitAsync {
    pub(crate) fn new(store: AnyStore, cursor: RingCursor) -> Self {
        Self {
            store,
            cursor,
            id: None,
        }
    }
}

impl Future for WaitAsync {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> TaskPoll<()> {
        let this = &mut *self;
        let ready = with_store!(&this.store, s => {
            if s.has_news(&s.view(), &this.cursor) {
                true
            } else {
                // Interest first, then look again: news between the two looks is seen by
                // the second, news after the interest by the watcher.
                let signal = Signal::Task(cx.waker().clone());
                this.id = Some(s.watch().add(s, this.id, this.cursor, signal));
                s.has_news(&s.view(), &this.cursor)
            }
        });
        if ready {
            if let Some(id) = this.id.take() {
                with_store!(&this.store, s => s.watch().remove(id));
            }
            return TaskPoll::Ready(());
        }
        TaskPoll::Pending
    }
}

impl Drop for WaitAsync {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            with_store!(&self.store, s => s.watch().remove(id));
        }
    }
}

/// A file descriptor that becomes readable when a poll of the cursor it was last
/// [armed](Readiness::arm) with has something: for `epoll`, `mio` or
/// `tokio::io::unix::AsyncFd`, across processes on a shared-memory fleet. From
/// [`FleetRing::readiness`](super::FleetRing::readiness).
///
/// The loop: poll the ring until it has nothing, [`arm`](Self::arm) with the cursor, wait
/// for the descriptor to be readable, [`clear`](Self::clear) it, poll again.
///
/// The descriptor is owned by the `Readiness` and stays open, the same descriptor, for its
/// whole life (`as_fd` / `as_raw_fd` always return it): what `tokio::io::unix::AsyncFd::register`
/// asks of its caller.
///
/// # Examples
///
/// ```
/// # use orbit_rs::bytemuck::{Pod, Zeroable};
/// # use orbit_rs::{Fleet, OrbitTyped};
/// # #[derive(Clone, Copy, Pod, Zeroable)]
/// # #[bytemuck(crate = "orbit_rs::bytemuck")]
/// # #[repr(C)]
/// # struct Tick(u64);
/// # impl OrbitTyped for Tick { const KIND: u8 = 19; const PAYLOAD: usize = 8; }
/// let ticks = Fleet::join("readiness-doc", 1)?.ring::<Tick>()?;
/// let mut cursor = ticks.cursor_at_head();
/// let readiness = ticks.readiness()?; // register `readiness.as_fd()` with your event loop
/// readiness.arm(&cursor);
/// assert!(!readiness.clear()); // nothing yet
/// ticks.publish(&Tick(1))?; // the watcher makes the descriptor readable
/// let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
/// while !readiness.clear() {
///     assert!(std::time::Instant::now() < deadline); // an event loop would sleep here
///     std::thread::yield_now();
/// }
/// assert_eq!(ticks.poll(&mut cursor).values.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// With tokio (`AsyncFd` needs the `net` feature), see `benches/suite/examples/tokio_readiness.rs`:
///
/// ```text
/// let fd = AsyncFd::new(readiness)?;
/// loop {
///     for sample in ticks.poll(&mut cursor).values { /* ... */ }
///     fd.get_ref().arm(&cursor);
///     let mut guard = fd.readable().await?;
///     fd.get_ref().clear();
///     guard.clear_ready();
/// }
/// ```
pub struct Readiness {
    store: AnyStore,
    /// The end the watcher writes; `read_end` is the user's.
    write_end: Arc<UnixStream>,
    read_end: UnixStream,
    id: Mutex<Option<u64>>,
}

impl core::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Readiness")
            .field("fd", &self.read_end)
            .finish_non_exhaustive()
    }
}

impl Readiness {
    pub(crate) fn new(store: AnyStore) -> std::io::Result<Self> {
        let (read_end, write_end) = UnixStream::pair()?;
        read_end.set_nonblocking(true)?;
        write_end.set_nonblocking(true)?;
        Ok(Self {
            store,
            write_end: Arc::new(write_end),
            read_end,
            id: Mutex::new(None),
        })
    }

    /// Makes the descriptor readable as soon as a poll of `cursor` has something — at once
    /// if it has already. Replaces the cursor of an earlier `arm`; one signal per arm.
    pub fn arm(&self, cursor: &RingCursor) {
        let mut id = self.id.lock().unwrap_or_else(PoisonError::into_inner);
        let signal = Signal::Fd(self.write_end.clone());
        let news = with_store!(&self.store, s => {
            *id = Some(s.watch().add(s, *id, *cursor, signal));
            s.has_news(&s.view(), cursor)
        });
        if news {
            if let Some(armed) = id.take() {
                with_store!(&self.store, s => s.watch().remove(armed));
            }
            Signal::Fd(self.write_end.clone()).fire();
        }
    }

    /// [`arm`](Self::arm) with an event bus cursor.
    pub fn arm_events(&self, cursor: &crate::OrbitEventCursor) {
        self.arm(&cursor.inner);
    }

    /// Drains the descriptor, so the next arm can make it readable again; returns whether it
    /// was readable (signalled).
    pub fn clear(&self) -> bool {
        let mut buf = [0u8; 64];
        let mut signalled = false;
        while matches!((&self.read_end).read(&mut buf), Ok(n) if n > 0) {
            signalled = true;
        }
        signalled
    }
}

impl std::os::fd::AsFd for Readiness {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.read_end.as_fd()
    }
}

impl std::os::fd::AsRawFd for Readiness {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.read_end.as_raw_fd()
    }
}

impl Drop for Readiness {
    fn drop(&mut self) {
        let id = self.id.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(id) = id.take() {
            with_store!(&self.store, s => s.watch().remove(id));
        }
    }
}
