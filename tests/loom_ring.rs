//! loom models of the ring protocol: seq, lease, reset. Run with `.ci/loom.sh`
//! (`RUSTFLAGS="--cfg loom" cargo test --release --test loom_ring -- --test-threads=1`).
//!
//! Every role runs in a spawned thread and the model's main thread only joins them: loom does
//! not schedule a spawned thread before the main thread's next operation when that operation
//! is a load, so a reader on the main thread would see far fewer schedules. Every model counts
//! the executions loom explored, prints the count and fails below a floor: a model that ran
//! once proved nothing.
//!
//! Each protocol guard has a **must-fail control**: the same model with the guard switched
//! off (`orbit_rs::loom_mutants`, compiled only under `cfg(loom)`), which must panic.
#![cfg(loom)]
#![allow(clippy::disallowed_types)] // Execution counters are std atomics outside the model.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use loom::sync::Arc;
use loom::thread;
use orbit_rs::loom_mutants as mutants;
use orbit_rs::{Cursor, FrameRef, Head, NetId64, NodeId, Patience, PublishError, Ring, Slot};

/// 16-byte payloads whose two words must come from one writer: `[tag; 16]`, with the tag in
/// the version word and the id's node too.
fn check(frame: &FrameRef<'_>) -> u8 {
    let tag = frame.payload[0];
    assert!(
        frame.payload.iter().all(|&b| b == tag),
        "torn frame {:?}",
        frame.payload
    );
    assert_eq!(
        frame.version,
        u64::from(tag),
        "header and payload from different writers"
    );
    assert_eq!(frame.id.node(), NodeId(u16::from(tag)));
    tag
}

struct Shared {
    slots: Vec<Slot<16>>,
    head: Head,
}

fn shared(capacity: usize) -> Arc<Shared> {
    Arc::new(Shared {
        slots: (0..capacity).map(|_| Slot::new()).collect(),
        head: Head::new(),
    })
}

fn ring(s: &Shared, node: u16) -> Ring<'_, 16> {
    Ring::new(&s.slots, &s.head)
        .unwrap()
        .with_node(NodeId(node))
        .with_head_check_polls(1)
}

fn publish(s: &Shared, tag: u8) -> Result<NetId64, PublishError> {
    ring(s, u16::from(tag)).publish(0, u64::from(tag), &[tag; 16])
}

/// What a reader thread saw: frames as (tag, counter), whether a poll rewound, and its
/// accounting (delivered + lost since the last rewind) against its cursor.
#[derive(Debug, Default)]
struct Seen {
    frames: Vec<(u8, u64, usize)>,
    rewinds: usize,
    accounted: u64,
    next: u64,
}

/// Polls `polls` times (giving up at once on stuck counters when `impatient`).
fn read(s: &Shared, polls: usize, impatient: bool) -> Seen {
    let reader = ring(s, 0);
    let reader = if impatient {
        reader.with_stall_polls(0)
    } else {
        reader
    };
    let mut cursor = Cursor::from_start();
    let mut seen = Seen::default();
    for _ in 0..polls {
        let mut frames = Vec::new();
        let poll = reader.poll_with(&mut cursor, Patience::Polls, |f| {
            frames.push((check(&f), f.counter));
        });
        if poll.rewound {
            seen.rewinds += 1;
            seen.accounted = 0;
        }
        let generation = seen.rewinds;
        seen.frames
            .extend(frames.into_iter().map(|(t, c)| (t, c, generation)));
        seen.accounted += poll.accounted();
        thread::yield_now();
    }
    seen.next = cursor.next_counter();
    seen
}

/// Runs `model` under loom with a preemption bound, counts and prints the executions, and
/// fails if fewer than `floor` were explored.
fn explore(name: &str, bound: usize, floor: usize, model: impl Fn() + Sync + Send + 'static) {
    static EXECUTIONS: AtomicUsize = AtomicUsize::new(0);
    EXECUTIONS.store(0, Relaxed);
    let bound = std::env::var("ORBIT_LOOM_BOUND")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(bound);
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(bound);
    // Waiters spin on yields in loom's futex model: long paths, not more executions.
    builder.max_branches = 100_000;
    builder.check(move || {
        EXECUTIONS.fetch_add(1, Relaxed);
        model();
    });
    let n = EXECUTIONS.load(Relaxed);
    println!("loom model {name}: {n} executions explored (preemption bound {bound})");
    assert!(
        n >= floor,
        "{name}: only {n} executions explored, floor {floor}"
    );
}

/// Runs `model` with the protocol guard `mutant` switched off; loom must find an execution
/// that fails the model's own check whose message contains `expect` (not loom giving up).
fn must_fail(
    name: &str,
    mutant: u32,
    bound: usize,
    expect: &str,
    model: impl Fn() + Sync + Send + 'static,
) {
    mutants::ACTIVE.store(mutant, Relaxed);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(bound);
        builder.max_branches = 100_000;
        builder.check(model);
    }));
    mutants::ACTIVE.store(0, Relaxed);
    let Err(payload) = outcome else {
        panic!("control {name}: loom found no failing execution with the guard switched off");
    };
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        message.contains(expect),
        "control {name}: failed, but not as the model checks: {message:?}"
    );
    println!("loom control {name}: failed as it must ({message})");
}

// ---- seq protocol -------------------------------------------------------------------------

/// One writer publishes two frames on a one-slot ring while a reader polls: no torn frame,
/// order kept, every counter delivered or counted.
fn one_writer_one_reader() {
    let s = shared(1);
    let w = s.clone();
    let writer = thread::spawn(move || {
        publish(&w, 1).unwrap();
        publish(&w, 2).unwrap();
    });
    let r = s.clone();
    let reader = thread::spawn(move || read(&r, 2, false));
    writer.join().unwrap();
    let seen = reader.join().unwrap();
    assert!(seen.frames.windows(2).all(|w| w[0].1 < w[1].1), "{seen:?}");
    assert_eq!(seen.accounted, seen.next, "{seen:?}");
    // Afterwards a fresh poll finds the newest frame intact.
    let tail = read(&s, 1, false);
    assert_eq!(tail.frames.last().map(|f| f.0), Some(2));
}

#[test]
fn seq_one_writer_one_reader() {
    explore("one_writer_one_reader", 3, 50, one_writer_one_reader);
}

#[test]
fn control_seq_without_the_reader_fence() {
    must_fail(
        "reader fence removed",
        mutants::NO_READER_FENCE,
        3,
        "torn frame",
        one_writer_one_reader,
    );
}

/// Two multi-writers race for the one slot while a reader polls: the slot CAS lets exactly one
/// writer in at a time; frames are never torn; every counter is accounted.
fn two_lapping_writers_and_a_reader() {
    let s = shared(1);
    let writers: Vec<_> = [1u8, 2]
        .into_iter()
        .map(|tag| {
            let w = s.clone();
            thread::spawn(move || publish(&w, tag))
        })
        .collect();
    let r = s.clone();
    let reader = thread::spawn(move || read(&r, 1, true));
    let results: Vec<_> = writers.into_iter().map(|h| h.join().unwrap()).collect();
    let seen = reader.join().unwrap();
    assert_eq!(seen.accounted, seen.next, "{seen:?}");
    for result in &results {
        assert!(result.is_ok() || result.is_err_and(|e| e.is_transient()));
    }
    assert!(results.iter().any(Result::is_ok), "{results:?}");
    let head = ring(&s, 0).read_head().expect("a committed frame");
    check(&head.as_ref());
}

#[test]
fn seq_two_lapping_writers_and_a_reader() {
    explore(
        "two_lapping_writers_and_a_reader",
        2,
        200,
        two_lapping_writers_and_a_reader,
    );
}

// ---- lease: blind stores --------------------------------------------------------------------

/// A multi-writer races the lease on a one-slot ring: it may claim counter 0 before the lease
/// and take its slot only after the lease holder came by (a stale claimant), or be refused. The
/// holder publishes twice: its second frame is a blind store, which must never meet a stale
/// claimant inside the slot.
fn blind_store_with_a_stale_claimant() {
    let s = shared(1);
    let m = s.clone();
    let multi = thread::spawn(move || publish(&m, 1));
    let e = s.clone();
    let exclusive = thread::spawn(move || {
        let ring = ring(&e, 2);
        let mut writer = ring.exclusive_writer().expect("the only lease taker");
        let first = writer.publish(0, 2, &[2; 16]);
        let second = writer.publish(0, 2, &[2; 16]);
        (first, second)
    });
    let multi = multi.join().unwrap();
    let (first, second) = exclusive.join().unwrap();
    assert!(
        multi.is_ok() || multi.is_err_and(|e| e.is_transient() || e == PublishError::Leased),
        "{multi:?}"
    );
    assert!(first.is_ok() || first.is_err_and(|e| e.is_transient()));
    assert!(second.is_ok() || second.is_err_and(|e| e.is_transient()));
    // The slot's final frame is whole: a stale claimant inside it next to a blind store would
    // leave words of both (readers racing writers are the seq models' part).
    let frame = ring(&s, 0).read_head().expect("a committed frame");
    check(&frame.as_ref());
    let mut cursor = Cursor::from_start();
    let poll = ring(&s, 0).with_stall_polls(0).poll(&mut cursor, |f| {
        check(&f);
    });
    assert_eq!(poll.accounted(), cursor.next_counter());
}

#[test]
fn lease_blind_store_with_a_stale_claimant() {
    explore(
        "blind_store_with_a_stale_claimant",
        4,
        1000,
        blind_store_with_a_stale_claimant,
    );
}

#[test]
fn control_lease_blind_store_on_the_first_lap() {
    must_fail(
        "blind store without the first-lap CAS",
        mutants::NO_FIRST_LAP_CAS,
        3,
        "torn frame",
        blind_store_with_a_stale_claimant,
    );
}

// ---- reset ----------------------------------------------------------------------------------

/// A multi-writer publishes two frames while another thread resets the ring and a reader polls
/// twice. A frame is delivered under exactly the counter its writer was told (ids are relative
/// to the generation the frame belongs to), so none is delivered in the wrong generation or
/// twice; a writer that claimed before the reset and finished after it got an error, never an
/// id of the new generation.
fn reset_against_a_writer_and_a_reader() {
    let s = shared(2);
    let w = s.clone();
    let writer = thread::spawn(move || [publish(&w, 1), publish(&w, 2)]);
    let x = s.clone();
    let resetter = thread::spawn(move || {
        ring(&x, 0)
            .reset()
            .or_else(|e| match e {
                PublishError::Resetting => Ok(()),
                other => Err(other),
            })
            .unwrap();
    });
    let r = s.clone();
    let reader = thread::spawn(move || read(&r, 2, true));
    let published = writer.join().unwrap();
    resetter.join().unwrap();
    let seen = reader.join().unwrap();
    let head = ring(&s, 0).head();
    let mut told = Vec::new();
    for (tag, result) in [1u8, 2].into_iter().zip(published) {
        match result {
            Ok(id) => {
                assert!(id.counter() < 2, "tag {tag}: id {id} of no generation");
                told.push((tag, id.counter()));
            }
            Err(e) => assert!(e.is_transient(), "{e}"),
        }
    }
    for &(tag, counter, generation) in &seen.frames {
        // The id the writer got names the generation its claim was made in: the reader must
        // deliver the frame under the same counter, whatever generation it was in.
        let _ = generation;
        assert!(
            told.contains(&(tag, counter)),
            "tag {tag} delivered as counter {counter}, writer was told {told:?} (seen {seen:?})"
        );
    }
    let mut tags: Vec<u8> = seen.frames.iter().map(|f| f.0).collect();
    tags.dedup();
    assert_eq!(
        tags.len(),
        seen.frames.len(),
        "a frame delivered twice: {seen:?}"
    );
    assert!(head <= 2);
}

#[test]
fn reset_against_a_writer_and_a_reader_model() {
    explore(
        "reset_against_a_writer_and_a_reader",
        2,
        500,
        reset_against_a_writer_and_a_reader,
    );
}

#[test]
fn control_reset_without_the_readers_base_check() {
    must_fail(
        "reader delivers without the base check",
        mutants::NO_BASE_CHECK,
        2,
        "writer was told",
        reset_against_a_writer_and_a_reader,
    );
}

#[test]
fn control_reset_without_the_delivery_runs_base_check() {
    must_fail(
        "the delivery run delivers without the base check",
        mutants::NO_RUN_BASE_CHECK,
        2,
        "writer was told",
        reset_against_a_writer_and_a_reader,
    );
}

// ---- lease identity ---------------------------------------------------------------------------

/// A holder (owner 1) took the lease and published; then, concurrently: its release (drop), a
/// breaker that takes it for gone and breaks its token, a second taker (owner 2) that publishes
/// twice, and a multi-writer. Whichever wins, the release and the break end the same lease at
/// most once, the second holder is never refused as `LeaseLost` (nobody breaks it, and a
/// broken holder's release leaves it alone), no lease is left behind, frames stay intact.
///
/// Breaking is only ever safe for a holder that is gone or between operations, as here: a
/// holder broken inside a publish cannot be stopped (see `ExclusiveWriter`).
fn release_against_break_and_take() {
    // Leaked so the first holder's writer can move into a thread (one small leak per execution).
    let s: &'static Shared = Box::leak(Box::new(Shared {
        slots: (0..1).map(|_| Slot::new()).collect(),
        head: Head::new(),
    }));
    let mut first = ring(s, 1).exclusive_writer_for(1).expect("first taker");
    first.publish(0, 1, &[1; 16]).unwrap();
    let release = thread::spawn(move || drop(first));
    let breaker = thread::spawn(move || {
        let ring = ring(s, 0);
        match ring.lease_holder() {
            // A closing token names its closer, here the live first holder releasing: only a
            // gone closer's close may be taken over, so the breaker leaves it alone.
            Some(holder) if holder.owner() == 1 && holder.is_writer() => {
                Some((holder, ring.break_lease(holder, 9)))
            }
            _ => None,
        }
    });
    let second = thread::spawn(move || {
        let mut writer = match ring(s, 2).exclusive_writer_for(2) {
            Ok(w) => w,
            Err(e) => return Err(e),
        };
        Ok([
            writer.publish(0, 2, &[2; 16]),
            writer.publish(0, 2, &[2; 16]),
        ])
    });
    let multi = thread::spawn(move || publish(s, 3));
    release.join().unwrap();
    let broke = breaker.join().unwrap();
    let second = second.join().unwrap();
    let multi = multi.join().unwrap();
    for result in second.iter().flatten() {
        assert!(
            result.is_ok() || result.is_err_and(|e| e.is_transient()),
            "the second holder was never broken, yet: {result:?}"
        );
    }
    assert!(
        multi.is_ok() || multi.is_err_and(|e| e.is_transient() || e == PublishError::Leased),
        "{multi:?}"
    );
    let ring = ring(s, 0);
    assert!(!ring.writer_leased(), "every lease ended");
    assert_eq!(ring.lease_holder(), None, "every lease ended");
    let frame = ring.read_head().unwrap_or_else(|| {
        panic!("no frame: {ring:?} second {second:?} multi {multi:?} breaker {broke:?}")
    });
    check(&frame.as_ref());
}

#[test]
fn lease_release_against_break_and_take() {
    explore(
        "release_against_break_and_take",
        2,
        500,
        release_against_break_and_take,
    );
}

#[test]
fn control_lease_release_without_the_token() {
    must_fail(
        "release clears the lease without checking the token",
        mutants::RELEASE_WITHOUT_TOKEN,
        2,
        "the second holder was never broken",
        release_against_break_and_take,
    );
}

/// The counter a publish was handed, if it got one: its id's, or the one it abandoned.
fn handed(result: &Result<NetId64, PublishError>) -> Option<u64> {
    match result {
        Ok(id) => Some(id.counter()),
        Err(PublishError::SlotBusy { counter, .. } | PublishError::Lapped { counter }) => {
            Some(*counter)
        }
        Err(_) => None,
    }
}

/// A breaker breaks the first taker (owner 1) *while it is still taking* the lease, at any
/// step of the take: the model of a taker that died mid-take (whose remaining steps never run)
/// is a live taker whose remaining steps run after the break, the superset. Meanwhile a second
/// taker (owner 2) takes the lease and publishes once, and a multi-writer publishes (`during`:
/// concurrently with all of it; else after it). Every counter is handed out once, the head
/// ends at the number handed out, no lease is left behind, and the next publish gets the next
/// counter.
///
/// The second taker publishes only once the first taker's take has returned. Its take races
/// the first taker's take and the break; its publish does not race the first taker's bit RMW,
/// because loom 0.7 models that race unsoundly: an RMW that reads a value while a plain store
/// of another thread to the same word is pending may end up *after* that store in the
/// modification order without reading it (loom issues #254 and #389). Here that loses the
/// holder's head store, so its counter is handed out again: an execution C++ forbids.
fn break_mid_take(during: bool) {
    let s = shared(1);
    let a = s.clone();
    let first = thread::spawn(move || ring(&a, 1).exclusive_writer_for(1).map(drop));
    let b = s.clone();
    let breaker = thread::spawn(move || {
        let ring = ring(&b, 0);
        match ring.lease_holder() {
            Some(holder) if holder.owner() == 1 && holder.is_writer() => {
                Some(ring.break_lease(holder, 9))
            }
            _ => None,
        }
    });
    let c = s.clone();
    let second = thread::spawn(move || {
        let taken = ring(&c, 2).exclusive_writer_for(2);
        let first = first.join().unwrap();
        let published = taken.map(|mut writer| writer.publish(0, 2, &[2; 16]));
        (first, published)
    });
    let d = s.clone();
    let multi = during.then(|| thread::spawn(move || publish(&d, 3)));
    let broke = breaker.join().unwrap();
    let (first, second) = second.join().unwrap();
    let multi = match multi {
        Some(multi) => multi.join().unwrap(),
        None => publish(&s, 3),
    };
    let mut counters: Vec<u64> = second.iter().chain([&multi]).filter_map(handed).collect();
    let ring = ring(&s, 0);
    let what =
        || format!("first {first:?} breaker {broke:?} second {second:?} multi {multi:?} {ring:?}");
    counters.sort_unstable();
    let handed_out = counters.len();
    counters.dedup();
    assert_eq!(
        counters.len(),
        handed_out,
        "a counter handed out twice: {}",
        what()
    );
    assert!(!ring.writer_leased(), "a lease bit left behind: {}", what());
    assert_eq!(ring.lease_holder(), None, "a lease left behind: {}", what());
    assert_eq!(
        ring.head(),
        handed_out as u64,
        "the head is not the count of counters handed out: {}",
        what()
    );
    assert_eq!(
        ring.publish(0, 4, &[4; 16]).map(|id| id.counter()),
        Ok(handed_out as u64),
        "the next publish: {}",
        what()
    );
}

#[test]
fn lease_break_mid_take() {
    explore("break_mid_take", 4, 10_000, || break_mid_take(false));
}

#[test]
fn lease_break_mid_take_during_a_multi_writer() {
    explore("break_mid_take_during_a_multi_writer", 1, 1000, || {
        break_mid_take(true)
    });
}

#[test]
fn control_lease_confirm_take_by_load() {
    must_fail(
        "taker confirms its token with a load",
        mutants::CONFIRM_TAKE_BY_LOAD,
        2,
        "a lease bit left behind",
        || break_mid_take(false),
    );
}

#[test]
fn control_lease_broken_taker_leaves() {
    must_fail(
        "broken taker leaves before the closer is done",
        mutants::BROKEN_TAKER_LEAVES,
        2,
        "a lease bit left behind",
        || break_mid_take(false),
    );
}

// ---- dead-writer slot recovery ------------------------------------------------------------

/// Owner tag of the writer the model treats as dead (its process gone, as the kernel tells the
/// `std` layer): it committed counter 0 and then stopped mid-write on counter 1, before any
/// thread started. Tag 9 writes live.
const DEAD: u32 = 8;
const LIVE: u8 = 9;

fn tagged(s: &Shared, tag: u8) -> Ring<'_, 16> {
    ring(s, u16::from(tag)).with_owner(u32::from(tag))
}

/// A dead writer's odd slot (counter 1) is returned to service by readers that ask
/// `stalled_writer` and find the dead tag — at any moment they are waiting on a counter, which
/// covers any `stuck_after` deadline — while a live writer publishes counter 2 on the slot the
/// dead writer used before. Two recoverers race on counter 1. No frame is torn, exactly one
/// recovery wins, the live writer's frame is never recovered under it, every counter is
/// accounted, and the recovered slot takes the next lap's frame.
fn recover_a_dead_writers_slot() {
    let s = shared(2);
    tagged(&s, DEAD as u8)
        .publish(0, u64::from(DEAD), &[DEAD as u8; 16])
        .unwrap();
    tagged(&s, DEAD as u8)
        .stall_mid_write_for_test(0, u64::from(DEAD), &[DEAD as u8; 16], 1)
        .unwrap();
    let w = s.clone();
    let live = thread::spawn(move || tagged(&w, LIVE).publish(0, u64::from(LIVE), &[LIVE; 16]));
    let r2 = s.clone();
    let rival = thread::spawn(move || {
        let ring = tagged(&r2, 0);
        let cursor = Cursor::from_counter(1);
        ring.stalled_writer(&cursor) == Some(DEAD) && ring.recover_stalled(&cursor, DEAD)
    });
    let r = s.clone();
    let reader = thread::spawn(move || {
        let ring = tagged(&r, 0);
        let mut cursor = Cursor::from_start();
        let (mut delivered, mut lost, mut recovered) = (Vec::new(), 0, 0);
        for _ in 0..3 {
            let poll = ring.poll_with(&mut cursor, Patience::Wait, |f| {
                delivered.push((check(&f), f.counter));
            });
            lost += poll.loss.total();
            if let Some(tag) = ring.stalled_writer(&cursor)
                && tag == DEAD
                && ring.recover_stalled(&cursor, tag)
            {
                recovered += 1;
            }
            thread::yield_now();
        }
        (delivered, lost, recovered, cursor.next_counter())
    });
    let live = live.join().unwrap();
    let rival = rival.join().unwrap();
    let (delivered, lost, recovered, next) = reader.join().unwrap();
    assert!(live.is_ok(), "the live writer was refused: {live:?}");
    assert!(
        usize::from(rival) + recovered <= 1,
        "two recoveries of one slot"
    );
    assert_eq!(
        delivered.len() as u64 + lost,
        next,
        "{delivered:?} lost {lost}"
    );
    assert!(
        delivered
            .iter()
            .all(|&f| f == (DEAD as u8, 0) || f == (LIVE, 2)),
        "the dead writer's frame was delivered: {delivered:?}"
    );
    // Whoever recovered it, counter 1's slot is back in service once a recoverer ran; if
    // neither got to it (the reader never waited there), recover it now.
    let ring = tagged(&s, 0);
    let at_one = Cursor::from_counter(1);
    if ring.stalled_writer(&at_one) == Some(DEAD) {
        assert!(ring.recover_stalled(&at_one, DEAD));
    }
    tagged(&s, LIVE)
        .publish(0, u64::from(LIVE), &[LIVE; 16])
        .expect("slot 1 back in service");
    // A fresh reader: counters 0 and 1 are out of the window, 2 and 3 the live writer's, intact.
    let mut cursor = Cursor::from_start();
    let mut tags = Vec::new();
    let poll = ring.poll_with(&mut cursor, Patience::Wait, |f| tags.push(check(&f)));
    assert_eq!(
        tags,
        [LIVE, LIVE],
        "the live writer's frame was recovered under it: {poll:?}"
    );
    assert_eq!(poll.loss.total(), 2, "{poll:?}");
}

#[test]
fn recover_a_dead_writers_slot_model() {
    explore(
        "recover_a_dead_writers_slot",
        2,
        200,
        recover_a_dead_writers_slot,
    );
}

#[test]
fn control_recover_trusting_a_stale_writer_word() {
    must_fail(
        "recovery trusts a stale writer word",
        mutants::TRUST_STALE_WRITER,
        2,
        "the live writer's frame was recovered",
        recover_a_dead_writers_slot,
    );
}

// ---- waiting ------------------------------------------------------------------------------

/// A reader that waits (no timeout) for what comes after its cursor, then polls: the wait must
/// end (a lost wake-up leaves it asleep after the writers finished, which loom's futex model in
/// `park.rs` reports) and only with news.
fn wait_then_poll(s: &Shared) -> u64 {
    wait_and_poll(&ring(s, 0), &mut Cursor::from_start()).delivered
}

/// One wait of `reader` for news after `cursor`, then the poll it promised.
fn wait_and_poll(reader: &Ring<'_, 16>, cursor: &mut Cursor) -> orbit_rs::Poll {
    assert_eq!(
        reader.wait(cursor, std::time::Duration::MAX),
        orbit_rs::Waited::Ready
    );
    let poll = reader.poll_with(cursor, Patience::Wait, |f| {
        check(&f);
    });
    assert!(
        !poll.is_empty() || poll.rewound,
        "woken without news: {poll:?}"
    );
    poll
}

/// One multi-writer publish against one waiting reader.
fn waiting_for_a_publish() {
    let s = shared(2);
    let r = s.clone();
    let reader = thread::spawn(move || wait_then_poll(&r));
    let w = s.clone();
    let writer = thread::spawn(move || {
        publish(&w, 1).unwrap();
        orbit_rs::loom_wakers_done();
    });
    writer.join().unwrap();
    assert_eq!(reader.join().unwrap(), 1);
    one_more_commit_clears_the_flag(&s);
}

/// The waiters are gone: one more commit must leave no registration behind (a waiter that died
/// registered costs one wake, not one per publish for ever).
fn one_more_commit_clears_the_flag(s: &Shared) {
    publish(s, 3).unwrap();
    assert_eq!(
        ring(s, 0).waiting_flag_for_test(),
        0,
        "a registration outlived its waiter"
    );
}

/// Two multi-writers, one waiter that waits until both frames are accounted for. A commit is
/// not always news: counter 1 committed while counter 0 is still being written is not (the
/// reader cannot deliver past it), so the first writer's wake can come and go without
/// waking the reader for good — the second writer's commit must still reach it.
fn waiting_for_two_writers() {
    let s = shared(2);
    let r = s.clone();
    let reader = thread::spawn(move || {
        let reader = ring(&r, 0);
        let mut cursor = Cursor::from_start();
        let mut accounted = 0;
        while accounted < 2 {
            accounted += wait_and_poll(&reader, &mut cursor).accounted();
        }
    });
    let writers: Vec<_> = [1u8, 2]
        .into_iter()
        .map(|tag| {
            let w = s.clone();
            thread::spawn(move || {
                publish(&w, tag).unwrap();
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    orbit_rs::loom_wakers_done();
    reader.join().unwrap();
    one_more_commit_clears_the_flag(&s);
}

#[test]
fn waiting_for_two_writers_model() {
    explore("waiting_for_two_writers", 2, 1_000, waiting_for_two_writers);
}

#[test]
fn waiting_for_a_publish_model() {
    explore("waiting_for_a_publish", 3, 100, waiting_for_a_publish);
}

/// Two waiting readers, one exclusive writer's publish (the lease path's commit): both wake.
fn waiting_two_readers_for_an_exclusive_writer() {
    let s = shared(2);
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let r = s.clone();
            thread::spawn(move || wait_then_poll(&r))
        })
        .collect();
    let w = s.clone();
    let writer = thread::spawn(move || {
        let ring = ring(&w, 1);
        let mut writer = ring.exclusive_writer().unwrap();
        writer.publish(0, 1, &[1; 16]).unwrap();
        drop(writer);
        orbit_rs::loom_wakers_done();
    });
    writer.join().unwrap();
    for reader in readers {
        assert_eq!(reader.join().unwrap(), 1);
    }
}

#[test]
fn waiting_two_readers_for_an_exclusive_writer_model() {
    // Bound 2 explores 3,025,178 executions in about 6 minutes here; bound 1 keeps CI short.
    explore(
        "waiting_two_readers_for_an_exclusive_writer",
        1,
        1_000,
        waiting_two_readers_for_an_exclusive_writer,
    );
}

/// A reader caught up with one frame waits; a reset wakes it (its poll then reports the
/// rewind).
fn waiting_for_a_reset() {
    let s = shared(2);
    publish(&s, 1).unwrap();
    let mut cursor = Cursor::from_start();
    assert_eq!(ring(&s, 0).poll(&mut cursor, |_| {}).delivered, 1);
    let r = s.clone();
    let reader = thread::spawn(move || {
        let reader = ring(&r, 0);
        assert_eq!(
            reader.wait(&cursor, std::time::Duration::MAX),
            orbit_rs::Waited::Ready
        );
        let poll = reader.poll(&mut cursor, |_| {});
        assert!(poll.rewound, "woken without the reset: {poll:?}");
    });
    let w = s.clone();
    let resetter = thread::spawn(move || {
        ring(&w, 2).reset().unwrap();
        orbit_rs::loom_wakers_done();
    });
    resetter.join().unwrap();
    reader.join().unwrap();
}

#[test]
fn waiting_for_a_reset_model() {
    explore("waiting_for_a_reset", 3, 100, waiting_for_a_reset);
}

#[test]
fn control_waiting_without_the_writers_barrier() {
    must_fail(
        "writer's barrier removed",
        mutants::NO_WRITER_BARRIER,
        3,
        "lost wake-up",
        waiting_for_a_publish,
    );
}

#[test]
fn control_waiting_without_the_recheck() {
    must_fail(
        "waiter's look after registering removed",
        mutants::NO_RECHECK_AFTER_REGISTER,
        3,
        "lost wake-up",
        waiting_for_a_publish,
    );
}

#[test]
fn control_waiting_reading_the_wake_word_after_registering() {
    must_fail(
        "wake word read after the registration",
        mutants::WAKE_WORD_AFTER_REGISTER,
        2,
        "lost wake-up",
        waiting_for_two_writers,
    );
}

#[test]
fn control_waking_without_clearing_the_registration() {
    must_fail(
        "waking writer leaves the registration",
        mutants::WAKE_KEEPS_REGISTRATIONS,
        3,
        "a registration outlived its waiter",
        waiting_for_a_publish,
    );
}

#[test]
fn control_waiting_reading_the_wake_word_late() {
    must_fail(
        "wake word read after the look",
        mutants::WAKE_WORD_AFTER_RECHECK,
        3,
        "lost wake-up",
        waiting_for_a_publish,
    );
}

// ---- firmware signal (feature critical-section) ------------------------------------------

/// A task's executor under loom: a `Waker` that records the wake; `park` blocks until a wake,
/// or fails once the model's writers are done and none came (a lost wake-up: a real executor
/// would never poll the task again).
#[cfg(feature = "critical-section")]
struct TaskPark {
    state: loom::sync::Mutex<(bool, bool)>,
    changed: loom::sync::Condvar,
}

#[cfg(feature = "critical-section")]
impl std::task::Wake for TaskPark {
    fn wake(self: std::sync::Arc<Self>) {
        self.state.lock().unwrap().0 = true;
        self.changed.notify_all();
    }
}

#[cfg(feature = "critical-section")]
impl TaskPark {
    fn writers_done(&self) {
        self.state.lock().unwrap().1 = true;
        self.changed.notify_all();
    }

    fn park(&self) {
        let mut state = self.state.lock().unwrap();
        while !state.0 {
            assert!(!state.1, "lost wake-up: the task was never woken");
            state = self.changed.wait(state).unwrap();
        }
        state.0 = false;
    }
}

/// A task awaits a `RingSignal` while a writer (an interrupt handler, say) publishes through a
/// handle made with the signal: the task must be woken, and only with news.
#[cfg(feature = "critical-section")]
fn signal_wakes_a_task() {
    use std::future::Future;
    let s = shared(2);
    let signal = Arc::new(orbit_rs::RingSignal::new());
    let park = std::sync::Arc::new(TaskPark {
        state: loom::sync::Mutex::new((false, false)),
        changed: loom::sync::Condvar::new(),
    });
    let (r, rs, p) = (s.clone(), signal.clone(), park.clone());
    let task = thread::spawn(move || {
        let ring = ring(&r, 0);
        let mut cursor = Cursor::from_start();
        let waker = std::task::Waker::from(p.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        loop {
            let mut wait = std::pin::pin!(rs.wait(&ring, &cursor));
            if wait.as_mut().poll(&mut cx).is_ready() {
                break;
            }
            p.park();
        }
        let poll = ring.poll_with(&mut cursor, Patience::Wait, |f| {
            check(&f);
        });
        assert_eq!(poll.delivered, 1, "woken without news: {poll:?}");
    });
    let (w, ws) = (s.clone(), signal.clone());
    let writer = thread::spawn(move || {
        ring(&w, 1)
            .with_signal(&ws)
            .publish(0, 1, &[1; 16])
            .unwrap();
        park.writers_done();
    });
    writer.join().unwrap();
    task.join().unwrap();
}

#[cfg(feature = "critical-section")]
#[test]
fn signal_wakes_a_task_model() {
    explore("signal_wakes_a_task", 3, 100, signal_wakes_a_task);
}

#[cfg(feature = "critical-section")]
#[test]
fn control_signal_without_the_writers_fence() {
    must_fail(
        "signal writer's fence removed",
        mutants::NO_SIGNAL_FENCE,
        3,
        "lost wake-up",
        signal_wakes_a_task,
    );
}
