//! Frame ids: [`NetId64`] (`kind: u8 | node: u16 | counter: 40 bits`) and [`NodeId`].
//!
//! The layout matches the `netid64` crate so ids interoperate: the kind in the top byte, the
//! node in the next 16 bits, the low 40 bits of the ring counter at the bottom. The wire form is
//! the big-endian `u64`; the text form is `kind:node:counter` in decimal (or `0x` + hex of the
//! raw value when parsing).
//!
//! The ring counter is a full `u64`; an id keeps only its low 40 bits, so id counters wrap every
//! 2^40 frames. Nothing in orbit-rs compares id counters for order: readers match the id of a
//! slot against the *full* counter they expect, masked the same way.

use core::fmt;
use core::str::FromStr;

/// A peer's number inside its fleet.
///
/// # Examples
///
/// ```
/// use orbit_rs::{NetId64, NodeId};
///
/// let node = NodeId::from(3);
/// assert_eq!((node.get(), node.to_string()), (3, "3".to_string()));
/// assert_eq!(NetId64::new(1, node, 99).node(), node);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NodeId(pub u16);

impl NodeId {
    /// The node id as a plain number.
    #[must_use]
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl From<u16> for NodeId {
    fn from(value: u16) -> Self {
        Self(value)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A 64-bit frame id: `kind: u8 | node: u16 | counter: 40 bits`.
///
/// `Display` is `kind:node:counter`; `Debug` adds the raw word.
///
/// # Examples
///
/// ```
/// use orbit_rs::{NetId64, NodeId};
/// let id = NetId64::new(7, NodeId(42), 999);
/// assert_eq!(id.to_string(), "7:42:999");
/// assert_eq!(format!("{id:?}"), "NetId64(7:42:999 | 0x07002A00000003E7)");
/// assert_eq!("0x07002a00000003e7".parse(), Ok(id));
/// assert_eq!(NetId64::from_be_bytes(id.to_be_bytes()), id); // the wire form
/// assert_eq!((id.kind(), id.node(), id.counter()), (7, NodeId(42), 999));
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NetId64(u64);

impl fmt::Debug for NetId64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetId64({self} | 0x{:016X})", self.0)
    }
}

impl NetId64 {
    /// Number of counter bits an id carries.
    pub const COUNTER_BITS: u32 = 40;
    /// Mask of the counter bits.
    pub const COUNTER_MASK: u64 = (1 << Self::COUNTER_BITS) - 1;
    const NODE_SHIFT: u32 = Self::COUNTER_BITS;
    const KIND_SHIFT: u32 = Self::COUNTER_BITS + 16;

    /// Builds an id from its fields; `counter` keeps only its low 40 bits (the id counter wraps).
    #[must_use]
    pub const fn new(kind: u8, node: NodeId, counter: u64) -> Self {
        Self(
            ((kind as u64) << Self::KIND_SHIFT)
                | ((node.0 as u64) << Self::NODE_SHIFT)
                | (counter & Self::COUNTER_MASK),
        )
    }

    /// Builds an id from fields, refusing a counter that does not fit in 40 bits.
    pub const fn try_new(kind: u8, node: NodeId, counter: u64) -> Result<Self, ParseIdError> {
        if counter > Self::COUNTER_MASK {
            return Err(ParseIdError::OutOfRange {
                field: IdField::Counter,
            });
        }
        Ok(Self::new(kind, node, counter))
    }

    /// The id from its raw `u64` value.
    #[must_use]
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw `u64` value.
    #[must_use]
    pub const fn to_raw(self) -> u64 {
        self.0
    }

    /// The ring kind (top byte).
    #[must_use]
    pub const fn kind(self) -> u8 {
        (self.0 >> Self::KIND_SHIFT) as u8
    }

    /// The publishing node.
    #[must_use]
    pub const fn node(self) -> NodeId {
        NodeId((self.0 >> Self::NODE_SHIFT) as u16)
    }

    /// The low 40 bits of the ring counter.
    #[must_use]
    pub const fn counter(self) -> u64 {
        self.0 & Self::COUNTER_MASK
    }

    /// True if this id names ring counter `counter` (compared modulo 2^40).
    #[must_use]
    pub const fn matches_counter(self, counter: u64) -> bool {
        self.counter() == counter & Self::COUNTER_MASK
    }

    /// Big-endian wire bytes.
    #[must_use]
    pub const fn to_be_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// The id from big-endian wire bytes.
    #[must_use]
    pub const fn from_be_bytes(bytes: [u8; 8]) -> Self {
        Self(u64::from_be_bytes(bytes))
    }
}

impl fmt::Display for NetId64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.kind(), self.node(), self.counter())
    }
}

/// Which field of a textual id was wrong.
///
/// # Examples
///
/// ```
/// use orbit_rs::id::IdField;
/// use orbit_rs::{NetId64, ParseIdError};
///
/// let err = "7:x:1".parse::<NetId64>().unwrap_err();
/// assert_eq!(err, ParseIdError::InvalidDigit { field: IdField::Node });
/// let err = "0xZZ".parse::<NetId64>().unwrap_err();
/// assert_eq!(err, ParseIdError::InvalidDigit { field: IdField::Raw });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum IdField {
    /// The `kind` part of `kind:node:counter`.
    Kind,
    /// The `node` part.
    Node,
    /// The `counter` part.
    Counter,
    /// The `0x…` raw form.
    Raw,
}

/// Error parsing a [`NetId64`] from text.
///
/// # Examples
///
/// ```
/// use orbit_rs::id::IdField;
/// use orbit_rs::{NetId64, NodeId, ParseIdError};
///
/// let err = "1:70000:5".parse::<NetId64>().unwrap_err();
/// assert_eq!(err, ParseIdError::OutOfRange { field: IdField::Node });
/// assert_eq!(err.to_string(), "id field Node is out of range");
/// assert_eq!("1:2".parse::<NetId64>(), Err(ParseIdError::Format));
///
/// // Building an id from fields refuses a counter past 40 bits the same way:
/// let err = NetId64::try_new(1, NodeId(2), 1 << 40).unwrap_err();
/// assert_eq!(err, ParseIdError::OutOfRange { field: IdField::Counter });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ParseIdError {
    /// Neither `kind:node:counter` nor `0x` + hex.
    Format,
    /// A field is empty or has a character that is not a digit.
    InvalidDigit {
        /// The field.
        field: IdField,
    },
    /// A field does not fit its bit width (kind 8, node 16, counter 40, raw 64).
    OutOfRange {
        /// The field.
        field: IdField,
    },
}

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Format => f.write_str("id is neither `kind:node:counter` nor `0x` + hex"),
            Self::InvalidDigit { field } => {
                write!(f, "id field {field:?} is empty or not a number")
            }
            Self::OutOfRange { field } => write!(f, "id field {field:?} is out of range"),
        }
    }
}

impl core::error::Error for ParseIdError {}

fn parse_field(text: &str, radix: u32, max: u64, field: IdField) -> Result<u64, ParseIdError> {
    if text.is_empty() || !text.bytes().all(|b| (b as char).is_digit(radix)) {
        return Err(ParseIdError::InvalidDigit { field });
    }
    // All digits: the only possible failure left is overflow.
    let value = u64::from_str_radix(text, radix).map_err(|_| ParseIdError::OutOfRange { field })?;
    if value > max {
        return Err(ParseIdError::OutOfRange { field });
    }
    Ok(value)
}

impl FromStr for NetId64 {
    type Err = ParseIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // Only the documented lower-case prefix; the digits may be either case.
        if let Some(hex) = text.strip_prefix("0x") {
            return parse_field(hex, 16, u64::MAX, IdField::Raw).map(Self);
        }
        let mut parts = text.split(':');
        let (Some(kind), Some(node), Some(counter), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ParseIdError::Format);
        };
        let kind = parse_field(kind, 10, u8::MAX.into(), IdField::Kind)?;
        let node = parse_field(node, 10, u16::MAX.into(), IdField::Node)?;
        let counter = parse_field(counter, 10, Self::COUNTER_MASK, IdField::Counter)?;
        // The casts cannot truncate: each field was range-checked above.
        Ok(Self::new(kind as u8, NodeId(node as u16), counter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    fn show(id: NetId64) -> heapless::String<64> {
        let mut s = heapless::String::new();
        write!(s, "{id}").unwrap();
        s
    }

    #[test]
    fn fields_round_trip() {
        let id = NetId64::new(220, NodeId(513), 0xAB_CDEF_0123);
        assert_eq!(id.kind(), 220);
        assert_eq!(id.node(), NodeId(513));
        assert_eq!(id.counter(), 0xAB_CDEF_0123);
        assert_eq!(id.to_raw(), 0xDC02_01AB_CDEF_0123);
        assert_eq!(NetId64::from_be_bytes(id.to_be_bytes()), id);
        assert_eq!(id.to_be_bytes()[0], 220);
    }

    #[test]
    fn counter_wraps_at_40_bits() {
        let id = NetId64::new(1, NodeId(2), (1 << 40) + 5);
        assert_eq!(id.counter(), 5);
        assert!(id.matches_counter((1 << 40) + 5));
        assert!(id.matches_counter(5));
        assert!(!id.matches_counter(6));
        assert_eq!(
            id.kind(),
            1,
            "counter overflow must not leak into the node/kind"
        );
        assert_eq!(id.node(), NodeId(2));
        assert!(NetId64::try_new(1, NodeId(2), 1 << 40).is_err());
    }

    #[test]
    fn display_and_parse() {
        let id = NetId64::new(7, NodeId(65535), NetId64::COUNTER_MASK);
        assert_eq!(show(id).as_str(), "7:65535:1099511627775");
        assert_eq!("7:65535:1099511627775".parse::<NetId64>(), Ok(id));
        assert_eq!(format_hex(id).parse::<NetId64>(), Ok(id));
    }

    fn format_hex(id: NetId64) -> heapless::String<32> {
        let mut s = heapless::String::new();
        write!(s, "0x{:x}", id.to_raw()).unwrap();
        s
    }

    #[test]
    fn parse_rejects_out_of_range_fields() {
        use IdField::*;
        let cases: &[(&str, ParseIdError)] = &[
            ("256:0:0", ParseIdError::OutOfRange { field: Kind }),
            ("0:65536:0", ParseIdError::OutOfRange { field: Node }),
            (
                "0:0:1099511627776",
                ParseIdError::OutOfRange { field: Counter },
            ),
            (
                "0:0:99999999999999999999999",
                ParseIdError::OutOfRange { field: Counter },
            ),
            (
                "0x1ffffffffffffffff",
                ParseIdError::OutOfRange { field: Raw },
            ),
            ("1:2", ParseIdError::Format),
            ("1:2:3:4", ParseIdError::Format),
            ("", ParseIdError::Format),
            (":1:2", ParseIdError::InvalidDigit { field: Kind }),
            ("1:+2:3", ParseIdError::InvalidDigit { field: Node }),
            ("1:2:-3", ParseIdError::InvalidDigit { field: Counter }),
            ("0x", ParseIdError::InvalidDigit { field: Raw }),
            ("0xg", ParseIdError::InvalidDigit { field: Raw }),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<NetId64>(), Err(*want), "{text:?}");
        }
    }
}
