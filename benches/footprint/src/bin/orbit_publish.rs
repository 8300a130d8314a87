//! orbit-rs publishing only (no reader): the publish path's share of the footprint.
#![no_std]
#![no_main]

use orbit_footprint::orbit_start;

orbit_start!(|ring, cursor| ());
