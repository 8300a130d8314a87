//! Fleets shared with a group (`FleetBuilder::sharing`): group names, creation mode and group
//! whatever the umask, attach checks that name both values, `NotInGroup`, and — as root, with
//! children that drop to another uid (`setgroups`/`setgid`/`setuid` before `exec`) — a
//! read-write group fleet between two users and a read-policy observer that polls and never
//! stores (its mapping is read-only: a store would kill it with SIGSEGV, and the parent checks
//! its exit status). The test binary re-executes itself with `ORBIT_TEST_ROLE` set, and
//! `child_entry` plays that role. Every wait is bounded; tests that need root say so and
//! return.
#![cfg(all(feature = "shm", target_os = "linux"))]

mod common;

use std::env;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use orbit_rs::fleet::{GroupAccess, Sharing};
use orbit_rs::shm::{Segment, SegmentName, ShmError};
use orbit_rs::{
    Error, Fleet, FleetBuilder, OrbitEventBus, OrbitTyped, Orbital, RingCursor, RingPoll,
};

use common::ROLE;
/// The unprivileged user (and its primary group) root's children become.
const OTHER: u32 = 65534;
/// Upper bound of every wait.
const PATIENCE: Duration = Duration::from_secs(8);
/// The stuck-writer deadline of every fleet here.
const STUCK: Duration = Duration::from_millis(20);

struct Telemetry;
impl OrbitTyped for Telemetry {
    const KIND: u8 = 41;
    const CAPACITY: usize = 16;
}

/// A ring a non-root child creates in a read-write group fleet.
struct ChildMade;
impl OrbitTyped for ChildMade {
    const KIND: u8 = 42;
    const CAPACITY: usize = 8;
}

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Setpoint {
    value: u64,
}
impl OrbitTyped for Setpoint {
    const KIND: u8 = 43;
    const CAPACITY: usize = 4;
}

fn fleet_name(label: &str) -> String {
    format!("grp{}-{label}", std::process::id())
}

fn group(gid: u32, access: GroupAccess) -> Sharing {
    Sharing::Group { gid, access }
}

fn builder(name: &str, node: u16, sharing: Sharing) -> FleetBuilder {
    Fleet::builder(name)
        .node(node)
        .stuck_after(STUCK)
        .head_check_polls(1)
        .sharing(sharing)
}

fn env_u32(key: &str) -> u32 {
    env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{key} not set"))
}

fn egid() -> u32 {
    rustix::process::getegid().as_raw()
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn path(name: &SegmentName) -> String {
    format!("/dev/shm{name}")
}

fn ring_path(fleet: &str, kind: u8, sharing: Sharing) -> String {
    path(&SegmentName::shared(fleet, kind, sharing, 0).unwrap())
}

fn registry_path(fleet: &str, sharing: Sharing) -> String {
    path(&SegmentName::members_shared(fleet, sharing, 0).unwrap())
}

/// Removes every `/dev/shm/orbit-{fleet}-*` on drop, whoever created it.
struct Cleanup(String);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let prefix = format!("orbit-{}-", self.0);
        for entry in fs::read_dir("/dev/shm").unwrap().flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Polls `ring` until `want` frames and `lost` losses were seen (or [`PATIENCE`] passed).
fn poll_until(
    ring: &orbit_rs::FleetRing<impl OrbitTyped>,
    cursor: &mut RingCursor,
    want: usize,
    lost: u64,
) -> RingPoll {
    let mut all = RingPoll::default();
    let start = Instant::now();
    while (all.frames.len() < want || all.loss.total() < lost) && start.elapsed() < PATIENCE {
        let poll = ring.poll_frames(cursor);
        all.frames.extend(poll.frames);
        all.loss.overwritten += poll.loss.overwritten;
        all.loss.unavailable += poll.loss.unavailable;
        thread::sleep(Duration::from_millis(2));
    }
    all
}

fn payloads(poll: &RingPoll) -> Vec<Vec<u8>> {
    poll.frames.iter().map(|f| f.payload.to_vec()).collect()
}

fn read_only(result: Result<impl std::fmt::Debug, Error>, fleet: &str, what: &str) {
    match result {
        Err(Error::ReadOnly { fleet: f }) if f == fleet => {}
        other => panic!("{what}: expected ReadOnly for {fleet}, got {other:?}"),
    }
}

/// The child side, run only in processes the tests spawn (`--ignored --exact child_entry`).
#[test]
#[ignore = "child-process entry point: the group tests run it"]
fn child_entry() {
    let role = env::var(ROLE).expect("child_entry runs only inside a spawned child");
    let name = env::var("ORBIT_FLEET").unwrap();
    let gid = env_u32("ORBIT_GID");
    let euid = rustix::process::geteuid().as_raw();
    match role.as_str() {
        "readwrite" => {
            assert_eq!(euid, OTHER);
            assert_ne!(egid(), gid, "a member through a supplementary group only");
            let fleet = builder(&name, 1, group(gid, GroupAccess::ReadWrite))
                .join_shm()
                .expect("join as a second user");
            let ring = fleet.ring::<Telemetry>().expect("attach the parent's ring");
            let seen = poll_until(&ring, &mut RingCursor::from_start(), 1, 0);
            assert_eq!(payloads(&seen), [b"from-parent".to_vec()]);
            drop(ring.exclusive_writer().expect("a member may lease"));
            // Only the owner can remove the name from the sticky /dev/shm: refused before the
            // segment is marked retired.
            let err = fleet.unlink().unwrap_err();
            assert!(
                matches!(err, Error::Shm(ShmError::ForeignOwner { owner: 0, .. })),
                "{err}"
            );
            ring.publish_frame(1, 0, b"from-child")
                .expect("still in service");
            // A ring this user creates: the parent attaches it.
            let made = fleet.ring::<ChildMade>().expect("create a ring");
            made.publish_frame(1, 0, b"child-made").expect("publish");
            println!("ORBIT ok");
        }
        "stall" => {
            // The owner's side (root): a writer that dies with its slot half-written.
            let fleet = builder(&name, 1, group(gid, GroupAccess::Read))
                .join_shm()
                .expect("join");
            let counter = fleet
                .stall_mid_write_for_test::<Telemetry>(b"half-written")
                .expect("stall");
            println!("ORBIT stalled {counter}");
        }
        "observe" => {
            assert_eq!(euid, OTHER);
            let fleet = Arc::new(
                builder(&name, 7, group(gid, GroupAccess::Read))
                    .join_shm()
                    .expect("join as an observer"),
            );
            let ring = fleet.ring::<Telemetry>().expect("attach read-only");
            let maps = fs::read_to_string("/proc/self/maps").unwrap();
            let file = ring_path(&name, Telemetry::KIND, group(gid, GroupAccess::Read));
            let mapping = maps
                .lines()
                .find(|l| l.ends_with(&file))
                .unwrap_or_else(|| panic!("{file} not mapped:\n{maps}"));
            assert!(mapping.contains(" r--s "), "not read-only: {mapping}");

            // Five frames around a dead writer's half-written one: the observer waits
            // `stuck_after`, gives up on it (unavailable) and never returns it to service.
            let seen = poll_until(&ring, &mut RingCursor::from_start(), 5, 1);
            let want: Vec<Vec<u8>> = (0..5).map(|i| format!("f{i}").into_bytes()).collect();
            assert_eq!(payloads(&seen), want);
            assert_eq!((seen.loss.unavailable, seen.loss.overwritten), (1, 0));
            assert_eq!(ring.read_head().unwrap().payload[..], *b"f4");

            read_only(ring.publish_frame(1, 0, b"no"), &name, "publish");
            read_only(ring.exclusive_writer(), &name, "exclusive_writer");
            read_only(ring.reset(), &name, "reset");
            read_only(ring.ring::<480>(), &name, "FleetRing::ring");
            read_only(
                fleet
                    .ring::<Telemetry>()
                    .and_then(|r| r.publish_frame(1, 0, b"no")),
                &name,
                "Fleet::publish",
            );
            read_only(
                fleet.ring::<Telemetry>().and_then(|r| r.reset()),
                &name,
                "reset_ring",
            );
            read_only(fleet.unlink(), &name, "unlink");
            let setpoint = Orbital::<Setpoint>::new(fleet.clone()).expect("attach");
            assert_eq!(setpoint.load(), Some(Setpoint { value: 7 }));
            read_only(
                setpoint.store(&Setpoint { value: 8 }),
                &name,
                "Orbital::store",
            );
            let bus = OrbitEventBus::new(fleet.clone()).expect("attach the event ring");
            let events = bus.poll(&mut bus.cursor_from_start());
            assert_eq!(events.events.len(), 1);
            read_only(bus.publish("t", b"no"), &name, "event publish");
            read_only(bus.reset_ring(), &name, "event reset_ring");
            // A ring the owner has not created: not created here.
            let err = fleet.ring::<ChildMade>().unwrap_err();
            assert!(
                matches!(&err, Error::Shm(ShmError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound),
                "{err}"
            );
            println!("ORBIT ok");
        }
        "foreign" => {
            assert_eq!(euid, OTHER);
            let fleet = Fleet::builder(&name).join_shm().expect("join owner-only");
            let err = fleet.ring::<Telemetry>().unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Shm(ShmError::ForeignOwner {
                        owner: 0,
                        euid: OTHER,
                        ..
                    })
                ),
                "{err}"
            );
            let text = err.to_string();
            assert!(
                text.contains("uid 0") && text.contains("uid 65534"),
                "{text}"
            );
            println!("ORBIT ok");
        }
        other => panic!("unknown role {other}"),
    }
}

/// Spawns `child_entry` as `role`; with `drop_to_other`, the child first becomes uid
/// [`OTHER`] with primary group [`OTHER`] and `gid` as its one supplementary group.
fn spawn(role: &str, fleet: &str, gid: u32, drop_to_other: bool) -> Child {
    let mut cmd = common::child_command(&[], "child_entry", role);
    cmd.env("ORBIT_FLEET", fleet)
        .env("ORBIT_GID", gid.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if drop_to_other {
        // SAFETY: the closure runs in the forked child before exec and makes only the
        // async-signal-safe calls setgroups, setgid and setuid on plain integers.
        unsafe {
            cmd.pre_exec(move || {
                let groups = [gid as libc::gid_t];
                if libc::setgroups(1, groups.as_ptr()) != 0
                    || libc::setgid(OTHER) != 0
                    || libc::setuid(OTHER) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd.spawn().expect("spawn child")
}

/// Waits (bounded) for the child to exit; kills it past [`PATIENCE`].
fn wait(child: &mut Child) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            panic!("child {} hung", child.id());
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `role` to completion and expects its "ORBIT ok" and a clean exit (a store into a
/// read-only mapping would end it with SIGSEGV instead).
fn run_ok(role: &str, fleet: &str, gid: u32) {
    let mut child = spawn(role, fleet, gid, true);
    let lines = common::orbit_lines(&mut child);
    let status = wait(&mut child);
    assert!(
        status.success(),
        "{role} child failed: {status} (signal {:?})",
        status.signal()
    );
    assert_eq!(lines.recv_timeout(PATIENCE).as_deref(), Ok("ok"));
}

fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    println!("skipped {test}: a second user needs root (setgroups/setgid/setuid in a child)");
    true
}

#[test]
fn group_objects_get_the_policy_mode_and_group_whatever_the_umask() {
    let name = fleet_name("mode");
    let _c = Cleanup(name.clone());
    let gid = egid();
    // The umask narrows what open(2) creates; the policy's mode is set explicitly after.
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let made = (|| -> orbit_rs::Result<_> {
        let rw = builder(&name, 0, group(gid, GroupAccess::ReadWrite)).join_shm()?;
        rw.ring::<Telemetry>()
            .and_then(|r| r.publish_frame(1, 0, b"group"))?;
        Ok(rw)
    })();
    rustix::process::umask(old);
    let rw = made.unwrap();
    for (path, mode) in [
        (
            ring_path(&name, Telemetry::KIND, group(gid, GroupAccess::ReadWrite)),
            0o660,
        ),
        (
            registry_path(&name, group(gid, GroupAccess::ReadWrite)),
            0o660,
        ),
    ] {
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(
            (meta.mode() & 0o7777, meta.gid()),
            (mode, gid),
            "{path}: mode {:o}",
            meta.mode()
        );
    }
    assert!(
        ring_path(&name, Telemetry::KIND, group(gid, GroupAccess::ReadWrite))
            .ends_with(&format!("-{}-g{gid}", Telemetry::KIND))
    );

    // The owner-only fleet of the same name is another fleet: its own names, its own rings.
    let owner = Fleet::builder(&name).join_shm().unwrap();
    assert_eq!(owner.ring::<Telemetry>().map(|r| r.head()).unwrap(), 0);
    assert_eq!(rw.ring::<Telemetry>().map(|r| r.head()).unwrap(), 1);
    drop(owner);

    // A read policy: 0640, and a read-policy joiner that owns the fleet writes.
    let read_name = fleet_name("mode-read");
    let _r = Cleanup(read_name.clone());
    let read = builder(&read_name, 0, group(gid, GroupAccess::Read))
        .join_shm()
        .unwrap();
    read.ring::<Telemetry>()
        .and_then(|r| r.publish_frame(1, 0, b"owner writes"))
        .unwrap();
    for path in [
        ring_path(&read_name, Telemetry::KIND, group(gid, GroupAccess::Read)),
        registry_path(&read_name, group(gid, GroupAccess::Read)),
    ] {
        let meta = fs::metadata(&path).unwrap();
        assert_eq!((meta.mode() & 0o7777, meta.gid()), (0o640, gid), "{path}");
    }
}

#[test]
fn a_process_not_in_the_group_gets_not_in_group() {
    let mut groups: Vec<u32> = rustix::process::getgroups()
        .unwrap()
        .iter()
        .map(|g| g.as_raw())
        .collect();
    groups.push(egid());
    let gid = (60_000..u32::MAX - 1)
        .find(|g| !groups.contains(g))
        .unwrap();
    let name = fleet_name("notin");
    let _c = Cleanup(name.clone());
    for access in [GroupAccess::Read, GroupAccess::ReadWrite] {
        let err = builder(&name, 0, group(gid, access))
            .join_shm()
            .unwrap_err();
        assert!(
            matches!(err, Error::Shm(ShmError::NotInGroup { gid: g }) if g == gid),
            "{err}"
        );
        assert!(err.to_string().contains(&gid.to_string()), "{err}");
    }
    assert!(
        fs::metadata(registry_path(&name, group(gid, GroupAccess::ReadWrite))).is_err(),
        "nothing created"
    );
}

#[test]
fn group_objects_granting_more_or_of_another_group_are_refused_naming_both() {
    let name = fleet_name("refuse");
    let _c = Cleanup(name.clone());
    let gid = egid();
    let policy = group(gid, GroupAccess::ReadWrite);
    let first = builder(&name, 0, policy).join_shm().unwrap();
    first
        .ring::<Telemetry>()
        .and_then(|r| r.publish_frame(1, 0, b"x"))
        .unwrap();
    let ring = ring_path(&name, Telemetry::KIND, policy);
    let set_mode = |path: &str, mode: u32| {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    };

    // Anything beyond 0660 — a bit for others, execute, set-id, sticky — is refused.
    for mode in [0o664, 0o661, 0o670, 0o760, 0o2660, 0o1660] {
        set_mode(&ring, mode);
        let second = builder(&name, 1, policy).join_shm().unwrap();
        let err = second.ring::<Telemetry>().unwrap_err();
        assert!(
            matches!(&err, Error::Shm(ShmError::InsecureMode { mode: m, policy: p, .. })
                if *m == mode && *p == policy),
            "{mode:o}: {err}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&format!("{mode:04o}")) && text.contains("0660"),
            "{text}"
        );
        assert_eq!(
            fs::metadata(&ring).unwrap().mode() & 0o7777,
            mode,
            "left untouched"
        );
    }
    // Narrower is fine.
    set_mode(&ring, 0o640);
    let narrower = builder(&name, 2, policy).join_shm().unwrap();
    assert_eq!(
        narrower
            .ring::<Telemetry>()
            .map(|r| r.read_head())
            .unwrap()
            .unwrap()
            .payload[..],
        *b"x"
    );
    set_mode(&ring, 0o660);

    // A read-policy joiner refuses the group-writable objects of a read-write fleet: the
    // policies must agree (the registry is checked at join).
    let err = builder(&name, 3, group(gid, GroupAccess::Read))
        .join_shm()
        .unwrap_err();
    assert!(
        matches!(err, Error::Shm(ShmError::InsecureMode { mode: 0o660, .. })),
        "{err}"
    );
    assert!(err.to_string().contains("0640"), "{err}");

    // The registry is checked like a segment.
    let registry = registry_path(&name, policy);
    set_mode(&registry, 0o666);
    let err = builder(&name, 4, policy).join_shm().unwrap_err();
    assert!(
        matches!(err, Error::Shm(ShmError::InsecureMode { mode: 0o666, .. })),
        "{err}"
    );
    set_mode(&registry, 0o660);

    // Another group: needs a group to give the file (any, as root; else a supplementary one).
    let other = if is_root() {
        Some(OTHER)
    } else {
        rustix::process::getgroups()
            .unwrap()
            .iter()
            .map(|g| g.as_raw())
            .find(|&g| g != gid)
    };
    let Some(other) = other else {
        println!("skipped the wrong-group case: no second group to give the segment");
        return;
    };
    std::os::unix::fs::chown(&ring, None, Some(other)).unwrap();
    let second = builder(&name, 5, policy).join_shm().unwrap();
    let err = second.ring::<Telemetry>().unwrap_err();
    assert!(
        matches!(&err, Error::Shm(ShmError::GroupMismatch { gid: g, expected, .. })
            if *g == other && *expected == gid),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!("group {other}")) && text.contains(&format!("group {gid}")),
        "{text}"
    );
}

#[test]
fn read_write_group_fleet_between_two_users() {
    if skip_unless_root("read_write_group_fleet_between_two_users") {
        return;
    }
    let name = fleet_name("rw");
    let _c = Cleanup(name.clone());
    let gid = egid();
    let policy = group(gid, GroupAccess::ReadWrite);
    let fleet = builder(&name, 0, policy).join_shm().unwrap();
    let ring = fleet.ring::<Telemetry>().unwrap();
    let mut cursor = ring.cursor_at_head();
    ring.publish_frame(1, 0, b"from-parent").unwrap();

    run_ok("readwrite", &name, gid);

    let seen = poll_until(&ring, &mut cursor, 2, 0);
    assert_eq!(
        payloads(&seen),
        [b"from-parent".to_vec(), b"from-child".to_vec()]
    );
    // The child's ring: its uid, the group, 0660 — and this user attaches it.
    let made = ring_path(&name, ChildMade::KIND, policy);
    let meta = fs::metadata(&made).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (OTHER, gid, 0o660)
    );
    let head = fleet
        .ring::<ChildMade>()
        .map(|r| r.read_head())
        .unwrap()
        .unwrap();
    assert_eq!(head.payload[..], *b"child-made");
}

#[test]
fn read_policy_observer_of_another_user_reads_and_never_stores() {
    if skip_unless_root("read_policy_observer_of_another_user_reads_and_never_stores") {
        return;
    }
    let name = fleet_name("ro");
    let _c = Cleanup(name.clone());
    let gid = egid();
    let policy = group(gid, GroupAccess::Read);
    let fleet = Arc::new(builder(&name, 0, policy).join_shm().unwrap());
    let ring = fleet.ring::<Telemetry>().unwrap();
    for i in 0..3 {
        ring.publish_frame(1, 0, format!("f{i}").as_bytes())
            .unwrap();
    }
    Orbital::<Setpoint>::new(fleet.clone())
        .unwrap()
        .store(&Setpoint { value: 7 })
        .unwrap();
    let bus = OrbitEventBus::new(fleet.clone()).unwrap();
    bus.publish("boot", b"owner").unwrap();

    // Another process of the owner's user dies with a slot half-written.
    let mut staller = spawn("stall", &name, gid, false);
    let stalled = common::orbit_lines(&mut staller);
    assert!(wait(&mut staller).success());
    let line = stalled.recv_timeout(PATIENCE).unwrap();
    assert_eq!(line, "stalled 3");
    for i in 3..5 {
        ring.publish_frame(1, 0, format!("f{i}").as_bytes())
            .unwrap();
    }

    run_ok("observe", &name, gid);

    // The observer took no node id: the registry lists this member only.
    let registry = fs::File::open(registry_path(&name, policy)).unwrap();
    let members: Vec<_> = orbit_rs::shm::members(&registry)
        .unwrap()
        .into_iter()
        .filter(|m| m.alive)
        .map(|m| m.node)
        .collect();
    assert_eq!(members, [0]);
    // The half-written slot is still there (the observer gave up on it without recovering
    // it); this member recovers it once `stuck_after` has passed.
    let mut cursor = RingCursor::from_start();
    let first = ring.poll_frames(&mut cursor);
    assert_eq!(first.frames.len(), 3);
    assert_eq!(
        cursor.next_counter(),
        3,
        "still stalled on the dead writer's slot"
    );
    let rest = poll_until(&ring, &mut cursor, 2, 1);
    assert_eq!(
        payloads(&rest),
        [b"f3".to_vec(), b"f4".to_vec()],
        "recovered by a member"
    );
    assert_eq!(rest.loss.unavailable, 1);
}

#[test]
fn an_owner_only_fleet_is_refused_to_another_user() {
    if skip_unless_root("an_owner_only_fleet_is_refused_to_another_user") {
        return;
    }
    let name = fleet_name("foreign");
    let _c = Cleanup(name.clone());
    // Root pre-creates a segment under the name the other user's owner-only fleet uses.
    let taken = SegmentName::new(&name, Telemetry::KIND, OTHER).unwrap();
    let segment = Segment::<{ orbit_rs::fleet::PAYLOAD_MAX }>::create(
        taken.clone(),
        Telemetry::KIND,
        Telemetry::CAPACITY,
    )
    .unwrap();
    let before = fs::metadata(path(&taken)).unwrap();
    run_ok("foreign", &name, egid());
    let after = fs::metadata(path(&taken)).unwrap();
    assert_eq!(
        (after.uid(), after.mode(), after.ino()),
        (before.uid(), before.mode(), before.ino()),
        "left untouched"
    );
    drop(segment);
}
