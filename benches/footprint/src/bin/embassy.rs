//! embassy-sync: a `static` `PubSubChannel` of 16 × [u8; 64], one subscriber; publish
//! (overwriting the oldest, as a ring does), then drain.
#![no_std]
#![no_main]

use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::pubsub::{PubSubChannel, WaitResult};
use orbit_footprint::{DEPTH, PAYLOAD, message, sink};

static CHANNEL: PubSubChannel<CriticalSectionRawMutex, [u8; PAYLOAD], DEPTH, 1, 1> =
    PubSubChannel::new();

// SAFETY (no_mangle): `_start` is the entry symbol of footprint.x; nothing else defines it.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let publisher = CHANNEL.immediate_publisher();
    let mut subscriber = CHANNEL.subscriber().unwrap_or_else(|_| panic!());
    loop {
        let m = message();
        publisher.publish_immediate(m);
        while let Some(got) = subscriber.try_next_message() {
            match got {
                WaitResult::Message(m) => sink(&m),
                WaitResult::Lagged(n) => sink(n),
            }
        }
    }
}
