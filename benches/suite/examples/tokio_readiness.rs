//! orbit-rs with tokio: a fleet ring's readiness descriptor in `tokio::io::unix::AsyncFd`, and
//! `FleetRing::wait_async` raced with a tokio timer.
//!
//! `cargo run --manifest-path benches/suite/Cargo.toml --example tokio_readiness`
//!
//! A publisher thread (it could be another process, with `Fleet::join_shm_as`) sends five
//! readings 50 ms apart; the task sleeps in tokio until each one arrives.

use std::time::Duration;

use orbit_rs::bytemuck::{Pod, Zeroable};
use orbit_rs::{Fleet, OrbitTyped};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[bytemuck(crate = "orbit_rs::bytemuck")]
#[repr(C)]
struct Reading {
    celsius: f32,
}

impl OrbitTyped for Reading {
    const KIND: u8 = 30;
    const PAYLOAD: usize = size_of::<Self>();
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fleet = Fleet::join("tokio-demo", 2)?;
    let readings = fleet.ring::<Reading>()?;
    let mut cursor = readings.cursor_at_head();
    let publisher = {
        let readings = readings.clone();
        std::thread::spawn(move || {
            for i in 0..5 {
                std::thread::sleep(Duration::from_millis(50));
                readings
                    .publish(&Reading {
                        celsius: 20.0 + i as f32,
                    })
                    .unwrap();
            }
        })
    };

    // A readiness descriptor in tokio's reactor: arm, await readable, clear, poll.
    // SAFETY: a `Readiness` owns its descriptor for its whole life and `as_raw_fd` always
    // returns that same descriptor (documented on `Readiness`), as `register` requires.
    let ready =
        unsafe { AsyncFd::register_with_interest(readings.readiness()?, Interest::READABLE) }?;
    let mut seen = 0;
    while seen < 3 {
        ready.get_ref().arm(&cursor);
        let mut guard = ready.readable().await?;
        ready.get_ref().clear();
        guard.clear_ready();
        for sample in readings.poll(&mut cursor).values {
            println!("readiness fd: {:.1} °C", sample.value.celsius);
            seen += 1;
        }
    }

    // The same with a future, raced with a timer.
    while seen < 5 {
        match tokio::time::timeout(Duration::from_secs(5), readings.wait_async(&cursor)).await {
            Ok(()) => {
                for sample in readings.poll(&mut cursor).values {
                    println!("wait_async:   {:.1} °C", sample.value.celsius);
                    seen += 1;
                }
            }
            Err(_) => return Err("no reading for 5 s".into()),
        }
    }
    publisher.join().map_err(|_| "publisher panicked")?;
    Ok(())
}
