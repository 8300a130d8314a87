//! orbit-rs without the codec: publish and poll only (for the decode's share).
#![no_std]
#![no_main]

use orbit_footprint::{orbit_start, sink};

orbit_start!(|ring, cursor| sink(ring.poll(&mut cursor, |frame| sink(frame.payload))));
