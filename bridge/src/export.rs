//! The exporter: follows one ring of a local fleet and puts what each poll accounted for — its
//! frames and its loss — as one batch on a Zenoh key expression.
//!
//! It never spins: it blocks in [`FleetRing::wait`] (bounded, so a stop request is seen within
//! [`STOP_CHECK`]) and polls only when the ring has news. It starts at the ring's head: frames
//! published before it started (or while a previous run was down) are not exported.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use orbit_rs::{Fleet, FleetRing, Waited};
use zenoh::Wait;
use zenoh::qos::CongestionControl;

use crate::envelope::{BatchHeader, BatchWriter};
use crate::{BridgeError, Frames, RingSource, new_session_id};

/// How long a blocked exporter or importer waits before it looks at its stop flag.
pub const STOP_CHECK: Duration = Duration::from_millis(100);

/// Frames at most in one batch (one Zenoh sample): a batch stays under ~64 KiB.
pub const BATCH_FRAMES: usize = 128;

/// What an exporter did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Batches put on the network.
    pub batches: u64,
    /// Frames put on the network.
    pub frames: u64,
    /// Counters the exporter could not read because the ring overwrote them first.
    pub overwritten: u64,
    /// Counters the exporter found unavailable (abandoned or stuck writes, invalid slots).
    pub unavailable: u64,
    /// Resets of the exported ring seen (each starts a new epoch).
    pub resets: u64,
    /// Batches Zenoh refused to put (their counters reach the importer as a gap).
    pub put_errors: u64,
}

/// Exports one ring of a local fleet to a Zenoh key expression.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use std::sync::atomic::AtomicBool;
/// use orbit_bridge::{Exporter, RingSource};
/// use orbit_rs::Fleet;
///
/// let fleet = Arc::new(Fleet::join_shm_as("plant", 256, 9)?);
/// let session = zenoh::Wait::wait(zenoh::open(zenoh::Config::default()))?;
/// let mut exporter = Exporter::new(fleet, RingSource::Events { capacity: 1024 }, 1)?;
/// let stop = AtomicBool::new(false);
/// exporter.run(&session, "orbit/plant/events", &stop)?;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
#[derive(Debug)]
pub struct Exporter {
    ring: FleetRing<Frames>,
    source: RingSource,
    origin: u16,
    session: u64,
    congestion: CongestionControl,
    stats: ExportStats,
    _fleet: Arc<Fleet>,
}

impl Exporter {
    /// Opens `source` in `fleet`, to be exported as origin `origin` (the id every importer
    /// republishes this host's frames under: unique among the hosts bridged into one fleet).
    ///
    /// # Errors
    ///
    /// [`BridgeError::Fleet`] if the ring cannot be opened (a spec that does not match it).
    pub fn new(fleet: Arc<Fleet>, source: RingSource, origin: u16) -> Result<Self, BridgeError> {
        let ring = source.open(&fleet)?;
        Ok(Self {
            ring,
            source,
            origin,
            session: new_session_id(),
            congestion: CongestionControl::Block,
            stats: ExportStats::default(),
            _fleet: fleet,
        })
    }

    /// What the exporter's Zenoh publisher does when the network cannot take a batch right
    /// now (default [`CongestionControl::Block`]): `Block` waits, so the ring keeps filling
    /// and the next batch carries more frames — what the ring overwrites meanwhile is counted
    /// as the exporter's loss, overwritten; `Drop` drops the batch, and the importer counts
    /// its counters as the network's loss. Either way the loss is counted.
    #[must_use]
    pub fn with_congestion_control(mut self, congestion: CongestionControl) -> Self {
        self.congestion = congestion;
        self
    }

    /// This run's session id (random, new for every exporter).
    #[must_use]
    pub fn session(&self) -> u64 {
        self.session
    }

    /// What the exporter did so far.
    #[must_use]
    pub fn stats(&self) -> ExportStats {
        self.stats
    }

    /// Exports from the ring's head on until `stop` is set (checked at least every
    /// [`STOP_CHECK`]).
    ///
    /// # Errors
    ///
    /// [`BridgeError::Zenoh`] if the publisher cannot be declared.
    pub fn run(
        &mut self,
        session: &zenoh::Session,
        key: &str,
        stop: &AtomicBool,
    ) -> Result<ExportStats, BridgeError> {
        self.run_with(session, key, stop, |_| {})
    }

    /// [`run`](Self::run), calling `progress` after every batch put.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub fn run_with(
        &mut self,
        session: &zenoh::Session,
        key: &str,
        stop: &AtomicBool,
        mut progress: impl FnMut(&ExportStats),
    ) -> Result<ExportStats, BridgeError> {
        let publisher = session
            .declare_publisher(key.to_string())
            .congestion_control(self.congestion)
            .wait()
            .map_err(|e| BridgeError::Zenoh(e.to_string()))?;
        let mut cursor = self.ring.cursor_at_head();
        let mut epoch = 0u32;
        let mut batch = BatchWriter::default();
        while !stop.load(Ordering::Relaxed) {
            if self.ring.wait(&cursor, STOP_CHECK) == Waited::TimedOut {
                continue;
            }
            batch.start();
            let poll = self
                .ring
                .poll_with_limit(&mut cursor, BATCH_FRAMES, |frame| {
                    batch.push(
                        frame.counter,
                        frame.id,
                        frame.version,
                        frame.kind,
                        frame.payload,
                    );
                });
            if poll.rewound {
                epoch = epoch.wrapping_add(1);
                self.stats.resets += 1;
            }
            let accounted = poll.delivered + poll.loss.total();
            if accounted == 0 && !poll.rewound {
                continue; // A stall the next poll decides on.
            }
            let end = cursor.next_counter();
            let header = BatchHeader {
                ring_kind: self.source.kind(),
                origin: self.origin,
                session: self.session,
                epoch,
                first: end - accounted,
                end,
                overwritten: poll.loss.overwritten,
                unavailable: poll.loss.unavailable,
            };
            let bytes = batch
                .finish(&header)
                .map_err(|e| BridgeError::Protocol(format!("exporter built a bad batch: {e}")))?;
            self.stats.overwritten += poll.loss.overwritten;
            self.stats.unavailable += poll.loss.unavailable;
            match publisher.put(bytes.to_vec()).wait() {
                Ok(()) => {
                    self.stats.batches += 1;
                    self.stats.frames += poll.delivered;
                }
                Err(_) => self.stats.put_errors += 1,
            }
            progress(&self.stats);
        }
        Ok(self.stats)
    }
}

/// Runs an exporter on its own thread until `stop` is set; returns its stats when it ends.
pub fn spawn(
    mut exporter: Exporter,
    session: zenoh::Session,
    key: String,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Result<ExportStats, BridgeError>> {
    std::thread::spawn(move || exporter.run(&session, &key, &stop))
}
