//! Hostile ring memory: arbitrary bytes become the slot words and head of a ring, then a
//! sequence of polls (`poll`, `poll_with` under every `Patience`, `poll_into` with 0–3 frame
//! buffers), publishes, stuck writes, `read_head` / `read`, raw overwrites, cursor swaps and
//! resets runs against it. Shared by the `ring_hostile` fuzz target and
//! `tests/hostile_props.rs`.
//!
//! [`check`] decodes the bytes with a bias towards meaningful memory (seq words committed or
//! pending for counters near the head, in-range lengths and nodes), so random bytes
//! reach deep states too. A missing byte reads as 0. Two kinds of checks run after every step:
//!
//! * **Documented invariants**, from the real outputs only: no panic; every delivered frame has
//!   at most `N` payload bytes, the ring's kind and an id matching its counter; counters
//!   strictly increase from the cursor; the cursor passes the head only over frames delivered
//!   (slots committed for exactly those counters) and moves at most one window past the
//!   walk's start; `accounted() == new_next - old_next` (from 0 when `rewound`); a delivered
//!   frame of the window reads back by id; a committed publish is readable and is the newest frame; polls in a row that never
//!   give up settle within four polls.
//! * **A shadow model** of the slot words (single-threaded, so every outcome is determined):
//!   each poll, publish, `read_head` and `read` must match it exactly, frame contents included.

use orbit_rs::{
    Cursor, Frame, FrameRef, Head, NetId64, NodeId, Patience, PayloadSize, Poll, PublishError,
    Ring, Slot, SupportedPayload,
};

/// The largest counter whose seq values fit a `u64` (ring protocol docs: `c <= 2^63 - 2`).
const MAX_COUNTER: u64 = (1 << 63) - 2;
/// Steps decoded from one input at most.
const MAX_STEPS: usize = 48;

/// Runs one hostile-memory scenario decoded from `bytes`; panics on a violation.
pub fn check(bytes: &[u8]) {
    let mut input = Input(bytes);
    match input.byte() % 3 {
        0 => run::<8>(&mut input),
        1 => run::<32>(&mut input),
        _ => run::<40>(&mut input),
    }
}

/// The fuzz bytes, read front to back; reads past the end give zeros.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&first, rest)) => {
                self.0 = rest;
                first
            }
            None => 0,
        }
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(core::array::from_fn(|_| self.byte()))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn run<const N: usize>(input: &mut Input<'_>)
where
    PayloadSize<N>: SupportedPayload,
{
    let capacity = 1usize << (input.byte() % 5);
    let kind = input.byte();
    let node = NodeId(u16::from(input.byte()));
    let stall_polls = match input.byte() % 5 {
        4 => None,
        polls => Some(u32::from(polls)),
    };
    // Small head-check periods keep the settle check short; the default is exercised by the
    // stable tests.
    let head_check_polls = u32::from(input.byte() % 5);
    let start = initial_head(input, capacity as u64);

    let slots: Vec<Slot<N>> = (0..capacity).map(|_| Slot::new()).collect();
    let head = Head::starting_at(start);
    let mut ring = Ring::new(&slots, &head)
        .expect("a power-of-two capacity")
        .with_kind(kind)
        .with_node(node);
    if let Some(polls) = stall_polls {
        ring = ring.with_stall_polls(polls);
    }
    ring = ring.with_head_check_polls(head_check_polls);
    assert_eq!(
        (
            ring.capacity(),
            ring.head(),
            ring.generation(),
            ring.kind(),
            ring.node()
        ),
        (capacity, start, 0, kind, node)
    );
    let shadow = Shadow {
        words: vec![vec![0; Slot::<N>::RAW_WORDS]; capacity],
        head: start,
        generation: 0,
        kind,
        node,
        stall_polls: stall_polls.unwrap_or(Ring::<N>::DEFAULT_STALL_POLLS),
        head_check_polls,
    };
    let mut world = World {
        ring,
        slots: &slots,
        shadow,
        cursors: Vec::new(),
        ids: Vec::new(),
    };
    for index in 0..capacity {
        world.overwrite(input, index);
    }
    world.cursors.push(Tracked::new(Cursor::from_start(), None));
    let at_head = world.ring.cursor_at_head();
    world.cursors.push(Tracked::new(at_head, Some(0)));
    let counter = world.some_counter(input);
    world
        .cursors
        .push(Tracked::new(Cursor::from_counter(counter), None));

    for _ in 0..MAX_STEPS {
        if input.is_empty() {
            break;
        }
        world.step(input);
    }
    world.finish();
}

/// The initial head counter. Bit 63 of a head word is the writer lease, which
/// `Head::starting_at` drops: the counter is at most 2^63 - 1.
fn initial_head(input: &mut Input<'_>, capacity: u64) -> u64 {
    let mode = input.byte();
    let small = u64::from(input.byte());
    let head = match mode % 8 {
        0 | 1 => small % (3 * capacity + 1),
        2 => small,
        3 => (1 << 40) - 8 + small % 16,   // the id counter wraps
        4 => MAX_COUNTER - 8 + small % 16, // the last representable counters
        5 => u64::MAX - small % 16,        // the lease bit set: dropped
        6 => (1 << 63) - small % 4,        // at and past MAX_COUNTER
        _ => input.u64(),
    };
    head & !(1 << 63)
}

/// A reader cursor and the model's view of it (the cursor's own fields are private).
struct Tracked {
    cursor: Cursor,
    next: u64,
    generation: Option<u64>,
    stalls: u32,
    /// Polls in a row that ended at an untouched slot without looking at the head.
    idle: u32,
}

impl Tracked {
    fn new(cursor: Cursor, generation: Option<u64>) -> Self {
        Self {
            next: cursor.next_counter(),
            cursor,
            generation,
            stalls: 0,
            idle: 0,
        }
    }
}

/// Which poll entry point to call.
#[derive(Clone, Copy, Debug, PartialEq)]
enum How {
    /// `Ring::poll`.
    Poll,
    /// `Ring::poll_with`.
    With(Patience),
    /// `Ring::poll_into` with a buffer of this many frames.
    Into(usize),
}

/// What a single-threaded reader must find for one counter.
enum Look<const N: usize> {
    Frame(Frame<N>),
    /// `taken`: the slot holds this counter's odd seq.
    Pending {
        taken: bool,
    },
    Gone,
    Invalid,
}

/// What one poll must report.
#[derive(Debug, PartialEq)]
struct Outcome<const N: usize> {
    frames: Vec<Frame<N>>,
    overwritten: u64,
    unavailable: u64,
    stalled_at: Option<u64>,
    rewound: bool,
    next: u64,
}

/// Plain copy of everything stored in the ring's memory.
struct Shadow {
    /// Raw words per slot, in layout order: seq, id, meta, version, payload.
    words: Vec<Vec<u64>>,
    head: u64,
    generation: u64,
    kind: u8,
    node: NodeId,
    stall_polls: u32,
    head_check_polls: u32,
}

impl Shadow {
    fn capacity(&self) -> u64 {
        self.words.len() as u64
    }

    fn slot(&self, counter: u64) -> &[u64] {
        &self.words[(counter % self.capacity()) as usize]
    }

    fn slot_mut(&mut self, counter: u64) -> &mut Vec<u64> {
        let capacity = self.capacity();
        &mut self.words[(counter % capacity) as usize]
    }

    /// What inspecting `counter` finds: committed for it, or pending / gone / invalid.
    fn look<const N: usize>(&self, counter: u64) -> Look<N> {
        if counter > MAX_COUNTER {
            return Look::Invalid;
        }
        let want = 2 * counter + 2;
        match self.slot(counter)[0].cmp(&want) {
            core::cmp::Ordering::Less => Look::Pending {
                taken: self.slot(counter)[0] == want - 1,
            },
            core::cmp::Ordering::Greater => Look::Gone,
            core::cmp::Ordering::Equal => self.validate(counter),
        }
    }

    /// The frame a slot committed for `counter` holds, if its words pass validation.
    fn validate<const N: usize>(&self, counter: u64) -> Look<N> {
        // Layout: seq, meta (kind 0..8 | node 8..24 | len 32..64), version, payload.
        let words = self.slot(counter);
        let len = words[1] >> 32;
        if len > N as u64 {
            return Look::Invalid;
        }
        let id = NetId64::new(self.kind, NodeId((words[1] >> 8) as u16), counter);
        let bytes: Vec<u8> = words[3..].iter().flat_map(|w| w.to_ne_bytes()).collect();
        let frame = FrameRef {
            id,
            counter,
            kind: words[1] as u8,
            version: words[2],
            payload: &bytes[..len as usize],
        };
        Look::Frame(Frame::from_ref(&frame).expect("len <= N"))
    }

    fn committed_after(&self, counter: u64) -> bool {
        let end = self.head.min(counter.saturating_add(self.capacity()));
        (counter + 1..end).any(|later| later <= MAX_COUNTER && self.slot(later)[0] == 2 * later + 2)
    }

    /// Mirrors `Ring::poll_with` (and `Ring::poll_into`, which stops before the frame past
    /// `limit`) over the shadow words.
    fn poll<const N: usize>(&self, cursor: &mut Tracked, how: How) -> Outcome<N> {
        let (patience, limit) = match how {
            How::Poll => (Patience::Polls, usize::MAX),
            How::With(patience) => (patience, usize::MAX),
            How::Into(limit) => (Patience::Polls, limit),
        };
        let mut out = Outcome {
            frames: Vec::new(),
            overwritten: 0,
            unavailable: 0,
            stalled_at: None,
            rewound: false,
            next: 0,
        };
        // A cursor that knows its generation restarts at 0 after a reset; one that does not
        // (from_start / from_counter, never polled) adopts the ring's. A rewind clears the
        // stall count (regression: stall_budget_restarts_after_a_reset). A cursor past the
        // head just waits (regression: cursor_past_the_head_keeps_waiting).
        if let Some(generation) = cursor.generation
            && generation != self.generation
        {
            out.rewound = true;
            cursor.stalls = 0;
            cursor.idle = 0;
            cursor.next = 0;
        }
        cursor.generation = Some(self.generation);
        let mut next = cursor.next;
        let mut stalls = cursor.stalls;
        let mut idle = cursor.idle;
        // Set once this poll has looked at the head: from then on the head decides.
        let mut looked = false;
        // At most capacity + 1 slots inspected; a slot committed for exactly the cursor's
        // counter is delivered without looking at the head.
        for _ in 0..=self.capacity() {
            let look = self.look::<N>(next);
            if let Look::Frame(frame) = look {
                if out.frames.len() >= limit {
                    break;
                }
                out.frames.push(frame);
                next += 1;
                continue;
            }
            // A pending counter whose slot no writer has taken ends the poll without the
            // head, except every head_check_polls-th time in a row, while stalled here, or
            // once this poll has looked at the head.
            if let Look::Pending { taken: false } = look {
                let stalled_here = next == cursor.next && stalls > 0;
                if !stalled_here && !looked && idle.saturating_add(1) < self.head_check_polls {
                    idle += 1;
                    break;
                }
            }
            idle = 0;
            looked = true;
            if next >= self.head {
                break;
            }
            let oldest = self.head.saturating_sub(self.capacity());
            if next < oldest {
                out.overwritten += oldest - next;
                next = oldest;
                continue;
            }
            match look {
                Look::Frame(_) | Look::Gone => out.overwritten += 1,
                Look::Invalid => out.unavailable += 1,
                Look::Pending { .. } => {
                    if !self.committed_after(next) {
                        break;
                    }
                    let prior = if next == cursor.next { stalls } else { 0 };
                    let give_up = match patience {
                        Patience::Polls => prior >= self.stall_polls,
                        Patience::Wait => false,
                        Patience::GiveUp => true,
                    };
                    if !give_up {
                        out.stalled_at = Some(next);
                        stalls = prior.saturating_add(1);
                        break;
                    }
                    out.unavailable += 1;
                }
            }
            next += 1;
        }
        if out.stalled_at.is_none() {
            stalls = 0;
        }
        cursor.next = next;
        cursor.stalls = stalls;
        cursor.idle = idle;
        out.next = next;
        out
    }

    /// Claims a counter like `Ring::publish`: the error, or the counter with its slot odd.
    fn claim<const N: usize>(&mut self, len: usize) -> Result<u64, PublishError> {
        if len > N {
            return Err(PublishError::PayloadTooLarge { len, max: N });
        }
        // An exhausted counter is refused without moving the head (it never reaches bit 63,
        // the writer lease).
        let counter = self.head;
        if counter > MAX_COUNTER {
            return Err(PublishError::CounterExhausted { counter });
        }
        self.head += 1;
        let writing = 2 * counter + 1;
        let seq = self.slot(counter)[0];
        if seq >= writing {
            return Err(PublishError::Lapped { counter });
        }
        if seq % 2 == 1 {
            return Err(PublishError::SlotBusy {
                counter,
                holder: seq / 2,
            });
        }
        self.slot_mut(counter)[0] = writing;
        Ok(counter)
    }

    /// Stores a claimed frame's words; at most `max_words` payload words.
    fn write(
        &mut self,
        counter: u64,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
        max_words: usize,
    ) -> NetId64 {
        let id = NetId64::new(self.kind, self.node, counter);
        let node = u64::from(self.node.get());
        let words = self.slot_mut(counter);
        words[1] = u64::from(frame_kind) | (node << 8) | ((payload.len() as u64) << 32);
        words[2] = version;
        let stored = &payload[..payload.len().min(max_words.saturating_mul(8))];
        for (word, chunk) in words[3..].iter_mut().zip(stored.chunks(8)) {
            let mut raw = [0u8; 8];
            raw[..chunk.len()].copy_from_slice(chunk);
            *word = u64::from_ne_bytes(raw);
        }
        id
    }

    /// Mirrors `Ring::read_head`: walking back from the newest counter, the newest valid frame
    /// a slot of the window holds (another lap of that counter,
    /// never one the head has not reached), stopping once nothing newer can follow.
    fn read_head<const N: usize>(&self) -> Option<Frame<N>> {
        let mask = self.capacity() - 1;
        let mut best: Option<Frame<N>> = None;
        for counter in (self.head.saturating_sub(self.capacity())..self.head).rev() {
            if best.as_ref().is_some_and(|b| b.counter >= counter) {
                break;
            }
            let seq = self.slot(counter)[0];
            if seq == 0 || seq % 2 == 1 {
                continue;
            }
            let held = seq / 2 - 1;
            if held & mask != counter & mask || held >= self.head {
                continue;
            }
            if let Look::Frame(frame) = self.validate::<N>(held)
                && best.as_ref().is_none_or(|b| b.counter < held)
            {
                best = Some(frame);
            }
        }
        best
    }

    /// Mirrors `Ring::read`: the newest counter below the head whose low 40 bits are the id's.
    fn read<const N: usize>(&self, id: NetId64) -> Option<Frame<N>> {
        let newest = self.head.checked_sub(1)?;
        let back = newest.wrapping_sub(id.counter()) & NetId64::COUNTER_MASK;
        match self.look::<N>(newest.checked_sub(back)?) {
            Look::Frame(frame) if frame.id == id => Some(frame),
            _ => None,
        }
    }
}

struct World<'a, const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    ring: Ring<'a, N>,
    slots: &'a [Slot<N>],
    shadow: Shadow,
    cursors: Vec<Tracked>,
    /// Ids delivered or published so far (the newest last), for `read`.
    ids: Vec<NetId64>,
}

impl<const N: usize> World<'_, N>
where
    PayloadSize<N>: SupportedPayload,
{
    fn step(&mut self, input: &mut Input<'_>) {
        let op = input.byte();
        match op % 16 {
            0..=5 => {
                let which = usize::from(input.byte()) % self.cursors.len();
                let how = match input.byte() % 6 {
                    0 => How::Poll,
                    1 => How::With(Patience::Polls),
                    2 => How::With(Patience::Wait),
                    3 => How::With(Patience::GiveUp),
                    _ => How::Into(usize::from(input.byte() % 4)),
                };
                self.poll(which, how);
            }
            6 | 7 => self.publish(input),
            8 => self.exclusive_burst(input),
            9 => {
                let index = usize::from(input.byte()) % self.slots.len();
                self.overwrite(input, index);
            }
            10 => self.read_head(),
            11 => {
                let id = self.some_id(input);
                self.read(id);
            }
            12 => {
                let which = usize::from(input.byte()) % self.cursors.len();
                self.cursors[which] = match input.byte() % 3 {
                    0 => Tracked::new(Cursor::from_start(), None),
                    1 => Tracked::new(self.ring.cursor_at_head(), Some(self.shadow.generation)),
                    _ => {
                        let counter = self.some_counter(input);
                        let cursor = Cursor::from_counter(counter);
                        assert_eq!(cursor.next_counter(), counter);
                        Tracked::new(cursor, None)
                    }
                };
            }
            13 => self.stall_mid_write(input),
            14 => {
                self.ring.reset();
                self.shadow.head = 0;
                self.shadow.generation += 1;
                for words in &mut self.shadow.words {
                    words[0] = 0;
                }
                assert_eq!(
                    (self.ring.head(), self.ring.generation()),
                    (0, self.shadow.generation)
                );
            }
            _ => {
                let which = usize::from(input.byte()) % self.cursors.len();
                let patience = if op & 0x80 == 0 {
                    Patience::Wait
                } else {
                    Patience::GiveUp
                };
                self.poll_until_quiet(which, patience);
            }
        }
    }

    /// Final state: every cursor polls twice without giving up, then a fresh cursor sees a
    /// new publish.
    fn finish(&mut self) {
        for which in 0..self.cursors.len() {
            self.poll_until_quiet(which, Patience::GiveUp);
            self.poll_until_quiet(which, Patience::Wait);
        }
        let before = self.cursors.len();
        self.cursors.push(Tracked::new(
            self.ring.cursor_at_head(),
            Some(self.shadow.generation),
        ));
        let published = self.publish_frame(3, 99, b"final");
        let (_, frames) = self.poll(before, How::With(Patience::GiveUp));
        if let Ok(id) = published {
            // First: hostile slots committed for counters past the head may follow it.
            let ids: Vec<NetId64> = frames.iter().map(|frame| frame.id).collect();
            assert_eq!(
                ids.first(),
                Some(&id),
                "a cursor at the head must see the next publish"
            );
        }
    }

    /// Polls one cursor and checks the documented invariants and the shadow model.
    fn poll(&mut self, which: usize, how: How) -> (Poll, Vec<Frame<N>>) {
        let head = self.ring.head();
        let capacity = self.ring.capacity() as u64;
        let kind = self.ring.kind();
        let tracked = &mut self.cursors[which];
        let before = tracked.cursor.next_counter();
        assert_eq!(before, tracked.next, "cursor position");

        let mut frames: Vec<Frame<N>> = Vec::new();
        let mut visit = |frame: FrameRef<'_>| {
            assert!(
                frame.payload.len() <= N,
                "payload of {}",
                frame.payload.len()
            );
            assert_eq!(frame.id.kind(), kind, "delivered a foreign kind");
            assert!(frame.id.matches_counter(frame.counter), "{frame:?}");
            if let Some(previous) = frames.last() {
                assert!(previous.counter < frame.counter, "counter order");
            }
            frames.push(Frame::from_ref(&frame).expect("payload <= N"));
        };
        let poll = match how {
            How::Poll => self.ring.poll(&mut tracked.cursor, visit),
            How::With(patience) => self.ring.poll_with(&mut tracked.cursor, patience, visit),
            How::Into(len) => {
                let mut unused = Frame::empty();
                unused.counter = u64::MAX;
                let mut out = vec![unused.clone(); len];
                let (filled, poll) = self.ring.poll_into(&mut tracked.cursor, &mut out);
                assert_eq!(filled as u64, poll.delivered);
                assert!(out[filled..].iter().all(|frame| *frame == unused));
                out[..filled].iter().for_each(|frame| visit(frame.as_ref()));
                poll
            }
        };
        let after = tracked.cursor.next_counter();

        // Documented invariants, from the outputs alone.
        assert_eq!(poll.delivered, frames.len() as u64);
        let from = if poll.rewound { 0 } else { before };
        assert_eq!(poll.accounted(), after - from, "accounting of {poll:?}");
        assert!(
            frames
                .iter()
                .all(|f| f.counter >= from && f.counter < after)
        );
        // The cursor passes the head only over frames committed for exactly those counters,
        // and a poll inspects at most capacity + 1 slots.
        for counter in from.max(head)..after {
            assert!(
                frames.iter().any(|f| f.counter == counter),
                "cursor {after} passed head {head} over counter {counter} not delivered"
            );
        }
        let walked_from = from.max(head.saturating_sub(capacity));
        assert!(after <= walked_from.max(head).saturating_add(capacity + 1));
        if let Some(stalled) = poll.stalled_at {
            assert_eq!(stalled, after);
            assert!(stalled < head);
            assert_ne!(how, How::With(Patience::GiveUp));
        }

        // The shadow model, exactly.
        let expected = self.shadow.poll::<N>(tracked, how);
        let found = Outcome {
            frames,
            overwritten: poll.loss.overwritten,
            unavailable: poll.loss.unavailable,
            stalled_at: poll.stalled_at,
            rewound: poll.rewound,
            next: after,
        };
        assert_eq!(found, expected, "poll from {before}, head {head}");

        // Read-back by id covers the window (an id holds only 40 counter bits).
        let window = head.saturating_sub(capacity)..head;
        for frame in found.frames.iter().filter(|f| window.contains(&f.counter)) {
            assert_eq!(self.ring.read(frame.id).as_ref(), Some(frame), "read by id");
            self.ids.push(frame.id);
        }
        (poll, found.frames)
    }

    /// Polls in a row that never give up settle. A poll inspects at most capacity + 1 slots,
    /// and hostile memory can need three of them (frames committed for exact counters below
    /// the window, the window, frames past the head); a caught-up cursor looks at the head at
    /// least once in every `head_check_polls` polls. So within `5 * period + 1` polls there is
    /// a run of `period + 1` quiet polls (nothing accounted, no rewind), or the cursor rests on
    /// a stuck counter under `Patience::Wait`, reporting it on every poll.
    fn poll_until_quiet(&mut self, which: usize, patience: Patience) {
        let period = self.shadow.head_check_polls.max(1) as usize;
        let mut quiet = 0;
        for _ in 0..5 * period + 1 {
            let at = self.cursors[which].next;
            let (poll, _) = self.poll(which, How::With(patience));
            if let Some(stalled) = poll.stalled_at {
                assert_eq!(patience, Patience::Wait);
                let (again, _) = self.poll(which, How::With(patience));
                assert_eq!(again.stalled_at, Some(stalled), "{again:?}");
                assert_eq!(again.accounted(), 0, "{again:?}");
                return;
            }
            if poll.is_empty() && !poll.rewound {
                assert_eq!(
                    self.cursors[which].next, at,
                    "an empty poll moved the cursor"
                );
                quiet += 1;
                if quiet > period {
                    return;
                }
            } else {
                quiet = 0;
            }
        }
        panic!("polls in a row never settled");
    }

    fn publish(&mut self, input: &mut Input<'_>) {
        let frame_kind = input.byte();
        let version = u64::from(input.byte()) << (input.byte() % 64);
        let len = usize::from(input.byte()) % (N + 9);
        let fill = input.byte();
        let payload: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i as u8)).collect();
        let _ = self.publish_frame(frame_kind, version, &payload);
    }

    /// Takes the writer lease, publishes 1–4 frames through it (same outcomes as multi-writer
    /// publishes, single-threaded), and drops it.
    fn exclusive_burst(&mut self, input: &mut Input<'_>) {
        let ring = self.ring;
        let mut writer = ring.exclusive_writer().expect("no lease is held");
        assert!(ring.writer_leased());
        assert_eq!(ring.publish(0, 0, b"x"), Err(PublishError::Leased));
        assert_eq!(ring.exclusive_writer().err(), Some(PublishError::Leased));
        for _ in 0..=input.byte() % 4 {
            let frame_kind = input.byte();
            let len = usize::from(input.byte()) % (N + 9);
            let payload = vec![input.byte(); len];
            let published = writer.publish(frame_kind, 5, &payload);
            let expected = self.shadow.claim::<N>(len).map(|counter| {
                let id = self
                    .shadow
                    .write(counter, frame_kind, 5, &payload, usize::MAX);
                self.shadow.slot_mut(counter)[0] = 2 * counter + 2;
                id
            });
            assert_eq!(published, expected, "exclusive publish");
            assert_eq!(
                ring.head(),
                self.shadow.head,
                "head after exclusive publish"
            );
            if let Ok(id) = published {
                assert_eq!(
                    &ring.read(id).expect("reads back").payload[..],
                    &payload[..]
                );
                self.ids.push(id);
            }
        }
        drop(writer);
        assert!(!ring.writer_leased());
        assert_eq!(ring.head(), self.shadow.head);
    }

    fn publish_frame(
        &mut self,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
    ) -> Result<NetId64, PublishError> {
        let published = self.ring.publish(frame_kind, version, payload);
        let expected = self.shadow.claim::<N>(payload.len()).map(|counter| {
            let id = self
                .shadow
                .write(counter, frame_kind, version, payload, usize::MAX);
            self.shadow.slot_mut(counter)[0] = 2 * counter + 2;
            id
        });
        assert_eq!(published, expected, "publish");
        assert_eq!(self.ring.head(), self.shadow.head, "head after publish");
        if let Ok(id) = published {
            let counter = self.shadow.head.wrapping_sub(1);
            let frame = self.ring.read(id).expect("a committed frame reads back");
            assert_eq!(
                (frame.id, frame.counter, frame.kind, frame.version),
                (id, counter, frame_kind, version)
            );
            assert_eq!(&frame.payload[..], payload);
            let newest = self.ring.read_head().expect("a committed frame is held");
            assert_eq!(newest, frame, "read_head after publish");
            self.ids.push(id);
        }
        published
    }

    fn stall_mid_write(&mut self, input: &mut Input<'_>) {
        let frame_kind = input.byte();
        let len = usize::from(input.byte()) % (N + 1);
        let words = usize::from(input.byte() % 8);
        let payload = vec![0xEE; len];
        let stalled = self
            .ring
            .stall_mid_write_for_test(frame_kind, 7, &payload, words);
        let expected = self.shadow.claim::<N>(len).inspect(|&counter| {
            self.shadow.write(counter, frame_kind, 7, &payload, words);
        });
        assert_eq!(stalled, expected, "stall_mid_write_for_test");
        assert_eq!(self.ring.head(), self.shadow.head);
    }

    fn read_head(&mut self) {
        let found = self.ring.read_head();
        if let Some(frame) = &found {
            // Regression: read_head_ignores_slots_claiming_counters_past_the_head.
            assert!(frame.counter < self.ring.head());
            assert!(frame.payload.len() <= N);
            assert_eq!(frame.id.kind(), self.ring.kind());
            assert!(frame.id.matches_counter(frame.counter));
        }
        assert_eq!(found, self.shadow.read_head::<N>(), "read_head");
    }

    fn read(&mut self, id: NetId64) {
        let found = self.ring.read(id);
        if let Some(frame) = &found {
            assert_eq!(frame.id, id);
            assert!(frame.counter < self.ring.head());
            assert!(frame.payload.len() <= N);
        }
        assert_eq!(found, self.shadow.read::<N>(id), "read {id}");
    }

    /// Fills one slot's words from the input, biased towards counters near the head.
    fn overwrite(&mut self, input: &mut Input<'_>, index: usize) {
        let capacity = self.shadow.capacity();
        let head = self.shadow.head;
        // The counter of the window below the head that maps to this slot; then maybe a lap
        // before or after it.
        let window = head.wrapping_sub(capacity);
        let mut counter = window.wrapping_add((index as u64).wrapping_sub(window) % capacity);
        counter = match input.byte() % 8 {
            1 => counter.wrapping_sub(capacity),
            2 => counter.wrapping_sub(2 * capacity),
            3 => counter.wrapping_add(capacity),
            4 => counter.wrapping_add(1),
            5 => input.u64(),
            _ => counter,
        };
        let seq = match input.byte() % 8 {
            0..=3 => counter.wrapping_mul(2).wrapping_add(2),
            4 => counter.wrapping_mul(2).wrapping_add(1),
            5 => 0,
            6 => counter
                .wrapping_mul(2)
                .wrapping_add(u64::from(input.byte() % 5)),
            _ => input.u64(),
        };
        let node = match input.byte() % 8 {
            0..=4 => u64::from(input.byte()),
            5 => u64::from(input.byte()) << 8,
            6 => 0xFFFF,
            _ => input.u64() & 0xFFFF,
        };
        let len = match input.byte() % 8 {
            0..=5 => u64::from(input.byte()) % (N as u64 + 1),
            6 => N as u64 + 1 + u64::from(input.byte()),
            _ => u64::from(u32::MAX) - u64::from(input.byte()),
        };
        let junk = u64::from(input.byte() % 4) << 24; // meta bits 24..32 are unused
        let meta = (len << 32) | junk | (node << 8) | u64::from(input.byte());
        let version = u64::from(input.byte());
        let fill = u64::from_ne_bytes([input.byte(); 8]);
        let mut raw = vec![seq, meta, version];
        raw.extend((0..N as u64 / 8).map(|j| fill.wrapping_add(j)));
        self.slots[index].overwrite_raw(&raw);
        self.shadow.words[index] = raw;
    }

    /// A counter for a cursor: around the head, around the window start, or anything.
    fn some_counter(&self, input: &mut Input<'_>) -> u64 {
        let head = self.shadow.head;
        let mode = input.byte();
        let small = u64::from(input.byte() % 32);
        match mode % 6 {
            0 => 0,
            1 => head.saturating_sub(small),
            2 => head.saturating_add(small),
            3 => head.saturating_sub(self.shadow.capacity()),
            4 => input.u64(),
            _ => head,
        }
    }

    /// An id for `read`: one seen before, one built near the head, or anything.
    fn some_id(&self, input: &mut Input<'_>) -> NetId64 {
        match input.byte() % 4 {
            0 => {
                let back = usize::from(input.byte() % 4);
                let seen = self.ids.len().checked_sub(1 + back);
                seen.map_or(NetId64::from_raw(0), |i| self.ids[i])
            }
            1 | 2 => {
                let counter = self.some_counter(input);
                NetId64::new(self.shadow.kind, NodeId(u16::from(input.byte())), counter)
            }
            _ => NetId64::from_raw(input.u64()),
        }
    }
}
