//! heapless: a `static` `spsc::Queue<[u8; 64], 16>`; enqueue (dropping when full), then drain.
#![no_std]
#![no_main]

use heapless::spsc::Queue;
use orbit_footprint::{DEPTH, PAYLOAD, message, sink};

static mut QUEUE: Queue<[u8; PAYLOAD], DEPTH> = Queue::new();

// SAFETY (no_mangle): `_start` is the entry symbol of footprint.x; nothing else defines it.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    // SAFETY: the only reference ever taken to QUEUE, taken once before the loop.
    let queue = unsafe { &mut *core::ptr::addr_of_mut!(QUEUE) };
    let (mut producer, mut consumer) = queue.split();
    loop {
        let m = message();
        sink(producer.enqueue(m).is_ok());
        while let Some(got) = consumer.dequeue() {
            sink(&got);
        }
    }
}
