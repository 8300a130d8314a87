//! Live multi-process demo over shared memory.
//!
//! `cargo run --release --features shm --example fleet [-- PUBLISHERS SECONDS RATE] [--keep-names]`
//!
//! Starts PUBLISHERS (default 3) publisher processes and polls their events in this process
//! for SECONDS (default 10). Each publisher sends RATE events per second (default 200000; 0 =
//! as fast as it can). Every second the subscriber prints events/s, lagged events and the
//! p50/p99 publish-to-receive latency. The fleet's names are removed (`Fleet::remove_names`)
//! as soon as every publisher has attached, so nothing is left in /dev/shm however the demo
//! ends (Ctrl-C included). With `--keep-names` they stay until the demo ends normally, so it
//! can be watched live from another shell: `orbit ls` and `orbit tail demo-PID 220 --events`
//! (feature `cli`, see the README); after a Ctrl-C, `orbit rm demo-PID` removes them.
//!
//! Two subscribers read the same events: the main thread **spins** (polls, yields when empty)
//! and a second thread **blocks** (`OrbitEventBus::wait`, a futex sleep until a publish wakes
//! it). Each report line shows both one's CPU use; after the publishers stop, both stay one
//! more second on the quiet ring: the spinning one burns a core, the blocking one sleeps.
//!
//! **Lagged events are expected here**, and are the point of the design: publishers never wait
//! for the subscriber. When the one subscriber falls more than a ring (4096 events) behind the
//! publishers together — on a 2-core machine running 4 busy processes, it will — the oldest
//! events are overwritten and the subscriber is told exactly how many it missed (`lagged`);
//! `received + lagged` accounts for every event published. Lower RATE (e.g. `-- 3 10 20000`)
//! and lagged drops to zero.

// The crate's atomics facade (clippy.toml) is internal; a user's program uses std's atomics.
#![allow(clippy::disallowed_types)]

use std::env;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use orbit_rs::{Fleet, OrbitEventBus};

const CAPACITY: usize = 4096;

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().collect();
    let result = if args.get(1).map(String::as_str) == Some("publisher") {
        publisher(&args[2..])
    } else {
        subscriber(&args[1..])
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> Res<T> {
    match args.get(i) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| format!("bad argument {text:?}").into()),
    }
}

fn publisher(args: &[String]) -> Res<()> {
    let fleet_name = args.first().ok_or("fleet name")?;
    let node: u16 = arg(args, 1, 1)?;
    let seconds: u64 = arg(args, 2, 10)?;
    let rate: u64 = arg(args, 3, 0)?;
    let fleet = Arc::new(Fleet::join_shm_as(fleet_name, 256, node)?);
    let bus = OrbitEventBus::with_capacity(fleet, CAPACITY)?;
    println!("ready");
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut sent = 0u64;
    while Instant::now() < end {
        if rate > 0 {
            // Pace: never run ahead of `rate` events per second.
            let due = (start.elapsed().as_nanos() as u64).saturating_mul(rate) / 1_000_000_000;
            if sent >= due {
                thread::yield_now();
                continue;
            }
        }
        let mut payload = [0u8; 16];
        payload[..8].copy_from_slice(&now_ns().to_le_bytes());
        payload[8..].copy_from_slice(&sent.to_le_bytes());
        bus.publish("demo.tick", &payload)?;
        sent += 1;
    }
    println!("published {sent}");
    Ok(())
}

/// CPU time of the calling thread so far, in ns (Linux: the scheduler's own count).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// What the blocking subscriber has done so far (it updates, the main thread reports).
#[derive(Default)]
struct Blocking {
    events: AtomicU64,
    lagged: AtomicU64,
    cpu_ns: AtomicU64,
    stop: AtomicBool,
}

/// The blocking subscriber: sleeps in `wait` until a publish wakes it, then polls.
fn blocking_subscriber(bus: OrbitEventBus, stats: Arc<Blocking>) -> u64 {
    let mut cursor = bus.cursor_from_start();
    while !stats.stop.load(Relaxed) {
        let _ = bus.wait(&cursor, Duration::from_millis(100));
        let mut got = 0u64;
        let (lost, _) = bus.poll_with(&mut cursor, |_, _| got += 1);
        stats.events.fetch_add(got, Relaxed);
        stats.lagged.fetch_add(lost, Relaxed);
        stats.cpu_ns.store(thread_cpu_ns(), Relaxed);
    }
    cursor.next_counter()
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn subscriber(args: &[String]) -> Res<()> {
    let keep_names = args.iter().any(|a| a == "--keep-names");
    let args: Vec<String> = args
        .iter()
        .filter(|a| *a != "--keep-names")
        .cloned()
        .collect();
    let args = &args[..];
    let publishers: u16 = arg(args, 0, 3)?;
    let seconds: u64 = arg(args, 1, 10)?;
    let rate: u64 = arg(args, 2, 200_000)?;
    let fleet_name = format!("demo-{}", std::process::id());
    let fleet = Arc::new(Fleet::join_shm_as(&fleet_name, 256, 0)?);
    let bus = OrbitEventBus::with_capacity(fleet.clone(), CAPACITY)?;
    println!(
        "fleet {fleet_name}: {publishers} publisher processes x {} events/s for {seconds}s, ring of {CAPACITY} slots",
        if rate == 0 {
            "max".to_string()
        } else {
            rate.to_string()
        }
    );

    let exe = env::current_exe()?;
    let mut children: Vec<(Child, Option<BufReader<std::process::ChildStdout>>)> = Vec::new();
    for node in 1..=publishers {
        let mut child = Command::new(&exe)
            .args([
                "publisher",
                &fleet_name,
                &node.to_string(),
                &seconds.to_string(),
                &rate.to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()?;
        let mut out = BufReader::new(child.stdout.take().ok_or("child stdout")?);
        let mut line = String::new();
        out.read_line(&mut line)?;
        if line.trim() != "ready" {
            return Err(format!("publisher {node} did not attach: {line:?}").into());
        }
        children.push((child, Some(out)));
    }
    if keep_names {
        println!(
            "all publishers attached; watch from another shell: orbit ls {fleet_name}; \
             orbit tail {fleet_name} 220 --events\n"
        );
    } else {
        // Everyone is attached: remove the names now so nothing outlives the demo (without
        // retiring the rings, which `unlink` would: every member would move to fresh segments).
        fleet.remove_names()?;
        println!("all publishers attached; fleet names removed from /dev/shm\n");
    }

    let blocking = Arc::new(Blocking::default());
    let blocker = {
        let (bus, blocking) = (bus.clone(), blocking.clone());
        thread::spawn(move || blocking_subscriber(bus, blocking))
    };
    let (mut spin_cpu, mut block_cpu, mut block_events) = (thread_cpu_ns(), 0u64, 0u64);
    let mut cursor = bus.cursor_from_start();
    let (mut delivered, mut lagged) = (0u64, 0u64);
    let mut window: Vec<u64> = Vec::with_capacity(1 << 20);
    let (mut window_events, mut window_lagged) = (0u64, 0u64);
    let start = Instant::now();
    let mut next_report = start + Duration::from_secs(1);
    let mut running = true;
    while running || cursor.next_counter() < bus.cursor_at_head().next_counter() {
        let mut got = 0u64;
        let (lost, _) = bus.poll_with(&mut cursor, |_, event| {
            let sent = u64::from_le_bytes(event.payload[..8].try_into().unwrap_or([0; 8]));
            window.push(now_ns().saturating_sub(sent));
            got += 1;
        });
        delivered += got;
        lagged += lost;
        window_events += got;
        window_lagged += lost;
        if got == 0 {
            thread::yield_now();
        }
        if Instant::now() >= next_report {
            window.sort_unstable();
            let (spin_now, block_now) = (thread_cpu_ns(), blocking.cpu_ns.load(Relaxed));
            let block_seen = blocking.events.load(Relaxed);
            println!(
                "t={:>3}s  {:>9} events/s  lagged {:>7} (total {:>8})  latency p50 {:>7.1} us  p99 {:>8.1} us  | cpu: spinning {:>3}%  blocking {:>3}% ({} events/s)",
                start.elapsed().as_secs(),
                window_events,
                window_lagged,
                lagged,
                percentile(&window, 0.50) as f64 / 1e3,
                percentile(&window, 0.99) as f64 / 1e3,
                (spin_now - spin_cpu) / 10_000_000,
                block_now.saturating_sub(block_cpu) / 10_000_000,
                block_seen - block_events,
            );
            (spin_cpu, block_cpu, block_events) = (spin_now, block_now, block_seen);
            window.clear();
            (window_events, window_lagged) = (0, 0);
            next_report += Duration::from_secs(1);
        }
        if running
            && children
                .iter_mut()
                .all(|(c, _)| matches!(c.try_wait(), Ok(Some(_))))
        {
            running = false;
        }
    }

    // One quiet second: the spinning subscriber keeps polling an idle ring, the blocking one
    // sleeps until its wait times out.
    let (spin_before, block_before) = (thread_cpu_ns(), blocking.cpu_ns.load(Relaxed));
    let quiet_end = Instant::now() + Duration::from_secs(1);
    while Instant::now() < quiet_end {
        let (lost, _) = bus.poll_with(&mut cursor, |_, _| delivered += 1);
        lagged += lost;
        thread::yield_now();
    }
    let spin_idle = (thread_cpu_ns() - spin_before) / 10_000_000;
    blocking.stop.store(true, Relaxed);
    let blocking_counters = blocker
        .join()
        .map_err(|_| "the blocking subscriber panicked")?;
    let block_idle = blocking.cpu_ns.load(Relaxed).saturating_sub(block_before) / 10_000_000;
    println!(
        "quiet second after the publishers stopped: spinning subscriber {spin_idle}% of a core, \
         blocking subscriber {block_idle}%"
    );
    let (block_events, block_lagged) =
        (blocking.events.load(Relaxed), blocking.lagged.load(Relaxed));
    println!(
        "blocking subscriber: delivered {block_events} + lagged {block_lagged} = {} counters",
        block_events + block_lagged
    );
    if block_events + block_lagged != blocking_counters {
        return Err("blocking subscriber: accounting mismatch".into());
    }

    let mut published = 0u64;
    for (node, (mut child, out)) in children.into_iter().enumerate() {
        let status = child.wait()?;
        let mut line = String::new();
        if let Some(mut out) = out {
            out.read_line(&mut line)?;
        }
        let sent: u64 = line
            .trim()
            .strip_prefix("published ")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        println!("publisher {}: {status}, published {sent}", node + 1);
        published += sent;
    }
    let counters = cursor.next_counter();
    println!(
        "\nsubscriber: delivered {delivered} + lagged {lagged} = {} counters (head {counters}); publishers sent {published}",
        delivered + lagged
    );
    if keep_names {
        fleet.remove_names()?;
    }
    if delivered + lagged != counters {
        return Err("accounting mismatch".into());
    }
    Ok(())
}
