//! Hostile and stale shared-memory segments: every attach failure is a typed error naming the
//! segment, refused segments are left untouched (mode, owner, size, bytes), nothing faults.
#![cfg(all(feature = "shm", unix))]

mod common;

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::time::{Duration, Instant};

use orbit_rs::shm::{
    LAYOUT_VERSION, MAGIC, PREFIX_BYTES, Segment, SegmentName, ShmError, SpecField, current_uid,
};
use rustix::fs::Mode;
use rustix::shm;

const KIND: u8 = 40;

fn name(label: &str, kind: u8) -> SegmentName {
    SegmentName::new(&common::unique_name(label), kind, current_uid()).unwrap()
}

/// A raw object under `name` with mode 0600, `size` bytes and `header` words at offset 0.
fn raw_object(name: &SegmentName, size: u64, header: &[u64]) -> File {
    let flags = shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR;
    let file = File::from(shm::open(name.as_str(), flags, Mode::RUSR | Mode::WUSR).unwrap());
    file.set_len(size).unwrap();
    let bytes: Vec<u8> = header.iter().flat_map(|w| w.to_ne_bytes()).collect();
    file.write_all_at(&bytes, 0).unwrap();
    file
}

/// Mode, owner, size and bytes of an object, to prove a refused attach left it alone.
fn snapshot(file: &File) -> (u32, u32, u64, Vec<u8>) {
    let meta = file.metadata().unwrap();
    let mut bytes = vec![0u8; meta.len() as usize];
    file.read_exact_at(&mut bytes, 0).unwrap();
    (meta.mode(), meta.uid(), meta.len(), bytes)
}

struct Unlink(SegmentName);
impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = shm::unlink(self.0.as_str());
    }
}

fn header(kind: u8, capacity: u64, payload: u64, stride: u64) -> [u64; 6] {
    [
        MAGIC,
        LAYOUT_VERSION,
        u64::from(kind),
        capacity,
        payload,
        stride,
    ]
}

fn segment_bytes(capacity: u64) -> u64 {
    PREFIX_BYTES as u64 + capacity * 128
}

fn attach(name: &SegmentName, capacity: usize) -> ShmError {
    Segment::<64>::attach(name.clone(), KIND, capacity).expect_err("attach must refuse")
}

fn assert_names_segment(err: &ShmError, name: &SegmentName) {
    let text = err.to_string();
    assert!(
        text.contains(name.as_str()),
        "error does not name the segment: {text}"
    );
}

#[test]
fn foreign_owner_is_refused_and_untouched() {
    let name = name("foreign", KIND);
    let _u = Unlink(name.clone());
    let file = raw_object(&name, segment_bytes(8), &header(KIND, 8, 64, 128));
    if std::os::unix::fs::fchown(&file, Some(current_uid() + 4242), None).is_err() {
        eprintln!("skipped: changing an object's owner needs root");
        return;
    }
    let before = snapshot(&file);
    let err = attach(&name, 8);
    assert!(
        matches!(err, ShmError::ForeignOwner { owner, .. } if owner == current_uid() + 4242),
        "{err}"
    );
    assert_names_segment(&err, &name);
    // open() must refuse too, not replace or "repair" it.
    assert!(matches!(
        Segment::<64>::open(name.clone(), KIND, 8),
        Err(ShmError::ForeignOwner { .. })
    ));
    assert_eq!(snapshot(&file), before);
}

#[test]
fn group_or_other_permissions_are_refused_and_untouched() {
    for mode in [0o644, 0o666, 0o640, 0o602] {
        let name = name(&format!("mode{mode:o}"), KIND);
        let _u = Unlink(name.clone());
        let file = raw_object(&name, segment_bytes(8), &header(KIND, 8, 64, 128));
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .unwrap();
        let before = snapshot(&file);
        let err = attach(&name, 8);
        assert!(
            matches!(err, ShmError::InsecureMode { mode: m, .. } if m == mode),
            "{err}"
        );
        assert_names_segment(&err, &name);
        assert_eq!(snapshot(&file), before);
    }
}

#[test]
fn wrong_magic_and_layout_version_are_named() {
    let name = name("magic", KIND);
    let _u = Unlink(name.clone());
    let mut words = header(KIND, 8, 64, 128);
    words[0] = u64::from_le_bytes(*b"NOTORBIT");
    let file = raw_object(&name, segment_bytes(8), &words);
    let before = snapshot(&file);
    let err = attach(&name, 8);
    assert!(
        matches!(err, ShmError::BadMagic { found, .. } if found == words[0]),
        "{err}"
    );
    assert_names_segment(&err, &name);
    assert_eq!(snapshot(&file), before);

    let name = self::name("version", KIND);
    let _u = Unlink(name.clone());
    let mut words = header(KIND, 8, 64, 128);
    words[1] = LAYOUT_VERSION + 1;
    raw_object(&name, segment_bytes(8), &words);
    let err = attach(&name, 8);
    assert!(
        matches!(err, ShmError::LayoutVersion { found, .. } if found == LAYOUT_VERSION + 1),
        "{err}"
    );
    assert_names_segment(&err, &name);
}

#[test]
fn each_spec_mismatch_is_named_with_both_values() {
    let cases: [([u64; 6], SpecField, u64, u64); 4] = [
        (
            header(KIND + 1, 8, 64, 128),
            SpecField::Kind,
            u64::from(KIND),
            u64::from(KIND + 1),
        ),
        (header(KIND, 16, 64, 128), SpecField::Capacity, 8, 16),
        (header(KIND, 8, 56, 128), SpecField::Payload, 64, 56),
        (header(KIND, 8, 64, 64), SpecField::Stride, 128, 64),
    ];
    for (i, (words, field, expected, found)) in cases.into_iter().enumerate() {
        let name = name(&format!("spec{i}"), KIND);
        let _u = Unlink(name.clone());
        let file = raw_object(&name, segment_bytes(16), &words);
        let before = snapshot(&file);
        let err = attach(&name, 8);
        match &err {
            ShmError::SpecMismatch {
                field: f,
                expected: e,
                found: g,
                ..
            } => {
                assert_eq!((*f, *e, *g), (field, expected, found), "{err}");
            }
            other => panic!("expected a spec mismatch, got {other}"),
        }
        assert_names_segment(&err, &name);
        assert_eq!(snapshot(&file), before);
    }
}

#[test]
fn a_real_segment_with_another_payload_is_a_mismatch() {
    let name = name("payload", KIND);
    let _u = Unlink(name.clone());
    let _small = Segment::<64>::create(name.clone(), KIND, 8).unwrap();
    let err = Segment::<128>::attach(name.clone(), KIND, 8).unwrap_err();
    assert!(
        matches!(
            err,
            ShmError::SpecMismatch {
                field: SpecField::Payload,
                expected: 128,
                found: 64,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn truncated_segment_is_too_small_not_sigbus() {
    let name = name("short", KIND);
    let _u = Unlink(name.clone());
    let short = segment_bytes(8) - 1;
    raw_object(&name, short, &header(KIND, 8, 64, 128));
    let err = attach(&name, 8);
    assert!(
        matches!(err, ShmError::TooSmall { size, needed, .. } if size == short && needed == short + 1),
        "{err}"
    );
    assert_names_segment(&err, &name);
    // A header-only object, for a huge declared capacity, is refused the same way.
    let name = self::name("huge", KIND);
    let _u = Unlink(name.clone());
    raw_object(&name, PREFIX_BYTES as u64, &header(KIND, 1 << 30, 64, 128));
    assert!(matches!(
        Segment::<64>::attach(name.clone(), KIND, 1 << 30),
        Err(ShmError::TooSmall { .. })
    ));
}

#[test]
fn uninitialised_segments_time_out_with_a_clear_error() {
    // Size 0 (creator died before ftruncate) and sized-but-no-magic (died before publishing).
    for (label, size) in [("empty", 0), ("nomagic", segment_bytes(8))] {
        let name = name(label, KIND);
        let _u = Unlink(name.clone());
        let file = raw_object(&name, size, &[]);
        let before = snapshot(&file);
        let start = Instant::now();
        let err = attach(&name, 8);
        assert!(matches!(err, ShmError::NotInitialized { .. }), "{err}");
        assert!(
            start.elapsed() >= Duration::from_secs(1),
            "waited for the creator first"
        );
        assert_names_segment(&err, &name);
        assert_eq!(snapshot(&file), before);
    }
}

#[test]
fn created_segments_are_private_and_self_describing() {
    let name = name("fresh", KIND);
    let _u = Unlink(name.clone());
    let seg = Segment::<64>::open(name.clone(), KIND, 8).unwrap();
    assert!(seg.created());
    let file = File::from(shm::open(name.as_str(), shm::OFlags::RDONLY, Mode::empty()).unwrap());
    let (mode, uid, size, bytes) = snapshot(&file);
    assert_eq!(
        (mode & 0o777, uid, size),
        (0o600, current_uid(), segment_bytes(8))
    );
    let word = |i: usize| u64::from_ne_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
    assert_eq!(
        [word(0), word(1), word(2), word(3), word(4), word(5)],
        header(KIND, 8, 64, 128)
    );
    let id = seg.ring().publish(1, 2, b"hello").unwrap();
    let other = Segment::<64>::open(name.clone(), KIND, 8).unwrap();
    assert!(!other.created());
    assert_eq!(other.ring().read(id).unwrap().payload[..], *b"hello");
    assert!(Segment::<64>::unlink(&name).unwrap());
    assert!(!Segment::<64>::unlink(&name).unwrap());
    assert_eq!(
        other.ring().read_head().unwrap().id,
        id,
        "mappings outlive the name"
    );
}
