//! Arbitrary bytes become a ring's slot words and head, then polls, publishes, reads, raw
//! overwrites and resets run against it; documented invariants and a shadow model must hold.
//! Checks: `tests/checks/ring.rs`.
#![no_main]

#[path = "../../tests/checks/ring.rs"]
mod ring;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| ring::check(bytes));
