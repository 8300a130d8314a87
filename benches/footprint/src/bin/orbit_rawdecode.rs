//! orbit-rs with `codec::decode_raw` (topic as bytes, no UTF-8 check) instead of `decode`.
#![no_std]
#![no_main]

use orbit_footprint::{DEPTH, PAYLOAD, message, sink};
use orbit_rs::{Cursor, Head, Ring, Slot, codec};

static SLOTS: [Slot<PAYLOAD>; DEPTH] = [Slot::EMPTY; DEPTH];
static HEAD: Head = Head::new();

// SAFETY (no_mangle): `_start` is the entry symbol of footprint.x; nothing else defines it.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let ring = Ring::new(&SLOTS, &HEAD).unwrap_or_else(|_| panic!());
    let mut cursor = Cursor::from_start();
    loop {
        let m = message();
        sink(ring.publish(1, 0, &m));
        let poll = ring.poll(&mut cursor, |frame| sink(codec::decode_raw(frame.payload)));
        sink(poll);
    }
}
