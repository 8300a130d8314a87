//! `RingSignal` on a host (feature `critical-section`, with critical-section's std
//! implementation): tasks await a ring in `static`-like memory while a thread publishes
//! through a handle made with the signal — more tasks than the signal keeps wakers for, so
//! evicted tasks must register again. Every wait is bounded.
#![cfg(feature = "critical-section")]

mod common;

use std::future::Future;
use std::thread;
use std::time::Duration;

use orbit_rs::{Cursor, Head, Ring, RingSignal, Slot};

const BOUND: Duration = Duration::from_secs(20);

/// Runs `future` to completion on this thread (bounded).
fn block_on<F: Future>(future: F) -> F::Output {
    common::block_on(future, BOUND)
}

#[test]
fn tasks_wake_for_every_frame() {
    const TASKS: usize = orbit_rs::ring::SIGNAL_TASKS + 2;
    const FRAMES: u64 = 500;
    let slots: &'static [Slot<32>] = Box::leak((0..64).map(|_| Slot::new()).collect());
    let head: &'static Head = Box::leak(Box::new(Head::new()));
    let signal: &'static RingSignal = Box::leak(Box::new(RingSignal::new()));
    let ring = Ring::new(slots, head).unwrap();
    let start = ring.cursor_at_head();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            thread::spawn(move || {
                let ring = Ring::new(slots, head).unwrap();
                let mut cursor: Cursor = start;
                let mut accounted = 0;
                while accounted < FRAMES {
                    block_on(signal.wait(&ring, &cursor));
                    accounted += ring.poll(&mut cursor, |_| {}).accounted();
                }
                accounted
            })
        })
        .collect();
    let writer = ring.with_signal(signal);
    for i in 0..FRAMES {
        writer.publish(1, i, b"tick").unwrap();
        if i % 16 == 0 {
            thread::sleep(Duration::from_micros(300)); // Let the tasks go back to waiting.
        }
    }
    for task in tasks {
        assert_eq!(task.join().unwrap(), FRAMES);
    }
}

#[test]
fn a_task_with_news_already_there_is_ready_at_once() {
    let slots: Vec<Slot<32>> = (0..8).map(|_| Slot::new()).collect();
    let head = Head::new();
    let signal = RingSignal::new();
    let ring = Ring::new(&slots, &head).unwrap().with_signal(&signal);
    let cursor = ring.cursor_at_head();
    ring.publish(1, 0, b"x").unwrap();
    let mut wait = std::pin::pin!(signal.wait(&ring, &cursor));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(wait.as_mut().poll(&mut cx).is_ready());
}
