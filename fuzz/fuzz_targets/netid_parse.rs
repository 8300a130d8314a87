//! Arbitrary text into `NetId64::from_str`, and the first 8 bytes as a raw id: accepted ids
//! and every raw id display back to themselves. Checks: `tests/checks/netid.rs`.
#![no_main]

#[path = "../../tests/checks/netid.rs"]
mod netid;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| netid::check(bytes));
