//! Writer and reader threads over a `static` ring: the firmware-style setup, on a host.
//!
//! `cargo run --release --example threads`
#![allow(clippy::disallowed_types)] // The example's stop flag uses std's AtomicBool.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use orbit_rs::{Cursor, Head, NodeId, Ring, Slot};

static SLOTS: [Slot<64>; 256] = [Slot::EMPTY; 256];
static HEAD: Head = Head::new();
static STOP: AtomicBool = AtomicBool::new(false);

fn main() {
    let ring = Ring::new(&SLOTS, &HEAD)
        .expect("256 is a power of two")
        .with_kind(1);
    let writers: Vec<_> = (0..2u16)
        .map(|node| {
            let ring = ring.with_node(NodeId(node));
            thread::spawn(move || {
                let (mut published, mut abandoned) = (0u64, 0u64);
                while !STOP.load(Ordering::Relaxed) {
                    let mut payload = [0u8; 64];
                    payload[..8].copy_from_slice(&published.to_le_bytes());
                    match ring.publish(0, published, &payload) {
                        Ok(_) => published += 1,
                        Err(e) if e.is_transient() => abandoned += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
                (published, abandoned)
            })
        })
        .collect();

    let mut cursor = Cursor::from_start();
    let (mut delivered, mut lost) = (0u64, 0u64);
    let start = Instant::now();
    let mut next_report = Duration::from_millis(250);
    while start.elapsed() < Duration::from_secs(2) {
        let poll = ring.poll(&mut cursor, |frame| {
            std::hint::black_box(frame.payload);
        });
        delivered += poll.delivered;
        lost += poll.loss.total();
        if start.elapsed() >= next_report {
            println!(
                "t={:>5.2}s head={:>10} delivered={:>10} lost={:>10}",
                start.elapsed().as_secs_f64(),
                ring.head(),
                delivered,
                lost
            );
            next_report += Duration::from_millis(250);
        }
    }
    STOP.store(true, Ordering::Relaxed);
    for (node, writer) in writers.into_iter().enumerate() {
        let (published, abandoned) = writer.join().expect("writer thread");
        println!("writer {node}: published {published}, abandoned {abandoned}");
    }
    let poll = ring.with_stall_polls(0).poll(&mut cursor, |_| {});
    delivered += poll.delivered;
    lost += poll.loss.total();
    println!(
        "reader: delivered {delivered} + lost {lost} = {} (head {})",
        delivered + lost,
        ring.head()
    );
    assert_eq!(
        delivered + lost,
        ring.head(),
        "every frame delivered or counted"
    );
}
