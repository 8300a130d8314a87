//! Arbitrary bytes into the event codec: `decode` never panics and judges exactly; accepted
//! frames re-encode to the same bytes; owned decodes agree. Checks: `tests/checks/event.rs`.
#![no_main]

#[path = "../../tests/checks/event.rs"]
mod event;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| event::check(bytes));
