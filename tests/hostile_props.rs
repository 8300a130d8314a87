//! Property tests of hostile inputs, the stable-Rust counterparts of the `ring_hostile` and
//! `event_decode` fuzz targets: the same checks (`tests/checks/`) over proptest inputs.
//!
//! Ring memory comes from random bytes: the checker decodes them with a bias towards committed
//! and pending seq words near the head, so plain random bytes reach deep states. Event frames
//! are encoded from random events, then mutated (truncated, extended, a header length or a
//! byte changed) so decoding is exercised on both sides of validity.
// Not under Miri: thousands of generated cases; .ci/miri.sh covers the ring single-threaded.
#![cfg(not(miri))]

#[path = "checks/event.rs"]
mod event;
#[path = "checks/ring.rs"]
mod ring;
#[path = "checks/segment.rs"]
mod segment;

use orbit_rs::codec::{self, EventRef};
use proptest::collection::vec;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Mutation {
    None,
    Truncate(usize),
    Extend(Vec<u8>),
    SetByte(usize, u8),
    TopicLen(u16),
    PayloadLen(u16),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => Just(Mutation::None),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => vec(any::<u8>(), 1..4).prop_map(Mutation::Extend),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::SetByte(at, b)),
        1 => (0u16..80).prop_map(Mutation::TopicLen),
        1 => (0u16..80).prop_map(Mutation::PayloadLen),
    ]
}

fn mutate(frame: &mut Vec<u8>, mutation: &Mutation) {
    match mutation {
        Mutation::None => {}
        Mutation::Truncate(at) => frame.truncate(at % frame.len()),
        Mutation::Extend(extra) => frame.extend_from_slice(extra),
        Mutation::SetByte(at, b) => {
            let at = at % frame.len();
            frame[at] = *b;
        }
        Mutation::TopicLen(len) => frame[0..2].copy_from_slice(&len.to_le_bytes()),
        Mutation::PayloadLen(len) => frame[2..4].copy_from_slice(&len.to_le_bytes()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn hostile_ring_memory_is_validated_and_accounted(bytes in vec(any::<u8>(), 0..1200)) {
        ring::check(&bytes);
    }

    #[test]
    fn event_frames_round_trip_and_mutations_are_judged_exactly(
        topic in "\\PC{0,12}",
        payload in vec(any::<u8>(), 0..40),
        timestamp_ms in any::<u64>(),
        mutation in mutation(),
    ) {
        let event = EventRef { topic: &topic, payload: &payload, timestamp_ms };
        let mut frame = vec![0u8; event.encoded_len()];
        prop_assert_eq!(codec::encode_into(&mut frame, &topic, &payload, timestamp_ms), Ok(frame.len()));
        prop_assert_eq!(codec::decode(&frame), Ok(event));
        mutate(&mut frame, &mutation);
        event::check(&frame);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The `segment_header` property: attach validation of arbitrary headers and sizes.
    #[test]
    fn segment_header_validation_is_exact(bytes in vec(any::<u8>(), 0..400)) {
        segment::check(&bytes);
    }
}
