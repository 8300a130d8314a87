//! Threaded comparisons, 64-byte payloads, 1024-slot rings / channels, one criterion run per
//! group so the ratios are taken together:
//!
//! * `spsc/64B/<impl>` — one writer thread (core 0), one reader thread (core 1), both flat out.
//!   Time per *delivered* frame, so criterion's throughput is delivered frames/s; delivered and
//!   lost counts are printed and appended to
//!   `benches/suite/target/criterion/orbit-counts.jsonl`.
//! * `fanout/64B/<impl>` — one writer (core 0), four readers sharing core 1; time per delivered
//!   reader-frame (throughput = frames delivered, summed over the four readers, per second).
//! * `mpw/64B/<w>w/<impl>` — 2 and 4 writers on one ring (round-robin over both cores) and one
//!   reader (core 1); `mpw-noreader` the same writers with no reader (orbit, tokio: lossy peers
//!   only), time per successful publish.
//! * `latency/64B/<impl>` — one writer publishing one frame every 2 µs, one reader; criterion's
//!   time is the mean one-way latency (publish start → frame in the reader's hands); the full
//!   distribution goes to `benches/suite/target/criterion/latency/64B/<impl>/orbit-latency.json`.
//!
//! The writer loop and the reader loop (including the idle strategy) are the same code for every
//! implementation; only the publish / poll calls differ.
//! `cargo bench --manifest-path benches/suite/Cargo.toml --bench peers`.
#![allow(clippy::disallowed_types)] // std atomics in the shared bench code.

mod common;

use std::cell::RefCell;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{
    CAPACITY, Floor, Histogram, Idle, Outcome, PAYLOAD, Payload, ReaderFn, Tally, WriterFn,
    payload, per_delivered, session, stamp_of,
};
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, measurement::WallTime};
use disruptor::{BusySpin, Producer};
use orbit_rs::{Cursor, Head, NodeId, Ring, Slot};

/// The implementations compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Impl {
    Orbit,
    Floor,
    Tokio,
    Crossbeam,
    Bus,
    Disruptor,
}

impl Impl {
    const ALL: [Impl; 6] = [
        Impl::Orbit,
        Impl::Floor,
        Impl::Tokio,
        Impl::Crossbeam,
        Impl::Bus,
        Impl::Disruptor,
    ];
    /// Those that take several writers on one ring / channel.
    const MULTI_WRITER: [Impl; 4] = [Impl::Orbit, Impl::Tokio, Impl::Crossbeam, Impl::Disruptor];

    fn name(self) -> &'static str {
        match self {
            Impl::Orbit => "orbit",
            Impl::Floor => "floor",
            Impl::Tokio => "tokio",
            Impl::Crossbeam => "crossbeam",
            Impl::Bus => "bus",
            Impl::Disruptor => "disruptor",
        }
    }
}

/// One session's shape.
#[derive(Clone, Copy)]
struct Scenario {
    writers: usize,
    readers: usize,
    /// `Some(period)`: writers publish one frame per period, stamped with the time since
    /// `base`; `None`: flat out, stamped with the frame's index.
    pace: Option<Duration>,
    base: Instant,
}

impl Scenario {
    fn idle(&self) -> fn() -> Idle {
        if self.readers > 1 || self.writers > 1 {
            Idle::shared
        } else {
            Idle::spin
        }
    }
}

/// Writer `w`'s share of `n` frames.
fn share(n: u64, w: usize, writers: usize) -> u64 {
    let writers = writers as u64;
    n / writers + u64::from((w as u64) < n % writers)
}

/// The writer loop shared by every implementation: `send` returns false if the publish was
/// refused (orbit's abandoned frames). Returns the refusals.
fn drive(frames: u64, sc: &Scenario, mut send: impl FnMut(&Payload) -> bool) -> u64 {
    let mut refused = 0;
    match sc.pace {
        None => {
            for i in 0..frames {
                refused += u64::from(!send(&payload(i)));
            }
        }
        Some(period) => {
            let start = sc.base.elapsed();
            for i in 0..frames {
                let due = start + period * u32::try_from(i).unwrap_or(u32::MAX);
                while sc.base.elapsed() < due {
                    std::hint::spin_loop();
                }
                let now = sc.base.elapsed().as_nanos() as u64;
                refused += u64::from(!send(&payload(now)));
            }
        }
    }
    refused
}

/// What every reader does with a frame: count it (flat out), or record its latency (paced).
#[derive(Clone, Copy)]
struct Sink<'a> {
    latency: Option<(Instant, &'a Mutex<Histogram>)>,
}

impl Sink<'_> {
    #[inline]
    fn take(&self, bytes: &[u8]) {
        match self.latency {
            None => common::consume(bytes),
            Some((base, hist)) => {
                let now = base.elapsed().as_nanos() as u64;
                let ns = now.saturating_sub(stamp_of(bytes));
                hist.lock().unwrap().record(ns);
            }
        }
    }
}

fn run(which: Impl, sc: &Scenario, sink: Sink<'_>, n: u64) -> Outcome {
    match which {
        Impl::Orbit => run_orbit(sc, sink, n),
        Impl::Floor => run_floor(sc, sink, n),
        Impl::Tokio => run_tokio(sc, sink, n),
        Impl::Crossbeam => run_crossbeam(sc, sink, n),
        Impl::Bus => run_bus(sc, sink, n),
        Impl::Disruptor => run_disruptor(sc, sink, n),
    }
}

fn run_orbit(sc: &Scenario, sink: Sink<'_>, n: u64) -> Outcome {
    let slots: Vec<Slot<PAYLOAD>> = (0..CAPACITY).map(|_| Slot::new()).collect();
    let head = Head::new();
    let ring = Ring::new(&slots, &head).unwrap().with_kind(1);
    // One writer publishes through the exclusive writer (the one-writer path); several share
    // the ring through `Ring::publish`.
    let exclusive = sc.writers == 1;
    let writers = (0..sc.writers)
        .map(|w| {
            let ring = ring.with_node(NodeId(w as u16));
            let frames = share(n, w, sc.writers);
            Box::new(move || {
                let mut writer = exclusive.then(|| ring.exclusive_writer().unwrap());
                drive(frames, sc, |p| {
                    let published = match writer.as_mut() {
                        Some(writer) => writer.publish(1, 0, p),
                        None => ring.publish(1, 0, p),
                    };
                    match published {
                        Ok(_) => true,
                        Err(e) if e.is_transient() => false,
                        Err(e) => panic!("{e}"),
                    }
                })
            }) as WriterFn<'_>
        })
        .collect();
    let readers = (0..sc.readers)
        .map(|_| {
            let mut cursor = Cursor::from_start();
            Box::new(move || {
                let poll = ring.poll(&mut cursor, |f| sink.take(f.payload));
                (poll.delivered, poll.loss.total())
            }) as ReaderFn<'_>
        })
        .collect();
    session(writers, readers, n, sc.idle())
}

fn run_floor(sc: &Scenario, sink: Sink<'_>, n: u64) -> Outcome {
    assert_eq!(sc.writers, 1, "the floor has one writer");
    let ring = Floor::<{ PAYLOAD / 8 }>::new(CAPACITY);
    let mut writer = ring.writer();
    let writers = vec![Box::new(move || {
        drive(n, sc, |p| {
            writer.publish(p);
            true
        })
    }) as WriterFn<'_>];
    let readers = (0..sc.readers)
        .map(|_| {
            let mut reader = ring.reader(0);
            Box::new(move || reader.poll(|bytes| sink.take(bytes))) as ReaderFn<'_>
        })
        .collect();
    session(writers, readers, n, sc.idle())
}

fn run_tokio(sc: &Scenario, sink: Sink<'_>, n: u64) -> Outcome {
    use tokio::sync::broadcast;
    let (tx, idle_rx) = broadcast::channel::<Payload>(CAPACITY);
    let readers = (0..sc.readers)
        .map(|_| {
            let mut rx = tx.subscribe();
            Box::new(move || common::drain_tokio(&mut rx, |v| sink.take(v))) as ReaderFn<'_>
        })
        .collect();
    // With no reader, one idle receiver keeps the channel open (tokio refuses to send to none).
    let _idle = (sc.readers == 0).then_some(idle_rx);
    let writers = (0..sc.writers)
        .map(|w| {
            let tx = tx.clone();
            let frames = share(n, w, sc.writers);
            Box::new(move || drive(frames, sc, |p| tx.send(*p).is_ok())) as WriterFn<'_>
        })
        .collect();
    drop(tx);
    session(writers, readers, n, sc.idle())
}

fn run_crossbeam(sc: &Scenario, sink: Sink<'_>, n: u64) -> Outcome {
    // MPMC, not broadcast: one channel per reader, and each writer sends a copy to each.
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..sc.readers)
        .map(|_| crossbeam_channel::bounded::<Payload>(CAPACITY))
        .unzip();
    let readers = rxs
        .into_iter()
        .map(|rx| {
            Box::new(move || (common::drain(|| rx.try_recv().ok(), |v| sink.take(v)), 0u64))
                as ReaderFn<'_>
        })
        .collect();
    let writers = (0..sc.writers)
        .map(|w| {
            let txs = txs.clone();
            let frames = share(n, w, sc.writers);
            Box::new(move || {
                drive(frames, sc, |p| {
                    for tx in &txs {
                        tx.send(*p).unwrap();
                    }
                    true
                })
            }) as WriterFn<'_>
        })
        .collect();
    drop(txs);
    session(writers, readers, n, sc.idle())
}

fn run_bus(sc: &Scenario, sink: Sink<'_>, n: u64) -> Outcome {
    assert_eq!(sc.writers, 1, "bus has one writer");
    let mut bus = bus::Bus::<Payload>::new(CAPACITY);
    let readers = (0..sc.readers)
        .map(|_| {
            let mut rx = bus.add_rx();
            Box::new(move || (common::drain(|| rx.try_recv().ok(), |v| sink.take(v)), 0u64))
                as ReaderFn<'_>
        })
        .collect();
    let writers = vec![Box::new(move || {
        drive(n, sc, |p| {
            bus.broadcast(*p);
            true
        })
    }) as WriterFn<'_>];
    session(writers, readers, n, sc.idle())
}

/// The disruptor's event: the payload, written in place by the producer's closure.
#[derive(Clone, Copy)]
struct Event {
    data: Payload,
}

fn event() -> Event {
    Event { data: [0; PAYLOAD] }
}

/// A reader body over a disruptor poller (the event is copied out before use). A macro: the
/// poller's barrier type differs between single- and multi-producer disruptors, and the trait
/// bounding it is private.
macro_rules! disruptor_reader {
    ($poller:expr, $sink:expr) => {{
        let mut poller = $poller;
        let sink = $sink;
        Box::new(move || match poller.poll() {
            Ok(mut events) => {
                let mut delivered = 0u64;
                for e in &mut events {
                    let copy = e.data;
                    sink.take(&copy);
                    delivered += 1;
                }
                (delivered, 0u64)
            }
            Err(_) => (0, 0),
        }) as ReaderFn<'_>
    }};
}

fn run_disruptor(sc: &Scenario, sink: Sink<'_>, n: u64) -> Outcome {
    assert!(sc.readers >= 1, "a disruptor needs a consumer");
    if sc.writers == 1 {
        let builder = disruptor::build_single_producer(CAPACITY, event, BusySpin);
        let (first, builder) = builder.new_event_poller();
        if sc.readers == 1 {
            return disruptor_session(
                sc,
                n,
                vec![builder.build()],
                vec![disruptor_reader!(first, sink)],
            );
        }
        let mut readers = vec![disruptor_reader!(first, sink)];
        let (second, mut builder) = builder.new_event_poller();
        readers.push(disruptor_reader!(second, sink));
        for _ in 2..sc.readers {
            let (poller, next) = builder.new_event_poller();
            readers.push(disruptor_reader!(poller, sink));
            builder = next;
        }
        return disruptor_session(sc, n, vec![builder.build()], readers);
    }
    assert_eq!(
        sc.readers, 1,
        "multi-writer disruptor scenario has one reader"
    );
    let builder = disruptor::build_multi_producer(CAPACITY, event, BusySpin);
    let (poller, builder) = builder.new_event_poller();
    let first = builder.build();
    let mut producers: Vec<_> = (1..sc.writers).map(|_| first.clone()).collect();
    producers.insert(0, first);
    disruptor_session(sc, n, producers, vec![disruptor_reader!(poller, sink)])
}

fn disruptor_session<'a, P: Producer<Event> + Send + 'a>(
    sc: &'a Scenario,
    n: u64,
    producers: Vec<P>,
    readers: Vec<ReaderFn<'a>>,
) -> Outcome {
    let writers = producers
        .into_iter()
        .enumerate()
        .map(|(w, mut producer)| {
            let frames = share(n, w, sc.writers);
            Box::new(move || {
                drive(frames, sc, |p| {
                    producer.publish(|e| e.data = *p);
                    true
                })
            }) as WriterFn<'_>
        })
        .collect();
    session(writers, readers, n, sc.idle())
}

// --- groups ------------------------------------------------------------------------------------

/// Runs each implementation's sessions. A session publishes `max(iters, min_frames)` frames
/// (so that the 10 measured samples add up to at least `10 * min_frames`) and reports its time
/// per delivered frame (per successful publish with no reader) scaled to `iters`.
fn flood_group(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id_prefix: &str,
    impls: &[Impl],
    sc: Scenario,
    min_frames: u64,
) {
    for &which in impls {
        let tally = RefCell::new(Tally::default());
        group.bench_function(which.name(), |b| {
            b.iter_custom(|iters| {
                let frames = iters.max(min_frames);
                let outcome = run(which, &sc, Sink { latency: None }, frames);
                tally.borrow_mut().add(frames, &outcome);
                let counted = if sc.readers == 0 {
                    // Time per successful publish.
                    Outcome {
                        delivered: frames - outcome.abandoned,
                        ..outcome.clone()
                    }
                } else {
                    outcome
                };
                per_delivered(&counted, iters)
            });
        });
        tally
            .borrow()
            .report(&format!("{id_prefix}/{}", which.name()));
    }
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>, measure: Duration) {
    // Warm-up: one session (criterion stops warming up once the returned time passes 1 ms,
    // and every session runs at least `min_frames` frames, which is warm-up enough).
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(measure)
        .throughput(Throughput::Elements(1));
}

/// One writer flooding `readers` readers, every implementation in one group.
fn flood(c: &mut Criterion, name: &str, readers: usize, measure: Duration, frames: u64) {
    let mut group = c.benchmark_group(name);
    configure(&mut group, measure);
    let sc = Scenario {
        writers: 1,
        readers,
        pace: None,
        base: Instant::now(),
    };
    flood_group(&mut group, name, &Impl::ALL, sc, frames);
    group.finish();
}

fn spsc(c: &mut Criterion) {
    flood(c, "spsc/64B", 1, Duration::from_secs(6), 2_000_000);
}

fn fanout(c: &mut Criterion) {
    flood(c, "fanout/64B", 4, Duration::from_secs(4), 200_000);
}

fn multi_writer(c: &mut Criterion) {
    for writers in [2, 4] {
        let name = format!("mpw/64B/{writers}w");
        let mut group = c.benchmark_group(&name);
        configure(&mut group, Duration::from_secs(3));
        let sc = Scenario {
            writers,
            readers: 1,
            pace: None,
            base: Instant::now(),
        };
        flood_group(&mut group, &name, &Impl::MULTI_WRITER, sc, 200_000);
        group.finish();

        let name = format!("mpw-noreader/64B/{writers}w");
        let mut group = c.benchmark_group(&name);
        configure(&mut group, Duration::from_secs(3));
        let sc = Scenario { readers: 0, ..sc };
        flood_group(&mut group, &name, &[Impl::Orbit, Impl::Tokio], sc, 200_000);
        group.finish();
    }
}

fn latency(c: &mut Criterion) {
    const PERIOD: Duration = Duration::from_micros(2);
    let mut group = c.benchmark_group("latency/64B");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3));
    let base = Instant::now();
    let sc = Scenario {
        writers: 1,
        readers: 1,
        pace: Some(PERIOD),
        base,
    };
    for which in Impl::ALL {
        let hist = Mutex::new(Histogram::default());
        group.bench_function(which.name(), |b| {
            b.iter_custom(|iters| {
                let before = hist.lock().unwrap().clone();
                let sink = Sink {
                    latency: Some((base, &hist)),
                };
                let outcome = run(which, &sc, sink, iters);
                let after = hist.lock().unwrap();
                // Criterion's time per iteration is the mean latency of this session's frames.
                let frames = (after.count - before.count).max(1);
                let nanos = (after.sum_ns - before.sum_ns) * u128::from(iters) / u128::from(frames);
                let _ = outcome;
                Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
            });
        });
        hist.lock().unwrap().save("latency/64B", which.name());
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    spsc(&mut c);
    fanout(&mut c);
    multi_writer(&mut c);
    latency(&mut c);
    c.final_summary();
}
