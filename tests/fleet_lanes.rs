//! Per-node lanes ([`Fleet::lanes`]): the newest value of every node, in one process (threads)
//! and across processes over shared memory, with every value a poll does not return counted,
//! writers killed mid-stream, and fleets of different sizes refused.

#[macro_use]
mod common;

use std::thread;
use std::time::{Duration, Instant};

use orbit_rs::bytemuck::{Pod, Zeroable};
use orbit_rs::{Fleet, LanesCursor, OrbitTyped};

use common::{Kind, join};

/// One node's reading: its node, its step, and a check word over both (a torn value fails it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[bytemuck(crate = "orbit_rs::bytemuck")]
#[repr(C)]
struct Reading {
    node: u64,
    step: u64,
    check: u64,
}

impl Reading {
    fn new(node: u16, step: u64) -> Self {
        let node = u64::from(node);
        Self {
            node,
            step,
            check: (node << 48 ^ step).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        }
    }

    fn is_whole(&self) -> bool {
        *self == Self::new(self.node as u16, self.step)
    }
}

impl OrbitTyped for Reading {
    const KIND: u8 = 61;
    const PAYLOAD: usize = size_of::<Self>();
}

const WRITERS: u16 = 3;
const STEPS: u64 = 20_000;

/// Three writer threads (nodes 1..=3) publish into their lanes while node 0 polls: every value
/// is returned or counted (superseded, unavailable), never torn, per node in order, and the
/// final read shows each node's last value.
fn every_value_is_returned_or_counted(kind: Kind) {
    let reader = join(kind, "lanes-count", 0).unwrap();
    let lanes = reader.0.lanes::<Reading>().unwrap();
    let mut cursor = LanesCursor::new();
    assert!(lanes.poll(&mut cursor).values.is_empty());
    let writers: Vec<_> = (1..=WRITERS)
        .map(|node| {
            let fleet = join(kind, "lanes-count", node).unwrap();
            thread::spawn(move || {
                let lanes = fleet.0.lanes::<Reading>().unwrap();
                for step in 0..STEPS {
                    lanes.publish(&Reading::new(node, step)).unwrap();
                }
                fleet // Keeps the fleet (and, on shared memory, its segment) until joined.
            })
        })
        .collect();
    let (mut returned, mut superseded, mut unavailable) = (0u64, 0u64, 0u64);
    let mut last = [None::<u64>; WRITERS as usize + 1];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = writers.iter().all(thread::JoinHandle::is_finished);
        let poll = lanes.poll(&mut cursor);
        for sample in &poll.values {
            let value = sample.value;
            assert!(value.is_whole(), "torn value {value:?}");
            assert_eq!(u64::from(sample.id.node().get()), value.node);
            let seen = &mut last[value.node as usize];
            assert!(
                seen.is_none_or(|s| s < value.step),
                "{value:?} after {seen:?}"
            );
            *seen = Some(value.step);
        }
        returned += poll.values.len() as u64;
        superseded += poll.superseded;
        unavailable += poll.unavailable;
        assert!(!poll.rewound);
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "writers did not finish");
    }
    let _fleets: Vec<_> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    assert_eq!(unavailable, 0, "no writer died");
    assert_eq!(
        returned + superseded,
        u64::from(WRITERS) * STEPS,
        "every value returned or counted superseded"
    );
    let newest: Vec<(u16, u64)> = lanes
        .newest()
        .iter()
        .map(|s| (s.id.node().get(), s.value.step))
        .collect();
    let expected: Vec<(u16, u64)> = (1..=WRITERS).map(|n| (n, STEPS - 1)).collect();
    assert_eq!(newest, expected);
    assert_eq!(last[1..], [Some(STEPS - 1); WRITERS as usize]);
    assert_eq!(lanes.latest(0u16), None, "node 0 never published");
}

on_both_backings!(every_value_is_returned_or_counted);

#[test]
fn lanes_are_apart_from_the_ring_of_the_same_type() {
    let fleet = Fleet::join_as(&common::unique_name("lanes-apart"), 2, 1u16).unwrap();
    let lanes = fleet.lanes::<Reading>().unwrap();
    let ring = fleet.ring::<Reading>().unwrap();
    lanes.publish(&Reading::new(1, 7)).unwrap();
    assert_eq!(ring.latest(), None);
    ring.publish(&Reading::new(1, 8)).unwrap();
    assert_eq!(lanes.latest(1u16).unwrap().value, Reading::new(1, 7));
    assert_eq!((lanes.nodes(), lanes.node().get()), (2, 1));
}

#[cfg(all(feature = "shm", target_os = "linux"))]
mod processes {
    use std::env;

    use std::process::{Child, Stdio};

    use orbit_rs::shm::{ShmError, SpecField};

    use super::*;
    use common::ROLE;

    fn spawn(role: &str, fleet: &str, node: u16, steps: u64) -> Child {
        let mut cmd = common::child_command(&[], "processes::child_entry", role);
        cmd.env("ORBIT_FLEET", fleet)
            .env("ORBIT_NODE", node.to_string())
            .env("ORBIT_STEPS", steps.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        cmd.spawn().expect("spawn child")
    }

    /// The first line starting with "ORBIT " a child prints, within `wait`.
    fn first_line(child: &mut Child, wait: Duration) -> String {
        common::orbit_lines(child)
            .recv_timeout(wait)
            .expect("the child reports")
    }

    /// The child side (`--ignored --exact processes::child_entry`), run only in processes
    /// the tests spawn.
    #[test]
    #[ignore = "child-process entry point: the multi-process tests run it"]
    fn child_entry() {
        let role = env::var(ROLE).expect("runs only inside a spawned child");
        let name = env::var("ORBIT_FLEET").unwrap();
        let node: u16 = env::var("ORBIT_NODE").unwrap().parse().unwrap();
        let steps: u64 = env::var("ORBIT_STEPS").unwrap().parse().unwrap();
        let fleet = Fleet::join_shm_as(&name, 4, node).expect("join");
        let lanes = fleet.lanes::<Reading>().expect("lanes");
        match role.as_str() {
            // Publishes `steps` values, says so, exits.
            "publish" => {
                for step in 0..steps {
                    lanes.publish(&Reading::new(node, step)).expect("publish");
                }
                println!("ORBIT published {steps}");
            }
            // Publishes until killed.
            "forever" => {
                println!("ORBIT started");
                for step in steps.. {
                    lanes.publish(&Reading::new(node, step)).expect("publish");
                }
            }
            other => panic!("unknown role {other}"),
        }
    }

    /// Three processes publish into their lanes and exit; a fourth reads the newest value of
    /// each in one call, and its cursor accounts for every value.
    #[test]
    fn newest_of_every_process() {
        let name = common::unique_name("lanes-procs");
        let fleet = Fleet::join_shm_as(&name, 4, 0u16).unwrap();
        let lanes = fleet.lanes::<Reading>().unwrap();
        let mut cursor = LanesCursor::new();
        assert!(lanes.poll(&mut cursor).values.is_empty());
        let children: Vec<Child> = (1..4u16)
            .map(|node| spawn("publish", &name, node, 1000 * u64::from(node)))
            .collect();
        for (node, mut child) in (1..4u16).zip(children) {
            assert_eq!(
                first_line(&mut child, Duration::from_secs(30)),
                format!("published {}", 1000 * u64::from(node))
            );
            assert!(child.wait().unwrap().success());
        }
        let newest: Vec<Reading> = lanes.newest().iter().map(|s| s.value).collect();
        let expected: Vec<Reading> = (1..4u16)
            .map(|n| Reading::new(n, 1000 * u64::from(n) - 1))
            .collect();
        assert_eq!(newest, expected);
        let poll = lanes.poll(&mut cursor);
        assert_eq!(
            poll.values.iter().map(|s| s.value).collect::<Vec<_>>(),
            expected
        );
        assert_eq!(poll.superseded, 1000 + 2000 + 3000 - 3);
        assert_eq!(poll.unavailable, 0);
        fleet.unlink().unwrap();
    }

    /// A lane's writer is killed with SIGKILL mid-stream, again and again, and a new process
    /// takes its node each time: readers never see a torn value, never hang, count at most
    /// one value unavailable per kill, and see the new writer's values.
    #[test]
    fn a_killed_writer_is_replaced_on_its_lane() {
        let name = common::unique_name("lanes-kill");
        let fleet = Fleet::join_shm_as(&name, 4, 0u16).unwrap();
        let lanes = fleet.lanes::<Reading>().unwrap();
        let mut cursor = LanesCursor::new();
        const KILLS: u64 = 6;
        let mut unavailable = 0;
        for round in 0..KILLS {
            let mut child = spawn("forever", &name, 2, round << 32);
            assert_eq!(first_line(&mut child, Duration::from_secs(30)), "started");
            thread::sleep(Duration::from_millis(5 + 7 * round));
            child.kill().unwrap();
            child.wait().unwrap();
            let poll = lanes.poll(&mut cursor);
            unavailable += poll.unavailable;
            for sample in &poll.values {
                assert!(sample.value.is_whole(), "torn {:?}", sample.value);
                assert_eq!(sample.value.node, 2);
            }
        }
        // The last writer of node 2 publishes a known value through whatever the killed ones
        // left (a slot stuck mid-write is recovered by the next writer).
        let mut last = spawn("publish", &name, 2, 5);
        assert_eq!(
            first_line(&mut last, Duration::from_secs(30)),
            "published 5"
        );
        assert!(last.wait().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let poll = lanes.poll(&mut cursor);
            unavailable += poll.unavailable;
            if let Some(sample) = poll.values.first() {
                assert_eq!(sample.value, Reading::new(2, 4));
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the last writer's value never showed"
            );
            thread::sleep(Duration::from_millis(10));
        }
        assert!(
            unavailable <= KILLS,
            "{unavailable} unavailable after {KILLS} kills"
        );
        assert_eq!(lanes.latest(2u16).unwrap().value, Reading::new(2, 4));
        fleet.unlink().unwrap();
    }

    /// Two processes (here: two handles) that joined one fleet name with different sizes
    /// cannot share its lanes: the segment says so.
    #[test]
    fn a_fleet_of_another_size_is_refused() {
        let name = common::unique_name("lanes-size");
        let four = Fleet::join_shm_as(&name, 4, 0u16).unwrap();
        four.lanes::<Reading>().unwrap();
        let eight = Fleet::join_shm_as(&name, 8, 1u16).unwrap();
        let err = eight.lanes::<Reading>().unwrap_err();
        let orbit_rs::Error::Shm(ShmError::SpecMismatch {
            field: SpecField::Lanes,
            expected: 8,
            found: 4,
            ..
        }) = err
        else {
            panic!("{err:?}");
        };
        four.unlink().unwrap();
    }
}
