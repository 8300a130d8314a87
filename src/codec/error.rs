use core::fmt;

/// An event could not be encoded.
///
/// # Examples
///
/// ```
/// use orbit_rs::codec::{self, EncodeError};
///
/// let mut buf = [0u8; 16];
/// let err = codec::encode_into(&mut buf, "alarm", b"overheat", 0).unwrap_err();
/// assert_eq!(
///     err,
///     EncodeError::FrameTooLarge { topic_len: 5, payload_len: 8, max_payload: 16 }
/// );
/// assert_eq!(
///     err.to_string(),
///     "event frame too large: 5-byte topic + 8-byte payload + 12 header bytes exceeds 16 bytes"
/// );
/// assert_eq!(buf, [0; 16]); // nothing was written
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The encoded frame (header + topic + payload) exceeds the buffer (the ring's payload
    /// capacity), or a length exceeds `u16::MAX`.
    FrameTooLarge {
        /// Topic bytes.
        topic_len: usize,
        /// Payload bytes.
        payload_len: usize,
        /// Largest encoded frame the buffer holds.
        max_payload: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FrameTooLarge {
                topic_len,
                payload_len,
                max_payload,
            } => write!(
                f,
                "event frame too large: {topic_len}-byte topic + {payload_len}-byte payload + \
                 {} header bytes exceeds {max_payload} bytes",
                super::HEADER_LEN
            ),
        }
    }
}

impl core::error::Error for EncodeError {}

/// Bytes are not a valid event frame.
///
/// # Examples
///
/// ```
/// use orbit_rs::codec::{self, DecodeError};
///
/// assert_eq!(codec::decode(&[0; 5]), Err(DecodeError::ShortHeader { len: 5 }));
///
/// let mut buf = [0u8; 32];
/// let len = codec::encode_into(&mut buf, "door", b"open", 0)?;
/// let err = codec::decode(&buf[..len + 2]).unwrap_err();
/// assert_eq!(err, DecodeError::TrailingBytes { extra: 2 });
/// assert_eq!(err.to_string(), "event frame has 2 trailing bytes after its payload");
/// let err = codec::decode(&buf[..len - 1]).unwrap_err();
/// assert!(matches!(err, DecodeError::LengthPastEnd { available, .. } if available == len - 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the 12-byte header.
    ShortHeader {
        /// Bytes available.
        len: usize,
    },
    /// The header's lengths run past the end of the bytes.
    LengthPastEnd {
        /// Bytes the header asks for (header + topic + payload).
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// Bytes remain after the payload.
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// The topic is not UTF-8.
    InvalidUtf8,
    /// The topic is longer than the owned event's topic capacity.
    TopicTooLong {
        /// Topic bytes.
        len: usize,
        /// Capacity.
        max: usize,
    },
    /// The payload is longer than the owned event's payload capacity.
    PayloadTooLong {
        /// Payload bytes.
        len: usize,
        /// Capacity.
        max: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ShortHeader { len } => {
                write!(
                    f,
                    "event frame of {len} bytes is shorter than its 12-byte header"
                )
            }
            Self::LengthPastEnd { needed, available } => {
                write!(
                    f,
                    "event frame header needs {needed} bytes but only {available} exist"
                )
            }
            Self::TrailingBytes { extra } => {
                write!(
                    f,
                    "event frame has {extra} trailing bytes after its payload"
                )
            }
            Self::InvalidUtf8 => f.write_str("event topic is not valid UTF-8"),
            Self::TopicTooLong { len, max } => {
                write!(
                    f,
                    "event topic of {len} bytes exceeds the capacity of {max}"
                )
            }
            Self::PayloadTooLong { len, max } => {
                write!(
                    f,
                    "event payload of {len} bytes exceeds the capacity of {max}"
                )
            }
        }
    }
}

impl core::error::Error for DecodeError {}
