//! The `orbit` binary against real fleets: spawned publisher processes, the built binary run
//! as a user would (golden text, JSON read back field by field, tail, rm, the observer leaving
//! every byte of a segment unchanged).
#![cfg(all(feature = "cli", target_os = "linux"))]

mod common;

use std::collections::hash_map::DefaultHasher;
use std::env;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use orbit_rs::shm::{Observer, current_uid};
use orbit_rs::{Fleet, OrbitEventBus, OrbitTyped};
use serde_json::Value;

use common::ROLE;

/// Anything a test waits for comes within this (a watchdog, never a performance bound).
const BOUND: Duration = Duration::from_secs(30);

/// The ring the publisher child fills: 64 slots of the 32-byte class.
struct Tick;
impl OrbitTyped for Tick {
    const KIND: u8 = 9;
    const CAPACITY: usize = 64;
    const PAYLOAD: usize = 8;
}

/// The child side: joins as node 1, publishes `ORBIT_FRAMES` frames into ring 9, then (role
/// `ticker`) publishes a `tick` event every 20 ms, or (role `idle`) nothing; says `ready`, and
/// lives until killed.
#[test]
#[ignore = "child-process entry point: the cli tests run it"]
fn publisher_entry() {
    let role = env::var(ROLE).expect("runs only inside a spawned child");
    let name = env::var("ORBIT_FLEET").unwrap();
    let frames: u64 = env::var("ORBIT_FRAMES").unwrap().parse().unwrap();
    let fleet = Arc::new(Fleet::join_shm_as(&name, 4, 1u16).expect("join"));
    let ticks = fleet.ring::<Tick>().expect("ring");
    for i in 0..frames {
        ticks.publish_frame(0, i, &i.to_le_bytes()).unwrap();
    }
    let bus = OrbitEventBus::new(fleet.clone()).unwrap();
    println!("ORBIT ready");
    for i in 0u64.. {
        if role == "ticker" {
            bus.publish("tick", i.to_string().as_bytes()).unwrap();
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A spawned publisher, killed (and its fleet's names removed) on drop.
struct Publisher {
    child: Child,
    fleet: String,
}

impl Publisher {
    fn spawn(label: &str, role: &str, frames: u64) -> Self {
        let fleet = common::unique_name(label);
        let mut child = common::child_command(&[], "publisher_entry", role)
            .env("ORBIT_FLEET", &fleet)
            .env("ORBIT_FRAMES", frames.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the publisher");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("ORBIT ready") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(BOUND).expect("the publisher got ready");
        Self { child, fleet }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.kill();
        for entry in shm_entries(&self.fleet) {
            let _ = std::fs::remove_file(format!("/dev/shm/{entry}"));
        }
    }
}

/// The entries of `/dev/shm` of fleet `fleet` (this user's), sorted.
fn shm_entries(fleet: &str) -> Vec<String> {
    let prefix = format!("orbit-{fleet}-");
    let suffix = format!("-{}", current_uid());
    let mut found: Vec<String> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&prefix) && n.ends_with(&suffix))
        .collect();
    found.sort();
    found
}

fn orbit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orbit"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run orbit")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "orbit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_str(stdout(out).trim()).expect("orbit --json prints one JSON value")
}

/// What `ls` and `stat` print for a publisher of 5 frames (`rate`: stat's rate, if any).
fn golden(p: &Publisher, rate: &str) -> String {
    let (f, uid, pid) = (&p.fleet, current_uid(), p.pid());
    format!(
        "fleet {f} (user {uid}): running, 1 of 1 members alive
  ring 9    /orbit-{f}-9-{uid}
            64 slots × 32 B payload (stride 64 B), 4.2 KiB
            head 5{rate}, generation 0, writer: none
            attached: node 1
  ring 220  /orbit-{f}-220-{uid}
            1024 slots × 480 B payload (stride 512 B), 512.2 KiB
            head 0{rate}, generation 0, writer: none
            attached: node 1
  member    node 1     pid {pid:<8} alive
"
    )
}

#[test]
fn ls_prints_the_fleet() {
    let p = Publisher::spawn("cli-ls", "idle", 5);
    assert_eq!(stdout(&orbit(&["ls", &p.fleet])), golden(&p, ""));
}

#[test]
fn stat_prints_head_rate_generation_lease_and_members() {
    let p = Publisher::spawn("cli-stat", "idle", 5);
    let out = orbit(&["stat", &p.fleet, "--interval-ms", "50"]);
    assert_eq!(stdout(&out), golden(&p, ", 0 frames/s"));
}

#[test]
fn json_reads_back_field_by_field() {
    let p = Publisher::spawn("cli-json", "idle", 5);
    let ls = json(&orbit(&["ls", &p.fleet, "--json"]));
    assert_eq!(ls["fleets"].as_array().unwrap().len(), 1);
    let stat = json(&orbit(&[
        "stat",
        &p.fleet,
        "9",
        "--json",
        "--interval-ms",
        "50",
    ]));
    for fleet in [&ls["fleets"][0], &stat] {
        assert_eq!(fleet["name"], p.fleet.as_str());
        assert_eq!(fleet["scope"]["user"], current_uid());
        assert_eq!(fleet["running"], true);
        let member = &fleet["members"][0];
        assert_eq!(member["node"], 1);
        assert_eq!(member["pid"], p.pid());
        assert_eq!(member["alive"], true);
        let ring = &fleet["rings"][0];
        assert_eq!(
            ring["name"],
            format!("/orbit-{}-9-{}", p.fleet, current_uid())
        );
        assert_eq!(ring["kind"], 9);
        assert_eq!(ring["per_node"], false);
        assert_eq!(
            (&ring["capacity"], &ring["payload"], &ring["stride"]),
            (&64.into(), &32.into(), &64.into())
        );
        assert_eq!(ring["bytes"], 256 + 64 * 64);
        assert_eq!((&ring["head"], &ring["generation"]), (&5.into(), &0.into()));
        assert_eq!(ring["lease"], Value::Null);
        assert_eq!(ring["attached"], serde_json::json!([1]));
        assert_eq!(ring["retired"], false);
    }
    assert_eq!(stat["rings"].as_array().unwrap().len(), 1, "only kind 9");
    assert_eq!(stat["rings"][0]["rate"], 0.0);
    assert_eq!(ls["fleets"][0]["rings"].as_array().unwrap().len(), 2);
}

#[test]
fn tail_receives_events_published_after_it_started() {
    let p = Publisher::spawn("cli-tail", "ticker", 0);
    let before = Observer::new(&p.fleet).unwrap().ring(220).unwrap().head();
    let out = orbit(&[
        "tail", &p.fleet, "220", "--events", "--count", "3", "--json",
    ]);
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let first = lines[0]["counter"].as_u64().unwrap();
    assert!(
        first >= before,
        "tail starts at the head: {first} < {before}"
    );
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["topic"], "tick");
        assert_eq!(line["node"], 1);
        assert_eq!(line["counter"], first + i as u64);
        // The ticker's payload is its own count, in step with the ring's counter.
        assert_eq!(line["payload_text"], (first + i as u64).to_string());
        assert!(line["timestamp_ms"].as_u64().unwrap() > 0);
    }
}

#[test]
fn pub_publishes_an_event_that_tail_decodes() {
    let p = Publisher::spawn("cli-pub", "idle", 0);
    let out = orbit(&["pub", &p.fleet, "door", "open", "--json"]);
    let published = json(&out);
    assert_eq!(published["topic"], "door");
    assert_ne!(published["node"], 1, "a free node, not the publisher's");
    let text = stdout(&orbit(&[
        "tail",
        &p.fleet,
        "220",
        "--from-start",
        "--topic",
        "door",
        "--count",
        "1",
    ]));
    assert!(
        text.starts_with("#0 ") && text.trim_end().ends_with("door \"open\""),
        "{text}"
    );
}

#[test]
fn rm_is_refused_while_a_member_lives_and_removes_after_it_died() {
    let mut p = Publisher::spawn("cli-rm", "idle", 5);
    let names = shm_entries(&p.fleet);
    assert_eq!(
        names.len(),
        3,
        "ring 9, the bus and the registry: {names:?}"
    );
    let refused = orbit(&["rm", &p.fleet]);
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.starts_with(&format!(
            "error: fleet {} is running: node 1 (pid {}) alive",
            p.fleet,
            p.pid()
        )),
        "{err}"
    );
    assert_eq!(shm_entries(&p.fleet), names, "nothing removed");

    p.kill();
    let text = stdout(&orbit(&["rm", &p.fleet]));
    let mut removed: Vec<&str> = text.lines().collect();
    removed.sort();
    let expected: Vec<String> = names.iter().map(|n| format!("removed /{n}")).collect();
    assert_eq!(removed, expected);
    assert!(shm_entries(&p.fleet).is_empty());
}

#[test]
fn rm_force_removes_a_running_fleet() {
    let p = Publisher::spawn("cli-rm-force", "idle", 1);
    let text = stdout(&orbit(&["rm", &p.fleet, "--kind", "9", "--force"]));
    assert_eq!(
        text,
        format!("removed /orbit-{}-9-{}\n", p.fleet, current_uid())
    );
    assert_eq!(shm_entries(&p.fleet).len(), 2, "the bus and registry stay");
}

/// Content, size and modification time of each of the fleet's objects.
fn fingerprint(fleet: &str) -> Vec<(String, u64, u64, i64)> {
    shm_entries(fleet)
        .into_iter()
        .map(|name| {
            let path = format!("/dev/shm/{name}");
            let bytes = std::fs::read(&path).unwrap();
            let mut hasher = DefaultHasher::new();
            bytes.hash(&mut hasher);
            let meta = std::fs::metadata(&path).unwrap();
            (
                name,
                hasher.finish(),
                meta.len(),
                meta.mtime_nsec() + meta.mtime() * 1_000_000_000,
            )
        })
        .collect()
}

#[test]
fn observing_leaves_every_byte_unchanged() {
    let p = Publisher::spawn("cli-hash", "idle", 5);
    let before = fingerprint(&p.fleet);
    assert_eq!(before.len(), 3);
    for args in [
        vec!["ls", &p.fleet],
        vec!["ls", &p.fleet, "--json"],
        vec!["stat", &p.fleet, "--interval-ms", "20"],
        vec!["tail", &p.fleet, "9", "--from-start", "--count", "5"],
        vec!["doctor"],
    ] {
        let _ = orbit(&args);
    }
    assert_eq!(fingerprint(&p.fleet), before);
}

#[test]
fn hostile_entries_are_reported_not_fatal() {
    let p = Publisher::spawn("cli-hostile", "idle", 1);
    let planted = format!("/dev/shm/orbit-{}-7-{}", p.fleet, current_uid());
    std::os::unix::fs::symlink("/etc/hostname", &planted).unwrap();
    let text = stdout(&orbit(&["ls", &p.fleet]));
    assert!(
        text.contains(&format!(
            "  foreign   /orbit-{}-7-{}: ",
            p.fleet,
            current_uid()
        )),
        "{text}"
    );
    assert!(text.contains("ring 9 "), "the rest is still listed: {text}");
    let doctor = orbit(&["doctor", "--json"]);
    assert_eq!(
        doctor.status.code(),
        Some(1),
        "a foreign object fails the doctor"
    );
    let report: Value = serde_json::from_slice(&doctor.stdout).unwrap();
    assert!(
        report["findings"].as_array().unwrap().iter().any(|f| {
            f["level"] == "fail" && f["what"].as_str().unwrap().contains(&planted[8..])
        })
    );
    std::fs::remove_file(&planted).unwrap();
}

#[test]
fn errors_and_usage_have_their_exit_codes() {
    let missing = orbit(&["stat", &common::unique_name("cli-none")]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).starts_with("error: fleet "));
    let missing_ring = orbit(&["tail", &common::unique_name("cli-none"), "9"]);
    assert_eq!(missing_ring.status.code(), Some(1));
    assert_eq!(orbit(&["bogus"]).status.code(), Some(2));
    assert_eq!(orbit(&["stat"]).status.code(), Some(2));
    assert_eq!(orbit(&["ls", "../etc"]).status.code(), Some(1));
    assert!(orbit(&["--help"]).status.success());
}
