//! Arbitrary header bytes and object sizes into segment attach validation: the result is the
//! predicted typed error or a size inside the object that forms a working ring; never a panic.
//! Checks: `tests/checks/segment.rs`.
#![no_main]

#[path = "../../tests/checks/segment.rs"]
mod segment;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| segment::check(bytes));
