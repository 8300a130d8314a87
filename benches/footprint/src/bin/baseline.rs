//! The shared frame with no channel: the same loop shape, the message goes straight to the sink.
#![no_std]
#![no_main]

use orbit_footprint::{message, sink};

// SAFETY (no_mangle): `_start` is the entry symbol of footprint.x; nothing else defines it.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    loop {
        let m = message();
        sink(&m);
    }
}
