//! `orbit-bridge`: carries the rings of an orbit-rs fleet from one host to others over
//! [Zenoh](https://zenoh.io), with loss accounted for exactly end to end.
//!
//! A fleet lives on one host. An [`Exporter`] follows one of its rings — the event bus or a
//! typed ring — and puts what each poll accounted for on a Zenoh key expression
//! (`orbit/{fleet}/{kind}` by default, [`key_expr`]). An [`Importer`] on another host
//! subscribes to it and republishes into a local fleet, where local readers poll the frames
//! as if they had been published there. Zenoh does the networking (peer or client mode,
//! listen and connect endpoints, reconnection), configured with its own config file.
//!
//! # Loss, end to end
//!
//! Every counter of the exported ring reaches the importer's readers either as a frame or as
//! counted loss, in counter order:
//!
//! * **the exporter's loss** — counters it could not read (overwritten before it got to them,
//!   unavailable) — travels in each batch's header and as the counters no record names;
//! * **the network's loss** — batches that never arrived — shows as a gap between one batch's
//!   end and the next one's start, per stream;
//! * **the importer's ring** overwrites for a slow local reader like any ring does.
//!
//! The importer turns the first two into loss markers
//! ([`FleetRing::publish_lost`]) in the lost counters' place: its readers count them
//! [unavailable](orbit_rs::Loss::unavailable), beside the local ring's own overwritten count.
//! Both sides keep stats ([`ExportStats`], [`ImportStats`]).
//!
//! # Origins
//!
//! Each exporter is started with an *origin* id, unique among the hosts bridged into one fleet.
//! The importer republishes each origin's frames as node `origin` of the local fleet (it joins
//! once per origin), so `frame.id.node()` tells a local reader which host a frame came from,
//! and two hosts' streams never mix, not even in loss accounting. The frame kind byte, the
//! version word (an event's timestamp) and the payload (an event's topic and body) are carried
//! unchanged; the local counter is the local ring's. The origin frame's own id (its node and
//! counter on its host) travels in the envelope and is available to embedders through
//! [`envelope::decode`].
//!
//! # Restarts
//!
//! Each exporter run has a random session id. An exporter starts at its ring's head and never
//! replays: what was published while no exporter ran is not sent, and not counted (nobody
//! watched it). An importer that restarts meets each stream at its next batch: what was sent
//! while it was down is not counted either. A restart of either side never duplicates a
//! frame. Reconnection after a peer restarts is Zenoh's (peer mode retries its connect
//! endpoints).
//!
//! # The envelope
//!
//! One Zenoh sample carries one batch, fixed little-endian fields; see [`envelope`] for the
//! layout. Decoding is total: bytes from the network give a batch or a [`DecodeError`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod envelope;
pub mod export;
pub mod import;

use std::hash::{BuildHasher, Hasher};

use orbit_rs::event::{EVENT_RING_CAPACITY, EVENT_RING_KIND};
use orbit_rs::fleet::PAYLOAD_MAX;
use orbit_rs::{Fleet, FleetRing, OrbitTyped};

pub use envelope::DecodeError;
pub use export::{ExportStats, Exporter};
pub use import::{Backing, ImportEvent, ImportStats, Importer};

/// The type of the bridge's ring handles: rings opened by kind at run time, carried as bytes.
#[derive(Debug)]
pub enum Frames {}

impl OrbitTyped for Frames {
    // Unused: the bridge opens rings with `Fleet::ring_by_kind`.
    const KIND: u8 = 0;
}

/// Which ring of a fleet a bridge carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingSource {
    /// The event bus (kind [`EVENT_RING_KIND`]) with `capacity` slots (default
    /// [`EVENT_RING_CAPACITY`]).
    Events {
        /// Slots in the event ring, as its fleet opened it.
        capacity: usize,
    },
    /// A typed ring.
    Kind {
        /// Its kind (`T::KIND`).
        kind: u8,
        /// Its slots (`T::CAPACITY`, or what `ring_with_capacity` gave).
        capacity: usize,
        /// Its payload bytes (`T::PAYLOAD`).
        payload: usize,
    },
}

impl RingSource {
    /// The event bus at its default capacity.
    pub const EVENTS: Self = Self::Events {
        capacity: EVENT_RING_CAPACITY,
    };

    /// The ring's kind.
    #[must_use]
    pub const fn kind(&self) -> u8 {
        match self {
            Self::Events { .. } => EVENT_RING_KIND,
            Self::Kind { kind, .. } => *kind,
        }
    }

    /// The ring's name in key expressions: `events`, or the kind number.
    #[must_use]
    pub fn key_name(&self) -> String {
        match self {
            Self::Events { .. } => "events".to_string(),
            Self::Kind { kind, .. } => kind.to_string(),
        }
    }

    /// Opens the ring in `fleet`.
    ///
    /// # Errors
    ///
    /// [`BridgeError::Fleet`] if the fleet refuses (a spec that does not match the ring's).
    pub fn open(&self, fleet: &Fleet) -> Result<FleetRing<Frames>, BridgeError> {
        let (capacity, payload) = match *self {
            Self::Events { capacity } => (capacity, PAYLOAD_MAX),
            Self::Kind {
                capacity, payload, ..
            } => (capacity, payload),
        };
        fleet
            .ring_by_kind::<Frames>(self.kind(), capacity, payload)
            .map_err(|e| {
                BridgeError::Fleet(format!(
                    "opening ring {} of fleet {}: {e}",
                    self.key_name(),
                    fleet.name()
                ))
            })
    }
}

/// The default key expression of a fleet's ring: `orbit/{fleet}/{events|kind}`.
#[must_use]
pub fn key_expr(fleet: &str, source: &RingSource) -> String {
    format!("orbit/{fleet}/{}", source.key_name())
}

/// A random 64-bit session id (std's per-process random hash keys, mixed with the time).
#[must_use]
pub fn new_session_id() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// What went wrong in a bridge.
#[derive(Debug)]
#[non_exhaustive]
pub enum BridgeError {
    /// The local fleet refused (join, open, publish).
    Fleet(String),
    /// Zenoh refused (open, declare, config).
    Zenoh(String),
    /// Bytes from the network that are not a batch.
    Decode(DecodeError),
    /// A batch that decodes but cannot belong to any real stream.
    Protocol(String),
}

impl std::fmt::Display for BridgeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fleet(e) => write!(f, "fleet: {e}"),
            Self::Zenoh(e) => write!(f, "zenoh: {e}"),
            Self::Decode(e) => write!(f, "bad batch from the network: {e}"),
            Self::Protocol(e) => write!(f, "protocol: {e}"),
        }
    }
}

impl std::error::Error for BridgeError {}

/// Opens a Zenoh session from a config file in Zenoh's own format (JSON5: `mode` peer or
/// client, `listen` / `connect` endpoints, scouting …), or Zenoh's defaults without one.
///
/// # Errors
///
/// [`BridgeError::Zenoh`] if the file cannot be read or the session cannot be opened.
pub fn open_session(config: Option<&std::path::Path>) -> Result<zenoh::Session, BridgeError> {
    use zenoh::Wait;
    let config = match config {
        Some(path) => zenoh::Config::from_file(path)
            .map_err(|e| BridgeError::Zenoh(format!("reading config {}: {e}", path.display())))?,
        None => zenoh::Config::default(),
    };
    zenoh::open(config)
        .wait()
        .map_err(|e| BridgeError::Zenoh(format!("opening a session: {e}")))
}
