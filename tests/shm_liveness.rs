//! Liveness from OFD locks against real processes: killed (and still unreaped), stopped, in
//! another pid namespace, and with a pid that now belongs to someone else. The test binary
//! re-executes itself with `ORBIT_TEST_ROLE` set, and `child_entry` plays that role. Every wait
//! is bounded; children are killed when their handle drops.
#![cfg(all(feature = "shm", target_os = "linux"))]

mod common;

use std::collections::hash_map::RandomState;
use std::env;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use orbit_rs::shm::internals::{ENTRY_BYTES, REGISTRY_BYTES, TAG_LOCK_BASE, hold_tag, tag_alive};
use orbit_rs::shm::{Member, ShmError, members};

use common::ROLE;
/// Upper bound of every wait for a child to do something.
const PATIENCE: Duration = Duration::from_secs(5);

fn env_u64(key: &str) -> u64 {
    env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{key} not set"))
}

/// The child side, run only in processes the tests spawn (`--ignored --exact child_entry`).
#[test]
#[ignore = "child-process entry point: the liveness tests run it"]
fn child_entry() {
    let role = env::var(ROLE).expect("child_entry runs only inside a spawned child");
    let path = env::var("ORBIT_FILE").unwrap();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let pid = std::process::id();
    match role.as_str() {
        "hold_tag" => {
            let tag = env_u64("ORBIT_TAG") as u32;
            assert!(hold_tag(&file, tag).unwrap(), "tag {tag} is free");
            println!("ORBIT ready {pid}");
            thread::sleep(Duration::from_secs(60)); // Killed by the parent long before.
        }
        "join" => {
            let member = Member::join(file, env_u64("ORBIT_NODE") as u16).expect("join");
            println!("ORBIT joined {} {pid}", member.tag());
            thread::sleep(Duration::from_secs(60)); // Killed by the parent long before.
        }
        other => panic!("unknown role {other}"),
    }
}

/// A fresh file in /dev/shm (mode 0600, unique name), removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Self {
        // Randomly keyed per call: unique enough next to the pid and the time.
        let salt = std::hash::BuildHasher::hash_one(&RandomState::new(), what);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path = PathBuf::from(format!(
            "/dev/shm/orbit-test-liveness-{what}-{}-{nanos}-{salt:016x}",
            std::process::id(),
        ));
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .expect("create scratch file in /dev/shm");
        Self(path)
    }

    /// A new open file description of the file.
    fn open(&self) -> File {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.0)
            .unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A spawned child with its stdout lines on a channel; killed and reaped on drop.
struct Kid {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Kid {
    fn spawn(role: &str, file: &Scratch, extra: &[(&str, String)]) -> Self {
        Self::spawn_via(&[], role, file, extra).expect("spawn child")
    }

    /// Spawns `prefix... <this test binary> child_entry` (prefix: e.g. `unshare ...`).
    fn spawn_via(
        prefix: &[&str],
        role: &str,
        file: &Scratch,
        extra: &[(&str, String)],
    ) -> std::io::Result<Self> {
        let mut cmd = common::child_command(prefix, "child_entry", role);
        cmd.env("ORBIT_FILE", &file.0)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn()?;
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self { child, lines })
    }

    /// The words after `prefix` in the first stdout line containing it, within
    /// [`PATIENCE`]; `None` if the child closed stdout or took too long.
    fn expect(&self, prefix: &str) -> Option<Vec<String>> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).ok()?;
            // libtest prints "test child_entry ... " before the child's first line.
            if let Some(at) = line.find(prefix) {
                let rest = &line[at + prefix.len()..];
                return Some(rest.split_whitespace().map(String::from).collect());
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL without reaping.
    fn kill(&mut self) {
        self.child.kill().unwrap();
    }

    fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The state letter of `/proc/<pid>/stat` (`R`, `S`, `T`, `Z`, ...).
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// Whether `pid` is a zombie as its parent's `wait` would see it: the thread-group leader has
/// exited and no other thread is left. (The leader alone shows `Z` while its other threads are
/// still exiting, and those still hold the process's descriptors.)
fn is_zombie(pid: u32) -> bool {
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count());
    proc_state(pid) == Some('Z') && threads == 1
}

/// Polls `cond` until it holds, for at most [`PATIENCE`].
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .expect("run kill(1)");
    assert!(status.success(), "kill -{sig} {pid}");
}

#[test]
fn killed_holder_is_dead_already_as_an_unreaped_zombie() {
    let file = Scratch::new("zombie");
    let tag = 0x5eed_0001;
    let mut kid = Kid::spawn("hold_tag", &file, &[("ORBIT_TAG", tag.to_string())]);
    kid.expect("ORBIT ready").expect("child holds the tag");
    let probe = file.open();
    assert!(tag_alive(&probe, tag).unwrap(), "live holder");
    assert!(!tag_alive(&probe, tag + 1).unwrap(), "a tag nobody holds");

    kid.kill();
    wait_until("the child to become a zombie", || is_zombie(kid.pid()));
    // A pid check says "alive" here: the pid exists until the parent reaps it.
    assert!(!tag_alive(&probe, tag).unwrap(), "zombie holds no locks");
    assert!(is_zombie(kid.pid()), "still unreaped");

    kid.child.wait().unwrap();
    assert!(!tag_alive(&probe, tag).unwrap(), "reaped");
}

#[test]
fn stopped_holder_stays_alive() {
    let file = Scratch::new("stopped");
    let tag = 0x5eed_0002;
    let kid = Kid::spawn("hold_tag", &file, &[("ORBIT_TAG", tag.to_string())]);
    kid.expect("ORBIT ready").expect("child holds the tag");
    let probe = file.open();

    signal(kid.pid(), "STOP");
    wait_until("the child to stop", || proc_state(kid.pid()) == Some('T'));
    assert!(tag_alive(&probe, tag).unwrap(), "stopped is alive");
    thread::sleep(Duration::from_millis(50));
    assert!(
        tag_alive(&probe, tag).unwrap(),
        "still stopped, still alive"
    );

    signal(kid.pid(), "CONT");
    wait_until("the child to continue", || {
        proc_state(kid.pid()) != Some('T')
    });
    assert!(tag_alive(&probe, tag).unwrap(), "continued");
}

/// The registry's entry checksum as its module documents it (DESIGN: the registry is a
/// cross-process format; this re-derives it from the documentation).
fn forged_entry(node: u16, tag: u32, pid: u32, started_ns: u64) -> [u8; 32] {
    fn mix(mut x: u64) -> u64 {
        x ^= x >> 30;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^= x >> 27;
        x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }
    let w0 = u64::from(tag) | u64::from(node) << 32 | 1 << 63;
    let (w1, w2) = (u64::from(pid), started_ns);
    let w3 = mix(mix(mix(w0 ^ u64::from_le_bytes(*b"ORBITMBR")) ^ w1) ^ w2);
    let mut bytes = [0; 32];
    for (i, w) in [w0, w1, w2, w3].into_iter().enumerate() {
        bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    bytes
}

#[test]
fn a_live_pid_in_a_dead_members_entry_is_ignored() {
    let registry = Scratch::new("pid-reuse");
    let node = 5;
    let mut kid = Kid::spawn("join", &registry, &[("ORBIT_NODE", node.to_string())]);
    let words = kid.expect("ORBIT joined").expect("child joined");
    let (tag, pid): (u32, u32) = (words[0].parse().unwrap(), words[1].parse().unwrap());
    let probe = registry.open();
    let seen = members(&probe).unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].node, seen[0].tag, seen[0].pid), (node, tag, pid));
    assert!(seen[0].alive);

    kid.kill();
    kid.child.wait().unwrap();
    let seen = members(&probe).unwrap();
    assert_eq!(
        (seen.len(), seen[0].alive),
        (1, false),
        "dead entry stays, dead"
    );

    // Pretend the dead member's pid was reused by a live process: ours.
    let ours = std::process::id();
    let offset = u64::from(node) * ENTRY_BYTES;
    probe
        .write_all_at(&forged_entry(node, tag, ours, 1), offset)
        .unwrap();
    let seen = members(&probe).unwrap();
    assert_eq!(seen.len(), 1, "the forged entry is well-formed");
    assert_eq!((seen[0].pid, seen[0].alive), (ours, false), "{seen:?}");

    // A garbage checksum reads as absent.
    let mut torn = forged_entry(node, tag, ours, 1);
    torn[31] ^= 1;
    probe.write_all_at(&torn, offset).unwrap();
    assert!(members(&probe).unwrap().is_empty());

    // The node is free whatever its entry claims.
    probe
        .write_all_at(&forged_entry(node, tag, ours, 1), offset)
        .unwrap();
    let member = Member::join(registry.open(), node).expect("a dead member's node is free");
    let seen = members(&probe).unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].tag, seen[0].alive),
        (member.tag(), true),
        "entry replaced"
    );
}

#[test]
fn holder_in_another_pid_namespace() {
    let file = Scratch::new("pidns");
    let tag = 0x5eed_0003;
    let unshare = [
        "unshare",
        "--user",
        "--map-root-user",
        "--pid",
        "--fork",
        "--kill-child",
    ];
    let mut kid = match Kid::spawn_via(
        &unshare,
        "hold_tag",
        &file,
        &[("ORBIT_TAG", tag.to_string())],
    ) {
        Ok(kid) => kid,
        Err(e) => {
            eprintln!("SKIPPED holder_in_another_pid_namespace: cannot run unshare(1): {e}");
            return;
        }
    };
    let Some(words) = kid.expect("ORBIT ready") else {
        kid.kill();
        let _ = kid.child.wait();
        let stderr = kid.stderr();
        assert!(
            stderr.contains("unshare"),
            "the namespaced child failed on its own: {stderr}"
        );
        eprintln!(
            "SKIPPED holder_in_another_pid_namespace: unshare refused: {}",
            stderr.trim()
        );
        return;
    };
    let inner_pid: u32 = words[0].parse().unwrap();
    assert_eq!(inner_pid, 1, "the holder is init of its own pid namespace");
    let probe = file.open();
    assert!(
        tag_alive(&probe, tag).unwrap(),
        "holder in another pid namespace"
    );

    // Kill the holder itself by its pid in our namespace when /proc says which it is, else
    // kill unshare, which kills it (--kill-child).
    let children = format!("/proc/{0}/task/{0}/children", kid.pid());
    match std::fs::read_to_string(&children)
        .ok()
        .and_then(|c| c.split_whitespace().next()?.parse::<u32>().ok())
    {
        Some(host_pid) => {
            assert_ne!(host_pid, inner_pid, "another namespace, another pid");
            signal(host_pid, "KILL");
        }
        None => kid.kill(),
    }
    wait_until("the namespaced holder's lock to go", || {
        !tag_alive(&probe, tag).unwrap()
    });
}

#[test]
fn a_live_node_id_is_refused_in_one_process() {
    let registry = Scratch::new("dup-local");
    let first = Member::join(registry.open(), 7).unwrap();
    let err = Member::join(registry.open(), 7).unwrap_err();
    match &err {
        ShmError::NodeInUse { node, pid, since } => {
            assert_eq!(*node, 7);
            assert_eq!(*pid, Some(std::process::id()));
            assert_eq!(*since, Some(first.started()));
        }
        other => panic!("expected NodeInUse, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "node 7 of this fleet is held by live process {}",
            std::process::id()
        )) && text.contains("s ago"),
        "{text}"
    );
    let other = Member::join(registry.open(), 8).expect("another node id is fine");
    assert_ne!(other.tag(), first.tag());
    drop(first);
    Member::join(registry.open(), 7).expect("free after the first member drops");
}

#[test]
fn a_live_node_id_is_refused_across_processes_until_its_holder_dies() {
    let registry = Scratch::new("dup-remote");
    let node = 9;
    let mut kid = Kid::spawn("join", &registry, &[("ORBIT_NODE", node.to_string())]);
    let words = kid.expect("ORBIT joined").expect("child joined");
    let (old_tag, pid): (u32, u32) = (words[0].parse().unwrap(), words[1].parse().unwrap());
    assert_eq!(pid, kid.pid());

    match Member::join(registry.open(), node) {
        Err(ShmError::NodeInUse {
            node: n,
            pid: Some(p),
            since: Some(_),
        }) => assert_eq!((n, p), (node, pid)),
        other => panic!("expected NodeInUse by {pid}, got {other:?}"),
    }

    kid.kill();
    wait_until("the child to die", || is_zombie(kid.pid()));
    let member = Member::join(registry.open(), node).expect("node free once its holder died");
    let seen = members(&registry.open()).unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].node, seen[0].tag, seen[0].pid, seen[0].alive),
        (node, member.tag(), std::process::id(), true),
        "old entry (tag {old_tag}) replaced"
    );
    kid.child.wait().unwrap();
}

#[test]
fn own_description_does_not_see_its_own_lock() {
    let file = Scratch::new("own");
    let tag = 0x5eed_0004;
    let holder = file.open();
    assert!(hold_tag(&holder, tag).unwrap());
    // Documented: F_OFD_GETLK through the holding description reports nothing.
    assert!(!tag_alive(&holder, tag).unwrap());
    let dup = holder.try_clone().unwrap();
    assert!(
        !tag_alive(&dup, tag).unwrap(),
        "a dup shares the description"
    );
    let other = file.open();
    assert!(tag_alive(&other, tag).unwrap(), "a second open sees it");

    drop(holder);
    assert!(tag_alive(&other, tag).unwrap(), "the dup keeps the lock");
    drop(dup);
    // Bounded wait, not an immediate check: a test spawning a child on another thread may have
    // forked a copy of this descriptor that lives until that child execs (the fork caveat).
    wait_until("the last descriptor to close", || {
        !tag_alive(&other, tag).unwrap()
    });
}

#[test]
fn locks_past_the_end_of_a_tmpfs_file() {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let fs = mounts
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(1) == Some(&"/dev/shm"))
        .and_then(|f| f.get(2).map(|s| s.to_string()));
    println!("/dev/shm filesystem: {fs:?}");
    let file = Scratch::new("eof");
    let (a, b) = (file.open(), file.open());
    assert_eq!(a.metadata().unwrap().len(), 0);
    for tag in [1, 0x8000_0000, u32::MAX] {
        assert!(
            hold_tag(&a, tag).unwrap(),
            "offset {}",
            TAG_LOCK_BASE + u64::from(tag)
        );
        assert!(tag_alive(&b, tag).unwrap());
    }
    assert_eq!(a.metadata().unwrap().len(), 0, "locks do not grow the file");

    // The registry's locks sit past its 2 MiB too.
    let member = Member::join(b, 65535).unwrap();
    assert_eq!(a.metadata().unwrap().len(), REGISTRY_BYTES);
    let seen = members(&a).unwrap();
    assert_eq!((seen.len(), seen[0].node, seen[0].alive), (1, 65535, true));
    drop(member);
}
