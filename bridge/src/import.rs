//! The importer: subscribes to a key expression and republishes every batch into a local
//! fleet, turning every counter the stream lost on the way into a loss marker.
//!
//! **Origins.** Each origin (exporting host) is republished as its own node of the local fleet:
//! the importer joins the fleet once per origin, as node `origin` ([`Fleet::join_shm_as`]), so
//! a local reader tells hosts apart by `frame.id.node()` (`event.id.node()`). Those node ids
//! are the bridge's: no local member may use them, and they must be below the fleet's size.
//!
//! **Streams.** Batches are tracked per stream — origin, exporter session, ring kind — and
//! per epoch (resets of the exported ring). Within a stream every counter is accounted for:
//! the frames, the exporter's loss (counters inside a batch that no record names), and the
//! network's loss (counters between one batch's end and the next batch's start). Each lost
//! counter becomes one [`publish_lost`](orbit_rs::FleetRing::publish_lost) marker in its
//! place, so local readers count it [unavailable](orbit_rs::Loss::unavailable), in order,
//! beside whatever the local ring itself overwrites for them.
//!
//! **What is not counted.** A stream's first batch starts wherever the importer met it: what
//! the exporter sent before (the importer was down, or had not started) is not known here. A
//! new exporter session (a restarted exporter) starts a new stream the same way, and a new
//! epoch restarts counting at the reset ring's counter 0, as a local reader's cursor does.
//! Nothing is replayed: an exporter starts at its ring's head.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use orbit_rs::{Fleet, FleetRing};
use zenoh::Wait;

use crate::envelope::{self, Batch};
use crate::export::STOP_CHECK;
use crate::{BridgeError, Frames, RingSource};

/// What an importer did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportStats {
    /// Batches republished.
    pub batches: u64,
    /// Frames republished.
    pub frames: u64,
    /// Counters the exporters reported overwritten on their rings (republished as markers).
    pub upstream_overwritten: u64,
    /// Counters the exporters reported unavailable on their rings (republished as markers).
    pub upstream_unavailable: u64,
    /// Counters lost between exporter and importer: gaps between batches of one stream
    /// (republished as markers).
    pub network_lost: u64,
    /// Streams met: one per origin, exporter session and ring kind (a restarted exporter
    /// starts a new one).
    pub streams: u64,
    /// Resets of exported rings seen (new epochs of a stream).
    pub resets: u64,
    /// Samples that were not valid batches (dropped, reported).
    pub malformed: u64,
    /// Batches of another ring kind than the imported one (ignored).
    pub foreign: u64,
    /// Frames or markers the local fleet refused (reported).
    pub publish_errors: u64,
    /// Batches that decode but cannot belong to a real stream: a gap or loss of more than
    /// 2^32 counters (reported; the stream goes on from the batch's end).
    pub protocol_errors: u64,
}

impl ImportStats {
    /// Adds `after - before`, field by field.
    fn add_difference(&mut self, after: &Self, before: &Self) {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        self.batches += d(after.batches, before.batches);
        self.frames += d(after.frames, before.frames);
        self.upstream_overwritten += d(after.upstream_overwritten, before.upstream_overwritten);
        self.upstream_unavailable += d(after.upstream_unavailable, before.upstream_unavailable);
        self.network_lost += d(after.network_lost, before.network_lost);
        self.streams += d(after.streams, before.streams);
        self.resets += d(after.resets, before.resets);
        self.malformed += d(after.malformed, before.malformed);
        self.foreign += d(after.foreign, before.foreign);
        self.publish_errors += d(after.publish_errors, before.publish_errors);
        self.protocol_errors += d(after.protocol_errors, before.protocol_errors);
    }

    /// Every counter accounted for in the local ring: frames plus every kind of loss marker.
    #[must_use]
    pub fn counters(&self) -> u64 {
        self.frames + self.upstream_overwritten + self.upstream_unavailable + self.network_lost
    }
}

/// Where a stream stands.
#[derive(Clone, Copy, Debug)]
struct Stream {
    epoch: u32,
    /// The next counter expected from the exporter.
    next: u64,
}

/// What the importer tells its caller while it runs.
#[derive(Debug)]
#[non_exhaustive]
pub enum ImportEvent<'a> {
    /// A new stream: an exporter session met for the first time.
    NewStream {
        /// Its origin id.
        origin: u16,
        /// The exporter's session id.
        session: u64,
    },
    /// A batch was republished; the stats so far.
    Batch(&'a ImportStats),
    /// Something went wrong with one sample; the importer goes on.
    Error(&'a BridgeError),
}

/// Whether the importer joins the local fleet in shared memory or in-process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// `Fleet::join_shm_as`: the fleet's other processes see the frames.
    SharedMemory,
    /// `Fleet::join_as`: only this process sees them (tests, embedding).
    InProcess,
}

/// Republishes batches into a local fleet.
#[derive(Debug)]
pub struct Importer {
    fleet: String,
    size: u16,
    backing: Backing,
    source: RingSource,
    /// Per origin: the fleet handle joined as node `origin`, and its ring.
    origins: HashMap<u16, (Arc<Fleet>, FleetRing<Frames>)>,
    streams: HashMap<(u16, u64), Stream>,
    /// Streams met since the run loop last reported them: (origin, session).
    new_streams: Vec<(u16, u64)>,
    stats: ImportStats,
    per_origin: HashMap<u16, ImportStats>,
}

impl Importer {
    /// An importer into ring `source` of fleet `fleet` (of `size` nodes), joined lazily as
    /// one node per origin.
    #[must_use]
    pub fn new(fleet: &str, size: u16, backing: Backing, source: RingSource) -> Self {
        Self {
            fleet: fleet.to_string(),
            size,
            backing,
            source,
            origins: HashMap::new(),
            streams: HashMap::new(),
            new_streams: Vec::new(),
            stats: ImportStats::default(),
            per_origin: HashMap::new(),
        }
    }

    /// What the importer did so far, all origins together.
    #[must_use]
    pub fn stats(&self) -> ImportStats {
        self.stats
    }

    /// What the importer did so far for each origin it met (batches that were not valid
    /// batches have no origin: they count only in [`stats`](Self::stats)).
    #[must_use]
    pub fn origin_stats(&self) -> Vec<(u16, ImportStats)> {
        let mut all: Vec<_> = self.per_origin.iter().map(|(&o, &s)| (o, s)).collect();
        all.sort_unstable_by_key(|&(o, _)| o);
        all
    }

    /// The local ring origin `origin` is republished into (joining the fleet as node `origin`
    /// on first use).
    ///
    /// # Errors
    ///
    /// [`BridgeError::Fleet`] if the fleet cannot be joined as that node (in use by a live
    /// member, outside the fleet) or the ring not opened.
    pub fn ring_of(&mut self, origin: u16) -> Result<&FleetRing<Frames>, BridgeError> {
        if !self.origins.contains_key(&origin) {
            let builder = Fleet::builder(&self.fleet).size(self.size).node(origin);
            let fleet = match self.backing {
                Backing::SharedMemory => builder.join_shm(),
                Backing::InProcess => builder.join(),
            }
            .map_err(|e| BridgeError::Fleet(format!("joining as origin node {origin}: {e}")))?;
            let fleet = Arc::new(fleet);
            let ring = self.source.open(&fleet)?;
            self.origins.insert(origin, (fleet, ring));
        }
        Ok(&self.origins[&origin].1)
    }

    /// Republishes one sample's bytes.
    ///
    /// # Errors
    ///
    /// [`BridgeError::Decode`] for bytes that are not a batch (nothing republished);
    /// [`BridgeError::Protocol`] for a gap no stream can have (over 2^32 counters);
    /// [`BridgeError::Fleet`] if the local fleet refused a frame or marker.
    pub fn handle(&mut self, bytes: &[u8]) -> Result<(), BridgeError> {
        let batch = envelope::decode(bytes).map_err(|e| {
            self.stats.malformed += 1;
            BridgeError::Decode(e)
        })?;
        self.republish(&batch)
    }

    /// Republishes one decoded batch, counting it in the totals and in its origin's stats.
    fn republish(&mut self, batch: &Batch<'_>) -> Result<(), BridgeError> {
        let before = self.stats;
        let result = self.republish_counted(batch);
        let origin = self.per_origin.entry(batch.header.origin).or_default();
        origin.add_difference(&self.stats, &before);
        result
    }

    fn republish_counted(&mut self, batch: &Batch<'_>) -> Result<(), BridgeError> {
        let h = batch.header;
        if h.ring_kind != self.source.kind() {
            self.stats.foreign += 1;
            return Ok(());
        }
        let ring = self.ring_of(h.origin)?.clone();
        let stream = self
            .streams
            .entry((h.origin, h.session))
            .or_insert_with(|| {
                self.stats.streams += 1;
                if self.new_streams.len() < MAX_PENDING_ERRORS {
                    self.new_streams.push((h.origin, h.session));
                }
                Stream {
                    epoch: h.epoch,
                    next: h.first,
                }
            });
        if stream.epoch != h.epoch {
            // The exported ring was reset: its counters restarted; nothing between is counted
            // (a local reader's cursor does the same across a reset).
            self.stats.resets += 1;
            *stream = Stream {
                epoch: h.epoch,
                next: h.first,
            };
        }
        let mut errors = Errors::default();
        // Counters between the previous batch's end and this one's start never arrived.
        let gap = h.first.saturating_sub(stream.next);
        let mut pos = h.first.max(stream.next);
        stream.next = h.end.max(stream.next);
        if gap > 0 {
            let marked = markers(&ring, gap);
            if marked.is_ok() {
                self.stats.network_lost += gap;
            }
            errors.add(&mut self.stats, marked);
        }
        // A batch that starts before `next` repeats counters already accounted for (no Zenoh
        // route should do that): its repeats are skipped, never republished twice.
        for record in &batch.records {
            let counter = h.first + u64::from(record.offset);
            if counter < pos {
                continue;
            }
            if counter > pos {
                errors.add(&mut self.stats, markers(&ring, counter - pos));
            }
            let published = ring
                .publish_frame(record.frame_kind, record.version, record.payload)
                .map(drop)
                .map_err(|e| BridgeError::Fleet(e.to_string()));
            errors.add(&mut self.stats, published);
            self.stats.frames += 1;
            pos = counter + 1;
        }
        if h.end > pos {
            errors.add(&mut self.stats, markers(&ring, h.end - pos));
        }
        self.stats.upstream_overwritten += h.overwritten;
        self.stats.upstream_unavailable += h.unavailable;
        self.stats.batches += 1;
        errors.first.map_or(Ok(()), Err)
    }

    /// Imports from `key` until `stop` is set (checked at least every [`STOP_CHECK`]),
    /// telling `report` about new streams, batches and errors (from this thread, at most
    /// every [`STOP_CHECK`]).
    ///
    /// Batches are republished on Zenoh's own receive thread, in a subscriber callback: a
    /// publish into a ring never blocks, so nothing waits on it, and a frame reaches the local
    /// ring without a hop through a channel and another thread.
    ///
    /// # Errors
    ///
    /// [`BridgeError::Zenoh`] if the subscriber cannot be declared.
    pub fn run(
        &mut self,
        session: &zenoh::Session,
        key: &str,
        stop: &AtomicBool,
        mut report: impl FnMut(ImportEvent<'_>),
    ) -> Result<ImportStats, BridgeError> {
        let placeholder = Importer::new(&self.fleet, self.size, self.backing, self.source);
        let shared = Arc::new(Mutex::new(Shared {
            importer: std::mem::replace(self, placeholder),
            errors: Vec::new(),
            batches: 0,
        }));
        let subscriber = {
            let shared = shared.clone();
            session
                .declare_subscriber(key.to_string())
                .callback(move |sample| {
                    let bytes = sample.payload().to_bytes();
                    let mut shared = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    match shared.importer.handle(&bytes) {
                        Ok(()) => shared.batches += 1,
                        Err(e) if shared.errors.len() < MAX_PENDING_ERRORS => shared.errors.push(e),
                        Err(_) => {}
                    }
                })
                .wait()
                .map_err(|e| BridgeError::Zenoh(e.to_string()))
        };
        let mut reported = 0;
        let mut drain = |report: &mut dyn FnMut(ImportEvent<'_>)| {
            let mut shared = shared.lock().unwrap_or_else(PoisonError::into_inner);
            let shared = &mut *shared;
            for (origin, session) in shared.importer.new_streams.drain(..) {
                report(ImportEvent::NewStream { origin, session });
            }
            for e in shared.errors.drain(..) {
                report(ImportEvent::Error(&e));
            }
            if shared.batches != reported {
                reported = shared.batches;
                report(ImportEvent::Batch(&shared.importer.stats));
            }
        };
        let result = subscriber.map(|subscriber| {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(STOP_CHECK);
                drain(&mut report);
            }
            // No callback runs after the undeclaration returns.
            let _ = subscriber.undeclare().wait();
            drain(&mut report);
        });
        let mut shared = shared.lock().unwrap_or_else(PoisonError::into_inner);
        let placeholder = Importer::new(&self.fleet, self.size, self.backing, self.source);
        *self = std::mem::replace(&mut shared.importer, placeholder);
        result.map(|()| self.stats)
    }
}

/// Errors held for the run loop to report, at most (a flood of bad samples is still counted
/// in the stats).
const MAX_PENDING_ERRORS: usize = 64;

/// What the subscriber callback and the run loop share.
struct Shared {
    importer: Importer,
    errors: Vec<BridgeError>,
    batches: u64,
}

/// Commits `count` markers, refusing a count no real stream produces.
fn markers(ring: &FleetRing<Frames>, count: u64) -> Result<(), BridgeError> {
    let count = u32::try_from(count).map_err(|_| {
        BridgeError::Protocol(format!(
            "a gap of {count} counters in one stream (more than 2^32: a broken stream)"
        ))
    })?;
    ring.publish_lost(count)
        .map_err(|e| BridgeError::Fleet(e.to_string()))
}

/// The first error of a batch, and a count of all of them.
#[derive(Default)]
struct Errors {
    first: Option<BridgeError>,
}

impl Errors {
    fn add(&mut self, stats: &mut ImportStats, result: Result<(), BridgeError>) {
        if let Err(e) = result {
            match e {
                BridgeError::Protocol(_) => stats.protocol_errors += 1,
                _ => stats.publish_errors += 1,
            }
            self.first.get_or_insert(e);
        }
    }
}
