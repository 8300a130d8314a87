//! orbit-rs with `codec::decode_raw` (topic as bytes, no UTF-8 check) instead of `decode`.
#![no_std]
#![no_main]

use orbit_footprint::{orbit_start, sink};
use orbit_rs::codec;

orbit_start!(|ring, cursor| sink(
    ring.poll(&mut cursor, |frame| sink(codec::decode_raw(frame.payload)))
));
