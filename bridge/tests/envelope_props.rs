//! The envelope decoder takes bytes from the network: any byte string decodes to a batch or a
//! typed error, never a panic; what the writer builds decodes to what was written; and a
//! decoded batch always accounts for exactly `end - first` counters.

use orbit_bridge::envelope::{self, BatchHeader, BatchWriter, DecodeError, HEADER_LEN};
use orbit_rs::NetId64;
use orbit_rs::fleet::PAYLOAD_MAX;
use proptest::prelude::*;

/// A frame to push: counter gap before it (≥ 1 after the first), id, version, kind, payload
/// (in a batch: its counter instead of the gap).
type TestFrame = (u64, u64, u64, u8, Vec<u8>);

fn frame() -> impl Strategy<Value = TestFrame> {
    (
        1u64..50,
        any::<u64>(),
        any::<u64>(),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..=PAYLOAD_MAX),
    )
}

/// A header plus frames that agree with it, and the encoded bytes.
fn batch() -> impl Strategy<Value = (BatchHeader, Vec<TestFrame>, Vec<u8>)> {
    (
        any::<u8>(),
        any::<u16>(),
        any::<u64>(),
        any::<u32>(),
        0u64..(u64::MAX / 2),
        prop::collection::vec(frame(), 0..12),
        0u64..20,
        0u64..20,
    )
        .prop_map(
            |(ring_kind, origin, session, epoch, first, frames, trailing, overwritten)| {
                let mut w = BatchWriter::default();
                w.start();
                let mut counter = first;
                let mut frames_at = Vec::new();
                for (i, (gap, id, version, kind, payload)) in frames.into_iter().enumerate() {
                    counter += if i == 0 { gap - 1 } else { gap };
                    w.push(counter, NetId64::from_raw(id), version, kind, &payload);
                    frames_at.push((counter, id, version, kind, payload));
                }
                let end = frames_at.last().map_or(first, |f| f.0 + 1) + trailing;
                let span = end - first;
                let lost = span - frames_at.len() as u64;
                let overwritten = overwritten.min(lost);
                let header = BatchHeader {
                    ring_kind,
                    origin,
                    session,
                    epoch,
                    first,
                    end,
                    overwritten,
                    unavailable: lost - overwritten,
                };
                let bytes = w.finish(&header).expect("a consistent batch").to_vec();
                (header, frames_at, bytes)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = envelope::decode(&bytes);
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_magic_never_panic(
        tail in prop::collection::vec(any::<u8>(), 0..2048)
    ) {
        let mut bytes = b"ORBB\x01".to_vec();
        bytes.extend(tail);
        let _ = envelope::decode(&bytes);
    }

    #[test]
    fn round_trip((header, frames, bytes) in batch()) {
        let batch = envelope::decode(&bytes).expect("decodes");
        prop_assert_eq!(batch.header, header);
        prop_assert_eq!(batch.records.len(), frames.len());
        for (record, (counter, id, version, kind, payload)) in batch.records.iter().zip(&frames) {
            prop_assert_eq!(header.first + u64::from(record.offset), *counter);
            prop_assert_eq!(record.id.to_raw(), *id);
            prop_assert_eq!(record.version, *version);
            prop_assert_eq!(record.frame_kind, *kind);
            prop_assert_eq!(record.payload, &payload[..]);
        }
    }

    /// Any corruption of a valid batch decodes to an error or to a batch that still accounts
    /// for exactly its counters, with records in order inside them.
    #[test]
    fn corrupted_batches_are_refused_or_consistent(
        (_, _, bytes) in batch(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let mut bytes = bytes;
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if do_cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        match envelope::decode(&bytes) {
            Ok(batch) => {
                let h = batch.header;
                let span = h.end - h.first;
                prop_assert_eq!(span, batch.records.len() as u64 + h.overwritten + h.unavailable);
                prop_assert!(batch.records.windows(2).all(|w| w[0].offset < w[1].offset));
                prop_assert!(batch.records.iter().all(|r| u64::from(r.offset) < span));
                prop_assert!(batch.records.iter().all(|r| r.payload.len() <= PAYLOAD_MAX));
            }
            Err(e) => {
                // Every error explains itself.
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }
}

#[test]
fn a_header_announcing_more_records_than_bytes_is_short_not_an_allocation() {
    let mut w = BatchWriter::default();
    w.start();
    let header = BatchHeader {
        ring_kind: 0,
        origin: 0,
        session: 0,
        epoch: 0,
        first: 0,
        end: u64::from(u32::MAX),
        overwritten: 0,
        unavailable: u64::from(u32::MAX),
    };
    let mut bytes = w.finish(&header).expect("valid").to_vec();
    assert_eq!(bytes.len(), HEADER_LEN);
    // Claim u32::MAX records, the loss shrunk to match: the counts agree, the bytes do not.
    bytes[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
    bytes[48..56].copy_from_slice(&0u64.to_le_bytes());
    assert!(matches!(
        envelope::decode(&bytes),
        Err(DecodeError::Short { .. })
    ));
}

/// The fuzz target's seed batches (`fuzz/corpus/bridge_envelope/`, written by
/// `fuzz/make_seeds.py` from the layout in `envelope.rs`) are batches the decoder accepts, so
/// the fuzzer starts from the accepting paths; a layout change that breaks them fails here.
#[test]
fn fuzz_seeds_are_valid_batches() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/bridge_envelope");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("the seed corpus") {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let batch = envelope::decode(&bytes)
            .unwrap_or_else(|e| panic!("seed {} does not decode: {e}", path.display()));
        let h = batch.header;
        assert_eq!(
            h.end - h.first,
            batch.records.len() as u64 + h.overwritten + h.unavailable,
            "{}",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 3, "seeds found: {seen}");
}
