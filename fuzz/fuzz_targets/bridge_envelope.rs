//! Arbitrary bytes into the Zenoh bridge's envelope decoder (`bridge/src/envelope.rs`, bytes
//! from the network): `decode` never panics; an accepted batch accounts for exactly
//! `end - first` counters, its records' offsets rise strictly below that; and the batch
//! writer rebuilds the very same bytes from what was decoded (one encoding per batch).
#![no_main]

// The decoder itself, not the bridge crate: the fuzz build stays free of Zenoh.
#[allow(dead_code)] // The target uses the decoder and the writer only.
#[path = "../../bridge/src/envelope.rs"]
mod envelope;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| check(bytes));

fn check(bytes: &[u8]) {
    let Ok(batch) = envelope::decode(bytes) else {
        return;
    };
    let header = batch.header;
    let span = u128::from(header.end) - u128::from(header.first);
    let accounted = batch.records.len() as u128
        + u128::from(header.overwritten)
        + u128::from(header.unavailable);
    assert_eq!(span, accounted, "accounting of {bytes:02x?}");
    let mut writer = envelope::BatchWriter::default();
    writer.start();
    let mut previous = None;
    for record in &batch.records {
        assert!(
            previous.is_none_or(|p| record.offset > p) && u128::from(record.offset) < span,
            "offset {} of {bytes:02x?}",
            record.offset
        );
        previous = Some(record.offset);
        writer.push(
            header.first + u64::from(record.offset),
            record.id,
            record.version,
            record.frame_kind,
            record.payload,
        );
    }
    let rebuilt = writer.finish(&header).expect("a decoded batch encodes");
    assert_eq!(rebuilt, bytes, "re-encoding of {bytes:02x?}");
}
