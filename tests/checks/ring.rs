//! Hostile ring memory, checked against the documented contract only (no model of the walk).
//! Shared by the `ring_hostile` fuzz target, `tests/hostile_props.rs` and the corpus replay in
//! `tests/fuzz_regressions.rs`.
//!
//! [`check`] decodes bytes into ring settings (payload size, capacity, kind, node, stall polls
//! `k`, head-check period `p`), a starting head, slot words (biased towards seq values committed
//! or pending near the head, lengths in and out of range) and a program of up to 48 steps: polls
//! (`poll`, `poll_with` every `Patience`, `poll_limit`, `poll_into`) on three cursors, publishes,
//! stuck writes, abandoned claims, raw overwrites, `read_head`, `read`, resets, new cursors, an
//! exclusive writer (take, publish, reset, drop) and stuck-writer scenarios. A missing byte
//! reads as 0. After every step these properties must hold:
//!
//! 1. **Frames**: no panic; a delivered frame has at most `N` payload bytes, the ring's kind, an
//!    id matching its counter; counters strictly increase within a poll, from the restart point.
//! 2. **Accounting**: `delivered + overwritten + unavailable == new_next - from`, where `from` is
//!    the old position, 0 after a reset (`rewound` is then required), or the head when the
//!    cursor stood past it (the only other reason allowed for `rewound`).
//! 3. **Nothing skipped uncounted**: past the head the cursor moves only over frames it
//!    delivered, and not at all unless some forged slot claims a counter at or past the head;
//!    `stalled_at` is the new position, below the head; a delivered frame in the window reads
//!    back by id unchanged.
//! 4. **O(capacity)**: a poll makes at most `2 * capacity + 2` slot seq loads (see `max_loads`),
//!    `read_head` at most `capacity`, `read` at most 1.
//! 5. **Bounded polls per stuck counter, on every lap**: in deliberate scenarios (a stuck write,
//!    or an abandoned claim, then a later commit; repeated over laps, so later laps find the
//!    slot odd for an older counter), a fresh reader accounts for the counter within `k + 1`
//!    polls (slot odd) or `p + k + 1` (slot untaken) under `Patience::Polls`, within 1 or
//!    `p + 1` under `GiveUpOn(c)`, and never under `GiveUpOn` of another counter. At the end,
//!    every cursor settles (a poll accounts nothing) within a bounded number of polls.
//! 6. **Give-up only after that counter's own wait**: `stalled_at` runs are tracked across
//!    polls; while memory is unchanged, a cursor stalled `s` polls in a row at `c` stalls again
//!    at `c` (nothing accounted) unless its patience gives up on `c` (`Polls` with `s >= k`,
//!    `GiveUpOn(c)`), and then it counts `c` unavailable and moves past it.
//! 7. **No frame twice, none across a reset**: each publish carries a unique version tag; a
//!    delivered tagged frame was published in the current generation at that counter with that
//!    payload, and no cursor is handed the same one twice.
//! 8. **Publish / read**: a publish returns an id for `head() - 1`, moves the head by one exactly
//!    when it claims (errors as documented), reads back by id, and is what `read_head` returns
//!    (unless a forged slot claims the head); `read` / `read_head` return only frames of the
//!    current generation that match their id; right after a reset the ring reads empty.

use orbit_rs::ring::slot_loads_for_test;
use orbit_rs::{
    Cursor, ExclusiveWriter, Frame, FrameRef, NetId64, NodeId, Patience, PayloadSize, Poll,
    PublishError, Ring, Slot, SupportedPayload,
};
use std::collections::HashSet;

/// The largest counter whose seq values fit a `u64` (ring protocol docs: `c <= 2^63 - 2`).
const MAX_COUNTER: u64 = (1 << 63) - 2;
/// Steps decoded from one input at most.
const MAX_STEPS: usize = 48;
/// Version words of our publishes: this tag in the top byte, the publish serial below it.
/// Hostile version words always have a zero top byte, so a tagged frame is one we published.
const TAG: u64 = 0xA5 << 56;

/// Slot seq loads a poll may make: at most `capacity + 1` slots inspected, the stuck-writer scan
/// of later commits loads each counter strictly between the first pending counter of the window
/// and the head at most once (`capacity - 1`), and the cursor-past-the-head test loads one slot
/// at most twice (at the join or at the walk's start, and after frames delivered past the head).
const fn max_loads(capacity: u64) -> u64 {
    2 * capacity + 2
}

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
        let (&first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        first
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(core::array::from_fn(|_| self.byte()))
    }
}

/// A published frame, by serial.
struct Published {
    generation: u64,
    counter: u64,
    kind: u8,
    payload: Vec<u8>,
}

/// A reader cursor and what the checker remembers about it.
#[derive(Default)]
struct Tracked {
    cursor: Cursor,
    /// The generation base the cursor is in, once known (`cursor_at_head`, or after a poll).
    joined: Option<u64>,
    /// `(counter, polls in a row)` of the current `stalled_at` run.
    stalled: Option<(u64, u32)>,
    /// `World::mutations` at its last poll.
    seen_at: u64,
    /// Serials of tagged frames delivered to it.
    delivered: HashSet<u64>,
}

impl Tracked {
    fn new(cursor: Cursor, joined: Option<u64>) -> Self {
        Self {
            cursor,
            joined,
            seen_at: u64::MAX,
            ..Self::default()
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum How {
    Poll,
    With(Patience),
    Limit(Patience, usize),
    Into(usize),
}

struct World<'a, const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    ring: Ring<'a, N>,
    slots: &'a [Slot<N>],
    writer: Option<ExclusiveWriter<'a, N>>,
    cap: u64,
    k: u32,
    p: u32,
    /// Internal counter of the current generation's start, and resets so far.
    base: u64,
    generation: u64,
    published: Vec<Published>,
    ids: Vec<NetId64>,
    /// Largest counter a raw overwrite wrote a committed seq for.
    forged: Option<u64>,
    /// Steps that changed slots or head so far.
    mutations: u64,
    /// Serial of the last publish, while nothing else changed memory since.
    newest: Option<u64>,
    cursors: [Tracked; 3],
}

fn run<const N: usize>(input: &mut Input<'_>)
where
    PayloadSize<N>: SupportedPayload,
{
    let cap = 1u64 << (input.byte() % 5);
    let (kind, node) = (input.byte(), NodeId(u16::from(input.byte())));
    let (k, p) = (u32::from(input.byte() % 4), u32::from(input.byte() % 4));
    let small = |input: &mut Input<'_>| u64::from(input.byte());
    let start = match input.byte() % 8 {
        0 | 1 => small(input) % (3 * cap + 1),
        2 => small(input),
        3 => (1 << 40) - 8 + small(input) % 16, // the id counter wraps
        4 => MAX_COUNTER - 8 + small(input) % 16, // the last representable counters
        5 => (1 << 63) - small(input) % 4,      // at and past MAX_COUNTER
        6 => u64::MAX - small(input) % 16,      // the lease bit set: dropped
        _ => input.u64(),
    } & !(1 << 63);
    let slots: Vec<Slot<N>> = (0..cap).map(|_| Slot::new()).collect();
    let head = orbit_rs::Head::starting_at(start);
    let ring = Ring::new(&slots, &head)
        .expect("power of two")
        .with_kind(kind)
        .with_node(node);
    let ring = ring.with_stall_polls(k).with_head_check_polls(p);
    assert_eq!(
        (ring.head(), ring.generation(), ring.head_check_polls()),
        (start, 0, p)
    );
    let mut w = World {
        ring,
        slots: &slots,
        writer: None,
        cap,
        k,
        p,
        base: 0,
        generation: 0,
        published: Vec::new(),
        ids: Vec::new(),
        forged: None,
        mutations: 0,
        newest: None,
        cursors: Default::default(),
    };
    if !input.byte().is_multiple_of(4) {
        (0..cap as usize).for_each(|index| w.overwrite(input, index));
    }
    let from = w.some_counter(input);
    w.cursors = [
        Tracked::new(Cursor::from_start(), None),
        Tracked::new(w.ring.cursor_at_head(), Some(0)),
        Tracked::new(Cursor::from_counter(from), None),
    ];
    for _ in 0..MAX_STEPS {
        if input.0.is_empty() {
            break;
        }
        w.step(input);
    }
    w.finish();
}

impl<'a, const N: usize> World<'a, N>
where
    PayloadSize<N>: SupportedPayload,
{
    fn step(&mut self, input: &mut Input<'_>) {
        let op = input.byte();
        let which = usize::from(input.byte() % 3);
        match op % 16 {
            0 => self.poll(which, How::Poll),
            1 => {
                let patience = self.patience(which, input);
                self.poll(which, How::With(patience));
            }
            2 => {
                let patience = self.patience(which, input);
                self.poll(which, How::Limit(patience, usize::from(input.byte() % 4)));
            }
            3 => self.poll(which, How::Into(usize::from(input.byte() % 4))),
            4 => {
                let kind = input.byte();
                let _ = self.publish(false, kind, usize::from(input.byte()) % (N + 9));
            }
            5 => {
                let (len, words) = (usize::from(input.byte()) % (N + 1), input.byte() % 5);
                let payload = vec![0xEE; len];
                let r =
                    self.claim(|ring| ring.stall_mid_write_for_test(2, 7, &payload, words.into()));
                assert!(!matches!(r, Err(PublishError::PayloadTooLarge { .. })));
            }
            6 if self.base + self.ring.head() < MAX_COUNTER => {
                let _ = self.claim(|ring| ring.claim_only_for_test());
            }
            7 => {
                let at = usize::from(input.byte()) % self.slots.len();
                self.overwrite(input, at);
            }
            8 => self.read_head(),
            9 => {
                let id = match input.byte() % 3 {
                    0 if !self.ids.is_empty() => {
                        self.ids[usize::from(input.byte()) % self.ids.len()]
                    }
                    1 => {
                        let node = NodeId(input.byte().into());
                        NetId64::new(self.ring.kind(), node, self.some_counter(input))
                    }
                    _ => NetId64::from_raw(input.u64()),
                };
                self.read(id);
            }
            10 => self.reset(None),
            11 => {
                self.cursors[which] = match input.byte() % 3 {
                    0 => Tracked::new(Cursor::from_start(), None),
                    1 => {
                        let cursor = self.ring.cursor_at_head();
                        assert_eq!(cursor.next_counter(), self.ring.head());
                        Tracked::new(cursor, Some(self.base))
                    }
                    _ => Tracked::new(Cursor::from_counter(self.some_counter(input)), None),
                };
            }
            12 => self.take_writer(),
            13 => match input.byte() % 4 {
                0 | 1 => (0..=input.byte() % 4).for_each(|_| {
                    let _ = self.publish(true, 3, which * 4);
                }),
                2 => self.reset(Some(())),
                _ => self.drop_writer(),
            },
            14 => self.stuck(input),
            _ => (0..3).for_each(|which| self.poll(which, How::Poll)),
        }
    }

    /// A counter relative to the current generation: 0, near the head, the window start, raw.
    fn some_counter(&self, input: &mut Input<'_>) -> u64 {
        let (head, small) = (self.ring.head(), u64::from(input.byte()));
        match small % 6 {
            0 => 0,
            1 => head.saturating_sub(small >> 3),
            2 => head + (small >> 3),
            3 => head.saturating_sub(self.cap),
            4 => input.u64(),
            _ => head,
        }
    }

    fn patience(&self, which: usize, input: &mut Input<'_>) -> Patience {
        let next = self.cursors[which].cursor.next_counter();
        match input.byte() % 4 {
            0 => Patience::Polls,
            1 => Patience::Wait,
            2 => Patience::GiveUpOn(next),
            n => Patience::GiveUpOn(next.wrapping_add(u64::from(n))),
        }
    }

    /// Fills slot `index` with hostile words decoded from the input, biased towards seq values
    /// of the counter the slot holds in the window (or of laps around it).
    fn overwrite(&mut self, input: &mut Input<'_>, index: usize) {
        let (cap, head) = (self.cap, self.base + self.ring.head());
        let at = index as u64;
        let w = if head > at {
            head - 1 - (head - 1 - at) % cap
        } else {
            at
        };
        let committed = |c: u64| c.saturating_mul(2).saturating_add(2);
        let mode = input.byte();
        let seq = match mode % 8 {
            0 => committed(w),
            1 => 2 * w + 1,
            2 => w.checked_sub(cap).map_or(0, committed),
            3 => committed(w + cap),
            4 => 0,
            5 => w.checked_sub(cap).map_or(1, |c| 2 * c + 1),
            6 => committed((w + u64::from(mode >> 3) % 3).saturating_sub(1)),
            _ => input.u64(),
        };
        // The counter a non-empty seq names (odd: being written, even: committed): a slot
        // naming a counter at or past the head lets a cursor stand past the head, as a slot of
        // the exclusive writer's newest frame legitimately does before the head moves.
        if seq != 0 {
            self.forged = self.forged.max(Some((seq - 1) / 2));
        }
        let how = input.byte();
        let len = match how % 4 {
            0 => u64::from(input.byte()) % (N as u64 + 1),
            1 => N as u64 + 1 + u64::from(input.byte() % 8),
            _ => u64::from(u32::MAX),
        };
        let meta = if how % 4 == 3 {
            input.u64()
        } else {
            let junk = if how & 4 != 0 {
                u64::from(input.byte()) << 24
            } else {
                0
            };
            u64::from(input.byte()) | u64::from(input.byte()) << 8 | junk | len << 32
        };
        let version = u64::from(input.byte()) * 0x0101_0101_0101;
        let fill = u64::from(input.byte()) * 0x0101_0101_0101_0101;
        let mut words = vec![fill; Slot::<N>::RAW_WORDS];
        words[..3].copy_from_slice(&[seq, meta, version]);
        self.slots[index].overwrite_raw(&words);
        self.changed();
    }

    fn changed(&mut self) {
        self.mutations += 1;
        self.newest = None;
    }

    fn forged_past_head(&self) -> bool {
        self.forged
            .is_some_and(|f| f >= self.base + self.ring.head())
    }

    /// Properties 1, 2, 3, 4, 6 and 7 around one poll of `t`.
    fn poll_tracked(&mut self, t: &mut Tracked, how: How) -> Poll {
        let (ring, cap) = (self.ring, self.cap);
        let (head, old) = (ring.head(), t.cursor.next_counter());
        let mut frames: Vec<Frame<N>> = Vec::new();
        let mut visit = |f: FrameRef<'_>| {
            assert!(f.payload.len() <= N, "payload of {} bytes", f.payload.len());
            frames.push(Frame::from_ref(&f).expect("fits"));
        };
        let loads_before = slot_loads_for_test();
        let (patience, poll) = match how {
            How::Poll => (Patience::Polls, ring.poll(&mut t.cursor, visit)),
            How::With(patience) => (patience, ring.poll_with(&mut t.cursor, patience, visit)),
            How::Limit(patience, n) => {
                (patience, ring.poll_limit(&mut t.cursor, patience, n, visit))
            }
            How::Into(n) => {
                let mut out = vec![Frame::empty(); n];
                let (filled, poll) = ring.poll_into(&mut t.cursor, &mut out);
                assert_eq!(filled as u64, poll.delivered);
                out[..filled].iter().for_each(|f| visit(f.as_ref()));
                (Patience::Polls, poll)
            }
        };
        let loads = slot_loads_for_test() - loads_before;
        assert!(
            loads <= max_loads(cap),
            "{how:?}: {loads} slot loads, capacity {cap}"
        );
        let new = t.cursor.next_counter();
        let ctx = || format!("{how:?} from {old} to {new}, head {head}: {poll:?}");
        assert_eq!(ring.head(), head);
        // 2. Where the poll restarted from, and the accounting from there.
        let from = if t.joined.is_some_and(|b| b != self.base) {
            assert!(poll.rewound, "a reset not reported: {}", ctx());
            0
        } else if poll.rewound {
            assert!(
                old > head,
                "rewound without a reset or a cursor past the head: {}",
                ctx()
            );
            head
        } else {
            assert!(
                old <= head || self.forged_past_head(),
                "left past the head: {}",
                ctx()
            );
            old
        };
        assert!(
            new >= from && poll.accounted() == new - from,
            "accounting: {}",
            ctx()
        );
        // 1. Frames.
        assert_eq!(poll.delivered, frames.len() as u64, "{}", ctx());
        if let How::Limit(_, n) | How::Into(n) = how {
            assert!(frames.len() <= n, "over the limit: {}", ctx());
        }
        let mut expect = from;
        for f in &frames {
            assert!(
                f.counter >= expect && f.counter < new,
                "frame {} out of order: {}",
                f.counter,
                ctx()
            );
            assert!(
                f.id.kind() == ring.kind() && f.id.matches_counter(f.counter),
                "{f:?}"
            );
            expect = f.counter + 1;
        }
        // 3. Past the head only over delivered frames, and only where a slot was forged.
        let floor = head.max(from);
        let beyond = frames.iter().filter(|f| f.counter >= floor).count() as u64;
        assert_eq!(
            new.saturating_sub(floor),
            beyond,
            "passed the head uncounted: {}",
            ctx()
        );
        assert!(
            new <= head || self.forged_past_head(),
            "past the head: {}",
            ctx()
        );
        if let Some(at) = poll.stalled_at {
            assert!(at == new && at < head, "stalled_at: {}", ctx());
        }
        for f in frames
            .iter()
            .filter(|f| f.counter < head && head - f.counter <= cap)
        {
            assert_eq!(
                ring.read(f.id).as_ref(),
                Some(f),
                "a delivered frame reads back: {}",
                ctx()
            );
        }
        // 7. Tagged frames: published in this generation, there, once per cursor.
        for f in &frames {
            if let Some(serial) = self.tagged(f) {
                assert!(
                    t.delivered.insert(serial),
                    "frame {serial} delivered twice: {}",
                    ctx()
                );
            }
        }
        // 6. A stall run at `old`, memory unchanged since: stall again unless patience is spent.
        if let (true, Some((c, run))) = (t.seen_at == self.mutations, t.stalled)
            && c == old
        {
            let give_up = match patience {
                Patience::Polls => run >= self.k,
                Patience::Wait => false,
                Patience::GiveUpOn(d) => d == c,
            };
            if give_up {
                assert!(
                    new > c && poll.loss.unavailable >= 1,
                    "gave up on {c} after {run}: {}",
                    ctx()
                );
            } else {
                assert!(
                    poll.stalled_at == Some(c) && new == c,
                    "gave up on {c} after {run}: {}",
                    ctx()
                );
            }
        }
        t.stalled = poll.stalled_at.map(|c| match t.stalled {
            Some((prev, run)) if prev == c && c == old && !poll.rewound => (c, run + 1),
            _ => (c, 1),
        });
        t.seen_at = self.mutations;
        t.joined = Some(self.base);
        poll
    }

    fn poll(&mut self, which: usize, how: How) {
        let mut t = std::mem::take(&mut self.cursors[which]);
        self.poll_tracked(&mut t, how);
        self.cursors[which] = t;
    }

    /// Property 7 (and 8 for reads): a tagged frame is one of this generation's publishes, at
    /// its counter, with its payload. Returns its serial.
    fn tagged(&self, f: &Frame<N>) -> Option<u64> {
        if f.version >> 56 != TAG >> 56 {
            return None;
        }
        let serial = f.version & !TAG;
        let rec = &self.published[usize::try_from(serial).expect("small")];
        assert_eq!(
            rec.generation, self.generation,
            "frame {serial} of an older generation: {f:?}"
        );
        assert_eq!(
            (rec.counter, rec.kind, &rec.payload[..]),
            (f.counter, f.kind, &f.payload[..])
        );
        Some(serial)
    }

    /// Property 8: a publish through the ring or the exclusive writer.
    fn publish(&mut self, writer: bool, kind: u8, len: usize) -> Result<NetId64, PublishError> {
        let serial = self.published.len() as u64;
        let payload: Vec<u8> = (0..len)
            .map(|i| (serial as u8) ^ (i as u8).wrapping_mul(37))
            .collect();
        let (before, leased) = (self.ring.head(), self.writer.is_some());
        let result = match self.writer.as_mut() {
            Some(w) if writer => w.publish(kind, TAG | serial, &payload),
            _ => self.ring.publish(kind, TAG | serial, &payload),
        };
        self.changed();
        let (after, internal) = (self.ring.head(), self.base + before);
        match result {
            Ok(id) => {
                assert!(after == before + 1 && internal <= MAX_COUNTER && len <= N);
                assert!(id.kind() == self.ring.kind() && id.node() == self.ring.node());
                assert!(id.matches_counter(before), "{id:?} for counter {before}");
                self.published.push(Published {
                    generation: self.generation,
                    counter: before,
                    kind,
                    payload: payload.clone(),
                });
                self.ids.push(id);
                let frame = Frame::from_ref(&FrameRef {
                    id,
                    counter: before,
                    kind,
                    version: TAG | serial,
                    payload: &payload,
                });
                assert_eq!(self.ring.read(id), frame, "a publish reads back");
                if !self.forged_past_head() {
                    assert_eq!(
                        self.ring.read_head(),
                        frame,
                        "a publish is the newest frame"
                    );
                }
                self.newest = Some(serial);
            }
            Err(PublishError::PayloadTooLarge { .. }) => assert!(len > N && after == before),
            Err(PublishError::Leased) => assert!(leased && !writer && after == before),
            Err(PublishError::CounterExhausted { .. }) => {
                assert!(internal > MAX_COUNTER && after == before)
            }
            Err(e @ (PublishError::SlotBusy { .. } | PublishError::Lapped { .. })) => {
                assert!(e.is_transient() && after == before + 1, "{e:?}");
            }
            Err(e) => panic!("single-threaded publish failed with {e:?}"),
        }
        result
    }

    /// A stuck write or an abandoned claim through a test hook; returns the hook's result.
    fn claim(
        &mut self,
        hook: impl FnOnce(&Ring<'a, N>) -> Result<u64, PublishError>,
    ) -> Result<u64, PublishError> {
        let before = self.ring.head();
        let result = hook(&self.ring);
        self.changed();
        let after = self.ring.head();
        match result {
            Ok(c) => assert!(c == before && after == before + 1, "{c} {before} {after}"),
            Err(PublishError::Leased) => assert!(self.writer.is_some() && after == before),
            Err(PublishError::SlotBusy { .. } | PublishError::Lapped { .. }) => {
                assert_eq!(after, before + 1)
            }
            Err(PublishError::CounterExhausted { .. }) => assert_eq!(after, before),
            Err(e) => panic!("test hook failed with {e:?}"),
        }
        result
    }

    fn read_head(&mut self) {
        let loads_before = slot_loads_for_test();
        let got = self.ring.read_head();
        assert!(
            slot_loads_for_test() - loads_before <= self.cap,
            "read_head loads"
        );
        if let Some(f) = &got {
            let end = self.ring.head() + u64::from(self.writer.is_some());
            assert!(
                f.counter < end
                    && f.id.kind() == self.ring.kind()
                    && f.id.matches_counter(f.counter),
                "{f:?}"
            );
            self.tagged(f);
        }
        if let (Some(serial), false) = (self.newest, self.forged_past_head()) {
            assert_eq!(
                got.map(|f| f.version),
                Some(TAG | serial),
                "read_head is the last publish"
            );
        }
    }

    fn read(&mut self, id: NetId64) {
        let loads_before = slot_loads_for_test();
        let got = self.ring.read(id);
        assert!(slot_loads_for_test() - loads_before <= 1, "read loads");
        if let Some(f) = got {
            let end = self.ring.head() + u64::from(self.writer.is_some());
            assert!(
                f.id == id && f.counter < end && id.matches_counter(f.counter),
                "{id:?}: {f:?}"
            );
            self.tagged(&f);
        }
    }

    /// `Ring::reset` (`by_writer: None`) or `ExclusiveWriter::reset`.
    fn reset(&mut self, by_writer: Option<()>) {
        let head = self.ring.head();
        let result = match (by_writer, self.writer.as_mut()) {
            (Some(()), Some(w)) => w.reset(),
            (Some(()), None) => return,
            (None, _) => self.ring.reset(),
        };
        self.changed();
        if self.writer.is_some() && by_writer.is_none() {
            assert_eq!(result, Err(PublishError::Leased));
            return;
        }
        assert_eq!(result, Ok(()));
        (self.base, self.generation) = (self.base + head, self.generation + 1);
        assert_eq!(
            (self.ring.head(), self.ring.generation()),
            (0, self.generation)
        );
        if self.writer.is_none() {
            assert_eq!(self.ring.read_head(), None, "a reset ring reads empty");
        }
    }

    fn take_writer(&mut self) {
        let (taken, held) = (self.ring.exclusive_writer(), self.writer.is_some());
        self.changed();
        match (taken, held) {
            (Ok(w), false) => self.writer = Some(w),
            (Err(PublishError::Leased), true) => {}
            (other, _) => panic!("exclusive_writer: {other:?}"),
        }
        assert!(
            self.ring.writer_leased() && self.ring.lease_holder().is_some_and(|t| t.is_writer())
        );
    }

    fn drop_writer(&mut self) {
        let head = self.ring.head();
        self.writer = None;
        self.changed();
        assert!(!self.ring.writer_leased() && self.ring.lease_holder().is_none());
        assert_eq!(self.ring.head(), head);
    }

    /// Property 5: a stuck counter, then a later commit; a fresh reader at the counter must
    /// account for it within its bound. Repeated over `rounds`, with filler publishes between,
    /// so later rounds land on laps of slots earlier rounds left odd.
    fn stuck(&mut self, input: &mut Input<'_>) {
        let (variant, fill) = (input.byte(), input.byte());
        let odd = variant & 1 == 0;
        for _ in 0..=(variant >> 3) % 4 {
            if self.writer.is_some() {
                return;
            }
            for _ in 0..u64::from(fill) % (self.cap + 1) {
                let _ = self.publish(false, 1, 1);
            }
            // (`claim_only_for_test` does not refuse exhausted counters.)
            if self.base + self.ring.head() >= MAX_COUNTER {
                return;
            }
            let mut t = Tracked::new(self.ring.cursor_at_head(), Some(self.base));
            let c = t.cursor.next_counter();
            let made = if odd {
                self.claim(|ring| ring.stall_mid_write_for_test(2, 7, &[0xEE; 8], 1))
            } else {
                self.claim(|ring| ring.claim_only_for_test())
            };
            // The slot is odd for `c` (or, on a later lap, for an older counter), or untaken.
            let stuck = made.is_ok() || (odd && matches!(made, Err(PublishError::SlotBusy { .. })));
            if !stuck || self.publish(false, 1, 1).is_err() {
                continue;
            }
            t.seen_at = self.mutations;
            let (patience, wait) = match (variant >> 1) % 3 {
                0 => (Patience::Polls, Some(self.k)),
                1 => (Patience::GiveUpOn(c), Some(0)),
                _ => (Patience::GiveUpOn(c + 1), None),
            };
            let idle = if odd { 0 } else { self.p };
            let tries = wait.map_or(self.p + self.k + 2, |k| idle + k + 1);
            let mut passed = None;
            for i in 1..=tries {
                let how = match (patience, i % 3) {
                    (Patience::Polls, 0) => How::Into(1),
                    (Patience::Polls, 1) => How::Poll,
                    _ => How::With(patience),
                };
                self.poll_tracked(&mut t, how);
                if t.cursor.next_counter() > c {
                    passed = Some(i);
                    break;
                }
            }
            match wait {
                Some(k) => assert!(
                    passed.is_some(),
                    "stuck {c} (odd: {odd}) not accounted within {idle} + {k} + 1 polls"
                ),
                None if odd => assert_eq!(passed, None, "gave up on {c} under {patience:?}"),
                None => {}
            }
        }
    }

    /// Property 5, the end of the program: with memory left alone, every cursor reaches a poll
    /// that accounts nothing within a bounded number of polls (each counter costs at most
    /// `p` idle polls and `k` stalls; a cursor has at most a window, a jump and the frames
    /// forged past the head to walk).
    fn finish(&mut self) {
        self.drop_writer();
        let bound = (self.p + self.k + 2) as u64 * (2 * self.cap + 6);
        let quiet = self.p.max(1);
        for which in 0..3 {
            let mut t = std::mem::take(&mut self.cursors[which]);
            let (mut polls, mut calm) = (0, 0);
            while calm < quiet {
                polls += 1;
                assert!(
                    polls <= bound,
                    "cursor {which} not settled after {bound} polls"
                );
                let poll = self.poll_tracked(&mut t, How::Poll);
                let still = poll.is_empty() && poll.stalled_at.is_none() && !poll.rewound;
                calm = if still { calm + 1 } else { 0 };
            }
        }
    }
}
