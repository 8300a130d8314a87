//! orbit-rs: a `static` ring of 16 slots × 64 B; publish, poll, `codec::decode` each frame.
#![no_std]
#![no_main]

use orbit_footprint::{orbit_start, sink};
use orbit_rs::codec;

orbit_start!(|ring, cursor| sink(
    ring.poll(&mut cursor, |frame| sink(codec::decode(frame.payload)))
));
