//! Creating segments: racing creators agree on one segment, a creator killed at any instruction
//! never leaves a name nobody can use, a creator under `ulimit -f` gets an error instead of
//! SIGXFSZ, and whatever sits at a name is never replaced or followed by `create`.
//!
//! Child processes are this test binary re-executed with `ORBIT_TEST_ROLE` set; `child_entry`
//! plays the role. Every wait on a child is bounded.
#![cfg(all(feature = "shm", unix))]

mod common;

use std::env;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use orbit_rs::NetId64;
use orbit_rs::shm::internals::PREFIX_BYTES;
use orbit_rs::shm::{Segment, SegmentName, ShmError, current_uid};

use common::ROLE;
const KIND: u8 = 60;

fn name(fleet: &str) -> SegmentName {
    SegmentName::new(fleet, KIND, current_uid()).unwrap()
}

struct Unlink(SegmentName);
impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = Segment::<64>::unlink(&self.0);
    }
}

fn env_u64(key: &str) -> u64 {
    env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{key} not set"))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Bytes of a segment of `capacity` slots of `Slot<64>` (128 bytes each).
fn segment_bytes(capacity: usize) -> u64 {
    PREFIX_BYTES as u64 + capacity as u64 * 128
}

// ---------------------------------------------------------------------------------------------
// Child processes.
// ---------------------------------------------------------------------------------------------

fn spawn(role: &str, fleet: &str, extra: &[(&str, String)]) -> Child {
    let mut cmd = common::child_command(&[], "child_entry", role);
    cmd.env("ORBIT_FLEET", fleet)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn child")
}

/// The next report of a child, or a failed test after `within`.
fn next_line(lines: &mpsc::Receiver<String>, within: Duration, what: &str) -> String {
    lines
        .recv_timeout(within)
        .unwrap_or_else(|_| panic!("no {what} report from the child within {within:?}"))
}

/// Waits for a child to exit, killing it and failing after `within`.
fn wait_bounded(child: &mut Child, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child did not exit within {within:?}");
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// The child side, run only in processes the tests spawn; ignored in the normal run, so it
/// never counts as a test that passed without checking anything.
#[test]
#[ignore = "child-process entry point: the creation tests run it"]
fn child_entry() {
    let role = env::var(ROLE).expect("child_entry runs only inside a spawned child");
    let fleet = env::var("ORBIT_FLEET").unwrap();
    let name = name(&fleet);
    match role.as_str() {
        "create" => {
            // Killed at a random point of this, by the parent or by a thread of its own.
            let capacity = env_u64("ORBIT_CAPACITY") as usize;
            println!("ORBIT go");
            let start = Instant::now();
            if let Ok(after) = env::var("ORBIT_KILL_AFTER_US") {
                let after = Duration::from_micros(after.parse().unwrap());
                thread::spawn(move || {
                    thread::sleep(after.saturating_sub(start.elapsed()));
                    let me = rustix::process::getpid();
                    let _ = rustix::process::kill_process(me, rustix::process::Signal::KILL);
                });
            }
            let segment = Segment::<64>::open(name, KIND, capacity).expect("open");
            println!(
                "ORBIT done {} {}",
                segment.created(),
                start.elapsed().as_micros()
            );
            thread::sleep(Duration::from_secs(60)); // Killed long before.
        }
        "race" => {
            let start = env_u64("ORBIT_START_MS");
            while now_ms() < start {
                std::hint::spin_loop();
            }
            let capacity = env_u64("ORBIT_CAPACITY") as usize;
            let node = env_u64("ORBIT_NODE");
            let segment = Segment::<64>::open(name, KIND, capacity).expect("open");
            let id = segment
                .ring()
                .publish(1, node, &node.to_le_bytes())
                .expect("publish");
            println!("ORBIT raced {} {}", segment.created(), id.to_raw());
        }
        "fsize" => {
            // A soft file-size limit below the segment's size; the hard limit stays.
            let limit = env_u64("ORBIT_FSIZE");
            let capacity = env_u64("ORBIT_CAPACITY") as usize;
            let old = rustix::process::getrlimit(rustix::process::Resource::Fsize);
            rustix::process::setrlimit(
                rustix::process::Resource::Fsize,
                rustix::process::Rlimit {
                    current: Some(limit),
                    maximum: old.maximum,
                },
            )
            .expect("setrlimit RLIMIT_FSIZE");
            match Segment::<64>::open(name, KIND, capacity) {
                Err(ShmError::FileSizeLimit {
                    bytes, limit: l, ..
                }) if l == limit && bytes == segment_bytes(capacity) => {
                    let err = Segment::<64>::open(self::name(&fleet), KIND, capacity)
                        .expect_err("still refused");
                    println!("ORBIT refused {err}");
                }
                Ok(segment) if !segment.created() => {
                    // The segment exists: attaching writes no file, so the limit is no bar.
                    let id = NetId64::from_raw(env_u64("ORBIT_ID"));
                    let frame = segment.ring().read(id).expect("parent's frame");
                    println!("ORBIT attached {}", frame.payload.len());
                }
                other => panic!("unexpected: {other:?}"),
            }
        }
        other => panic!("unknown role {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Racing creators.
// ---------------------------------------------------------------------------------------------

#[test]
fn eight_threads_opening_one_name_agree_on_one_segment() {
    // 1 MiB rings, so the eight creations overlap; fresh names each round.
    const ROUNDS: usize = 20;
    const THREADS: usize = 8;
    const CAPACITY: usize = 1 << 13;
    for round in 0..ROUNDS {
        let name = name(&common::unique_name(&format!("race{round}")));
        let _u = Unlink(name.clone());
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|node| {
                let (name, barrier) = (name.clone(), barrier.clone());
                thread::spawn(move || {
                    barrier.wait();
                    let segment = Segment::<64>::open(name, KIND, CAPACITY).expect("open");
                    let id = segment
                        .ring()
                        .publish(1, node as u64, &[node as u8; 8])
                        .expect("publish");
                    (segment, id)
                })
            })
            .collect();
        let opened: Vec<(Segment<64>, NetId64)> = handles
            .into_iter()
            .map(|h| h.join().expect("opener panicked"))
            .collect();
        let creators = opened.iter().filter(|(s, _)| s.created()).count();
        assert_eq!(creators, 1, "round {round}: exactly one creator");
        // Every handle reads what every other published: one ring.
        for (reader, _) in &opened {
            for (node, (_, id)) in opened.iter().enumerate() {
                let frame = reader
                    .ring()
                    .read(*id)
                    .expect("published in another handle");
                assert_eq!(frame.payload[..], [node as u8; 8]);
            }
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::MetadataExt;
            let path = format!("/dev/shm{}", name.as_str());
            let meta = std::fs::symlink_metadata(path).unwrap();
            assert_eq!((meta.nlink(), meta.len()), (1, segment_bytes(CAPACITY)));
        }
    }
}

#[test]
fn eight_processes_opening_one_name_agree_on_one_segment() {
    const ROUNDS: usize = 3;
    const CAPACITY: usize = 1 << 13;
    for round in 0..ROUNDS {
        let fleet = common::unique_name(&format!("prace{round}"));
        let _u = Unlink(name(&fleet));
        let start = now_ms() + 300;
        let mut children: Vec<_> = (0..8u64)
            .map(|node| {
                let mut child = spawn(
                    "race",
                    &fleet,
                    &[
                        ("ORBIT_START_MS", start.to_string()),
                        ("ORBIT_CAPACITY", CAPACITY.to_string()),
                        ("ORBIT_NODE", node.to_string()),
                    ],
                );
                let lines = common::orbit_lines(&mut child);
                (child, lines)
            })
            .collect();
        let mut reports = Vec::new();
        for (child, lines) in &mut children {
            let line = next_line(lines, Duration::from_secs(10), "raced");
            let status = wait_bounded(child, Duration::from_secs(10));
            assert!(status.success(), "child failed: {status}");
            let mut words = line.split_whitespace().skip(1);
            let created: bool = words.next().unwrap().parse().unwrap();
            let id = NetId64::from_raw(words.next().unwrap().parse().unwrap());
            reports.push((created, id));
        }
        let creators = reports.iter().filter(|(created, _)| *created).count();
        assert_eq!(
            creators, 1,
            "round {round}: exactly one creator: {reports:?}"
        );
        let segment = Segment::<64>::attach(name(&fleet), KIND, CAPACITY).unwrap();
        for (node, (_, id)) in reports.iter().enumerate() {
            let frame = segment.ring().read(*id).expect("every child's frame");
            assert_eq!(frame.payload[..], (node as u64).to_le_bytes());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Creators killed at random points.
// ---------------------------------------------------------------------------------------------

/// Linux only: elsewhere segments are still created under their name, and a killed creator
/// leaves an object attachers give up on after `INIT_WAIT`.
#[cfg(target_os = "linux")]
mod kills {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    /// Publishes `payload` in one handle and reads it back through another.
    fn publish_and_read(writer: &Segment<64>, reader: &Segment<64>, payload: &[u8]) {
        let id = writer.ring().publish(1, 2, payload).expect("publish");
        let frame = reader.ring().read(id).expect("the other handle reads it");
        assert_eq!(frame.payload[..], *payload);
    }

    /// Free bytes of the filesystem under `/dev/shm` (`statvfs`).
    fn shm_free() -> u64 {
        let vfs = rustix::fs::statvfs("/dev/shm").expect("statvfs /dev/shm");
        vfs.f_bavail * vfs.f_frsize
    }

    /// Who kills a creating child, and when.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Killer {
        /// The parent, a random delay after the child's "go": external, but the delay is blurred
        /// by how late the parent is scheduled on busy cores.
        Parent,
        /// A thread of the child, a random delay after the child starts opening: the kill lands
        /// at a point spread evenly over the creation in the creator's own time.
        Child,
    }

    /// What the kills of one [`Killer`] found.
    #[derive(Debug, Default)]
    struct Kills {
        kills: u32,
        /// Kills after which the name held the killed child's complete segment.
        linked: u32,
        /// The delay spread the run ended with.
        spread: Duration,
    }

    /// What a run of kills measured.
    struct KillReport {
        by_parent: Kills,
        by_child: Kills,
        /// Median creation time of five children left to finish (it seeds the delay spreads).
        window: Duration,
        max_recovery: Duration,
        free_before: u64,
        free_after: u64,
    }

    /// xorshift64*, seeded from the clock (printed, for reproducing a spread).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    }

    /// Kills `kills` creating children of each [`Killer`] at random points of their creation;
    /// after each, opens the name (bounded), uses it and unlinks it.
    fn kill_creators(fleet: &str, kills: u32, capacity: usize) -> KillReport {
        let name = name(fleet);
        let _u = Unlink(name.clone());
        let free_before = shm_free();
        let seed = (now_ms() ^ u64::from(std::process::id())) | 1;
        eprintln!("kill spread seed {seed:#x}");
        let mut rng = Rng(seed);
        let capacity_env = ("ORBIT_CAPACITY", capacity.to_string());
        // Calibration: let five children finish, to learn how long creation takes here (the
        // median: a run slowed by other tests would put most kills past the creation).
        let mut samples = Vec::new();
        for _ in 0..5 {
            let mut child = spawn("create", fleet, std::slice::from_ref(&capacity_env));
            let lines = common::orbit_lines(&mut child);
            next_line(&lines, Duration::from_secs(10), "go");
            let done = next_line(&lines, Duration::from_secs(10), "done");
            let micros: u64 = done.split_whitespace().nth(2).unwrap().parse().unwrap();
            samples.push(Duration::from_micros(micros));
            child.kill().unwrap();
            wait_bounded(&mut child, Duration::from_secs(10));
            assert!(Segment::<64>::unlink(&name).unwrap());
        }
        samples.sort();
        let mut report = KillReport {
            by_parent: Kills::default(),
            by_child: Kills::default(),
            window: samples[samples.len() / 2],
            max_recovery: Duration::ZERO,
            free_before,
            free_after: 0,
        };
        for killer in [Killer::Parent, Killer::Child] {
            // Delays uniform in 0..spread. The spread starts at 1.25 creation times and follows
            // the load (other tests and processes share the cores, and the parent cannot know
            // how late it sees "go"): shorter after a kill that came after linking, longer after
            // one that came before, which settles with about two kills in three inside creation.
            let mut spread = report.window.as_micros() as u64 * 5 / 4;
            let mut kills_of = Kills::default();
            while kills_of.kills < kills {
                let delay = rng.next() % spread.max(1);
                let mut env = vec![capacity_env.clone()];
                if killer == Killer::Child {
                    env.push(("ORBIT_KILL_AFTER_US", delay.to_string()));
                }
                let mut child = spawn("create", fleet, &env);
                let lines = common::orbit_lines(&mut child);
                next_line(&lines, Duration::from_secs(10), "go");
                if killer == Killer::Parent {
                    thread::sleep(Duration::from_micros(delay));
                    child.kill().unwrap();
                }
                let status = wait_bounded(&mut child, Duration::from_secs(10));
                assert_eq!(status.signal(), Some(9), "killed, not exited: {status}");
                kills_of.kills += 1;
                // The name is free or holds a complete segment: open succeeds at once either way.
                let start = Instant::now();
                let segment = Segment::<64>::open(name.clone(), KIND, capacity)
                    .unwrap_or_else(|e| panic!("{killer:?} kill {}: open: {e}", kills_of.kills));
                let recovery = start.elapsed();
                assert!(
                    recovery < Duration::from_secs(1),
                    "{killer:?} kill {}: recovery took {recovery:?}",
                    kills_of.kills
                );
                report.max_recovery = report.max_recovery.max(recovery);
                kills_of.linked += u32::from(!segment.created());
                spread = if segment.created() {
                    spread * 21 / 20
                } else {
                    spread * 9 / 10
                }
                .clamp(100, 1_000_000);
                let other = Segment::<64>::attach(name.clone(), KIND, capacity).expect("attach");
                publish_and_read(&segment, &other, b"after a kill");
                drop((segment, other));
                assert!(Segment::<64>::unlink(&name).unwrap());
            }
            kills_of.spread = Duration::from_micros(spread);
            match killer {
                Killer::Parent => report.by_parent = kills_of,
                Killer::Child => report.by_child = kills_of,
            }
        }
        report.free_after = shm_free();
        report
    }

    fn check_kill_report(report: &KillReport, kills: u32) {
        eprintln!(
            "an uninterrupted creation took {:?} (median of 5, run while other tests start); max \
             recovery after a kill {:?}; /dev/shm free \
             before {} after {} bytes",
            report.window, report.max_recovery, report.free_before, report.free_after
        );
        for (killer, k) in [("parent", &report.by_parent), ("child", &report.by_child)] {
            eprintln!(
                "killed by the {killer} (delays 0..{:?}): {} kills, {} left the child's complete \
                 segment, {} left nothing",
                k.spread,
                k.kills,
                k.linked,
                k.kills - k.linked
            );
            assert!(k.kills >= kills);
            // Spread over the creation: many kills before the child linked its segment, some
            // after.
            assert!(
                k.kills - k.linked >= kills / 10 && k.linked >= kills / 20,
                "{killer} kills not spread over the creation: {k:?}"
            );
        }
        assert!(
            report.free_before.abs_diff(report.free_after) <= 4 << 20,
            "tmpfs space leaked: {} free before, {} after",
            report.free_before,
            report.free_after
        );
    }

    /// Kills by each killer: 400 in all.
    const KILLS: u32 = 200;
    /// 2^17 slots of 128 bytes: a 16 MiB ring, whose reservation takes about 10 ms.
    const KILL_CAPACITY: usize = 1 << 17;

    #[test]
    fn creators_killed_at_random_points_never_brick_the_name() {
        // In a private mount namespace with its own tmpfs, where free space is ours alone; on a
        // host without namespaces, on the shared /dev/shm (free space then also moves with other
        // users of it).
        if let Some(line) = in_private_mount_namespace("kills") {
            eprintln!("in a private tmpfs: {line}");
            return;
        }
        let report = kill_creators(&common::unique_name("kill"), KILLS, KILL_CAPACITY);
        check_kill_report(&report, KILLS);
    }

    /// Runs `namespace_child_entry` with `role` in a private mount namespace with a 256 MiB tmpfs
    /// on /dev/shm; `None` (after printing why) when this host cannot make one.
    fn in_private_mount_namespace(role: &str) -> Option<String> {
        if let Some(reason) = common::no_private_mount_namespace() {
            eprintln!("{reason}; using /dev/shm");
            return None;
        }
        let mut child = common::child_command(
            &["unshare", "--mount", "--propagation", "private"],
            "kills::namespace_child_entry",
            role,
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
        let lines = common::orbit_lines(&mut child);
        let status = wait_bounded(&mut child, Duration::from_secs(120));
        assert!(status.success(), "namespace child failed: {status}");
        let reports: Vec<String> = lines.try_iter().collect();
        if let Some(reason) = reports.iter().find_map(|l| l.strip_prefix("skip: ")) {
            eprintln!("no private tmpfs ({reason}); using /dev/shm");
            return None;
        }
        Some(
            reports
                .iter()
                .find_map(|l| l.strip_prefix("ok "))
                .unwrap_or_else(|| panic!("namespace child did not report: {reports:?}"))
                .to_string(),
        )
    }

    /// The child side of [`in_private_mount_namespace`]; ignored in the normal run.
    #[test]
    #[ignore = "child-process entry point: the mount-namespace tests run it"]
    fn namespace_child_entry() {
        let role = env::var(ROLE).expect("namespace_child_entry runs only inside a spawned child");
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                "size=256m,mode=1777",
                "tmpfs",
                "/dev/shm",
            ])
            .status();
        match mounted {
            Ok(status) if status.success() => {}
            other => {
                println!("ORBIT skip: cannot mount a tmpfs on /dev/shm: {other:?}");
                return;
            }
        }
        match role.as_str() {
            "kills" => {
                let report = kill_creators(&common::unique_name("kill"), KILLS, KILL_CAPACITY);
                check_kill_report(&report, KILLS);
                println!(
                    "ORBIT ok {} kills, max recovery {:?}, free {} -> {}",
                    report.by_parent.kills + report.by_child.kills,
                    report.max_recovery,
                    report.free_before,
                    report.free_after
                );
            }
            other => panic!("unknown role {other}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ulimit -f.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_creator_under_ulimit_f_gets_an_error_not_sigxfsz() {
    const CAPACITY: usize = 1 << 15; // 4 MiB
    const LIMIT: u64 = 1 << 20;
    let fleet = common::unique_name("fsize");
    let name = name(&fleet);
    let _u = Unlink(name.clone());
    let extra = [
        ("ORBIT_CAPACITY", CAPACITY.to_string()),
        ("ORBIT_FSIZE", LIMIT.to_string()),
    ];
    let mut child = spawn("fsize", &fleet, &extra);
    let lines = common::orbit_lines(&mut child);
    let status = wait_bounded(&mut child, Duration::from_secs(10));
    assert!(
        status.success(),
        "the limited creator must exit normally (SIGXFSZ is signal 25): {status}"
    );
    let line = next_line(&lines, Duration::from_secs(1), "refused");
    let text = line.strip_prefix("refused ").expect("refused");
    for part in [
        name.as_str(),
        &segment_bytes(CAPACITY).to_string(),
        &LIMIT.to_string(),
        "ulimit -f",
    ] {
        assert!(text.contains(part), "{part} missing from: {text}");
    }
    assert!(
        matches!(Segment::<64>::unlink(&name), Ok(false)),
        "nothing left under the name"
    );
    // A joiner without the limit creates it; a limited one attaches to it.
    let segment = Segment::<64>::open(name.clone(), KIND, CAPACITY).unwrap();
    assert!(segment.created());
    let id = segment.ring().publish(1, 2, b"no limit here").unwrap();
    let mut extra = extra.to_vec();
    extra.push(("ORBIT_ID", id.to_raw().to_string()));
    let mut child = spawn("fsize", &fleet, &extra);
    let lines = common::orbit_lines(&mut child);
    let status = wait_bounded(&mut child, Duration::from_secs(10));
    assert!(status.success(), "limited attacher failed: {status}");
    assert_eq!(
        next_line(&lines, Duration::from_secs(1), "attached"),
        "attached 13"
    );
}

// ---------------------------------------------------------------------------------------------
// What sits at a name: create refuses it at once and leaves it alone (attach and open are
// covered in shm_segments.rs).
// ---------------------------------------------------------------------------------------------

#[cfg(target_os = "linux")]
mod entries {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::{Path, PathBuf};

    use super::*;

    fn shm_path(name: &SegmentName) -> PathBuf {
        Path::new("/dev/shm").join(name.as_str().trim_start_matches('/'))
    }

    /// Type, mode, owner, links, size, bytes and symlink target, without following.
    fn snapshot(path: &Path) -> (u32, u32, u64, u64, Vec<u8>, Option<PathBuf>) {
        let meta = std::fs::symlink_metadata(path).unwrap();
        let bytes = if meta.file_type().is_file() {
            std::fs::read(path).unwrap()
        } else {
            Vec::new()
        };
        (
            meta.mode(),
            meta.uid(),
            meta.nlink(),
            meta.len(),
            bytes,
            std::fs::read_link(path).ok(),
        )
    }

    /// `Segment::create` on `name`, under a 10 s watchdog: it must fail with `EEXIST` quickly.
    fn create_refuses(name: &SegmentName) {
        let (tx, rx) = mpsc::channel();
        let n = name.clone();
        thread::spawn(move || {
            let _ = tx.send(Segment::<64>::create(n, KIND, 8).map(|_| ()));
        });
        let result = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("create did not return within 10 s");
        match result {
            Err(ShmError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists => {}
            other => panic!("create must refuse a taken name: {other:?}"),
        }
    }

    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0).or_else(|_| std::fs::remove_dir(&self.0));
        }
    }

    #[test]
    fn create_refuses_whatever_sits_at_the_name_and_leaves_it_alone() {
        let live = name(&common::unique_name("clive"));
        let _l = Unlink(live.clone());
        let seg = Segment::<64>::create(live.clone(), KIND, 8).unwrap();
        seg.ring().publish(1, 2, b"mine").unwrap();
        let outside = Path::new(env!("CARGO_TARGET_TMPDIR")).join(common::unique_name("cgone"));
        type Make = Box<dyn Fn(&Path)>;
        let live_path = shm_path(&live);
        let cases: Vec<(&str, Make)> = vec![
            (
                "dangling",
                Box::new(move |p| std::os::unix::fs::symlink(&outside, p).unwrap()),
            ),
            ("symlive", {
                let target = live_path.clone();
                Box::new(move |p| std::os::unix::fs::symlink(&target, p).unwrap())
            }),
            (
                "fifo",
                Box::new(|p| {
                    rustix::fs::mknodat(
                        rustix::fs::CWD,
                        p,
                        rustix::fs::FileType::Fifo,
                        rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
                        0,
                    )
                    .unwrap()
                }),
            ),
            (
                "dir",
                Box::new(|p| {
                    std::fs::create_dir(p).unwrap();
                    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700)).unwrap();
                }),
            ),
            ("hardlink", {
                let target = live_path.clone();
                Box::new(move |p| std::fs::hard_link(&target, p).unwrap())
            }),
        ];
        for (label, make) in cases {
            let name = name(&common::unique_name(&format!("c{label}")));
            let path = shm_path(&name);
            let _r = Remove(path.clone());
            make(&path);
            let (before, live_before) = (snapshot(&path), snapshot(&live_path));
            create_refuses(&name);
            assert_eq!(snapshot(&path), before, "{label}: the entry is untouched");
            assert_eq!(
                snapshot(&live_path),
                live_before,
                "{label}: the live segment too"
            );
        }
        // The live segment still works, and no symlink was followed to create a file.
        assert_eq!(seg.ring().read_head().unwrap().payload[..], *b"mine");
        assert!(
            std::fs::symlink_metadata(
                Path::new(env!("CARGO_TARGET_TMPDIR")).join(common::unique_name("cgone"))
            )
            .is_err()
        );
    }

    #[test]
    fn objects_this_crate_never_publishes_are_refused_at_once_and_left_alone() {
        // What a creator of an older orbit-rs left when it died: an empty object (before
        // ftruncate) and a sized one without the magic (before publishing). No waiting for a
        // creator that cannot exist: a Linux creator names a segment only once it is complete.
        for (label, size) in [("empty", 0), ("nomagic", segment_bytes(8))] {
            let name = name(&common::unique_name(label));
            let path = shm_path(&name);
            let _r = Remove(path.clone());
            let file = std::fs::File::create_new(&path).unwrap();
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .unwrap();
            file.set_len(size).unwrap();
            let before = snapshot(&path);
            for open in [false, true] {
                let start = Instant::now();
                let err = if open {
                    Segment::<64>::open(name.clone(), KIND, 8)
                } else {
                    Segment::<64>::attach(name.clone(), KIND, 8)
                }
                .expect_err("refused");
                assert!(
                    start.elapsed() < Duration::from_millis(500),
                    "{label}: refused without waiting, took {:?}",
                    start.elapsed()
                );
                match (&err, size) {
                    (
                        ShmError::TooSmall {
                            size: 0, needed, ..
                        },
                        0,
                    ) => {
                        assert_eq!(*needed, segment_bytes(8));
                    }
                    (ShmError::BadMagic { found: 0, .. }, s) if s > 0 => {}
                    _ => panic!("{label}: {err}"),
                }
                let text = err.to_string();
                assert!(text.contains(name.as_str()), "{text}");
                if size > 0 {
                    assert!(text.contains("never initialised"), "{text}");
                }
            }
            assert_eq!(snapshot(&path), before, "{label}: untouched");
        }
    }
}
