//! Arbitrary bytes become a ring's slot words and head, then polls, publishes, reads, raw
//! overwrites, resets, an exclusive writer and stuck-writer scenarios run against it; properties
//! of the documented contract must hold after every step (no shadow model of the walk).
//! Checks: `tests/checks/ring.rs`.
#![no_main]

#[path = "../../tests/checks/ring.rs"]
mod ring;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| ring::check(bytes));
