//! orbit-rs publishing only (no reader): the publish path's share of the footprint.
#![no_std]
#![no_main]

use orbit_footprint::{DEPTH, PAYLOAD, message, sink};
use orbit_rs::{Head, Ring, Slot};

static SLOTS: [Slot<PAYLOAD>; DEPTH] = [Slot::EMPTY; DEPTH];
static HEAD: Head = Head::new();

// SAFETY (no_mangle): `_start` is the entry symbol of footprint.x; nothing else defines it.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let ring = Ring::new(&SLOTS, &HEAD).unwrap_or_else(|_| panic!());
    loop {
        let m = message();
        sink(ring.publish(1, 0, &m));
    }
}
