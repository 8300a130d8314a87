use super::{DecodeError, EncodeError};

/// Bytes before the topic: `u16 topic_len | u16 payload_len | u64 timestamp_ms`.
pub const HEADER_LEN: usize = 12;

mod field {
    use core::ops::Range;
    pub(super) const TOPIC_LEN: Range<usize> = 0..2;
    pub(super) const PAYLOAD_LEN: Range<usize> = 2..4;
    pub(super) const TIMESTAMP: Range<usize> = 4..12;
}

/// A decoded event borrowing the frame bytes.
///
/// # Examples
///
/// ```
/// use orbit_rs::codec::{self, EventRef};
///
/// let event = EventRef { topic: "door", payload: b"open", timestamp_ms: 1_700_000_000_000 };
/// let mut buf = [0u8; 64];
/// let len = event.encode_into(&mut buf)?;
/// assert_eq!(len, event.encoded_len()); // 12-byte header + 4 + 4
/// assert_eq!(len, 20);
/// assert_eq!(codec::decode(&buf[..len])?, event);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EventRef<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The payload.
    pub payload: &'a [u8],
    /// Milliseconds since the Unix epoch (or any clock the publisher chose).
    pub timestamp_ms: u64,
}

impl<'a> EventRef<'a> {
    /// Bytes this event takes encoded.
    #[must_use]
    pub const fn encoded_len(&self) -> usize {
        encoded_len(self.topic.len(), self.payload.len())
    }

    /// Encodes into the front of `buf`; returns the bytes written.
    pub fn encode_into(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        encode_into(buf, self.topic, self.payload, self.timestamp_ms)
    }

    /// An owned copy with a `heapless` topic (`T` bytes) and payload (`P` bytes).
    pub fn to_event<const T: usize, const P: usize>(&self) -> Result<Event<T, P>, DecodeError> {
        let topic =
            heapless::String::try_from(self.topic).map_err(|_| DecodeError::TopicTooLong {
                len: self.topic.len(),
                max: T,
            })?;
        let payload =
            heapless::Vec::from_slice(self.payload).map_err(|_| DecodeError::PayloadTooLong {
                len: self.payload.len(),
                max: P,
            })?;
        Ok(Event {
            topic,
            payload,
            timestamp_ms: self.timestamp_ms,
        })
    }
}

/// An owned event: topic up to `T` bytes, payload up to `P` bytes; no allocator needed.
///
/// # Examples
///
/// ```
/// use orbit_rs::codec::{self, DecodeError, Event};
///
/// let mut buf = [0u8; 64];
/// let len = codec::encode_into(&mut buf, "temp", &[21], 42)?;
///
/// let event: Event<8, 16> = Event::decode(&buf[..len])?;
/// assert_eq!((event.topic.as_str(), event.timestamp_ms), ("temp", 42));
/// assert_eq!(event.as_ref().payload, [21]);
///
/// // A topic longer than the owned event holds is an error, never truncated:
/// let err = Event::<2, 16>::decode(&buf[..len]).unwrap_err();
/// assert_eq!(err, DecodeError::TopicTooLong { len: 4, max: 2 });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Event<const T: usize, const P: usize> {
    /// The topic.
    pub topic: heapless::String<T>,
    /// The payload.
    pub payload: heapless::Vec<u8, P>,
    /// Milliseconds since the Unix epoch (or the publisher's clock).
    pub timestamp_ms: u64,
}

impl<const T: usize, const P: usize> Event<T, P> {
    /// Decodes bytes into an owned event.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode(bytes)?.to_event()
    }

    /// A borrowed view.
    #[must_use]
    pub fn as_ref(&self) -> EventRef<'_> {
        EventRef {
            topic: &self.topic,
            payload: &self.payload,
            timestamp_ms: self.timestamp_ms,
        }
    }
}

/// Bytes an event with these lengths takes encoded (saturating).
#[must_use]
pub const fn encoded_len(topic_len: usize, payload_len: usize) -> usize {
    HEADER_LEN
        .saturating_add(topic_len)
        .saturating_add(payload_len)
}

/// Encodes one event into the front of `buf`; returns the bytes written.
///
/// Fails, writing nothing, if the frame exceeds `buf` or a length exceeds `u16::MAX`.
pub fn encode_into(
    buf: &mut [u8],
    topic: &str,
    payload: &[u8],
    timestamp_ms: u64,
) -> Result<usize, EncodeError> {
    let total = encoded_len(topic.len(), payload.len());
    let (Ok(topic_len), Ok(payload_len)) =
        (u16::try_from(topic.len()), u16::try_from(payload.len()))
    else {
        return Err(too_large(topic, payload, buf.len()));
    };
    let Some(out) = buf.get_mut(..total) else {
        return Err(too_large(topic, payload, buf.len()));
    };
    out[field::TOPIC_LEN].copy_from_slice(&topic_len.to_le_bytes());
    out[field::PAYLOAD_LEN].copy_from_slice(&payload_len.to_le_bytes());
    out[field::TIMESTAMP].copy_from_slice(&timestamp_ms.to_le_bytes());
    let (topic_out, payload_out) = out[HEADER_LEN..].split_at_mut(topic.len());
    topic_out.copy_from_slice(topic.as_bytes());
    payload_out.copy_from_slice(payload);
    Ok(total)
}

fn too_large(topic: &str, payload: &[u8], max_payload: usize) -> EncodeError {
    EncodeError::FrameTooLarge {
        topic_len: topic.len(),
        payload_len: payload.len(),
        max_payload,
    }
}

/// Decodes one event frame; the frame must fill `bytes` exactly.
///
/// [`decode_raw`] and a UTF-8 check of the topic: the same errors, plus
/// [`DecodeError::InvalidUtf8`].
///
/// # Examples
///
/// ```
/// use orbit_rs::codec::{self, DecodeError};
///
/// let mut buf = [0u8; 32];
/// let len = codec::encode_into(&mut buf, "door", b"open", 7)?;
/// let event = codec::decode(&buf[..len])?;
/// assert_eq!((event.topic, event.payload, event.timestamp_ms), ("door", &b"open"[..], 7));
/// assert_eq!(codec::decode(&buf[..len - 1]), Err(DecodeError::LengthPastEnd { needed: len, available: len - 1 }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn decode(bytes: &[u8]) -> Result<EventRef<'_>, DecodeError> {
    let raw = decode_raw(bytes)?;
    Ok(EventRef {
        topic: core::str::from_utf8(raw.topic).map_err(|_| DecodeError::InvalidUtf8)?,
        payload: raw.payload,
        timestamp_ms: raw.timestamp_ms,
    })
}

/// An event frame's fields with the topic left as bytes: what [`decode_raw`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RawEventRef<'a> {
    /// The topic's bytes, not checked for UTF-8.
    pub topic: &'a [u8],
    /// The payload.
    pub payload: &'a [u8],
    /// The publisher's timestamp, milliseconds.
    pub timestamp_ms: u64,
}

/// Decodes one event frame without checking that its topic is UTF-8; the frame must fill
/// `bytes` exactly.
///
/// For callers that compare topics as bytes or only want the payload: on firmware it leaves out
/// the UTF-8 validator and its 256-byte table (about 600 bytes of flash on thumbv7em; see
/// `BENCHMARKS.md`). Errors as [`decode`], except that no topic is [`DecodeError::InvalidUtf8`].
///
/// # Examples
///
/// ```
/// use orbit_rs::codec;
///
/// let mut buf = [0u8; 32];
/// let len = codec::encode_into(&mut buf, "door", b"open", 7)?;
/// let raw = codec::decode_raw(&buf[..len])?;
/// assert!(raw.topic == b"door" && raw.payload == b"open");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn decode_raw(bytes: &[u8]) -> Result<RawEventRef<'_>, DecodeError> {
    let Some((header, body)) = bytes.split_first_chunk::<HEADER_LEN>() else {
        return Err(DecodeError::ShortHeader { len: bytes.len() });
    };
    let u16_at = |range: core::ops::Range<usize>| {
        usize::from(u16::from_le_bytes([
            header[range.start],
            header[range.start + 1],
        ]))
    };
    let topic_len = u16_at(field::TOPIC_LEN);
    let payload_len = u16_at(field::PAYLOAD_LEN);
    let mut timestamp = [0u8; 8];
    timestamp.copy_from_slice(&header[field::TIMESTAMP]);
    let needed = encoded_len(topic_len, payload_len);
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
    let (topic, payload) = body.split_at(topic_len);
    Ok(RawEventRef {
        topic,
        payload,
        timestamp_ms: u64::from_le_bytes(timestamp),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut buf = [0u8; 64];
        let n = encode_into(&mut buf, "worker.booted", b"w1", 1234).unwrap();
        assert_eq!(n, HEADER_LEN + 13 + 2);
        let event = decode(&buf[..n]).unwrap();
        assert_eq!(
            event,
            EventRef {
                topic: "worker.booted",
                payload: b"w1",
                timestamp_ms: 1234
            }
        );
        let owned: Event<16, 8> = event.to_event().unwrap();
        assert_eq!(owned.as_ref(), event);
        assert_eq!(&buf[..4], &[13, 0, 2, 0], "lengths are little endian");
    }

    #[test]
    fn encode_refuses_oversized_frames_and_writes_nothing() {
        let mut buf = [0xAAu8; 20];
        let err = encode_into(&mut buf, "topic", b"payload", 0).unwrap_err();
        assert_eq!(
            err,
            EncodeError::FrameTooLarge {
                topic_len: 5,
                payload_len: 7,
                max_payload: 20
            }
        );
        assert!(buf.iter().all(|&b| b == 0xAA));
        let big = [0u8; 70_000];
        let mut huge = [0u8; 80_000];
        assert!(matches!(
            encode_into(&mut huge, "", &big, 0),
            Err(EncodeError::FrameTooLarge {
                payload_len: 70_000,
                ..
            })
        ));
        // Exactly full is fine.
        assert_eq!(encode_into(&mut buf, "ab", b"123456", 0), Ok(20));
    }

    #[test]
    fn decode_is_strict() {
        let mut buf = [0u8; 32];
        let n = encode_into(&mut buf, "t", b"p", 9).unwrap();
        assert_eq!(decode(&buf[..5]), Err(DecodeError::ShortHeader { len: 5 }));
        assert_eq!(
            decode(&buf[..n - 1]),
            Err(DecodeError::LengthPastEnd {
                needed: n,
                available: n - 1
            })
        );
        assert_eq!(
            decode(&buf[..n + 3]),
            Err(DecodeError::TrailingBytes { extra: 3 })
        );
        buf[HEADER_LEN] = 0xFF;
        assert_eq!(decode(&buf[..n]), Err(DecodeError::InvalidUtf8));
        let mut max = [0xFFu8; 12];
        max[4..].fill(0);
        assert_eq!(
            decode(&max),
            Err(DecodeError::LengthPastEnd {
                needed: 12 + 65535 * 2,
                available: 12
            })
        );
    }

    #[test]
    fn owned_capacity_is_checked() {
        let mut buf = [0u8; 64];
        let n = encode_into(&mut buf, "a-long-topic", b"0123456789", 1).unwrap();
        assert_eq!(
            Event::<4, 16>::decode(&buf[..n]),
            Err(DecodeError::TopicTooLong { len: 12, max: 4 })
        );
        assert_eq!(
            Event::<16, 4>::decode(&buf[..n]),
            Err(DecodeError::PayloadTooLong { len: 10, max: 4 })
        );
    }
}
