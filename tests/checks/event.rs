//! Properties of the event codec on arbitrary bytes, shared by the `event_decode` fuzz target,
//! `tests/fuzz_regressions.rs` and `tests/hostile_props.rs`.
//!
//! [`check`] never fails on any input unless the codec breaks a property:
//! * `decode` never panics, and accepts exactly the frames whose header lengths fill the bytes
//!   and whose topic is UTF-8 (each error variant is the one the header predicts);
//! * an accepted frame re-encodes, into a buffer of exactly `encoded_len` bytes, to the very
//!   same bytes, and decodes again to the same `EventRef`; one byte less is refused untouched;
//! * `Event::<T, P>::decode` agrees with the borrowed decode, or reports the capacity error;
//! * `decode_raw` agrees with `decode` on every field and error, except that it accepts a topic
//!   that is not UTF-8 (as the same bytes).

use orbit_rs::codec::{self, DecodeError, EncodeError, Event, EventRef, HEADER_LEN};

/// Checks every codec property on `bytes`; panics on a violation.
pub fn check(bytes: &[u8]) {
    let decoded = codec::decode(bytes);
    assert_eq!(decoded, expected_decode(bytes), "decode of {bytes:02x?}");
    check_raw(bytes, decoded);
    if let Ok(event) = decoded {
        check_reencode(bytes, event);
    }
    check_owned::<0, 0>(bytes, decoded);
    check_owned::<4, 8>(bytes, decoded);
    check_owned::<16, 3>(bytes, decoded);
    check_owned::<64, 64>(bytes, decoded);
}

/// The decode result the wire format (`u16 topic_len | u16 payload_len | u64 timestamp_ms |
/// topic | payload`, little endian) prescribes, computed independently of the codec.
fn expected_decode(bytes: &[u8]) -> Result<EventRef<'_>, DecodeError> {
    if bytes.len() < HEADER_LEN {
        return Err(DecodeError::ShortHeader { len: bytes.len() });
    }
    let topic_len = usize::from(u16::from_le_bytes([bytes[0], bytes[1]]));
    let payload_len = usize::from(u16::from_le_bytes([bytes[2], bytes[3]]));
    let needed = HEADER_LEN + topic_len + payload_len;
    if needed > bytes.len() {
        return Err(DecodeError::LengthPastEnd {
            needed,
            available: bytes.len(),
        });
    }
    if needed < bytes.len() {
        return Err(DecodeError::TrailingBytes {
            extra: bytes.len() - needed,
        });
    }
    let topic = core::str::from_utf8(&bytes[HEADER_LEN..HEADER_LEN + topic_len])
        .map_err(|_| DecodeError::InvalidUtf8)?;
    let mut timestamp = [0u8; 8];
    timestamp.copy_from_slice(&bytes[4..HEADER_LEN]);
    Ok(EventRef {
        topic,
        payload: &bytes[HEADER_LEN + topic_len..],
        timestamp_ms: u64::from_le_bytes(timestamp),
    })
}

fn check_raw(bytes: &[u8], decoded: Result<EventRef<'_>, DecodeError>) {
    let raw = codec::decode_raw(bytes);
    match (decoded, raw) {
        (Ok(event), Ok(raw)) => assert_eq!(
            (event.topic.as_bytes(), event.payload, event.timestamp_ms),
            (raw.topic, raw.payload, raw.timestamp_ms),
            "decode_raw of {bytes:02x?}"
        ),
        (Err(DecodeError::InvalidUtf8), Ok(raw)) => {
            assert!(
                core::str::from_utf8(raw.topic).is_err(),
                "raw topic of {bytes:02x?}"
            );
            assert_eq!(
                HEADER_LEN + raw.topic.len() + raw.payload.len(),
                bytes.len()
            );
        }
        (Err(error), Err(raw_error)) => assert_eq!(error, raw_error, "errors of {bytes:02x?}"),
        (decoded, raw) => panic!("decode {decoded:?} but decode_raw {raw:?} for {bytes:02x?}"),
    }
}

fn check_reencode(bytes: &[u8], event: EventRef<'_>) {
    let len = event.encoded_len();
    assert_eq!(len, bytes.len(), "encoded_len of an accepted frame");
    assert_eq!(
        codec::encoded_len(event.topic.len(), event.payload.len()),
        len
    );

    let mut exact = vec![0u8; len];
    assert_eq!(event.encode_into(&mut exact), Ok(len));
    assert_eq!(exact, bytes, "re-encoding changed the bytes");
    assert_eq!(codec::decode(&exact), Ok(event), "second decode differs");
    let mut free = vec![0u8; len];
    assert_eq!(
        codec::encode_into(&mut free, event.topic, event.payload, event.timestamp_ms),
        Ok(len)
    );
    assert_eq!(
        free, bytes,
        "free encode_into differs from EventRef::encode_into"
    );

    // One byte short: refused, and nothing written.
    let mut short = vec![0xA5u8; len - 1];
    assert_eq!(
        event.encode_into(&mut short),
        Err(EncodeError::FrameTooLarge {
            topic_len: event.topic.len(),
            payload_len: event.payload.len(),
            max_payload: len - 1,
        })
    );
    assert!(short.iter().all(|&b| b == 0xA5), "a refused encode wrote");

    // A larger buffer: only the front is written.
    let mut roomy = vec![0x5Au8; len + 3];
    assert_eq!(event.encode_into(&mut roomy), Ok(len));
    assert_eq!(&roomy[..len], bytes);
    assert_eq!(roomy[len..], [0x5A; 3]);
}

fn check_owned<const T: usize, const P: usize>(
    bytes: &[u8],
    decoded: Result<EventRef<'_>, DecodeError>,
) {
    let owned = Event::<T, P>::decode(bytes);
    match decoded {
        Err(error) => assert_eq!(owned, Err(error), "owned decode <{T}, {P}>"),
        Ok(event) if event.topic.len() > T => assert_eq!(
            owned,
            Err(DecodeError::TopicTooLong {
                len: event.topic.len(),
                max: T,
            })
        ),
        Ok(event) if event.payload.len() > P => assert_eq!(
            owned,
            Err(DecodeError::PayloadTooLong {
                len: event.payload.len(),
                max: P,
            })
        ),
        Ok(event) => {
            let owned = owned.expect("fits the capacities");
            assert_eq!(owned.as_ref(), event, "owned decode <{T}, {P}>");
            assert_eq!(event.to_event::<T, P>().as_ref(), Ok(&owned));
        }
    }
}
