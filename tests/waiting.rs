//! Readers that block instead of spinning: woken by a publish, a reset or a retirement — in
//! this process and in another one over shared memory — or by their timeout, and idle while
//! they wait. Every wait in these tests is bounded.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use orbit_rs::bytemuck::{Pod, Zeroable};
use orbit_rs::{Fleet, OrbitEventBus, OrbitEventCursor, OrbitTyped, OwnedRing, Waited};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[bytemuck(crate = "orbit_rs::bytemuck")]
#[repr(C)]
struct Beat(u64);

impl OrbitTyped for Beat {
    const KIND: u8 = 62;
    const CAPACITY: usize = 64;
    const PAYLOAD: usize = 8;
}

/// Long enough never to pass in a healthy run; a wait that reaches it failed.
const BOUND: Duration = Duration::from_secs(20);

#[test]
fn a_wait_with_nothing_to_read_times_out_and_not_before() {
    let ring = OwnedRing::<32>::new(8).unwrap();
    let cursor = ring.ring().cursor_at_head();
    let start = Instant::now();
    assert_eq!(
        ring.wait(&cursor, Duration::from_millis(150)),
        Waited::TimedOut
    );
    assert!(start.elapsed() >= Duration::from_millis(150));
}

#[test]
fn news_already_there_returns_at_once() {
    let ring = OwnedRing::<32>::new(8).unwrap();
    let cursor = ring.ring().cursor_at_head();
    ring.publish(1, 0, b"x").unwrap();
    assert_eq!(ring.wait(&cursor, Duration::ZERO), Waited::Ready);
    // A reader that fell behind has news too: its loss.
    let behind = ring.ring().cursor_at_head();
    for i in 0..20u64 {
        ring.publish(1, i, b"y").unwrap();
    }
    assert_eq!(ring.wait(&behind, Duration::ZERO), Waited::Ready);
}

/// A half-written slot (its writer crashed mid-write) with a later frame behind it: the
/// stuck-writer clock starts on the second poll that stalls there, not the first (a spinning
/// reader finds live writers mid-write all the time and must not read the clock then), so the
/// first poll's wait returns at once, the second's after `stuck_after`, and the third poll
/// counts the counter lost and delivers the frame behind it.
#[cfg(feature = "__test-hooks")]
#[test]
fn the_stuck_writer_clock_starts_on_the_second_stalled_poll() {
    let stuck = Duration::from_millis(150);
    let fleet = Fleet::builder("wait-stall-clock")
        .size(1)
        .stuck_after(stuck)
        .join()
        .unwrap();
    let beats = fleet.ring::<Beat>().unwrap();
    let mut cursor = beats.cursor_at_head();
    assert_eq!(fleet.stall_mid_write_for_test::<Beat>(&[0; 8]).unwrap(), 0);
    beats.publish(&Beat(1)).unwrap();

    let first = beats.poll(&mut cursor);
    assert_eq!((first.values.len(), first.loss.total()), (0, 0));
    let start = Instant::now();
    assert_eq!(beats.wait(&cursor, BOUND), Waited::Ready);
    assert!(
        start.elapsed() < stuck,
        "the clock had not started: {:?}",
        start.elapsed()
    );

    let second = beats.poll(&mut cursor);
    assert_eq!((second.values.len(), second.loss.total()), (0, 0));
    let start = Instant::now();
    assert_eq!(beats.wait(&cursor, BOUND), Waited::Ready);
    let waited = start.elapsed();
    assert!(
        waited >= stuck * 9 / 10 && waited < BOUND,
        "waited {waited:?}"
    );

    let third = beats.poll(&mut cursor);
    assert_eq!(third.loss.unavailable, 1);
    assert_eq!(
        third.values.iter().map(|s| s.value).collect::<Vec<_>>(),
        [Beat(1)]
    );
}

/// Many readers wait while two writers publish: every reader wakes for every batch and ends
/// with every frame delivered or counted, never stuck.
#[test]
fn readers_wake_for_every_frame_between_threads() {
    const READERS: usize = 4;
    const FRAMES: u64 = 2_000;
    let ring = OwnedRing::<32>::new(256).unwrap();
    let start = ring.ring().cursor_at_head();
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let ring = ring.clone();
            thread::spawn(move || {
                let mut cursor = start;
                let mut accounted = 0;
                let deadline = Instant::now() + BOUND;
                while accounted < 2 * FRAMES {
                    assert!(Instant::now() < deadline, "reader stuck at {accounted}");
                    let _ = ring.wait(&cursor, Duration::from_secs(1));
                    accounted += ring.poll(&mut cursor, |_| {}).accounted();
                }
                accounted
            })
        })
        .collect();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let ring = ring.clone();
            thread::spawn(move || {
                for i in 0..FRAMES {
                    while ring.publish(w, i, b"frame").is_err() {}
                    if i % 64 == 0 {
                        thread::sleep(Duration::from_micros(200)); // Let readers fall asleep.
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    for reader in readers {
        assert_eq!(reader.join().unwrap(), 2 * FRAMES);
    }
}

/// CPU time of the calling thread (the scheduler's nanosecond count, not getrusage's ticks).
#[cfg(target_os = "linux")]
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    let ns: u64 = stat.split_whitespace().next().unwrap().parse().unwrap();
    Duration::from_nanos(ns)
}

#[cfg(target_os = "linux")]
#[test]
fn an_idle_waiting_reader_uses_no_cpu() {
    let fleet = Fleet::join(&common::unique_name("wait-idle"), 1).unwrap();
    let beats = fleet.ring::<Beat>().unwrap();
    let cursor = beats.cursor_at_head();
    let (waited, cpu) = thread::spawn(move || {
        let before = thread_cpu();
        let waited = beats.wait(&cursor, Duration::from_secs(1));
        (waited, thread_cpu() - before)
    })
    .join()
    .unwrap();
    assert_eq!(waited, Waited::TimedOut);
    assert!(
        cpu < Duration::from_millis(10),
        "a second of waiting cost {cpu:?} of CPU (1 % is 10 ms)"
    );
}

#[test]
fn the_event_bus_waits_too() {
    let fleet = Arc::new(Fleet::join(&common::unique_name("wait-bus"), 1).unwrap());
    let bus = OrbitEventBus::new(fleet).unwrap();
    let mut cursor = bus.cursor_at_head();
    let publisher = {
        let bus = bus.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            bus.publish("door", b"open").unwrap();
        })
    };
    assert_eq!(bus.wait(&cursor, BOUND), Waited::Ready);
    let poll = bus.poll(&mut cursor);
    assert_eq!(poll.events[0].topic.as_str(), "door");
    publisher.join().unwrap();
    let _: OrbitEventCursor = cursor;
}

#[test]
fn a_reset_wakes_a_waiting_reader() {
    let fleet = Fleet::join(&common::unique_name("wait-reset"), 1).unwrap();
    let beats = fleet.ring::<Beat>().unwrap();
    beats.publish(&Beat(1)).unwrap();
    let mut cursor = beats.cursor_at_head();
    let resetter = {
        let beats = beats.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            beats.reset().unwrap();
        })
    };
    assert_eq!(beats.wait(&cursor, BOUND), Waited::Ready);
    assert!(beats.poll(&mut cursor).rewound);
    resetter.join().unwrap();
}

/// Runs `future` to completion on this thread (bounded).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    common::block_on(future, BOUND)
}

/// Three tasks on three threads await one ring; each wakes for each of 200 frames published
/// in bursts, and ends with every frame delivered or counted.
#[test]
fn async_waits_wake_every_task() {
    const FRAMES: u64 = 200;
    let fleet = Fleet::join(&common::unique_name("wait-async"), 1).unwrap();
    let beats = fleet.ring::<Beat>().unwrap();
    let start = beats.cursor_at_head();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let beats = beats.clone();
            thread::spawn(move || {
                block_on(async {
                    let mut cursor = start;
                    let mut accounted = 0;
                    while accounted < FRAMES {
                        beats.wait_async(&cursor).await;
                        let poll = beats.poll(&mut cursor);
                        accounted += poll.values.len() as u64 + poll.loss.total();
                    }
                    accounted
                })
            })
        })
        .collect();
    for i in 0..FRAMES {
        beats.publish(&Beat(i)).unwrap();
        if i % 10 == 0 {
            thread::sleep(Duration::from_millis(2)); // Let the tasks go back to sleep.
        }
    }
    for task in tasks {
        assert_eq!(task.join().unwrap(), FRAMES);
    }
}

/// A pending future that is dropped withdraws its interest: when news comes, its waker is not
/// called (the watcher signals only pending interests), and a later future still wakes.
#[test]
fn a_dropped_future_withdraws() {
    #[allow(clippy::disallowed_types)] // Test scaffolding: std's atomics.
    struct Count(std::sync::atomic::AtomicUsize);
    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let fleet = Fleet::join(&common::unique_name("wait-drop"), 1).unwrap();
    let beats = fleet.ring::<Beat>().unwrap();
    let cursor = beats.cursor_at_head();
    #[allow(clippy::disallowed_types)]
    let dropped = Arc::new(Count(std::sync::atomic::AtomicUsize::new(0)));
    {
        let mut pending = std::pin::pin!(beats.wait_async(&cursor));
        let waker = std::task::Waker::from(dropped.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(pending.as_mut().poll(&mut cx).is_pending());
    }
    let publisher = {
        let beats = beats.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            beats.publish(&Beat(5)).unwrap();
        })
    };
    block_on(beats.wait_async(&cursor));
    publisher.join().unwrap();
    // The watcher signals everything ready in one pass: give a stale interest time to fire.
    thread::sleep(Duration::from_millis(100));
    assert_eq!(
        dropped.0.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a dropped future's waker was called"
    );
}

#[test]
fn a_readiness_descriptor_becomes_readable_on_news() {
    let fleet = Fleet::join(&common::unique_name("wait-fd"), 1).unwrap();
    let beats = fleet.ring::<Beat>().unwrap();
    let mut cursor = beats.cursor_at_head();
    let readiness = beats.readiness().unwrap();
    for round in 0..3 {
        readiness.arm(&cursor);
        thread::sleep(Duration::from_millis(20));
        assert!(
            !readiness.clear(),
            "readable with nothing new (round {round})"
        );
        beats.publish(&Beat(round)).unwrap();
        let deadline = Instant::now() + BOUND;
        while !readiness.clear() {
            assert!(Instant::now() < deadline, "never readable (round {round})");
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(beats.poll(&mut cursor).values[0].value, Beat(round));
    }
    // Armed with news already there: readable at once.
    beats.publish(&Beat(9)).unwrap();
    readiness.arm(&cursor);
    assert!(readiness.clear());
}

#[cfg(all(feature = "shm", target_os = "linux"))]
mod processes {
    use std::env;
    use std::process::{Child, Stdio};
    use std::sync::mpsc;

    use super::*;
    use common::ROLE;

    /// The child side (`--ignored --exact processes::child_entry`): joins as node 1, waits once
    /// from the head, reports how the wait ended and what a poll then found.
    #[test]
    #[ignore = "child-process entry point: the multi-process tests run it"]
    fn child_entry() {
        let role = env::var(ROLE).expect("runs only inside a spawned child");
        let name = env::var("ORBIT_FLEET").unwrap();
        let timeout_ms: u64 = env::var("ORBIT_TIMEOUT_MS").unwrap().parse().unwrap();
        let fleet = Fleet::join_shm_as(&name, 4, 1u16).expect("join");
        let beats = fleet.ring::<Beat>().expect("ring");
        let mut cursor = beats.cursor_at_head();
        println!("ORBIT waiting");
        let start = Instant::now();
        let waited = if role == "async" {
            block_on(beats.wait_async(&cursor));
            Waited::Ready
        } else {
            beats.wait(&cursor, Duration::from_millis(timeout_ms))
        };
        let elapsed = start.elapsed();
        let poll = beats.poll(&mut cursor);
        let first = poll.values.first().map_or(0, |s| s.value.0);
        println!(
            "ORBIT {role} {waited:?} {} ms, first {first}, rewound {}",
            elapsed.as_millis(),
            poll.rewound
        );
    }

    fn spawn(role: &str, fleet: &str, timeout_ms: u64) -> (Child, mpsc::Receiver<String>) {
        let mut cmd = common::child_command(&[], "processes::child_entry", role);
        let mut child = cmd
            .env("ORBIT_FLEET", fleet)
            .env("ORBIT_TIMEOUT_MS", timeout_ms.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child");
        let rx = common::orbit_lines(&mut child);
        (child, rx)
    }

    /// Runs a child that waits, does `act` once it is (about to be) asleep, and returns the
    /// child's report.
    fn blocked_child(role: &str, timeout_ms: u64, act: impl FnOnce(&Fleet)) -> String {
        let name = common::unique_name(&format!("wait-{role}"));
        let fleet = Fleet::join_shm_as(&name, 4, 0u16).unwrap();
        // One frame before the child's cursor: a reset then moves the generation (resetting a
        // ring that holds nothing new changes nothing a cursor could see).
        fleet.ring::<Beat>().unwrap().publish(&Beat(1)).unwrap();
        let (mut child, lines) = spawn(role, &name, timeout_ms);
        assert_eq!(lines.recv_timeout(BOUND).expect("child joined"), "waiting");
        // Give it time to fall asleep: what follows must wake a sleeper, not a spinner.
        thread::sleep(Duration::from_millis(100));
        act(&fleet);
        let report = lines.recv_timeout(BOUND).expect("the child woke");
        assert!(child.wait().unwrap().success());
        let _ = fleet.unlink();
        report
    }

    #[test]
    fn a_publish_wakes_a_reader_in_another_process() {
        let report = blocked_child("publish", 20_000, |fleet| {
            fleet.ring::<Beat>().unwrap().publish(&Beat(42)).unwrap();
        });
        assert!(report.starts_with("publish Ready"), "{report}");
        assert!(report.contains("first 42"), "{report}");
    }

    #[test]
    fn a_publish_wakes_a_task_in_another_process() {
        let report = blocked_child("async", 20_000, |fleet| {
            fleet.ring::<Beat>().unwrap().publish(&Beat(43)).unwrap();
        });
        assert!(report.starts_with("async Ready"), "{report}");
        assert!(report.contains("first 43"), "{report}");
    }

    /// A readiness descriptor here becomes readable when another process publishes.
    #[test]
    fn a_publish_in_another_process_makes_a_descriptor_readable() {
        let name = common::unique_name("wait-fd-proc");
        let fleet = Fleet::join_shm_as(&name, 4, 1u16).unwrap();
        let beats = fleet.ring::<Beat>().unwrap();
        let mut cursor = beats.cursor_at_head();
        let readiness = beats.readiness().unwrap();
        readiness.arm(&cursor);
        let mut cmd = common::child_command(&[], "processes::publisher_entry", "publish");
        let status = cmd
            .env("ORBIT_FLEET", &name)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + BOUND;
        while !readiness.clear() {
            assert!(Instant::now() < deadline, "never readable");
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(beats.poll(&mut cursor).values[0].value, Beat(44));
        fleet.unlink().unwrap();
    }

    /// The publisher side of the descriptor test: node 2 publishes `Beat(44)` and exits.
    #[test]
    #[ignore = "child-process entry point: the multi-process tests run it"]
    fn publisher_entry() {
        env::var(ROLE).expect("runs only inside a spawned child");
        let fleet = Fleet::join_shm_as(&env::var("ORBIT_FLEET").unwrap(), 4, 2u16).unwrap();
        fleet.ring::<Beat>().unwrap().publish(&Beat(44)).unwrap();
    }

    /// A reader killed (SIGKILL) while it sleeps in a wait leaves its registration behind: the
    /// next publish pays one wake and clears it, later publishes pay none, and a new waiter is
    /// woken as before.
    #[test]
    fn a_waiter_killed_in_its_sleep_costs_one_wake() {
        let name = common::unique_name("wait-kill");
        let fleet = Fleet::join_shm_as(&name, 4, 0u16).unwrap();
        let beats = fleet.ring::<Beat>().unwrap();
        let (mut child, lines) = spawn("killed", &name, 60_000);
        assert_eq!(lines.recv_timeout(BOUND).expect("child joined"), "waiting");
        thread::sleep(Duration::from_millis(100)); // Asleep in the futex by now.
        child.kill().unwrap();
        child.wait().unwrap();
        let flag = || beats.ring::<32>().unwrap().waiting_flag_for_test();
        assert_eq!(flag(), 1, "the killed waiter was registered");
        beats.publish(&Beat(6)).unwrap();
        assert_eq!(
            flag(),
            0,
            "the next publish cleared the dead waiter's registration"
        );
        let mut cursor = beats.cursor_at_head();
        let publisher = {
            let beats = beats.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                beats.publish(&Beat(7)).unwrap();
            })
        };
        assert_eq!(beats.wait(&cursor, BOUND), Waited::Ready);
        assert_eq!(beats.poll(&mut cursor).values[0].value, Beat(7));
        publisher.join().unwrap();
        fleet.unlink().unwrap();
    }

    #[test]
    fn a_reset_wakes_a_reader_in_another_process() {
        let report = blocked_child("reset", 20_000, |fleet| {
            fleet.ring::<Beat>().unwrap().reset().unwrap();
        });
        assert!(report.starts_with("reset Ready"), "{report}");
        assert!(report.ends_with("rewound true"), "{report}");
    }

    #[test]
    fn a_retirement_wakes_a_reader_in_another_process() {
        let report = blocked_child("retire", 20_000, |fleet| fleet.unlink().unwrap());
        assert!(report.starts_with("retire Ready"), "{report}");
        assert!(report.ends_with("rewound true"), "{report}");
    }

    #[test]
    fn a_reader_in_another_process_times_out() {
        let report = blocked_child("timeout", 300, |_| {});
        assert!(report.starts_with("timeout TimedOut"), "{report}");
        let ms: u64 = report.split(' ').nth(2).unwrap().parse().unwrap();
        assert!(ms >= 300, "{report}");
    }
}
