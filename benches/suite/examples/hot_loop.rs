//! The work on a ping-pong's critical path, without the other process: publish one 64-byte
//! frame and poll it back, `N` times, on a one-slot shared-memory fleet ring — through the
//! fleet API (`fleet`), the core ring over the same segment (`core`), or the xproc bench's
//! floor, a bare seqlock slot (`floor`). For instruction counts, which this guest's missing
//! performance counters cannot give:
//!
//! ```sh
//! cargo build --release --manifest-path benches/suite/Cargo.toml --example hot_loop
//! N=1000000 valgrind --tool=cachegrind --cache-sim=no \
//!     benches/suite/target/release/examples/hot_loop fleet   # core | floor
//! ```
//!
//! Instructions per publish + poll = (total − startup) / `N`; BENCHMARKS.md has the counts.
#![allow(clippy::disallowed_types)] // The floor uses std atomics directly.

use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::Instant;

use orbit_rs::{Fleet, OrbitTyped};

/// The xproc bench's one-slot message type.
struct Ping1;
impl OrbitTyped for Ping1 {
    const KIND: u8 = 72;
    const CAPACITY: usize = 1;
    const PAYLOAD: usize = 64;
}

/// `Ping1`'s slot class.
const CLASS: usize = 96;

#[repr(C, align(64))]
#[derive(Default)]
struct FloorSlot {
    seq: AtomicU64,
    words: [AtomicU64; 8],
}

fn message(seq: u64) -> [u8; 64] {
    let mut m = [0xA5u8; 64];
    m[..8].copy_from_slice(&seq.to_le_bytes());
    m
}

fn first_word(payload: &[u8]) -> u64 {
    u64::from_le_bytes(payload[..8].try_into().expect("8 bytes"))
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "fleet".into());
    let n: u64 = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let fleet =
        Fleet::join_shm_as(&format!("hot-loop-{}", std::process::id()), 1, 0).expect("join");
    let ring = fleet.ring::<Ping1>().expect("ring");
    fleet.remove_names().expect("remove the names");
    let mut sum = 0u64;
    let start = Instant::now();
    match which.as_str() {
        "fleet" => {
            let mut writer = ring.exclusive_writer().expect("lease");
            let mut cursor = ring.cursor_at_head();
            for i in 0..n {
                writer.publish_frame(0, i, &message(i)).expect("publish");
                let poll = ring.poll_with(&mut cursor, |f| sum += first_word(f.payload));
                sum += poll.delivered;
            }
        }
        "core" => {
            let core = ring.ring::<CLASS>().expect("core ring");
            let mut writer = core.exclusive_writer().expect("lease");
            let mut cursor = core.cursor_at_head();
            for i in 0..n {
                writer.publish(0, i, &message(i)).expect("publish");
                let poll = core.poll(&mut cursor, |f| sum += first_word(f.payload));
                sum += poll.delivered;
            }
        }
        "floor" => {
            let slot = std::hint::black_box(Box::new(FloorSlot::default()));
            for i in 0..n {
                let m = message(i);
                slot.seq.store(2 * i + 1, Ordering::Relaxed);
                fence(Ordering::Release);
                for (word, bytes) in slot.words.iter().zip(m.chunks_exact(8)) {
                    word.store(first_word(bytes), Ordering::Relaxed);
                }
                slot.seq.store(2 * i + 2, Ordering::Release);
                let want = 2 * i + 2;
                if slot.seq.load(Ordering::Acquire) == want {
                    let words = slot.words.each_ref().map(|w| w.load(Ordering::Relaxed));
                    fence(Ordering::Acquire);
                    if slot.seq.load(Ordering::Relaxed) == want {
                        sum += words[0] + 1;
                    }
                }
            }
        }
        other => panic!("unknown path {other:?}: fleet, core or floor"),
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    // Every frame delivered: the sum of the first words plus one per frame.
    assert_eq!(
        sum,
        n * (n - 1) / 2 + n,
        "{which}: a frame was not delivered"
    );
    println!("{which}: {ns:.2} ns per publish + poll, {n} frames");
}
