//! Hostile and stale shared-memory segments: every attach failure is a typed error naming the
//! segment, refused segments are left untouched (mode, owner, size, bytes), nothing faults.
#![cfg(all(feature = "shm", unix))]

mod common;

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::time::{Duration, Instant};

use orbit_rs::shm::internals::{LAYOUT_VERSION, MAGIC, PREFIX_BYTES};
use orbit_rs::shm::{Segment, SegmentName, ShmError, SpecField, current_uid};
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

/// The header words of a one-lane segment: magic, version, kind, capacity, payload, stride,
/// retired (0), lanes (1).
fn header(kind: u8, capacity: u64, payload: u64, stride: u64) -> [u64; 8] {
    [
        MAGIC,
        LAYOUT_VERSION,
        u64::from(kind),
        capacity,
        payload,
        stride,
        0,
        1,
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
    // Owner-only means `mode & !0o600 == 0`: an execute, set-id or sticky bit is refused too.
    for mode in [0o644, 0o666, 0o640, 0o602, 0o700, 0o610, 0o4600, 0o1600] {
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
        matches!(err, ShmError::BadMagic { found, expected, .. } if found == words[0] && expected == MAGIC),
        "{err}"
    );
    assert_names_segment(&err, &name);
    // Both words, as hex and as text.
    let text = err.to_string();
    for part in [
        format!("{:#018x}", words[0]),
        format!("{MAGIC:#018x}"),
        "\"NOTORBIT\"".into(),
        "\"ORBITRNG\"".into(),
    ] {
        assert!(text.contains(&part), "{part} missing from: {text}");
    }
    assert_eq!(snapshot(&file), before);
    // A word that is not text is shown as hex only.
    let name = self::name("binmagic", KIND);
    let _u = Unlink(name.clone());
    let mut words = header(KIND, 8, 64, 128);
    words[0] = 0x0102_0304_0506_0708;
    raw_object(&name, segment_bytes(8), &words);
    let text = attach(&name, 8).to_string();
    assert!(
        text.contains("0x0102030405060708 (not text)") && text.contains("\"ORBITRNG\""),
        "{text}"
    );

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
    let mut two_lanes = header(KIND, 8, 64, 128);
    two_lanes[7] = 2;
    let cases: [([u64; 8], SpecField, u64, u64); 5] = [
        (
            header(KIND + 1, 8, 64, 128),
            SpecField::Kind,
            u64::from(KIND),
            u64::from(KIND + 1),
        ),
        (header(KIND, 16, 64, 128), SpecField::Capacity, 8, 16),
        (header(KIND, 8, 56, 128), SpecField::Payload, 64, 56),
        (header(KIND, 8, 64, 64), SpecField::Stride, 128, 64),
        (two_lanes, SpecField::Lanes, 1, 2),
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

/// Only where objects are created by name with `shm_open` (not Linux, where a segment is linked
/// under its name only once initialised; see `shm_creation.rs`).
#[cfg(not(target_os = "linux"))]
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
        [
            word(0),
            word(1),
            word(2),
            word(3),
            word(4),
            word(5),
            word(6),
            word(7)
        ],
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

// ---------------------------------------------------------------------------------------------
// What sits at the name: only a regular file with one link on the shm device is a segment.
// ---------------------------------------------------------------------------------------------

/// The directory entry behind a segment name (Linux: POSIX shm objects are files there).
#[cfg(target_os = "linux")]
fn shm_path(name: &SegmentName) -> std::path::PathBuf {
    std::path::Path::new("/dev/shm").join(name.as_str().trim_start_matches('/'))
}

/// A file outside `/dev/shm` (in the target directory), for symlinks and mounts to point at.
#[cfg(target_os = "linux")]
fn outside_file(label: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(dir).unwrap();
    dir.join(common::unique_name(label))
}

/// Entry type, mode, owner, link count, size, bytes (if a regular file) and symlink target of
/// a path, without following it: proves a refused entry was left exactly as it was.
#[cfg(target_os = "linux")]
fn entry_snapshot(
    path: &std::path::Path,
) -> (u32, u32, u64, u64, Vec<u8>, Option<std::path::PathBuf>) {
    let meta = std::fs::symlink_metadata(path).unwrap();
    let bytes = if meta.file_type().is_file() {
        std::fs::read(path).unwrap()
    } else {
        Vec::new()
    };
    let target = std::fs::read_link(path).ok();
    (
        meta.mode(),
        meta.uid(),
        meta.nlink(),
        meta.len(),
        bytes,
        target,
    )
}

/// Runs `f` on a thread and fails the test if it has not returned within 10 s (a hang would
/// otherwise block the whole run).
fn within_watchdog<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{what} did not return within 10 s"))
}

/// Attach and open (in that order) both refuse `name`, under a watchdog; returns the errors.
fn attach_and_open_refuse(name: &SegmentName) -> [ShmError; 2] {
    let (a, b) = (name.clone(), name.clone());
    let attach = within_watchdog("attach", move || {
        Segment::<64>::attach(a, KIND, 8).expect_err("attach must refuse")
    });
    let open = within_watchdog("open", move || {
        Segment::<64>::open(b, KIND, 8).expect_err("open must refuse")
    });
    [attach, open]
}

#[cfg(target_os = "linux")]
fn assert_not_regular(errs: &[ShmError], name: &SegmentName, want: &str) {
    for err in errs {
        assert!(
            matches!(err, ShmError::NotRegularFile { kind, .. } if *kind == want),
            "expected a refused {want}, got: {err}"
        );
        assert_names_segment(err, name);
        assert!(err.to_string().contains(want), "{err}");
    }
}

/// Removes a file or directory outside the shm namespace on drop.
#[cfg(target_os = "linux")]
struct RemovePath(std::path::PathBuf);
#[cfg(target_os = "linux")]
impl Drop for RemovePath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0).or_else(|_| std::fs::remove_dir(&self.0));
    }
}

#[cfg(target_os = "linux")]
#[test]
fn symlink_to_a_file_outside_dev_shm_is_refused_and_untouched() {
    // The target is a perfect orbit segment, mode 0600, ours: only the symlink is wrong.
    let target = outside_file("outside");
    let _t = RemovePath(target.clone());
    let mut bytes: Vec<u8> = header(KIND, 8, 64, 128)
        .iter()
        .flat_map(|w| w.to_ne_bytes())
        .collect();
    bytes.resize(segment_bytes(8) as usize, 0);
    std::fs::write(&target, &bytes).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    let name = name("symout", KIND);
    let _u = Unlink(name.clone());
    std::os::unix::fs::symlink(&target, shm_path(&name)).unwrap();
    let (link_before, target_before) = (entry_snapshot(&shm_path(&name)), entry_snapshot(&target));
    assert_not_regular(&attach_and_open_refuse(&name), &name, "symlink");
    assert_eq!(entry_snapshot(&shm_path(&name)), link_before);
    assert_eq!(entry_snapshot(&target), target_before);
}

#[cfg(target_os = "linux")]
#[test]
fn symlink_to_another_live_segment_is_refused_and_untouched() {
    let live = name("live", KIND);
    let _l = Unlink(live.clone());
    let seg = Segment::<64>::create(live.clone(), KIND, 8).unwrap();
    seg.ring().publish(1, 2, b"mine").unwrap();
    let name = name("symlive", KIND);
    let _u = Unlink(name.clone());
    std::os::unix::fs::symlink(shm_path(&live), shm_path(&name)).unwrap();
    let (link_before, live_before) = (
        entry_snapshot(&shm_path(&name)),
        entry_snapshot(&shm_path(&live)),
    );
    assert_not_regular(&attach_and_open_refuse(&name), &name, "symlink");
    assert_eq!(entry_snapshot(&shm_path(&name)), link_before);
    assert_eq!(entry_snapshot(&shm_path(&live)), live_before);
}

#[cfg(target_os = "linux")]
#[test]
fn dangling_symlink_is_an_error_within_a_bounded_time() {
    // Before O_NOFOLLOW: create got EEXIST, attach got ENOENT, forever.
    let target = outside_file("dangling");
    let name = name("dangling", KIND);
    let _u = Unlink(name.clone());
    std::os::unix::fs::symlink(&target, shm_path(&name)).unwrap();
    let before = entry_snapshot(&shm_path(&name));
    let start = Instant::now();
    assert_not_regular(&attach_and_open_refuse(&name), &name, "symlink");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(entry_snapshot(&shm_path(&name)), before);
    assert!(
        std::fs::symlink_metadata(&target).is_err(),
        "nothing was created through the symlink"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn hard_link_to_another_segment_is_refused_and_untouched() {
    let live = name("hardlive", KIND);
    let _l = Unlink(live.clone());
    let seg = Segment::<64>::create(live.clone(), KIND, 8).unwrap();
    seg.ring().publish(1, 2, b"mine").unwrap();
    let name = name("hardlink", KIND);
    let _u = Unlink(name.clone());
    std::fs::hard_link(shm_path(&live), shm_path(&name)).unwrap();
    let before = entry_snapshot(&shm_path(&live));
    for err in attach_and_open_refuse(&name) {
        assert!(
            matches!(err, ShmError::HardLinked { links: 2, .. }),
            "{err}"
        );
        assert_names_segment(&err, &name);
    }
    // Either name is refused while both exist.
    assert!(matches!(
        Segment::<64>::attach(live.clone(), KIND, 8),
        Err(ShmError::HardLinked { links: 2, .. })
    ));
    assert_eq!(entry_snapshot(&shm_path(&name)), before);
    assert_eq!(entry_snapshot(&shm_path(&live)), before);
}

#[cfg(target_os = "linux")]
#[test]
fn fifo_is_refused_without_blocking() {
    let name = name("fifo", KIND);
    let _u = Unlink(name.clone());
    rustix::fs::mknodat(
        rustix::fs::CWD,
        shm_path(&name),
        rustix::fs::FileType::Fifo,
        Mode::RUSR | Mode::WUSR,
        0,
    )
    .unwrap();
    let before = entry_snapshot(&shm_path(&name));
    assert_not_regular(&attach_and_open_refuse(&name), &name, "fifo");
    assert_eq!(entry_snapshot(&shm_path(&name)), before);
}

#[cfg(target_os = "linux")]
#[test]
fn directory_is_refused_and_untouched() {
    let name = name("dir", KIND);
    let path = shm_path(&name);
    let _r = RemovePath(path.clone());
    std::fs::create_dir(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
    let before = entry_snapshot(&path);
    assert_not_regular(&attach_and_open_refuse(&name), &name, "directory");
    assert_eq!(entry_snapshot(&path), before);
    assert_eq!(std::fs::read_dir(&path).unwrap().count(), 0);
}

#[cfg(target_os = "linux")]
#[test]
fn unlink_removes_a_symlink_not_its_target() {
    let live = name("unlinklive", KIND);
    let _l = Unlink(live.clone());
    let seg = Segment::<64>::create(live.clone(), KIND, 8).unwrap();
    let name = name("unlinksym", KIND);
    let _u = Unlink(name.clone());
    std::os::unix::fs::symlink(shm_path(&live), shm_path(&name)).unwrap();
    let before = entry_snapshot(&shm_path(&live));
    assert!(Segment::<64>::unlink(&name).unwrap());
    assert!(std::fs::symlink_metadata(shm_path(&name)).is_err());
    assert_eq!(entry_snapshot(&shm_path(&live)), before);
    drop(seg);
    assert!(Segment::<64>::attach(live, KIND, 8).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Space: reserved at creation, so a ring that does not fit is an error at join.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Sample(u64);
impl orbit_rs::OrbitTyped for Sample {
    const KIND: u8 = 41;
}

/// 2^31 slots of 512 bytes: 1 TiB, the largest capacity a ring accepts.
const HUGE: usize = 1 << 31;

#[test]
fn a_ring_larger_than_dev_shm_is_an_error_at_join_and_leaves_no_name() {
    let fleet = common::unique_name("tib");
    let name = SegmentName::new(&fleet, 41, current_uid()).unwrap();
    let _u = Unlink(name.clone());
    let joined = orbit_rs::Fleet::join_shm_as(&fleet, 256, 0).unwrap();
    let start = Instant::now();
    let err = joined
        .ring_with_capacity::<Sample>(HUGE)
        .expect_err("a 1 TiB ring cannot be reserved");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let name = SegmentName::new(&fleet, 41, current_uid()).unwrap();
    match &err {
        orbit_rs::Error::Shm(ShmError::NoSpace { segment, bytes, .. }) => {
            assert_eq!(segment, name.as_str());
            assert_eq!(*bytes, PREFIX_BYTES as u64 + (HUGE as u64) * 512);
        }
        other => panic!("expected NoSpace, got {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(name.as_str()) && text.contains(&format!("{}", PREFIX_BYTES + HUGE * 512)),
        "{text}"
    );
    assert!(
        matches!(Segment::<64>::unlink(&name), Ok(false)),
        "the half-created object was unlinked"
    );
    let _ = joined.unlink();
}

#[test]
fn an_in_process_ring_that_cannot_be_allocated_is_an_error_not_an_abort() {
    if std::fs::read_to_string("/proc/sys/vm/overcommit_memory").is_ok_and(|m| m.trim() == "1") {
        eprintln!("skipped: vm.overcommit_memory=1 would grant 1 TiB and fault on filling it");
        return;
    }
    let fleet = orbit_rs::Fleet::join(&common::unique_name("oom"), 1).unwrap();
    match fleet.ring_with_capacity::<Sample>(HUGE) {
        Err(orbit_rs::Error::OutOfMemory { capacity, bytes }) => {
            assert_eq!((capacity, bytes), (HUGE, HUGE * 512));
        }
        Err(other) => panic!("expected OutOfMemory, got {other}"),
        Ok(()) => panic!("a 1 TiB in-process ring was allocated"),
    }
}

// ---------------------------------------------------------------------------------------------
// Private mount namespace: a 1 MiB /dev/shm, and a file mounted over a segment name.
// ---------------------------------------------------------------------------------------------

use common::ROLE;

/// Runs `namespace_child_entry` with `role` in a private mount namespace; `None` (after
/// printing why) when this host cannot make one.
#[cfg(target_os = "linux")]
fn in_private_mount_namespace(role: &str) -> Option<String> {
    if let Some(reason) = common::no_private_mount_namespace() {
        eprintln!("skipped: {reason}");
        return None;
    }
    let out = common::child_command(
        &["unshare", "--mount", "--propagation", "private"],
        "namespace_child_entry",
        role,
    )
    .output()
    .expect("spawn child");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child {role} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // The harness prints "test namespace_child_entry ... " before the child's own output.
    let report = |tag: &str| {
        stdout
            .split_once(tag)
            .map(|(_, rest)| rest.lines().next().unwrap_or(""))
    };
    if let Some(reason) = report("ORBIT skip: ") {
        eprintln!("skipped: {reason}");
        return None;
    }
    let ok = report("ORBIT ok ");
    Some(
        ok.unwrap_or_else(|| panic!("child {role} did not report:\n{stdout}"))
            .to_string(),
    )
}

/// The child side, run only inside the private mount namespace the tests make; ignored in the
/// normal run, so it never counts as a test that passed without checking anything.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "child-process entry point: the mount-namespace tests run it"]
fn namespace_child_entry() {
    use std::process::Command;
    let role = std::env::var(ROLE).expect("namespace_child_entry runs only inside a spawned child");
    let mount = |args: &[&str]| Command::new("mount").args(args).status();
    match mount(&[
        "-t",
        "tmpfs",
        "-o",
        "size=1m,mode=1777",
        "tmpfs",
        "/dev/shm",
    ]) {
        Ok(status) if status.success() => {}
        other => {
            println!("ORBIT skip: cannot mount a tmpfs on /dev/shm: {other:?}");
            return;
        }
    }
    match role.as_str() {
        "nospace" => {
            // 2^14 slots of 128 B = 2 MiB: larger than the whole filesystem.
            let name = name("nospace", KIND);
            let err = Segment::<64>::open(name.clone(), KIND, 1 << 14).unwrap_err();
            let needed = segment_bytes(1 << 14);
            assert!(
                matches!(&err, ShmError::NoSpace { bytes, free: Some(free), .. } if *bytes == needed && *free <= 1 << 20),
                "{err}"
            );
            assert_names_segment(&err, &name);
            assert!(err.to_string().contains(&needed.to_string()), "{err}");
            assert!(
                std::fs::symlink_metadata(shm_path(&name)).is_err(),
                "left behind"
            );
            // 4 × 260 KiB: three fit, the fourth fails part-way through reserving (the
            // filesystem fills up) and is removed; the others keep working.
            let capacity = 1 << 11;
            let rings: Vec<_> = (0..3)
                .map(|i| Segment::<64>::open(name_for(i), KIND, capacity).expect("fits in 1 MiB"))
                .collect();
            let third = name_for(3);
            let err = Segment::<64>::open(third.clone(), KIND, capacity).unwrap_err();
            assert!(matches!(err, ShmError::NoSpace { .. }), "{err}");
            assert!(
                std::fs::symlink_metadata(shm_path(&third)).is_err(),
                "left behind"
            );
            for ring in &rings {
                let id = ring.ring().publish(1, 2, b"still here").unwrap();
                assert_eq!(ring.ring().read(id).unwrap().payload[..], *b"still here");
            }
            println!("ORBIT ok {err}");
        }
        "otherdevice" => {
            // A perfect segment on another filesystem, bind-mounted over the name.
            let source = outside_file("mounted");
            let _s = RemovePath(source.clone());
            let mut bytes: Vec<u8> = header(KIND, 8, 64, 128)
                .iter()
                .flat_map(|w| w.to_ne_bytes())
                .collect();
            bytes.resize(segment_bytes(8) as usize, 0);
            std::fs::write(&source, &bytes).unwrap();
            std::fs::set_permissions(&source, std::fs::Permissions::from_mode(0o600)).unwrap();
            let name = name("otherdev", KIND);
            raw_object(&name, 0, &[]);
            let status = mount(&[
                "--bind",
                source.to_str().unwrap(),
                shm_path(&name).to_str().unwrap(),
            ])
            .unwrap();
            assert!(status.success(), "bind mount failed");
            let before = entry_snapshot(&source);
            for err in attach_and_open_refuse(&name) {
                assert!(matches!(err, ShmError::OtherDevice { .. }), "{err}");
                assert_names_segment(&err, &name);
            }
            assert_eq!(entry_snapshot(&source), before);
            let err = attach(&name, 8);
            println!("ORBIT ok {err}");
        }
        other => panic!("unknown role {other}"),
    }
}

#[cfg(target_os = "linux")]
fn name_for(i: u32) -> SegmentName {
    name(&format!("fill{i}"), KIND)
}

#[cfg(target_os = "linux")]
#[test]
fn a_ring_that_does_not_fit_a_small_dev_shm_is_no_space_and_leaves_nothing() {
    if let Some(report) = in_private_mount_namespace("nospace") {
        eprintln!("child: {report}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_file_mounted_over_a_segment_name_is_another_device_and_untouched() {
    if let Some(report) = in_private_mount_namespace("otherdevice") {
        eprintln!("child: {report}");
    }
}
