//! Single-writer costs, orbit next to the floor and the peers, in one criterion run per group:
//!
//! * `publish/{8,64,256}B/<impl>/<r>r` — `publish` back to back on the criterion thread
//!   (pinned to core 0) with `r` = 0, 2 or 4 readers polling on core 1 all the while. Orbit and
//!   the floor at all three sizes; the peers at 64 B.
//! * `publish-paced/64B/<impl>/<r>r` — the same, but one frame every 2 µs and each publish
//!   timed alone, so the readers keep up and spin on the ring between frames (`timer/0r` is the
//!   cost of the two clock reads included in every paced sample).
//! * `poll/64B/<impl>` — draining a batch of 512 frames already in the ring, per frame.
//!
//! `cargo bench --manifest-path benches/suite/Cargo.toml --bench ring`; see BENCHMARKS.md for the
//! method and the results.
#![allow(clippy::disallowed_types)] // std atomics in the shared bench code.

mod common;

use std::hint::black_box;
use std::sync::atomic::AtomicBool;
use std::thread;
use std::time::{Duration, Instant};

use common::{Background, CAPACITY, Floor, PAYLOAD, Payload, ReaderFn, WRITER_CORE, consume, pin};
use criterion::{
    Bencher, BenchmarkGroup, BenchmarkId, Criterion, Throughput, measurement::WallTime,
};
use disruptor::{BusySpin, EventPoller, Producer, SingleProducerBarrier};
use orbit_rs::{Cursor, Head, PayloadSize, Ring, Slot, SupportedPayload};

/// Reader counts of the publish benches.
const READERS: [usize; 3] = [0, 2, 4];

/// Frames per timed batch where a back-pressured peer with no reader must be drained between
/// batches (crossbeam, disruptor), and in the poll benches.
const BATCH: u64 = 512;

/// The pause between two paced publishes.
const GAP: Duration = Duration::from_micros(2);

/// How the publish benches drive the writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Back to back, as fast as possible: polling readers fall a lap behind and mostly stay
    /// there, reading slots the writer is not touching.
    Flood,
    /// One frame every [`GAP`], each publish timed on its own: readers keep up and spin on the
    /// ring between frames, so the writer finds the lines it writes in the readers' caches.
    Paced,
}

impl Mode {
    fn group(self, bytes: usize) -> String {
        match self {
            Mode::Flood => format!("publish/{bytes}B"),
            Mode::Paced => format!("publish-paced/{bytes}B"),
        }
    }

    fn id(self, bytes: usize, name: &str, readers: usize) -> String {
        format!("{}/{name}/{readers}r", self.group(bytes))
    }
}

/// Runs one publish benchmark. `step(Some(n))` publishes `n` frames (timed); `step(None)`
/// drains them (untimed). Only peers that apply back-pressure with no reader need the drain
/// (crossbeam, disruptor) and say so with `needs_drain`; for the others it is a no-op.
fn measure(
    b: &mut Bencher<'_, WallTime>,
    mode: Mode,
    needs_drain: bool,
    mut step: impl FnMut(Option<u64>),
) {
    match (mode, needs_drain) {
        (Mode::Flood, false) => b.iter(|| step(Some(1))),
        (Mode::Flood, true) => b.iter_custom(|iters| batched(iters, &mut step)),
        (Mode::Paced, _) => b.iter_custom(|iters| paced(iters, &mut step)),
    }
}

/// Times `iters` publishes in batches of at most [`BATCH`], draining (untimed) in between.
fn batched(iters: u64, step: &mut impl FnMut(Option<u64>)) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(BATCH);
        let start = Instant::now();
        step(Some(n));
        total += start.elapsed();
        step(None);
        left -= n;
    }
    total
}

/// `iters` publishes, one every [`GAP`]; only the publish itself is timed (two `Instant::now`
/// calls included: the group's `timer/0r` entry measures that overhead alone).
fn paced(iters: u64, step: &mut impl FnMut(Option<u64>)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let due = Instant::now() + GAP;
        while Instant::now() < due {
            std::hint::spin_loop();
        }
        let start = Instant::now();
        step(Some(1));
        total += start.elapsed();
        step(None);
    }
    total
}

fn report(id: &str, readers: usize, counts: common::Counts) {
    if readers > 0 && counts.delivered + counts.lost > 0 {
        println!(
            "{id:<40} background readers: delivered {:>11}  lost {:>11}",
            counts.delivered, counts.lost
        );
    }
}

// --- orbit and floor at each payload size ----------------------------------------------------

/// The two ways to publish to an orbit ring: `orbit` is the one-writer path
/// ([`orbit_rs::ExclusiveWriter`]), `orbit-mw` the multi-writer `Ring::publish`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Orbit {
    Exclusive,
    MultiWriter,
}

impl Orbit {
    const BOTH: [Orbit; 2] = [Orbit::Exclusive, Orbit::MultiWriter];

    fn name(self) -> &'static str {
        match self {
            Orbit::Exclusive => "orbit",
            Orbit::MultiWriter => "orbit-mw",
        }
    }
}

fn orbit_publish<const N: usize>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    mode: Mode,
    readers: usize,
    how: Orbit,
) where
    PayloadSize<N>: SupportedPayload,
{
    let slots: Vec<Slot<N>> = (0..CAPACITY).map(|_| Slot::new()).collect();
    let head = Head::new();
    let ring = Ring::new(&slots, &head).unwrap().with_kind(1);
    let payload = [0xA5u8; N];
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let bodies: Vec<ReaderFn<'_>> = (0..readers)
            .map(|_| {
                let mut cursor: Cursor = ring.cursor_at_head();
                Box::new(move || {
                    let poll = ring.poll(&mut cursor, |f| consume(f.payload));
                    (poll.delivered, poll.loss.total())
                }) as ReaderFn<'_>
            })
            .collect();
        let bg = Background::start(s, &stop, bodies);
        let mut writer = (how == Orbit::Exclusive).then(|| ring.exclusive_writer().unwrap());
        group.bench_function(BenchmarkId::new(how.name(), format!("{readers}r")), |b| {
            measure(b, mode, false, |step| {
                for _ in 0..step.unwrap_or(0) {
                    let payload = black_box(&payload);
                    let id = match writer.as_mut() {
                        Some(writer) => writer.publish(1, 0, payload),
                        None => ring.publish(1, 0, payload),
                    };
                    black_box(id.unwrap());
                }
            });
        });
        report(&mode.id(N, how.name(), readers), readers, bg.finish());
    });
}

fn floor_publish<const N: usize, const W: usize>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    mode: Mode,
    readers: usize,
) {
    assert_eq!(N, 8 * W);
    let ring = Floor::<W>::new(CAPACITY);
    let payload = [0xA5u8; N];
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let bodies: Vec<ReaderFn<'_>> = (0..readers)
            .map(|_| {
                let mut reader = ring.reader(0);
                Box::new(move || reader.poll(consume)) as ReaderFn<'_>
            })
            .collect();
        let bg = Background::start(s, &stop, bodies);
        let mut writer = ring.writer();
        group.bench_function(BenchmarkId::new("floor", format!("{readers}r")), |b| {
            measure(b, mode, false, |step| {
                for _ in 0..step.unwrap_or(0) {
                    writer.publish(black_box(&payload));
                }
            });
        });
        report(&mode.id(N, "floor", readers), readers, bg.finish());
    });
}

// --- peers at 64 B -----------------------------------------------------------------------------

fn tokio_publish(group: &mut BenchmarkGroup<'_, WallTime>, mode: Mode, readers: usize) {
    use tokio::sync::broadcast;
    let (tx, idle_rx) = broadcast::channel::<Payload>(CAPACITY);
    let payload = [0xA5u8; PAYLOAD];
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let bodies: Vec<ReaderFn<'_>> = (0..readers)
            .map(|_| {
                let mut rx = tx.subscribe();
                Box::new(move || common::drain_tokio(&mut rx, |v| consume(v))) as ReaderFn<'_>
            })
            .collect();
        // tokio refuses to send with no receiver at all: with 0 readers one idle receiver stays
        // subscribed (it never reads; the channel overwrites like orbit's ring).
        let idle = (readers == 0).then_some(idle_rx);
        let bg = Background::start(s, &stop, bodies);
        group.bench_function(BenchmarkId::new("tokio", format!("{readers}r")), |b| {
            measure(b, mode, false, |step| {
                for _ in 0..step.unwrap_or(0) {
                    black_box(tx.send(black_box(payload)).unwrap());
                }
            });
        });
        drop(idle);
        report(&mode.id(64, "tokio", readers), readers, bg.finish());
    });
}

fn crossbeam_publish(group: &mut BenchmarkGroup<'_, WallTime>, mode: Mode, readers: usize) {
    // crossbeam's bounded channel is MPMC, not broadcast: each reader gets its own channel and
    // the writer sends a copy to each (the usual way to broadcast with it). With no reader, one
    // channel is drained on the writer thread, untimed, between timed batches.
    let channels = readers.max(1);
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..channels)
        .map(|_| crossbeam_channel::bounded::<Payload>(CAPACITY))
        .unzip();
    let payload = [0xA5u8; PAYLOAD];
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let mut local = None;
        let mut bodies: Vec<ReaderFn<'_>> = Vec::new();
        for rx in rxs {
            if readers == 0 {
                local = Some(rx);
                continue;
            }
            bodies.push(Box::new(move || {
                let mut delivered = 0u64;
                while let Ok(v) = rx.try_recv() {
                    consume(&v);
                    delivered += 1;
                }
                (delivered, 0u64)
            }));
        }
        let bg = Background::start(s, &stop, bodies);
        let needs_drain = local.is_some();
        group.bench_function(BenchmarkId::new("crossbeam", format!("{readers}r")), |b| {
            measure(b, mode, needs_drain, |step| match step {
                Some(n) => {
                    for _ in 0..n {
                        for tx in &txs {
                            tx.send(black_box(payload)).unwrap();
                        }
                    }
                }
                None => {
                    if let Some(rx) = &local {
                        while rx.try_recv().is_ok() {}
                    }
                }
            });
        });
        report(&mode.id(64, "crossbeam", readers), readers, bg.finish());
    });
}

fn bus_publish(group: &mut BenchmarkGroup<'_, WallTime>, mode: Mode, readers: usize) {
    // bus with no reader accepts every broadcast (nobody to wait for); with readers it blocks
    // when the slowest one is CAPACITY frames behind.
    let mut bus = bus::Bus::<Payload>::new(CAPACITY);
    let payload = [0xA5u8; PAYLOAD];
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let bodies: Vec<ReaderFn<'_>> = (0..readers)
            .map(|_| {
                let mut rx = bus.add_rx();
                Box::new(move || {
                    let mut delivered = 0u64;
                    while let Ok(v) = rx.try_recv() {
                        consume(&v);
                        delivered += 1;
                    }
                    (delivered, 0u64)
                }) as ReaderFn<'_>
            })
            .collect();
        let bg = Background::start(s, &stop, bodies);
        group.bench_function(BenchmarkId::new("bus", format!("{readers}r")), |b| {
            measure(b, mode, false, |step| {
                for _ in 0..step.unwrap_or(0) {
                    bus.broadcast(black_box(payload));
                }
            });
        });
        report(&mode.id(64, "bus", readers), readers, bg.finish());
    });
}

/// The disruptor's event: the payload, written in place by the producer's closure.
#[derive(Clone, Copy)]
struct Event {
    data: Payload,
}

type Poller = EventPoller<Event, SingleProducerBarrier>;

/// Drains what a disruptor poller has; returns the count. Events are copied out, like every
/// other reader's frames.
fn drain_poller(poller: &mut Poller) -> u64 {
    match poller.poll() {
        Ok(mut events) => {
            let mut delivered = 0;
            for event in &mut events {
                let copy = event.data;
                consume(&copy);
                delivered += 1;
            }
            delivered
        }
        Err(_) => 0,
    }
}

fn disruptor_publish(group: &mut BenchmarkGroup<'_, WallTime>, mode: Mode, readers: usize) {
    let builder =
        disruptor::build_single_producer(CAPACITY, || Event { data: [0; PAYLOAD] }, BusySpin);
    let (first, builder) = builder.new_event_poller();
    if readers <= 1 {
        disruptor_publish_with(group, mode, readers, builder.build(), vec![first]);
    } else {
        let mut pollers = vec![first];
        let (second, mut builder) = builder.new_event_poller();
        pollers.push(second);
        for _ in 2..readers {
            let (poller, next) = builder.new_event_poller();
            pollers.push(poller);
            builder = next;
        }
        disruptor_publish_with(group, mode, readers, builder.build(), pollers);
    }
}

fn disruptor_publish_with<P: Producer<Event>>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    mode: Mode,
    readers: usize,
    mut producer: P,
    pollers: Vec<Poller>,
) {
    let payload = [0xA5u8; PAYLOAD];
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let mut local = None;
        let mut bodies: Vec<ReaderFn<'_>> = Vec::new();
        for mut poller in pollers {
            if readers == 0 {
                local = Some(poller);
                continue;
            }
            bodies.push(Box::new(move || (drain_poller(&mut poller), 0)));
        }
        let bg = Background::start(s, &stop, bodies);
        let needs_drain = local.is_some();
        group.bench_function(BenchmarkId::new("disruptor", format!("{readers}r")), |b| {
            measure(b, mode, needs_drain, |step| match step {
                Some(n) => {
                    for _ in 0..n {
                        producer.publish(|e| e.data = black_box(payload));
                    }
                }
                None => {
                    if let Some(poller) = &mut local {
                        while drain_poller(poller) > 0 {}
                    }
                }
            });
        });
        report(&mode.id(64, "disruptor", readers), readers, bg.finish());
        drop(producer);
    });
}

// --- groups ------------------------------------------------------------------------------------

fn publish_sized<const N: usize, const W: usize>(c: &mut Criterion, mode: Mode, peers: bool)
where
    PayloadSize<N>: SupportedPayload,
{
    pin(WRITER_CORE);
    let mut group = c.benchmark_group(mode.group(N));
    group.throughput(Throughput::Elements(1));
    match mode {
        Mode::Flood => {
            group
                .sample_size(50)
                .warm_up_time(Duration::from_millis(500))
                .measurement_time(Duration::from_millis(1500));
        }
        Mode::Paced => {
            // A paced iteration takes GAP of wall time but reports only the publish: ask for a
            // little timed time, or the group would run for minutes.
            group
                .sample_size(30)
                .warm_up_time(Duration::from_millis(20))
                .measurement_time(Duration::from_millis(60));
            group.bench_function(BenchmarkId::new("timer", "0r"), |b| {
                b.iter_custom(|iters| paced(iters, &mut |_| {}));
            });
        }
    }
    for readers in READERS {
        for how in Orbit::BOTH {
            orbit_publish::<N>(&mut group, mode, readers, how);
        }
        floor_publish::<N, W>(&mut group, mode, readers);
        if peers {
            tokio_publish(&mut group, mode, readers);
            crossbeam_publish(&mut group, mode, readers);
            bus_publish(&mut group, mode, readers);
            disruptor_publish(&mut group, mode, readers);
        }
    }
    group.finish();
}

fn publish(c: &mut Criterion) {
    publish_sized::<64, 8>(c, Mode::Flood, true);
    publish_sized::<8, 1>(c, Mode::Flood, false);
    publish_sized::<256, 32>(c, Mode::Flood, false);
    publish_sized::<64, 8>(c, Mode::Paced, true);
}

/// Per delivered frame: BATCH frames are published (untimed), then one drain is timed.
fn poll(c: &mut Criterion) {
    pin(WRITER_CORE);
    let mut group = c.benchmark_group("poll/64B");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .throughput(Throughput::Elements(BATCH));
    let payload = [0x5Au8; PAYLOAD];

    {
        let slots: Vec<Slot<64>> = (0..CAPACITY).map(|_| Slot::new()).collect();
        let head = Head::new();
        let ring = Ring::new(&slots, &head).unwrap().with_kind(1);
        let mut cursor: Cursor = ring.cursor_at_head();
        group.bench_function("orbit", |b| {
            b.iter_custom(|iters| {
                timed_drains(iters, |fill| {
                    if fill {
                        cursor = ring.cursor_at_head();
                        for _ in 0..BATCH {
                            ring.publish(1, 0, &payload).unwrap();
                        }
                        return 0;
                    }
                    ring.poll(&mut cursor, |f| consume(f.payload)).delivered
                })
            });
        });
    }
    {
        let ring = Floor::<8>::new(CAPACITY);
        let mut writer = ring.writer();
        let mut reader = ring.reader(0);
        group.bench_function("floor", |b| {
            b.iter_custom(|iters| {
                timed_drains(iters, |fill| {
                    if fill {
                        reader = ring.reader(writer.next());
                        for _ in 0..BATCH {
                            writer.publish(&payload);
                        }
                        return 0;
                    }
                    reader.poll(consume).0
                })
            });
        });
    }
    {
        let (tx, mut rx) = tokio::sync::broadcast::channel::<Payload>(CAPACITY);
        channel_drains(
            &mut group,
            "tokio",
            || drop(tx.send(payload)),
            || rx.try_recv().ok(),
        );
    }
    {
        let (tx, rx) = crossbeam_channel::bounded::<Payload>(CAPACITY);
        channel_drains(
            &mut group,
            "crossbeam",
            || tx.send(payload).unwrap(),
            || rx.try_recv().ok(),
        );
    }
    {
        let mut bus = bus::Bus::<Payload>::new(CAPACITY);
        let mut rx = bus.add_rx();
        channel_drains(
            &mut group,
            "bus",
            || bus.broadcast(payload),
            || rx.try_recv().ok(),
        );
    }
    {
        let builder =
            disruptor::build_single_producer(CAPACITY, || Event { data: [0; PAYLOAD] }, BusySpin);
        let (mut poller, builder) = builder.new_event_poller();
        let mut producer = builder.build();
        group.bench_function("disruptor", |b| {
            b.iter_custom(|iters| {
                timed_drains(iters, |fill| {
                    if fill {
                        for _ in 0..BATCH {
                            producer.publish(|e| e.data = payload);
                        }
                        return 0;
                    }
                    let mut delivered = 0;
                    while delivered < BATCH {
                        delivered += drain_poller(&mut poller);
                    }
                    delivered
                })
            });
        });
    }
    group.finish();
}

/// Drain cost of a channel-like peer: [`BATCH`] sends (untimed), then one timed drain.
fn channel_drains(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    mut send: impl FnMut(),
    mut recv: impl FnMut() -> Option<Payload>,
) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            timed_drains(iters, |fill| {
                if fill {
                    (0..BATCH).for_each(|_| send());
                    return 0;
                }
                common::drain(&mut recv, |v| consume(v))
            })
        });
    });
}

/// `iters` times: `step(true)` publishes a batch (untimed), then `step(false)` drains it
/// (timed) and must return exactly [`BATCH`] delivered frames.
fn timed_drains(iters: u64, mut step: impl FnMut(bool) -> u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        step(true);
        let start = Instant::now();
        let delivered = step(false);
        total += start.elapsed();
        assert_eq!(delivered, BATCH);
    }
    total
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    publish(&mut c);
    poll(&mut c);
    c.final_summary();
}
