//! Checks for the `segment_header` fuzz target: arbitrary header bytes and object sizes go
//! through segment attach validation (`HeaderFields::validate`), which must return exactly the
//! error an independent reading of the layout rules predicts — or a size that fits inside the
//! object and forms a working ring. Shared by `fuzz/fuzz_targets/segment_header.rs`,
//! `tests/fuzz_regressions.rs` and `tests/hostile_props.rs`.
#![allow(dead_code)]

use orbit_rs::shm::internals::{HeaderFields, LAYOUT_VERSION, MAGIC, PREFIX_BYTES};
use orbit_rs::shm::{Layout, ShmError, SpecField};
use orbit_rs::{Cursor, Head, Patience, Ring, Slot};

const SEGMENT: &str = "/orbit-fuzz-7-0";
/// Largest ring the check builds in memory after a successful validation.
const MAX_BUILT: u64 = 1 << 12;

fn word(bytes: &[u8], at: usize) -> u64 {
    let mut raw = [0u8; 8];
    for (i, b) in raw.iter_mut().enumerate() {
        *b = bytes.get(at + i).copied().unwrap_or(0);
    }
    u64::from_ne_bytes(raw)
}

/// What validation must say, derived from the layout rules without calling them.
fn predicted(
    fields: &HeaderFields,
    size: u64,
    layout: &Layout,
) -> Result<u64, (&'static str, u64, u64)> {
    if fields.magic != MAGIC {
        return Err(("magic", MAGIC, fields.magic));
    }
    if fields.version != LAYOUT_VERSION {
        return Err(("version", LAYOUT_VERSION, fields.version));
    }
    for (name, expected, found) in [
        ("kind", u64::from(layout.kind), fields.kind),
        ("payload", layout.payload, fields.payload),
        ("stride", layout.stride, fields.stride),
        ("capacity", layout.capacity, fields.capacity),
        ("lanes", layout.lanes, fields.lanes),
    ] {
        if expected != found {
            return Err((name, expected, found));
        }
    }
    // One lane: the header line, one 128-byte head, a reserved line, then the slots.
    let needed = PREFIX_BYTES as u64 + layout.capacity * layout.stride;
    if size < needed {
        return Err(("size", needed, size));
    }
    Ok(needed)
}

fn observed(result: &Result<u64, ShmError>) -> Result<u64, (&'static str, u64, u64)> {
    match result {
        Ok(n) => Ok(*n),
        Err(ShmError::BadMagic { found, .. }) => Err(("magic", MAGIC, *found)),
        Err(ShmError::LayoutVersion {
            found, expected, ..
        }) => Err(("version", *expected, *found)),
        Err(ShmError::SpecMismatch {
            field,
            expected,
            found,
            ..
        }) => {
            let name = match field {
                SpecField::Kind => "kind",
                SpecField::Payload => "payload",
                SpecField::Stride => "stride",
                SpecField::Capacity => "capacity",
                SpecField::Lanes => "lanes",
                _ => "other field",
            };
            Err((name, *expected, *found))
        }
        Err(ShmError::TooSmall { size, needed, .. }) => Err(("size", *needed, *size)),
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}

/// Runs one input; panics on any violation.
///
/// Layout of the input: a control byte (bits force fields to their valid values so the
/// fuzzer reaches every check), the expected kind, log2 of the expected capacity, an 8-byte
/// object size, 64 header bytes, then raw slot words for the ring built on success.
pub fn check(bytes: &[u8]) {
    let control = bytes.first().copied().unwrap_or(0);
    let kind = bytes.get(1).copied().unwrap_or(0);
    let capacity = 1u64 << (bytes.get(2).copied().unwrap_or(0) % 13);
    let layout = Layout::of::<64>(kind, capacity as usize);
    let needed = layout.segment_bytes().expect("small layouts fit");
    let mut size = word(bytes, 3);
    let header = bytes.get(11..).unwrap_or(&[]);
    let Some(mut fields) = HeaderFields::from_bytes(header) else {
        assert!(
            header.len() < HeaderFields::BYTES,
            "from_bytes refused a full header"
        );
        return;
    };
    let force = |bit: u8| control & (1 << bit) != 0;
    if force(0) {
        fields.magic = MAGIC;
    }
    if force(1) {
        fields.version = LAYOUT_VERSION;
    }
    if force(2) {
        fields.kind = u64::from(kind);
    }
    if force(3) {
        fields.capacity = capacity;
    }
    if force(4) {
        fields.payload = layout.payload;
    }
    if force(5) {
        fields.stride = layout.stride;
    }
    if force(7) {
        fields.lanes = layout.lanes;
    }
    if force(6) {
        // Around the exact size: one short, exact, or a little more.
        size = needed.wrapping_add(size % 3).wrapping_sub(1);
    }

    let result = fields.validate(SEGMENT, size, &layout);
    if let Err(e) = &result {
        assert!(
            e.to_string().contains(SEGMENT),
            "error does not name the segment: {e}"
        );
    }
    assert_eq!(
        observed(&result),
        predicted(&fields, size, &layout),
        "{fields:?} size {size}"
    );

    // Accepted: everything the ring touches lies inside the object, and the ring works.
    if let Ok(bytes_mapped) = result {
        assert!(
            bytes_mapped <= size,
            "validation accepted an access past the object"
        );
        assert_eq!(bytes_mapped, needed);
        if capacity <= MAX_BUILT {
            let slots: Vec<Slot<64>> = (0..capacity).map(|_| Slot::new()).collect();
            let raw = &header[HeaderFields::BYTES..];
            for (i, slot) in slots.iter().enumerate() {
                let words: Vec<u64> = (0..Slot::<64>::RAW_WORDS)
                    .map(|w| word(raw, (i * Slot::<64>::RAW_WORDS + w) * 8))
                    .collect();
                slot.overwrite_raw(&words);
            }
            let head = Head::starting_at(word(raw, 0) % (4 * capacity));
            let ring = Ring::new(&slots, &head)
                .expect("validated capacity")
                .with_kind(kind);
            let mut cursor = Cursor::from_start();
            let mut past_head = 0;
            let poll = ring
                .with_stall_polls(0)
                .poll_with(&mut cursor, Patience::Polls, |frame| {
                    assert!(frame.payload.len() <= 64);
                    assert_eq!(frame.id.kind(), kind);
                    assert!(frame.id.matches_counter(frame.counter));
                    past_head += u64::from(frame.counter >= ring.head());
                });
            assert_eq!(poll.accounted(), cursor.next_counter());
            // The cursor passes the head only over frames committed for exactly those counters
            // (readers accept those on slot evidence alone).
            let beyond = cursor.next_counter().saturating_sub(ring.head());
            assert_eq!(
                beyond, past_head,
                "passed the head over counters not delivered"
            );
        }
    }
}
