//! Properties of `NetId64` text forms on arbitrary bytes, shared by the `netid_parse` fuzz
//! target and `tests/fuzz_regressions.rs`.
//!
//! [`check`] uses the input twice:
//! * as text (its longest UTF-8 prefix): `str::parse::<NetId64>()` never panics, accepts only
//!   `kind:node:counter` / `0x…` spellings, and an accepted id displays back to a string that
//!   parses to the same id;
//! * its first 8 bytes as a raw id: `NetId64::from_raw(x)` displayed (and in `0x` hex) always
//!   re-parses to itself, and its fields rebuild it.

use orbit_rs::{NetId64, NodeId};

/// Checks every `NetId64` text property on `bytes`; panics on a violation.
pub fn check(bytes: &[u8]) {
    let text = match core::str::from_utf8(bytes) {
        Ok(text) => text,
        // The valid prefix is UTF-8 by construction.
        Err(error) => core::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or_default(),
    };
    check_text(text);

    let mut raw = [0u8; 8];
    let take = bytes.len().min(8);
    raw[..take].copy_from_slice(&bytes[..take]);
    check_raw(NetId64::from_raw(u64::from_le_bytes(raw)));
}

fn check_text(text: &str) {
    let Ok(id) = text.parse::<NetId64>() else {
        return;
    };
    assert!(
        !text.starts_with("0X"),
        "accepted the undocumented prefix in {text:?}"
    );
    let hex = text.starts_with("0x");
    let allowed = |b: u8| {
        if hex {
            b.is_ascii_hexdigit()
        } else {
            b.is_ascii_digit() || b == b':'
        }
    };
    let body = if hex { &text[2..] } else { text };
    assert!(
        body.bytes().all(allowed),
        "accepted {text:?} with a foreign character"
    );
    if !hex {
        assert_eq!(text.matches(':').count(), 2, "accepted {text:?}");
    }
    let shown = id.to_string();
    assert_eq!(
        shown.parse::<NetId64>(),
        Ok(id),
        "{text:?} parsed to {id:?}, displayed as {shown:?}"
    );
    check_raw(id);
}

fn check_raw(id: NetId64) {
    let shown = id.to_string();
    assert_eq!(shown.parse::<NetId64>(), Ok(id), "display {shown:?}");
    assert_eq!(
        shown,
        format!("{}:{}:{}", id.kind(), id.node().get(), id.counter())
    );
    for hex in [
        format!("0x{:x}", id.to_raw()),
        format!("0x{:X}", id.to_raw()),
        format!("0x{:016x}", id.to_raw()),
    ] {
        assert_eq!(hex.parse::<NetId64>(), Ok(id), "hex {hex:?}");
    }
    let upper = format!("0X{:x}", id.to_raw());
    assert!(upper.parse::<NetId64>().is_err(), "{upper:?} parsed");
    assert_eq!(
        format!("{id:?}"),
        format!("NetId64({shown} | 0x{:016X})", id.to_raw())
    );
    assert_eq!(NetId64::new(id.kind(), id.node(), id.counter()), id);
    assert_eq!(
        NetId64::try_new(id.kind(), NodeId(id.node().get()), id.counter()),
        Ok(id)
    );
    assert_eq!(NetId64::from_be_bytes(id.to_be_bytes()), id);
    assert!(id.matches_counter(id.counter()));
}
