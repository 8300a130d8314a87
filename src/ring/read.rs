//! The read path: inspecting a slot, the poll walk, and the point reads (`read_head`, `read`).

use super::head::LEASED;
use super::slot::{seq, unpack_meta};
use super::{
    Cursor, Frame, FrameRef, Patience, PayloadSize, Poll, Ring, Slot, SupportedPayload, words,
};
use crate::id::{NetId64, NodeId};
use crate::sync::{Ordering, fence, load_acquire, mutant, mutants};

/// Test hook (feature `__test-hooks`): slot `seq` loads made by ring reads on this thread,
/// so tests can check that a poll's work is bounded by the capacity whatever memory holds.
#[cfg(feature = "__test-hooks")]
#[doc(hidden)]
pub fn slot_loads_for_test() -> u64 {
    SLOT_LOADS.with(core::cell::Cell::get)
}

#[cfg(feature = "__test-hooks")]
std::thread_local! {
    static SLOT_LOADS: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
}

/// Counts one slot `seq` load for [`slot_loads_for_test`]; nothing without the hooks.
#[inline(always)]
fn count_slot_load() {
    #[cfg(feature = "__test-hooks")]
    SLOT_LOADS.with(|loads| loads.set(loads.get() + 1));
}

/// The first load of a seqlock read: a slot's `seq`, counted for [`slot_loads_for_test`].
#[inline(always)]
fn load_seq<const N: usize>(slot: &Slot<N>) -> u64
where
    PayloadSize<N>: SupportedPayload,
{
    count_slot_load();
    // SYNC: Acquire pairs with the Release store of the even seq in publish().
    load_acquire(&slot.seq)
}

/// A slot whose `seq` a reader has loaded (`before`), with the seq it wants there (`want`,
/// the committed seq of the counter it is after).
#[derive(Clone, Copy)]
struct Loaded<'s, const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    slot: &'s Slot<N>,
    want: u64,
    before: u64,
}

/// How a delivery run ([`Ring::run`]) ended.
enum Run<'s, const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    /// The poll ends here, with this many frames delivered.
    Ended(u64),
    /// The walk goes on at the cursor's counter: its slot as the run loaded it (`None`: to be
    /// loaded again), the frames delivered so far, and the slots inspected so far (one more
    /// than delivered when the run's copy of the counter's frame failed: the walk's look at
    /// it again comes off its budget, so a poll's loads stay within one window's).
    Handover(Option<Loaded<'s, N>>, u64, u64),
}

/// Header words of a validated frame copy; the payload stays in the reader's buffer.
#[derive(Clone, Copy)]
struct Header {
    node: NodeId,
    kind: u8,
    version: u64,
    len: usize,
}

/// What a reader found in a counter's slot.
enum Inspect {
    /// A committed, validated frame for the counter.
    Frame(Header),
    /// The counter's writer has not committed. `taken`: the slot is odd — a writer is at work
    /// on it (for this counter, or an older one that may have died there); otherwise the slot
    /// holds an older lap and no writer has taken it for this counter yet.
    Pending { taken: bool },
    /// A later lap holds (or took, during the copy) the slot.
    Gone,
    /// Committed for this counter but failing validation, or an unrepresentable counter.
    Invalid,
}

/// The walk's memory of committed counters past a pending one, so the stuck-writer rule costs
/// O(capacity) per poll however many pending counters the walk meets (hostile memory
/// included): the scan only moves forward.
#[derive(Default)]
struct LaterCommits {
    /// A committed counter the scan found (0: none yet).
    found: u64,
    /// Counters below this one have been scanned.
    scanned: u64,
}

impl LaterCommits {
    /// True if some counter in `(counter, head)`, within one window of it, is committed.
    fn after<const N: usize>(&mut self, ring: &Ring<'_, N>, counter: u64, head: u64) -> bool
    where
        PayloadSize<N>: SupportedPayload,
    {
        if self.found > counter {
            return true;
        }
        let end = head.min(counter.saturating_add(ring.capacity() as u64));
        let mut later = self.scanned.max(counter.saturating_add(1));
        while later < end {
            if ring.holds_committed(later) {
                self.found = later;
                self.scanned = later + 1;
                return true;
            }
            later += 1;
        }
        self.scanned = self.scanned.max(later);
        false
    }
}

impl<const N: usize> Ring<'_, N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// Delivers every frame after `cursor` to `visit`, in counter order, and advances the
    /// cursor past everything it accounted for. Uses [`Patience::Polls`].
    #[inline]
    pub fn poll<F: FnMut(FrameRef<'_>)>(&self, cursor: &mut Cursor, visit: F) -> Poll {
        self.poll_with(cursor, Patience::Polls, visit)
    }

    /// [`poll`](Ring::poll) with an explicit stuck-writer [`Patience`].
    #[inline]
    pub fn poll_with<F: FnMut(FrameRef<'_>)>(
        &self,
        cursor: &mut Cursor,
        patience: Patience,
        visit: F,
    ) -> Poll {
        self.walk(cursor, patience, u64::MAX, visit)
    }

    /// [`poll_with`](Ring::poll_with), delivering at most `limit` frames: the cursor then rests
    /// on the first frame not delivered, so nothing is skipped; poll again for the rest.
    #[inline]
    pub fn poll_limit<F: FnMut(FrameRef<'_>)>(
        &self,
        cursor: &mut Cursor,
        patience: Patience,
        limit: usize,
        visit: F,
    ) -> Poll {
        self.walk(cursor, patience, limit as u64, visit)
    }

    /// Copies frames after `cursor` into `out` (no allocation) and returns how many were
    /// filled. Stops when `out` is full — the cursor then rests on the first frame that did not
    /// fit, so nothing is skipped; poll again for the rest.
    pub fn poll_into(&self, cursor: &mut Cursor, out: &mut [Frame<N>]) -> (usize, Poll) {
        let mut filled = 0;
        let limit = out.len() as u64;
        let poll = self.walk(cursor, Patience::Polls, limit, |frame| {
            if let Some(slot) = out.get_mut(filled) {
                slot.id = frame.id;
                slot.counter = frame.counter;
                slot.kind = frame.kind;
                slot.version = frame.version;
                slot.payload.clear();
                // Cannot fail: a delivered payload is at most N bytes.
                let _ = slot.payload.extend_from_slice(frame.payload);
                filled += 1;
            }
        });
        (filled, poll)
    }

    /// True if the slot of `counter` holds exactly that counter's committed frame.
    #[inline]
    pub(super) fn holds_committed(&self, counter: u64) -> bool {
        count_slot_load();
        seq::committed(counter) == Some(self.slot(counter).seq.load(Ordering::Relaxed))
    }

    /// True if a cursor wanting internal counter `next` stands past a head of `head`: nothing
    /// it could have read puts it there. A reader may legitimately stand past the head it
    /// loaded: an exclusive writer moves the head after its commit, and the reader took the
    /// frame at `head` on slot evidence — then `next - 1` is committed or a later lap holds its
    /// slot (seqs only grow, so no load after the one that delivered it can say otherwise).
    fn ahead(&self, next: u64, head: u64) -> bool {
        if next <= head {
            return false;
        }
        let prev = next - 1;
        let Some(committed) = seq::committed(prev) else {
            return true;
        };
        count_slot_load();
        self.slot(prev).seq.load(Ordering::Relaxed) < committed
    }

    /// Puts a cursor that is new, or was in another generation, into the current one: a cursor
    /// of an older generation restarts at counter 0; one past the head is brought back to it.
    /// Returns whether it moved the cursor back ([`Poll::rewound`]); the poll itself stays with
    /// the walk, so it can live in registers rather than behind a pointer to this cold call.
    #[cold]
    fn join(&self, cursor: &mut Cursor) -> bool {
        let (key, base, head) = self.generation_start();
        let mut rewound = false;
        if cursor.joined {
            rewound = true;
            cursor.next = 0;
        }
        cursor.key = key;
        cursor.base = base;
        cursor.joined = true;
        cursor.stalls = 0;
        cursor.idle = 0;
        if self.ahead(base.saturating_add(cursor.next), head) {
            rewound = true;
            cursor.next = head - base;
        }
        rewound
    }

    /// The poll walk: delivers at most `limit` frames, inspecting at most `capacity + 1` slots
    /// (a reader found a lap behind inspects its slot, jumps, then walks one window), with
    /// O(capacity) work in all.
    ///
    /// This part is the walk's first step, kept small enough to inline into a busy-polling
    /// caller: the base load and the first slot's seq load, and the poll that ends right there
    /// (nothing new, no stall pending, the head check not due). A slot holding the cursor's
    /// frame goes on in [`run`](Ring::run), the common case of a poll that delivers; anything
    /// else in [`walk_on`](Ring::walk_on), with the seq already loaded, so the loads are the
    /// ones the walk always made, in the same order.
    #[inline]
    fn walk<F: FnMut(FrameRef<'_>)>(
        &self,
        cursor: &mut Cursor,
        patience: Patience,
        limit: u64,
        mut visit: F,
    ) -> Poll {
        // SYNC: Acquire pairs with the Release base store of a reset (start_generation()): a
        // base that changed is seen with a head at least as new as the reset's.
        let current = load_acquire(&self.head.base);
        let mut first = None;
        let (mut delivered, mut spent) = (0, 0);
        // Bare metal leaves the early exit to walk_on (the same loads in the same order, the
        // same result): its second copy of the first step costs ~200 bytes of flash there.
        if cfg!(not(target_os = "none"))
            && cursor.joined
            && cursor.key == current
            && cursor.stalls == 0
        {
            first = self.load(cursor.base.saturating_add(cursor.next));
            if let Some(loaded) = first {
                // The walk's own end of the stream (see walk_on): an untouched slot, no stall
                // to retry (`stalls` is 0), the head not due for a look.
                if self.untouched(&loaded, cursor.idle) {
                    cursor.idle += 1;
                    return Poll::default();
                }
                if loaded.before == loaded.want && limit > 0 {
                    match self.run(cursor, limit, &mut visit, loaded) {
                        Run::Ended(delivered) => {
                            return Poll {
                                delivered,
                                ..Poll::default()
                            };
                        }
                        Run::Handover(rest, so_far, inspected) => {
                            (first, delivered, spent) = (rest, so_far, inspected);
                        }
                    }
                }
            }
        }
        // One call site, so that this inlines too and the `Poll` stays in registers (returned
        // through memory from a call, reading it back missed store-to-load forwarding).
        self.walk_on(
            cursor,
            patience,
            limit,
            &mut visit,
            current,
            first,
            (delivered, spent),
        )
    }

    /// True if `loaded` ends a poll without the head, as walk_on decides it: a slot no writer
    /// has taken for the counter (an older lap, even) after `idle` such polls in a row, the
    /// head check not due. Only for a poll with no stall to retry.
    #[inline(always)]
    fn untouched(&self, loaded: &Loaded<'_, N>, idle: u32) -> bool {
        loaded.before < loaded.want
            && !seq::is_writing(loaded.before)
            && idle.saturating_add(1) < self.head_check_polls
    }

    /// The walk of a poll whose first slot holds the cursor's committed frame (`loaded`; the
    /// cursor is in the current generation and has no stall to retry, `limit` > 0): delivers
    /// it and every next frame a slot holds committed for its counter, and ends where
    /// [`walk_on`](Ring::walk_on) would end it without the head (an untouched slot, the head
    /// check not due; a reset seen; the slot budget spent). Anything else — a torn or invalid
    /// copy, an odd or newer slot, the head check due, the limit reached with more committed
    /// — is handed over to `walk_on` at the counter reached, with the frames delivered so far.
    ///
    /// The same loads in the same order as `walk_on` makes for these slots, and the same
    /// decisions; only the bookkeeping that those cases do not need is left out (a copy that
    /// fails is inspected once more by `walk_on`, on the walk's budget).
    #[inline]
    fn run<'s, F: FnMut(FrameRef<'_>)>(
        &'s self,
        cursor: &mut Cursor,
        limit: u64,
        visit: &mut F,
        mut loaded: Loaded<'s, N>,
    ) -> Run<'s, N> {
        let (key, base) = (cursor.key, cursor.base);
        let mut next = base.saturating_add(cursor.next);
        let mut delivered = 0;
        let mut buf = <PayloadSize<N> as SupportedPayload>::ZERO_BUF;
        // Slots walk_on would inspect in all: one per frame delivered here.
        let budget = self.capacity() as u64 + 1;
        let ran = loop {
            // `loaded` is the slot of `next`, holding `next`'s committed seq; delivered < limit.
            let Inspect::Frame(header) = self.copy(loaded.slot, loaded.before, &mut buf) else {
                break Run::Handover(None, delivered, delivered + 1);
            };
            // SYNC: as in walk_on: a frame of a newer generation shows a new base here.
            if self.head.base.load(Ordering::Relaxed) != key
                && !mutant(mutants::NO_BASE_CHECK)
                && !mutant(mutants::NO_RUN_BASE_CHECK)
            {
                break Run::Ended(delivered);
            }
            visit(self.frame_ref(next.wrapping_sub(base), header, &buf));
            delivered += 1;
            next += 1;
            if delivered >= budget {
                break Run::Ended(delivered);
            }
            match self.load(next) {
                Some(l) if l.before == l.want && delivered < limit => loaded = l,
                Some(l) if self.untouched(&l, cursor.idle) => {
                    cursor.idle += 1;
                    break Run::Ended(delivered);
                }
                other => break Run::Handover(other, delivered, delivered),
            }
        };
        // Ended: `stalls` stays 0, as walk_on leaves it when no stall is reported.
        cursor.next = next - base;
        ran
    }

    /// The rest of the walk: `current` is the base word [`walk`](Ring::walk) loaded; `first`,
    /// if any, the cursor's next slot with the seq loaded from it (only when the cursor was
    /// already in that generation, so no join moves it); `(delivered, spent)`, the frames
    /// [`run`](Ring::run) delivered before it handed over and the slots it inspected, which
    /// come off this walk's budget.
    #[allow(clippy::too_many_arguments)] // The walk's state, handed over whole.
    #[inline]
    fn walk_on<F: FnMut(FrameRef<'_>)>(
        &self,
        cursor: &mut Cursor,
        patience: Patience,
        limit: u64,
        visit: &mut F,
        current: u64,
        mut first: Option<Loaded<'_, N>>,
        (delivered, spent): (u64, u64),
    ) -> Poll {
        let mut poll = Poll {
            delivered,
            ..Poll::default()
        };
        if !cursor.joined || cursor.key != current {
            poll.rewound = self.join(cursor);
        }
        let (key, base) = (cursor.key, cursor.base);
        // Internal counters from here on; the cursor keeps them relative to `base`.
        let stalled_on = base.saturating_add(cursor.next);
        let mut next = stalled_on;
        let mut stalls = cursor.stalls;
        let mut idle = cursor.idle;
        // Set once this poll has looked at the head: from then on the head decides.
        let mut looked = false;
        let mut later = LaterCommits::default();
        let mut buf = <PayloadSize<N> as SupportedPayload>::ZERO_BUF;
        for _ in spent..=self.capacity() as u64 {
            // One call site for the copy: the first slot's seq as walk() loaded it, then each
            // next slot's seq loaded here.
            let found = match first.take().or_else(|| self.load(next)) {
                Some(loaded) => self.classify(loaded, &mut buf),
                None => Inspect::Invalid,
            };
            if let Inspect::Frame(header) = found {
                // SYNC: load()'s Acquire seq load synchronised with the frame's commit, and
                // so with any reset before its claim (claim's Acquire CAS, or the lease holder
                // resetting in program order): a frame of a newer generation shows a new base
                // here. The poll ends; the next one rejoins.
                let same_generation = self.head.base.load(Ordering::Relaxed) == key;
                if poll.delivered >= limit || !(same_generation || mutant(mutants::NO_BASE_CHECK)) {
                    break;
                }
                visit(self.frame_ref(next.wrapping_sub(base), header, &buf));
                poll.delivered += 1;
                next += 1;
                continue;
            }
            if let Inspect::Pending { taken: false } = found {
                let stalled_here = next == stalled_on && stalls > 0;
                if !stalled_here && !looked && idle.saturating_add(1) < self.head_check_polls {
                    // No writer has taken this slot for the counter: the end of the stream as
                    // far as the slots tell, without touching the head.
                    idle += 1;
                    break;
                }
            }
            idle = 0;
            looked = true;
            let head = self.head_counter();
            if next >= head {
                if self.ahead(next, head) {
                    // A cursor from another ring (same base, say a re-created segment): back
                    // to the head, never past frames uncounted.
                    poll.rewound = true;
                    next = head.max(base);
                    continue;
                }
                break; // The end of the stream.
            }
            let oldest = head.saturating_sub(self.capacity() as u64);
            if next < oldest {
                poll.loss.overwritten += oldest - next;
                next = oldest;
                continue;
            }
            match found {
                Inspect::Gone | Inspect::Frame(_) => poll.loss.overwritten += 1,
                Inspect::Invalid => poll.loss.unavailable += 1,
                Inspect::Pending { .. } => {
                    if !later.after(self, next, head) {
                        break; // A writer is still at work here, and nothing after it yet.
                    }
                    let prior = if next == stalled_on { stalls } else { 0 };
                    let give_up = match patience {
                        Patience::Polls => prior >= self.stall_polls,
                        Patience::Wait => false,
                        Patience::GiveUpOn(counter) => base.checked_add(counter) == Some(next),
                    };
                    if !give_up {
                        poll.stalled_at = Some(next - base);
                        stalls = prior.saturating_add(1);
                        break;
                    }
                    poll.loss.unavailable += 1;
                }
            }
            next += 1;
        }
        if poll.stalled_at.is_none() {
            stalls = 0;
        }
        cursor.next = next - base;
        cursor.stalls = stalls;
        cursor.idle = idle;
        poll
    }

    /// Reads internal counter `counter`'s slot into `buf`, accepting only that counter's frame.
    fn inspect(
        &self,
        counter: u64,
        buf: &mut <PayloadSize<N> as SupportedPayload>::Buf,
    ) -> Inspect {
        match self.load(counter) {
            Some(loaded) => self.classify(loaded, buf),
            None => Inspect::Invalid,
        }
    }

    /// The first step of [`inspect`](Ring::inspect): the slot of internal counter `counter` and
    /// its seq, or `None` (and no load) for an unrepresentable counter.
    #[inline]
    fn load(&self, counter: u64) -> Option<Loaded<'_, N>> {
        let want = seq::committed(counter)?;
        let slot = self.slot(counter);
        let before = load_seq(slot);
        Some(Loaded { slot, want, before })
    }

    /// The rest of [`inspect`](Ring::inspect) once the slot's seq is loaded.
    #[inline]
    fn classify(
        &self,
        Loaded { slot, want, before }: Loaded<'_, N>,
        buf: &mut <PayloadSize<N> as SupportedPayload>::Buf,
    ) -> Inspect {
        if before != want {
            return if before < want {
                Inspect::Pending {
                    taken: seq::is_writing(before),
                }
            } else {
                Inspect::Gone
            };
        }
        self.copy(slot, before, buf)
    }

    /// Copies a slot whose seq was `before` (an even, committed value) into `buf`, rechecks the
    /// seq and validates the copy.
    fn copy(
        &self,
        slot: &Slot<N>,
        before: u64,
        buf: &mut <PayloadSize<N> as SupportedPayload>::Buf,
    ) -> Inspect {
        let (kind, node, len) = unpack_meta(slot.meta.load(Ordering::Relaxed));
        let version = slot.version.load(Ordering::Relaxed);
        let clamped = usize::try_from(len).unwrap_or(usize::MAX).min(N);
        let used = words::words_for(clamped);
        words::load(slot.words(), buf.as_mut(), used);
        if !mutant(mutants::NO_READER_FENCE) {
            // SYNC: pairs with the Release fence in take(): if a load above saw a later writer's
            // store, the reload below sees that writer's odd seq (or later).
            fence(Ordering::Acquire);
        }
        let after = slot.seq.load(Ordering::Relaxed);
        if after != before {
            return Inspect::Gone;
        }
        if len > N as u64 {
            return Inspect::Invalid;
        }
        Inspect::Frame(Header {
            node: NodeId(node),
            kind,
            version,
            len: clamped,
        })
    }

    /// True if a poll of `cursor` now would deliver or count something, or report a reset.
    /// Reads only: it polls a copy of the cursor, at most one frame.
    #[must_use]
    pub fn has_news(&self, cursor: &Cursor) -> bool {
        let poll = self.probe(cursor);
        !poll.is_empty() || poll.rewound
    }

    /// What a patient poll of `cursor` would find now (at most one frame), without moving it.
    pub(crate) fn probe(&self, cursor: &Cursor) -> Poll {
        let mut probe = *cursor;
        self.poll_limit(&mut probe, Patience::Wait, 1, |_| {})
    }

    /// The newest committed, valid frame of the current generation still held by a slot, if
    /// any.
    ///
    /// This looks at what slots hold, not at the poll window: if the newest counters were
    /// abandoned or are still being written, the newest frame that did commit is returned
    /// (the "latest value" of a one-slot ring survives an abandoned write).
    #[must_use]
    pub fn read_head(&self) -> Option<Frame<N>> {
        self.read_head_counted().map(|(.., frame)| frame)
    }

    /// [`read_head`](Ring::read_head), with the key of the frame's generation and the frame's
    /// counter within it (counters before it in its generation: a reader that tracks only the
    /// newest frame counts what it skipped by them).
    pub(crate) fn read_head_counted(&self) -> Option<(u64, u64, Frame<N>)> {
        // A reset during the scan: look once more in the new generation.
        self.try_read_head().or_else(|| self.try_read_head())?
    }

    /// One scan for [`read_head_counted`](Ring::read_head_counted): `None` if the generation
    /// changed under it.
    fn try_read_head(&self) -> Option<Option<(u64, u64, Frame<N>)>> {
        let (key, base, end) = self.generation_end();
        let oldest = end.saturating_sub(self.capacity() as u64).max(base);
        let mut buf = <PayloadSize<N> as SupportedPayload>::ZERO_BUF;
        let mut best: Option<(u64, Header, <PayloadSize<N> as SupportedPayload>::Buf)> = None;
        // Walking back from the newest counter, a slot holds exactly that counter, an older lap
        // of it, or (a writer raced us) a newer one; once the best frame found is at least the
        // counter being visited, no slot still to visit can hold anything newer.
        for counter in (oldest..end).rev() {
            if best.as_ref().is_some_and(|(held, ..)| *held >= counter) {
                break;
            }
            if let Some((held, header)) = self.inspect_latest(counter, base, &mut buf)
                && best.as_ref().is_none_or(|(newest, ..)| *newest < held)
            {
                best = Some((held, header, buf));
            }
        }
        if self.head.base.load(Ordering::Relaxed) != key {
            return None;
        }
        Some(best.and_then(|(held, header, buf)| {
            let frame = self.owned(held - base, header, &buf)?;
            Some((key, held - base, frame))
        }))
    }

    /// The current base word and effective base (see `generation_start`), and one past the
    /// newest counter that may be committed: the head, or the head + 1 while a lease holder may
    /// have committed at the head before moving it.
    fn generation_end(&self) -> (u64, u64, u64) {
        let (key, base, head) = self.generation_start();
        let leased = self.head.word.load(Ordering::Relaxed) & LEASED != 0;
        (key, base, head.saturating_add(u64::from(leased)))
    }

    /// Reads whatever committed frame of the generation starting at `base` the slot of
    /// `counter` holds (any lap the head has reached, including one a writer committed after
    /// the caller loaded the head); returns the frame's own internal counter with the header.
    fn inspect_latest(
        &self,
        counter: u64,
        base: u64,
        buf: &mut <PayloadSize<N> as SupportedPayload>::Buf,
    ) -> Option<(u64, Header)> {
        let slot = self.slot(counter);
        count_slot_load();
        // SYNC: Acquire pairs with the Release store of the even seq in publish().
        let before = load_acquire(&slot.seq);
        if before == 0 || seq::is_writing(before) {
            return None;
        }
        let held = before / 2 - 1;
        // A later lap is genuine only if the head has reached it: its writer claimed it before
        // committing, and our acquire load of the seq makes that claim visible to the head
        // load below. Anything else is a corrupt or hostile slot.
        if held & self.mask != counter & self.mask
            || held < base
            || (held > counter && held >= self.generation_end().2)
        {
            return None;
        }
        match self.copy(slot, before, buf) {
            Inspect::Frame(header) => Some((held, header)),
            Inspect::Pending { .. } | Inspect::Gone | Inspect::Invalid => None,
        }
    }

    /// The frame with exactly this id (kind, node and counter), if a slot still holds it.
    #[must_use]
    pub fn read(&self, id: NetId64) -> Option<Frame<N>> {
        let (key, base, end) = self.generation_end();
        let newest = (end - base).checked_sub(1)?;
        // The newest counter <= `newest` whose low 40 bits are the id's.
        let back = newest.wrapping_sub(id.counter()) & NetId64::COUNTER_MASK;
        let counter = newest.checked_sub(back)?;
        let mut buf = <PayloadSize<N> as SupportedPayload>::ZERO_BUF;
        match self.inspect(base + counter, &mut buf) {
            Inspect::Frame(header)
                if NetId64::new(self.kind, header.node, counter) == id
                    && self.head.base.load(Ordering::Relaxed) == key =>
            {
                self.owned(counter, header, &buf)
            }
            Inspect::Frame(_) | Inspect::Pending { .. } | Inspect::Gone | Inspect::Invalid => None,
        }
    }

    fn owned(
        &self,
        counter: u64,
        header: Header,
        buf: &<PayloadSize<N> as SupportedPayload>::Buf,
    ) -> Option<Frame<N>> {
        Frame::from_ref(&self.frame_ref(counter, header, buf))
    }

    /// The frame of (relative) `counter` whose validated copy is `header` and `buf`.
    #[inline(always)]
    fn frame_ref<'b>(
        &self,
        counter: u64,
        header: Header,
        buf: &'b <PayloadSize<N> as SupportedPayload>::Buf,
    ) -> FrameRef<'b> {
        FrameRef {
            id: NetId64::new(self.kind, header.node, counter),
            counter,
            kind: header.kind,
            version: header.version,
            payload: words::bytes(buf.as_ref(), header.len),
        }
    }

    /// [`lease_holder`](Ring::lease_holder) for a mapping that may be read-only (an
    /// observer's): a relaxed load and an acquire fence, the only loads Rust documents as
    /// allowed on read-only memory.
    #[cfg(all(feature = "shm", target_os = "linux"))]
    #[must_use]
    pub(crate) fn lease_holder_read_only(&self) -> Option<super::LeaseToken> {
        // SYNC: the fence pairs with the Release stores of the lease word in lease.rs, as the
        // Acquire load of lease_holder() does.
        let word = load_acquire(&self.head.lease);
        (word != 0).then_some(super::LeaseToken(word))
    }
}
