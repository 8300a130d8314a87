//! The importer's accounting, fed batches directly (no network): network gaps, exporter loss,
//! repeats, new sessions and epochs, absurd gaps — into an in-process fleet whose reader
//! checks what arrives.

use orbit_bridge::envelope::{BatchHeader, BatchWriter};
use orbit_bridge::{Backing, BridgeError, Frames, Importer, RingSource};
use orbit_rs::fleet::PAYLOAD_MAX;
use orbit_rs::{Fleet, FleetRing, NetId64, RingCursor};

const KIND: u8 = 50;
const SOURCE: RingSource = RingSource::Kind {
    kind: KIND,
    capacity: 64,
    payload: PAYLOAD_MAX,
};

fn name(label: &str) -> String {
    format!("bi{}-{label}", std::process::id())
}

/// A batch of `frames` (counters) within `[first, end)`; the rest is exporter loss, counted
/// overwritten. Each payload is its counter.
fn batch(origin: u16, session: u64, epoch: u32, first: u64, end: u64, frames: &[u64]) -> Vec<u8> {
    let mut w = BatchWriter::default();
    w.start();
    for &c in frames {
        w.push(c, NetId64::new(KIND, 9.into(), c), c, 1, &c.to_le_bytes());
    }
    let header = BatchHeader {
        ring_kind: KIND,
        origin,
        session,
        epoch,
        first,
        end,
        overwritten: end - first - frames.len() as u64,
        unavailable: 0,
    };
    w.finish(&header).expect("consistent").to_vec()
}

/// The local ring the importer republishes origin `origin` into, read by a separate handle.
fn reader(fleet: &str) -> (Fleet, FleetRing<Frames>) {
    let fleet = Fleet::join_as(fleet, 256, 200).expect("join");
    let ring = SOURCE.open(&fleet).expect("open");
    (fleet, ring)
}

/// (node, payload counter) of each frame, and the loss, of one poll.
fn drain(ring: &FleetRing<Frames>, cursor: &mut RingCursor) -> (Vec<(u16, u64)>, u64, u64) {
    let poll = ring.poll_frames(cursor);
    let frames = poll
        .frames
        .iter()
        .map(|f| {
            let c = u64::from_le_bytes(f.payload[..8].try_into().unwrap());
            (f.id.node().get(), c)
        })
        .collect();
    (frames, poll.loss.overwritten, poll.loss.unavailable)
}

#[test]
fn gaps_loss_and_repeats_are_accounted_in_place() {
    let fleet = name("gaps");
    let (_keep, ring) = reader(&fleet);
    let mut cursor = RingCursor::from_start();
    let mut importer = Importer::new(&fleet, 256, Backing::InProcess, SOURCE);

    // First batch: counters 100..105, 102 lost on the exporter.
    importer
        .handle(&batch(3, 7, 0, 100, 105, &[100, 101, 103, 104]))
        .unwrap();
    // 105..108 never arrive (the network); 108..110 do.
    importer
        .handle(&batch(3, 7, 0, 108, 110, &[108, 109]))
        .unwrap();
    // A repeat of 108..110 and an overlap 109..112: only 110 and 111 are new.
    importer
        .handle(&batch(3, 7, 0, 108, 110, &[108, 109]))
        .unwrap();
    importer
        .handle(&batch(3, 7, 0, 109, 112, &[109, 110, 111]))
        .unwrap();

    let (frames, overwritten, unavailable) = drain(&ring, &mut cursor);
    let got: Vec<u64> = frames.iter().map(|f| f.1).collect();
    assert_eq!(got, [100, 101, 103, 104, 108, 109, 110, 111]);
    assert!(
        frames.iter().all(|f| f.0 == 3),
        "republished as node 3, the origin"
    );
    assert_eq!((overwritten, unavailable), (0, 1 + 3));
    let stats = importer.stats();
    assert_eq!(stats.network_lost, 3);
    assert_eq!(stats.upstream_overwritten, 1);
    assert_eq!(stats.frames, 8);
    assert_eq!(stats.streams, 1);
    // Every counter 100..112 is in the local ring exactly once: a frame or a marker.
    assert_eq!(cursor.next_counter(), 12);
}

#[test]
fn a_new_session_or_epoch_restarts_counting_without_a_gap() {
    let fleet = name("sessions");
    let (_keep, ring) = reader(&fleet);
    let mut cursor = RingCursor::from_start();
    let mut importer = Importer::new(&fleet, 256, Backing::InProcess, SOURCE);
    importer.handle(&batch(1, 10, 0, 0, 2, &[0, 1])).unwrap();
    // The exporter restarted (new session) far ahead: not a gap, a new stream.
    importer.handle(&batch(1, 11, 0, 500, 501, &[500])).unwrap();
    // Its ring was reset (epoch 1): counters restart at 0.
    importer.handle(&batch(1, 11, 1, 0, 1, &[0])).unwrap();
    let (frames, overwritten, unavailable) = drain(&ring, &mut cursor);
    assert_eq!(frames.len(), 4);
    assert_eq!((overwritten, unavailable), (0, 0));
    let stats = importer.stats();
    assert_eq!((stats.streams, stats.resets, stats.network_lost), (2, 1, 0));
}

#[test]
fn origins_are_kept_apart() {
    let fleet = name("origins");
    let (_keep, ring) = reader(&fleet);
    let mut cursor = RingCursor::from_start();
    let mut importer = Importer::new(&fleet, 256, Backing::InProcess, SOURCE);
    // Two hosts whose counters overlap: each is its own stream, its own node.
    importer.handle(&batch(1, 10, 0, 0, 2, &[0, 1])).unwrap();
    importer.handle(&batch(2, 20, 0, 0, 2, &[0, 1])).unwrap();
    importer.handle(&batch(1, 10, 0, 2, 3, &[2])).unwrap();
    importer.handle(&batch(2, 20, 0, 3, 4, &[3])).unwrap(); // host 2 lost counter 2
    let (frames, _, unavailable) = drain(&ring, &mut cursor);
    let of = |node| {
        frames
            .iter()
            .filter(|f| f.0 == node)
            .map(|f| f.1)
            .collect::<Vec<_>>()
    };
    assert_eq!(of(1), [0, 1, 2]);
    assert_eq!(of(2), [0, 1, 3]);
    assert_eq!(unavailable, 1);
    assert_eq!(importer.stats().network_lost, 1);
    // Which origin lost it: its own stats say.
    let per_origin = importer.origin_stats();
    assert_eq!(per_origin.len(), 2);
    assert_eq!(
        (
            per_origin[0].0,
            per_origin[0].1.network_lost,
            per_origin[0].1.frames
        ),
        (1, 0, 3)
    );
    assert_eq!(
        (
            per_origin[1].0,
            per_origin[1].1.network_lost,
            per_origin[1].1.frames
        ),
        (2, 1, 3)
    );
}

#[test]
fn bad_bytes_and_absurd_gaps_are_errors_not_loops() {
    let fleet = name("absurd");
    let (_keep, ring) = reader(&fleet);
    let mut cursor = RingCursor::from_start();
    let mut importer = Importer::new(&fleet, 256, Backing::InProcess, SOURCE);
    assert!(matches!(
        importer.handle(b"not a batch"),
        Err(BridgeError::Decode(_))
    ));
    importer.handle(&batch(1, 10, 0, 0, 1, &[0])).unwrap();
    let far = 1 + (1u64 << 33);
    assert!(matches!(
        importer.handle(&batch(1, 10, 0, far, far + 1, &[far])),
        Err(BridgeError::Protocol(_))
    ));
    // The stream goes on from there: no marker loop happened, the frame still arrived.
    let (frames, _, unavailable) = drain(&ring, &mut cursor);
    assert_eq!(frames.len(), 2);
    assert_eq!(unavailable, 0);
    let stats = importer.stats();
    assert_eq!(
        (stats.malformed, stats.protocol_errors, stats.publish_errors),
        (1, 1, 0)
    );
    assert_eq!(stats.network_lost, 0, "an absurd gap is an error, not loss");
}

#[test]
fn other_ring_kinds_are_ignored() {
    let fleet = name("foreign");
    let mut importer = Importer::new(&fleet, 256, Backing::InProcess, RingSource::EVENTS);
    importer.handle(&batch(1, 10, 0, 0, 1, &[0])).unwrap();
    assert_eq!(importer.stats().foreign, 1);
    assert_eq!(importer.stats().frames, 0);
}
