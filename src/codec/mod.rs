//! The event frame codec: topic-tagged events inside a ring payload.
//!
//! Wire form, little endian (as in the reference system):
//!
//! ```text
//! u16 topic_len | u16 payload_len | u64 timestamp_ms | topic (UTF-8) | payload
//! ```
//!
//! Encoding writes into a caller buffer and refuses frames that do not fit. Decoding is
//! strict and total: any byte string gives an [`EventRef`] or a [`DecodeError`], never a panic;
//! short headers, lengths past the end, trailing bytes and invalid UTF-8 are errors.
//! [`decode_raw`] skips the UTF-8 check (and its code) for callers that want the topic as
//! bytes.

mod error;
mod frame;

pub use error::{DecodeError, EncodeError};
pub use frame::{
    Event, EventRef, HEADER_LEN, RawEventRef, decode, decode_raw, encode_into, encoded_len,
};
