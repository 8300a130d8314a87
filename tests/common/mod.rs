//! Helpers shared by the tests: core rings (slot memory, draining polls, checked payloads) and
//! fleets on both backings.
#![allow(dead_code, unused_macros)]

use std::sync::Arc;

use orbit_rs::{
    Cursor, Fleet, Frame, Patience, PayloadSize, Poll, Result, Ring, Slot, SupportedPayload,
};

/// `n` empty slots on the heap.
pub fn slots<const N: usize>(n: usize) -> Vec<Slot<N>>
where
    PayloadSize<N>: SupportedPayload,
{
    (0..n).map(|_| Slot::new()).collect()
}

/// One poll with `patience`, its frames copied out.
pub fn drain<const N: usize>(
    ring: &Ring<'_, N>,
    cursor: &mut Cursor,
    patience: Patience,
) -> (Vec<Frame<N>>, Poll)
where
    PayloadSize<N>: SupportedPayload,
{
    let mut frames = Vec::new();
    let poll = ring.poll_with(cursor, patience, |f| {
        frames.push(Frame::from_ref(&f).expect("a delivered payload fits its ring"));
    });
    (frames, poll)
}

/// A checked payload of `len` bytes (at least 14): writer (u16) | sequence (u64) | fill derived
/// from both | checksum of the rest (u32, last 4 bytes). A torn frame fails [`checksum`].
pub fn encode(writer: u16, seq: u64, len: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&writer.to_le_bytes());
    bytes.extend_from_slice(&seq.to_le_bytes());
    let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(writer);
    while bytes.len() < len - 4 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.push(x as u8);
    }
    let sum = checksum(&bytes);
    bytes.extend_from_slice(&sum.to_le_bytes());
    bytes
}

/// The writer and sequence of a payload made by [`encode`], if it is intact: any torn, stale or
/// foreign byte (or length) makes it differ from what `encode` gives for the same header.
pub fn decode(payload: &[u8]) -> Option<(u16, u64)> {
    if payload.len() < 14 {
        return None;
    }
    let writer = u16::from_le_bytes([payload[0], payload[1]]);
    let seq = u64::from_le_bytes(payload[2..10].try_into().unwrap());
    (encode(writer, seq, payload.len()) == payload).then_some((writer, seq))
}

/// FNV-1a over `bytes`.
pub fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811C_9DC5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// A fleet name unique to this process and label, so parallel test runs never share segments.
pub fn unique_name(label: &str) -> String {
    format!("t{}-{label}", std::process::id())
}

/// A fleet joined on one backing; shared-memory segments are unlinked on drop.
pub struct TestFleet(pub Arc<Fleet>);

impl Drop for TestFleet {
    fn drop(&mut self) {
        let _ = self.0.unlink();
    }
}

/// The two backings under test.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Local,
    Shm,
}

pub fn join(kind: Kind, label: &str, node: u16) -> Result<TestFleet> {
    let name = unique_name(label);
    let fleet = match kind {
        Kind::Local => Fleet::join_as(&name, 256, node)?,
        Kind::Shm => Fleet::join_shm_as(&name, 256, node)?,
    };
    Ok(TestFleet(Arc::new(fleet)))
}

/// Instantiates each `fn name(kind: Kind)` test once per backing: `in_process::name` and
/// (with the `shm` feature on Unix) `shared_memory::name`.
macro_rules! on_both_backings {
    ($($test:ident),* $(,)?) => {
        mod in_process {
            $(#[test] fn $test() { super::$test(super::Kind::Local) })*
        }
        #[cfg(all(feature = "shm", unix))]
        mod shared_memory {
            $(#[test] fn $test() { super::$test(super::Kind::Shm) })*
        }
    };
}

/// The environment variable a re-executed test binary reads the role it plays from.
pub const ROLE: &str = "ORBIT_TEST_ROLE";

/// A command that runs this test binary again as a child process playing `role` in the
/// ignored test `entry` (`prefix`, if any, wraps it: `["unshare", "--mount", ...]`). Callers add
/// their own environment and stdio.
pub fn child_command(prefix: &[&str], entry: &str, role: &str) -> std::process::Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = match prefix.split_first() {
        Some((program, args)) => {
            let mut cmd = std::process::Command::new(program);
            cmd.args(args).arg(&exe);
            cmd
        }
        None => std::process::Command::new(&exe),
    };
    cmd.args([
        "--ignored",
        "--exact",
        entry,
        "--nocapture",
        "--test-threads=1",
    ])
    .env(ROLE, role);
    cmd
}

/// A child process killed and reaped when dropped, so that a test that fails (panics) while a
/// child runs forever (a steady publisher, say) leaves no orphan behind.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Why this host cannot run a child in a private mount namespace (`unshare --mount`: root and
/// namespaces needed), or `None` if it can.
pub fn no_private_mount_namespace() -> Option<String> {
    let probe = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .stderr(std::process::Stdio::piped())
        .output();
    match probe {
        Err(e) => Some(format!("cannot run unshare: {e}")),
        Ok(out) if !out.status.success() => Some(format!(
            "no private mount namespace (root and namespaces needed): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(_) => None,
    }
}

/// The text after "ORBIT " of each line a child prints on its stdout (which must be piped),
/// delivered through a channel as the child prints it. libtest may print "test child_entry
/// ... " on the same line first; anything else is ignored.
pub fn orbit_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("the child's stdout is piped");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(std::io::Result::ok)
        {
            if let Some(at) = line.find("ORBIT ")
                && tx.send(line[at + "ORBIT ".len()..].to_string()).is_err()
            {
                break;
            }
        }
    });
    rx
}

/// A minimal executor: runs `future` on this thread, parking between polls until its waker
/// unparks it; fails the test if it is not done within `bound`.
pub fn block_on<F: std::future::Future>(future: F, bound: std::time::Duration) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    let deadline = std::time::Instant::now() + bound;
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a future was never woken"
        );
        std::thread::park_timeout(bound);
    }
}
