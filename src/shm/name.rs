//! The one place that builds and validates segment names: `/orbit-{fleet}-{kind}-{uid}` for
//! rings, `/orbit-{fleet}-members-{uid}` for a fleet's member registry.

use std::fmt;
use std::string::String;

use super::ShmError;

/// Longest fleet name accepted. With the prefix, kind and uid the segment name stays far below
/// `NAME_MAX` (255).
pub const FLEET_NAME_MAX: usize = 64;

/// A validated POSIX shared-memory object name for one ring of one fleet.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SegmentName(String);

impl SegmentName {
    /// `/orbit-{fleet}-{kind}-{uid}`, after checking the fleet name with [`check_fleet_name`].
    pub fn new(fleet: &str, kind: u8, uid: u32) -> Result<Self, ShmError> {
        check_fleet_name(fleet)?;
        Ok(Self(std::format!("/orbit-{fleet}-{kind}-{uid}")))
    }

    /// `/orbit-{fleet}-members-{uid}`: the fleet's member registry (see
    /// [`Member`](super::Member)). Never a ring's name: those end in `-{kind}-{uid}`, digits.
    pub fn members(fleet: &str, uid: u32) -> Result<Self, ShmError> {
        check_fleet_name(fleet)?;
        Ok(Self(std::format!("/orbit-{fleet}-members-{uid}")))
    }

    /// The name as passed to `shm_open`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SegmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a fleet name: 1 to [`FLEET_NAME_MAX`] bytes of ASCII letters, digits, `_`, `.` and
/// `-` (so no `/`, NUL or whitespace can reach `shm_open`).
pub fn check_fleet_name(fleet: &str) -> Result<(), ShmError> {
    let invalid = |reason: &'static str| ShmError::InvalidFleetName {
        name: fleet.into(),
        reason,
    };
    if fleet.is_empty() {
        return Err(invalid("it is empty"));
    }
    if fleet.len() > FLEET_NAME_MAX {
        return Err(invalid("it is longer than 64 bytes"));
    }
    if !fleet
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(invalid(
            "only ASCII letters, digits, '_', '.' and '-' are allowed",
        ));
    }
    if fleet.starts_with('.') {
        return Err(invalid("it starts with '.'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_documented_name() {
        assert_eq!(
            SegmentName::new("plant-a", 220, 1000).unwrap().as_str(),
            "/orbit-plant-a-220-1000"
        );
    }

    #[test]
    fn rejects_bad_fleet_names() {
        let long = "x".repeat(FLEET_NAME_MAX + 1);
        for bad in [
            "",
            "a/b",
            "a\0b",
            "a b",
            "..",
            ".hidden",
            "é",
            long.as_str(),
        ] {
            assert!(
                matches!(
                    SegmentName::new(bad, 1, 0),
                    Err(ShmError::InvalidFleetName { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(SegmentName::new(&"x".repeat(FLEET_NAME_MAX), 1, 0).is_ok());
    }
}
