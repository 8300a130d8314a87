//! Helpers for the bridge's process tests: `orbit-bridge` children over loopback endpoints,
//! shared-memory fleets with unique names, bounded waits everywhere.
#![allow(dead_code)]

use std::io::BufRead;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use orbit_rs::event::{EVENT_RING_CAPACITY, EVENT_RING_KIND};
use orbit_rs::fleet::PAYLOAD_MAX;
use orbit_rs::{Fleet, FleetRing, OrbitEventBus, OrbitTyped, RingCursor, Waited};

/// A fleet name unique to this process and label.
pub fn unique_name(label: &str) -> String {
    format!("bt{}-{label}", std::process::id())
}

/// How long an `orbit-bridge` child may take to say it is ready.
pub const READY: Duration = Duration::from_secs(30);

/// The Zenoh configs of one link over loopback: an importer listening on a free port, and
/// exporters connecting to it.
pub struct Link {
    pub port: u16,
    pub importer: TempFile,
    pub exporter: TempFile,
}

/// A [`Link`] on a fresh port; `label` names its config files.
pub fn link(label: &str) -> Link {
    let port = free_port();
    Link {
        port,
        importer: zenoh_config(&format!("{label}-imp"), Some(port), &[]),
        exporter: zenoh_config(&format!("{label}-exp"), None, &[port]),
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("its address").port()
}

/// A file removed when dropped.
pub struct TempFile(pub PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl std::ops::Deref for TempFile {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

/// A Zenoh config file: peer mode, listening on `listen` (127.0.0.1, port 0: any), connecting
/// to `connect`, no multicast scouting, no gossip.
pub fn zenoh_config(label: &str, listen: Option<u16>, connect: &[u16]) -> TempFile {
    let path = std::env::temp_dir().join(format!(
        "orbit-bridge-test-{}-{label}.json5",
        std::process::id()
    ));
    let connect: Vec<String> = connect
        .iter()
        .map(|p| format!("\"tcp/127.0.0.1:{p}\""))
        .collect();
    let text = format!(
        r#"{{
  mode: "peer",
  listen: {{ endpoints: ["tcp/127.0.0.1:{}"] }},
  connect: {{ endpoints: [{}] }},
  scouting: {{ multicast: {{ enabled: false }}, gossip: {{ enabled: false }} }},
}}
"#,
        listen.unwrap_or(0),
        connect.join(", ")
    );
    std::fs::write(&path, text).expect("write the zenoh config");
    TempFile(path)
}

/// A running `orbit-bridge`, its stdout lines as a channel; killed when dropped.
pub struct Bridge {
    pub child: Child,
    lines: Receiver<String>,
    pub seen: Vec<String>,
}

impl Bridge {
    pub fn spawn(args: &[String]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_orbit-bridge"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn orbit-bridge");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(std::io::Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// `orbit-bridge` with `args`, once it printed `{role} ready` (`role`: import or export).
    pub fn ready(args: &[String], role: &str) -> Self {
        let mut bridge = Self::spawn(args);
        bridge.expect(&format!("{role} ready"), READY);
        bridge
    }

    /// The next line containing `needle`, within `bound`.
    pub fn expect(&mut self, needle: &str, bound: Duration) -> String {
        let deadline = Instant::now() + bound;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no line with {needle:?} within {bound:?}; saw {:?}",
                        self.seen
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("orbit-bridge exited before {needle:?}; saw {:?}", self.seen)
                }
            }
        }
    }

    /// Ctrl-C (SIGINT); waits (bounded) for a clean exit; returns the last line containing
    /// `stats` before it said it stopped (its final stats).
    pub fn interrupt(&mut self, stats: &str) -> String {
        let status = Command::new("kill")
            .args(["-s", "INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let from = self.seen.len();
        self.expect("stopped", Duration::from_secs(20));
        let line = self.seen[from..]
            .iter()
            .rev()
            .find(|l| l.contains(stats))
            .unwrap_or_else(|| panic!("no {stats:?} line before it stopped: {:?}", self.seen))
            .clone();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "orbit-bridge exited with {status}");
                return line;
            }
            assert!(Instant::now() < deadline, "orbit-bridge did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, reaped.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A number from a `key=value` field of a stats line.
pub fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
        .parse()
        .expect("a number")
}

/// The type of raw ring handles in tests.
pub enum Raw {}
impl OrbitTyped for Raw {
    const KIND: u8 = 0;
}

/// A shared-memory fleet this test joined, with its event bus and its event ring as raw
/// frames; its names are removed when dropped.
pub struct TestFleet {
    pub fleet: Arc<Fleet>,
    pub bus: OrbitEventBus,
    pub ring: FleetRing<Raw>,
}

impl TestFleet {
    pub fn join(name: &str, node: u16, capacity: usize) -> Self {
        let fleet = Arc::new(Fleet::join_shm_as(name, 256, node).expect("join"));
        let bus = OrbitEventBus::with_capacity(fleet.clone(), capacity).expect("event bus");
        let ring = fleet.ring_by_kind::<Raw>(EVENT_RING_KIND, capacity, PAYLOAD_MAX);
        let ring = ring.unwrap_or_else(|e| {
            let _ = fleet.remove_names();
            panic!("event ring: {e}")
        });
        Self { fleet, bus, ring }
    }

    pub fn join_default(name: &str, node: u16) -> Self {
        Self::join(name, node, EVENT_RING_CAPACITY)
    }
}

impl Drop for TestFleet {
    fn drop(&mut self) {
        let _ = self.fleet.remove_names();
    }
}

/// Removes a fleet's shared-memory names when dropped (also when a test fails).
pub struct RemoveNames(pub Arc<Fleet>);

impl Drop for RemoveNames {
    fn drop(&mut self) {
        let _ = self.0.remove_names();
    }
}

/// What a reader of the importing fleet's event ring saw, per origin node.
#[derive(Debug, Default)]
pub struct Tally {
    /// (node, topic, payload) of each event, in ring order.
    pub events: Vec<(u16, String, Vec<u8>)>,
    pub overwritten: u64,
    pub unavailable: u64,
}

impl Tally {
    pub fn accounted(&self) -> u64 {
        self.events.len() as u64 + self.overwritten + self.unavailable
    }
}

/// Reads the ring (as raw frames, so loss is split) into `tally`: waits (without spinning)
/// until `done(tally)` or `bound` passes. Returns whether `done` held.
pub fn read_until(
    fleet: &TestFleet,
    cursor: &mut RingCursor,
    tally: &mut Tally,
    bound: Duration,
    mut done: impl FnMut(&Tally) -> bool,
) -> bool {
    let deadline = Instant::now() + bound;
    loop {
        let poll = fleet.ring.poll_frames(cursor);
        for frame in poll.frames {
            let event = orbit_rs::codec::decode(&frame.payload).expect("an event frame");
            tally.events.push((
                frame.id.node().get(),
                event.topic.to_string(),
                event.payload.to_vec(),
            ));
        }
        tally.overwritten += poll.loss.overwritten;
        tally.unavailable += poll.loss.unavailable;
        if done(tally) {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let _: Waited = fleet
            .ring
            .wait(cursor, left.min(Duration::from_millis(200)));
    }
}

/// Brings the stream from `from` (as origin node `origin`) to `to` into step: publishes
/// `warm` events until one arrives (the route is up), then one `sync` event, and reads until
/// it arrives. Returns the cursor on `to` just past it; every counter `from` publishes after
/// this call maps to one counter after that cursor.
pub fn align(from: &TestFleet, to: &TestFleet, origin: u16, cursor: &mut RingCursor) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut tally = Tally::default();
    loop {
        assert!(
            Instant::now() < deadline,
            "the bridge never carried an event"
        );
        from.bus.publish("warm", &[]).expect("publish");
        let arrived = read_until(to, cursor, &mut tally, Duration::from_millis(200), |t| {
            t.events
                .iter()
                .any(|(n, topic, _)| *n == origin && topic == "warm")
        });
        if arrived {
            break;
        }
    }
    let nonce = from.ring.head().to_le_bytes();
    from.bus.publish("sync", &nonce).expect("publish");
    let synced = read_until(to, cursor, &mut tally, Duration::from_secs(30), |t| {
        t.events
            .iter()
            .any(|(n, topic, p)| *n == origin && topic == "sync" && p[..] == nonce)
    });
    assert!(synced, "the sync event never arrived");
}
