//! Memory per slot and per ring for 64-byte payloads and 1024 slots: orbit, the floor and the
//! peers, measured with a counting global allocator (live heap bytes after construction) next
//! to the slot types' sizes where they are public.
//!
//! `cargo bench --manifest-path benches/suite/Cargo.toml --bench memory` prints a Markdown table
//! (BENCHMARKS.md carries a copy).
#![allow(clippy::disallowed_types)] // std atomics in the counting allocator and the floor.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use common::{CAPACITY, Floor, PAYLOAD, Payload};
use disruptor::BusySpin;
use orbit_rs::{Cursor, Head, Ring, Slot};

/// Live heap bytes, counted by [`Counting`].
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// The system allocator, counting live bytes.
struct Counting;

// SAFETY: every call forwards to `System` with the caller's arguments unchanged; the counter
// does not affect the allocations.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded contract of `GlobalAlloc::alloc`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded contract of `GlobalAlloc::alloc_zeroed`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded contract of `GlobalAlloc::dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded contract of `GlobalAlloc::realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Live heap bytes that `build` leaves allocated while its result is alive.
fn heap_of<T>(build: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    let value = build();
    let after = LIVE.load(Ordering::Relaxed);
    (value, usize::try_from(after - before).unwrap_or(0))
}

struct Row {
    name: &'static str,
    slot: String,
    ring: usize,
    per_reader: String,
    note: &'static str,
}

/// The disruptor's event type of the other benches; only its size matters here.
#[derive(Clone, Copy)]
#[allow(dead_code)]
struct Event {
    data: Payload,
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list`: nothing to list, no criterion here.
    }
    let mut rows = Vec::new();

    // orbit: caller-supplied slots (here a Vec) plus one Head; a reader is a Cursor value.
    let ((slots, head), heap) = heap_of(|| {
        let slots: Vec<Slot<PAYLOAD>> = (0..CAPACITY).map(|_| Slot::new()).collect();
        (slots, Box::new(Head::new()))
    });
    let ring = Ring::new(&slots, &head).unwrap();
    let cursor: Cursor = ring.cursor_at_head();
    rows.push(Row {
        name: "orbit",
        slot: format!("{} (`size_of::<Slot<64>>()`)", size_of::<Slot<PAYLOAD>>()),
        ring: heap,
        per_reader: format!("{} (a `Cursor`, reader-owned)", size_of_val(&cursor)),
        note: concat!(
            "slots + 128 B `Head` (head word and generation on separate lines); ",
            "no allocation by the crate (static, heap or shared mapping)"
        ),
    });
    drop((slots, head));

    let (floor, heap) = heap_of(|| Floor::<{ PAYLOAD / 8 }>::new(CAPACITY));
    rows.push(Row {
        name: "floor",
        slot: format!("{}", Floor::<{ PAYLOAD / 8 }>::SLOT_BYTES),
        ring: heap,
        per_reader: "8 (its counter) + copy buffer".into(),
        note: "seq word + payload words, 64-byte aligned",
    });
    drop(floor);

    let ((tx, rx), heap) = heap_of(|| tokio::sync::broadcast::channel::<Payload>(CAPACITY));
    let (rx2, per_reader) = heap_of(|| tx.subscribe());
    rows.push(Row {
        name: "tokio broadcast",
        slot: format!("≈{} (heap / capacity)", heap / CAPACITY),
        ring: heap,
        per_reader: format!("{per_reader} heap + {} (`Receiver`)", size_of_val(&rx2)),
        note: "`Box<[Mutex<Slot<T>>]>` (rem, pos, `Option<T>`) + shared tail",
    });
    drop((tx, rx, rx2));

    let ((tx, rx), heap) = heap_of(|| crossbeam_channel::bounded::<Payload>(CAPACITY));
    rows.push(Row {
        name: "crossbeam bounded",
        slot: format!("≈{} (heap / capacity)", heap / CAPACITY),
        ring: heap,
        per_reader: format!("{heap} (broadcast needs a channel per reader)"),
        note: "`Box<[Slot<T>]>` (stamp + `MaybeUninit<T>`), padded head/tail",
    });
    drop((tx, rx));

    let (mut bus, heap) = heap_of(|| bus::Bus::<Payload>::new(CAPACITY));
    let (bus_rx, per_reader) = heap_of(|| bus.add_rx());
    rows.push(Row {
        name: "bus",
        slot: format!("≈{} (heap / capacity)", heap / CAPACITY),
        ring: heap,
        per_reader: format!("{per_reader} heap + {} (`BusReader`)", size_of_val(&bus_rx)),
        note: "1025 seats (read count, waiter, `Option<T>`) + `rleft`; plus an unparker thread (its stack is not heap)",
    });
    drop((bus_rx, bus));

    let ((poller, producer), heap) = heap_of(|| {
        let builder =
            disruptor::build_single_producer(CAPACITY, || Event { data: [0; PAYLOAD] }, BusySpin);
        let (poller, builder) = builder.new_event_poller();
        (poller, builder.build())
    });
    rows.push(Row {
        name: "disruptor",
        slot: format!(
            "≈{} (heap / capacity; the event is {} B)",
            heap / CAPACITY,
            size_of::<Event>()
        ),
        ring: heap,
        per_reader: "a padded cursor (≈128 B) per poller".into(),
        note: "`Box<[UnsafeCell<E>]>` + padded cursors; one poller included",
    });
    drop((poller, producer));

    println!(
        "\nMemory, {PAYLOAD}-byte payloads, {CAPACITY} slots (live heap bytes after construction):\n"
    );
    println!("| implementation | bytes per slot | bytes per ring | per extra reader | what |");
    println!("|---|---:|---:|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} ({:.1} KiB) | {} | {} |",
            r.name,
            r.slot,
            r.ring,
            r.ring as f64 / 1024.0,
            r.per_reader,
            r.note
        );
    }
}
