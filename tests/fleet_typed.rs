//! Fleets on both backings: node and name checks, typed rings (publish, poll, read_head, read,
//! head), spec mismatches, Orbital<T>, lifecycle (unlink), errors that reach the caller.

#[macro_use]
mod common;

use common::{Kind, join, unique_name};
use orbit_rs::shm::ShmError;
use orbit_rs::{
    Error, Fleet, NetId64, NodeId, OrbitTyped, Orbital, PublishError, RingCursor, SpecError,
};

struct Telemetry;
impl OrbitTyped for Telemetry {
    const KIND: u8 = 30;
    const CAPACITY: usize = 8;
}

/// Same kind as `Telemetry`, another spec.
struct TelemetryV2;
impl OrbitTyped for TelemetryV2 {
    const KIND: u8 = 30;
    const CAPACITY: usize = 16;
}

/// Same kind and spec as `Telemetry`: shares its ring.
struct TelemetryAlias;
impl OrbitTyped for TelemetryAlias {
    const KIND: u8 = 30;
    const CAPACITY: usize = 8;
}

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Gauge {
    value: f64,
    seq: u32,
    flags: u32,
}
impl OrbitTyped for Gauge {
    const KIND: u8 = 31;
    const CAPACITY: usize = 1;
}

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Huge([u8; 512]);
impl OrbitTyped for Huge {
    const KIND: u8 = 32;
}

fn node_and_size_are_checked(kind: Kind) {
    let name = unique_name("sizes");
    let builder = || Fleet::builder(&name);
    let join = |b: orbit_rs::FleetBuilder| match kind {
        Kind::Local => b.join(),
        Kind::Shm => b.join_shm(),
    };
    assert!(matches!(join(builder().size(0)), Err(Error::EmptyFleet)));
    assert!(matches!(
        join(builder().size(4).node(4)),
        Err(Error::NodeOutsideFleet {
            node: NodeId(4),
            size: 4
        })
    ));
    let fleet = join(builder().size(4).node(3)).unwrap();
    assert_eq!((fleet.node_id(), fleet.size()), (NodeId(3), 4));
    for bad in ["", "a/b", "nul\0", &"x".repeat(65)] {
        assert!(
            matches!(join(Fleet::builder(bad)), Err(Error::Shm(_))),
            "{bad:?}"
        );
    }
}

fn typed_ring_round_trip(kind: Kind) {
    let fleet = join(kind, "typed", 2).unwrap();
    let fleet = &fleet.0;
    let mut cursor = RingCursor::from_start();
    assert_eq!(fleet.ring::<Telemetry>().map(|r| r.head()).unwrap(), 0);
    assert!(
        fleet
            .ring::<Telemetry>()
            .map(|r| r.read_head())
            .unwrap()
            .is_none()
    );
    let ids: Vec<NetId64> = (0..10u8)
        .map(|i| {
            fleet
                .ring::<Telemetry>()
                .and_then(|r| r.publish_frame(4, u64::from(i), &[i; 5]))
                .unwrap()
        })
        .collect();
    assert_eq!(ids[3].kind(), Telemetry::KIND);
    assert_eq!(ids[3].node(), NodeId(2));
    assert_eq!(fleet.ring::<Telemetry>().map(|r| r.head()).unwrap(), 10);
    let poll = fleet
        .ring::<Telemetry>()
        .map(|r| r.poll_frames(&mut cursor))
        .unwrap();
    assert_eq!(poll.loss.overwritten, 2);
    assert_eq!(poll.frames.len(), 8);
    assert_eq!(poll.frames[0].payload[..], [2; 5]);
    assert_eq!(poll.frames[7].version, 9);
    assert_eq!(
        fleet
            .ring::<Telemetry>()
            .map(|r| r.read_head())
            .unwrap()
            .unwrap()
            .id,
        ids[9]
    );
    assert_eq!(
        fleet
            .ring::<Telemetry>()
            .map(|r| r.read(ids[4]))
            .unwrap()
            .unwrap()
            .payload[..],
        [4; 5]
    );
    assert!(
        fleet
            .ring::<Telemetry>()
            .map(|r| r.read(ids[1]))
            .unwrap()
            .is_none()
    );
    // An alias with the same spec shares the ring.
    assert_eq!(
        fleet.ring::<TelemetryAlias>().map(|r| r.head()).unwrap(),
        10
    );
    let mut at_head = fleet
        .ring::<Telemetry>()
        .map(|r| r.cursor_at_head())
        .unwrap();
    fleet
        .ring::<TelemetryAlias>()
        .and_then(|r| r.publish_frame(0, 0, b"alias"))
        .unwrap();
    let mut seen = Vec::new();
    let poll = fleet
        .ring::<Telemetry>()
        .map(|r| r.poll_with(&mut at_head, |f| seen.push(f.payload.to_vec())))
        .unwrap();
    assert_eq!((poll.delivered, seen), (1, vec![b"alias".to_vec()]));
    // The typed handle skips the fleet's ring lookup and sees the same ring.
    let handle = fleet.ring::<Telemetry>().unwrap();
    assert_eq!((handle.head(), handle.capacity()), (11, 8));
    let id = handle.publish_frame(1, 2, b"handle").unwrap();
    assert_eq!(
        fleet
            .ring::<TelemetryAlias>()
            .map(|r| r.read(id))
            .unwrap()
            .unwrap()
            .payload[..],
        *b"handle"
    );
    let mut cursor = handle.cursor_at_head();
    handle.publish_frame(1, 3, b"next").unwrap();
    assert_eq!(handle.poll_frames(&mut cursor).frames[0].version, 3);
}

fn same_kind_with_another_spec_is_an_error(kind: Kind) {
    let fleet = join(kind, "spec", 0).unwrap();
    fleet
        .0
        .ring::<Telemetry>()
        .and_then(|r| r.publish_frame(0, 0, b"x"))
        .unwrap();
    match fleet
        .0
        .ring::<TelemetryV2>()
        .and_then(|r| r.publish_frame(0, 0, b"x"))
    {
        Err(Error::SpecMismatch {
            kind: 30,
            expected: 8,
            found: 16,
        }) => {}
        other => panic!("expected SpecMismatch, got {other:?}"),
    }
    assert!(matches!(
        fleet.0.ring_with_capacity::<Telemetry>(4),
        Err(Error::SpecMismatch {
            kind: 30,
            expected: 8,
            found: 4
        })
    ));
}

fn orbital_stores_the_newest_value(kind: Kind) {
    let fleet = join(kind, "orbital", 0).unwrap();
    let gauge = Orbital::<Gauge>::new(fleet.0.clone()).unwrap();
    assert_eq!(gauge.load(), None);
    for seq in 0..20 {
        gauge
            .store(&Gauge {
                value: f64::from(seq) * 0.5,
                seq,
                flags: 7,
            })
            .unwrap();
    }
    assert_eq!(
        gauge.load(),
        Some(Gauge {
            value: 9.5,
            seq: 19,
            flags: 7
        })
    );
    assert!(matches!(
        Orbital::<Huge>::new(fleet.0.clone()),
        Err(Error::ValueTooLarge {
            size: 512,
            max: 480
        })
    ));
}

fn invalid_capacities_are_errors_before_anything_is_allocated(kind: Kind) {
    let fleet = join(kind, "badcap", 0).unwrap();
    // 2^40 slots of 512 B would be half a petabyte: refused by the check, not by the allocator.
    for (capacity, want) in [
        (0, SpecError::ZeroCapacity),
        (12, SpecError::NotPowerOfTwo { capacity: 12 }),
        (
            1 << 40,
            SpecError::TooLarge {
                capacity: 1 << 40,
                max: 1 << 31,
            },
        ),
    ] {
        let got = match fleet.0.ring_with_capacity::<Telemetry>(capacity) {
            Err(Error::Spec(e)) => e,
            Err(Error::Shm(ShmError::InvalidRing { error, segment })) => {
                assert!(segment.contains("badcap"), "{segment}");
                error
            }
            other => panic!("capacity {capacity}: expected a spec error, got {other:?}"),
        };
        assert_eq!(got, want);
    }
    // Nothing was opened: the declared spec still works.
    fleet
        .0
        .ring::<Telemetry>()
        .and_then(|r| r.publish_frame(0, 0, b"ok"))
        .unwrap();
}

fn exclusive_writer_excludes_other_publishers(kind: Kind) {
    let fleet = join(kind, "exclusive", 2).unwrap();
    let fleet = &fleet.0;
    let ring = fleet.ring::<Telemetry>().unwrap();
    let mut cursor = RingCursor::from_start();
    ring.publish_frame(0, 0, b"before").unwrap();
    let mut writer = ring.exclusive_writer().unwrap();
    let id = writer.publish_frame(1, 1, b"exclusive").unwrap();
    assert_eq!(
        (id.kind(), id.node(), id.counter()),
        (Telemetry::KIND, NodeId(2), 1)
    );
    let refused = fleet
        .ring::<Telemetry>()
        .and_then(|r| r.publish_frame(0, 0, b"refused"))
        .unwrap_err();
    assert!(
        matches!(refused, orbit_rs::Error::Publish(PublishError::Leased)),
        "{refused}"
    );
    assert!(ring.exclusive_writer().is_err());
    assert!(format!("{writer:?}").contains("FleetWriter"));
    drop(writer);
    ring.publish_frame(0, 2, b"after").unwrap();
    let poll = ring.poll_frames(&mut cursor);
    let versions: Vec<u64> = poll.frames.iter().map(|f| f.version).collect();
    assert_eq!(versions, [0, 1, 2]);
    assert_eq!(poll.loss.total(), 0);
}

#[cfg(feature = "__test-hooks")]
fn readers_take_the_fleets_head_check_period(kind: Kind) {
    let name = unique_name("period");
    let join = |b: orbit_rs::FleetBuilder| match kind {
        Kind::Local => b.join(),
        Kind::Shm => b.join_shm(),
    };
    let eager = join(Fleet::builder(&name).head_check_polls(1)).unwrap();
    let ring = eager.ring::<Telemetry>().unwrap();
    assert_eq!(ring.ring::<480>().unwrap().head_check_polls(), 1);
    let _cleanup = common::TestFleet(std::sync::Arc::new(eager));
    let default = common::join(kind, "period-default", 0).unwrap();
    let ring = default.0.ring::<Telemetry>().unwrap();
    assert_eq!(
        ring.ring::<480>().unwrap().head_check_polls(),
        orbit_rs::Ring::<{ orbit_rs::fleet::PAYLOAD_MAX }>::DEFAULT_HEAD_CHECK_POLLS
    );
}

/// An exclusive writer of a ring opened by kind (`ring_by_kind`), whose slot class is not the
/// one its handle type declares, publishes through the store's view every time instead of the
/// writer's class-specific fast path: the same frames arrive, and after the fleet is unlinked
/// its lease is lost on that path too.
fn a_writer_of_a_ring_opened_by_kind_publishes(kind: Kind) {
    enum Frames {}
    impl OrbitTyped for Frames {
        const KIND: u8 = 0; // 32-byte class; the ring below has 224-byte payloads
    }
    let fleet = join(kind, "by-kind-writer", 1).unwrap();
    let ring = fleet.0.ring_by_kind::<Frames>(34, 8, 200).unwrap();
    assert_eq!(ring.payload(), 224);
    let mut cursor = ring.cursor_at_head();
    let mut writer = ring.exclusive_writer().unwrap();
    for i in 0..20u64 {
        let id = writer.publish_frame(1, i, &[i as u8; 200]).unwrap();
        assert_eq!(id.counter(), i);
    }
    let poll = ring.poll_frames(&mut cursor);
    assert_eq!(poll.loss.total(), 12); // 8 slots: the oldest 12 were overwritten
    let versions: Vec<u64> = poll.frames.iter().map(|f| f.version).collect();
    assert_eq!(versions, (12..20).collect::<Vec<_>>());
    assert!(poll.frames.iter().all(|f| f.payload.len() == 200));
    if matches!(kind, Kind::Shm) {
        fleet.0.unlink().unwrap();
        assert!(matches!(
            writer.publish_frame(1, 20, b"late"),
            Err(Error::Publish(PublishError::LeaseLost))
        ));
    }
}

on_both_backings!(
    a_writer_of_a_ring_opened_by_kind_publishes,
    exclusive_writer_excludes_other_publishers,
    invalid_capacities_are_errors_before_anything_is_allocated,
    node_and_size_are_checked,
    typed_ring_round_trip,
    same_kind_with_another_spec_is_an_error,
    orbital_stores_the_newest_value,
    a_types_payload_picks_its_slot_class,
    values_come_with_a_limit_or_one_at_a_time,
);

/// The reference API: `join(name, size)` joins as node 0, `join_as` picks the node, and every
/// handle of one process that joins a name shares its rings (the in-process twin of shared
/// memory): a reader thread sees what writer threads publish through their own handles.
#[test]
fn in_process_joins_of_one_name_share_rings() {
    let name = unique_name("newbie");
    assert!(matches!(Fleet::join(&name, 0), Err(Error::EmptyFleet)));
    assert!(matches!(
        Fleet::join_as(&name, 4, 4),
        Err(Error::NodeOutsideFleet { .. })
    ));
    let reader = Fleet::join(&name, 4).unwrap();
    assert_eq!(reader.node_id(), NodeId(0));
    let mut cursor = reader
        .ring::<Telemetry>()
        .map(|r| r.cursor_at_head())
        .unwrap();
    let writers: Vec<_> = (1..=2u16)
        .map(|node| {
            let name = name.clone();
            std::thread::spawn(move || {
                let fleet = Fleet::join_as(&name, 4, node).unwrap();
                for i in 0..3u8 {
                    fleet
                        .ring::<Telemetry>()
                        .and_then(|r| r.publish_frame(0, 0, &[i]))
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let poll = reader
        .ring::<Telemetry>()
        .map(|r| r.poll_frames(&mut cursor))
        .unwrap();
    let mut nodes: Vec<u16> = poll.frames.iter().map(|f| f.id.node().get()).collect();
    nodes.sort_unstable();
    assert_eq!(nodes, [1, 1, 1, 2, 2, 2], "{poll:?}");
    // Another name shares nothing.
    let other = Fleet::join(&unique_name("newbie-other"), 4).unwrap();
    assert_eq!(other.ring::<Telemetry>().map(|r| r.head()).unwrap(), 0);
}

/// A 64-byte `Pod` type declares its payload: its ring gets 128-byte slots (payload class 96)
/// instead of 512-byte ones, and publishes and polls as itself.
#[derive(Clone, Copy, Debug, PartialEq, orbit_rs::bytemuck::Pod, orbit_rs::bytemuck::Zeroable)]
#[bytemuck(crate = "orbit_rs::bytemuck")]
#[repr(C)]
struct Sample64 {
    words: [u64; 8],
}
impl OrbitTyped for Sample64 {
    const KIND: u8 = 33;
    const CAPACITY: usize = 256;
    const PAYLOAD: usize = core::mem::size_of::<Self>();
}

/// `poll_limit` stops after `limit` values and the next poll goes on from there; `drain`
/// iterates one value per slot read, counting a frame that is not a value as lost.
fn values_come_with_a_limit_or_one_at_a_time(kind: Kind) {
    let fleet = join(kind, "drain", 1).unwrap();
    let ring = fleet.0.ring::<Sample64>().unwrap();
    let mut cursor = ring.cursor_at_head();
    let value = |i: u64| Sample64 { words: [i; 8] };
    for i in 0..5 {
        ring.publish(&value(i)).unwrap();
    }
    ring.publish_frame(9, 0, b"not a Sample64").unwrap();
    ring.publish(&value(5)).unwrap();
    let first = ring.poll_limit(&mut cursor, 2);
    let got: Vec<u64> = first.values.iter().map(|s| s.value.words[0]).collect();
    assert_eq!(got, [0, 1]);
    let mut drain = ring.drain(&mut cursor);
    let rest: Vec<u64> = drain.by_ref().map(|s| s.value.words[0]).collect();
    assert_eq!(rest, [2, 3, 4, 5]);
    assert_eq!(drain.loss().unavailable, 1, "the foreign frame is counted");
    assert!(ring.drain(&mut cursor).next().is_none(), "caught up");
}

/// Same kind as `Sample64`, the default (480-byte) payload.
struct Sample64Wide;
impl OrbitTyped for Sample64Wide {
    const KIND: u8 = 33;
    const CAPACITY: usize = 256;
}

fn a_types_payload_picks_its_slot_class(kind: Kind) {
    let fleet = join(kind, "classes", 1).unwrap();
    let ring = fleet.0.ring::<Sample64>().unwrap();
    assert_eq!(ring.payload(), 96);
    let mut cursor = ring.cursor_at_head();
    let value = Sample64 {
        words: core::array::from_fn(|i| i as u64 * 3),
    };
    ring.publish(&value).unwrap();
    let poll = ring.poll(&mut cursor);
    assert_eq!(poll.values.len(), 1);
    assert_eq!(poll.values[0].value, value);
    assert!(ring.ring::<96>().is_ok());
    assert!(matches!(
        ring.ring::<480>(),
        Err(Error::PayloadMismatch {
            kind: 33,
            expected: 96,
            found: 480
        })
    ));
    // The same kind with the default payload is another slot class: refused, named.
    assert!(matches!(
        fleet.0.ring::<Sample64Wide>(),
        Err(Error::PayloadMismatch {
            kind: 33,
            expected: 96,
            found: 480
        })
    ));
}

#[cfg(all(feature = "shm", target_os = "linux"))]
mod shm_only {
    use super::*;

    /// A 64-byte type's ring in shared memory: 128-byte slots, so 256 slots take 32 KiB +
    /// 256 bytes instead of 128 KiB + 256; another process declaring the default payload for
    /// the kind is refused with the segment's spec mismatch.
    #[test]
    fn a_64_byte_types_ring_takes_a_quarter_of_the_memory() {
        let name = unique_name("classes-shm");
        let fleet = Fleet::join_shm_as(&name, 4, 1).unwrap();
        fleet.ring::<Sample64>().unwrap();
        let path = format!("/dev/shm/orbit-{name}-33-{}", orbit_rs::shm::current_uid());
        let bytes = std::fs::metadata(&path).unwrap().len();
        assert_eq!(bytes, 256 + 256 * 128, "{path}");
        let other = Fleet::join_shm_as(&name, 4, 2).unwrap();
        match other.ring::<Sample64Wide>() {
            Err(Error::Shm(ShmError::SpecMismatch { field, .. })) => {
                assert_eq!(field, orbit_rs::shm::SpecField::Payload);
            }
            other => panic!("expected a payload spec mismatch, got {other:?}"),
        }
        fleet.unlink().unwrap();
    }

    /// The member registry lives as long as the fleet has members: the last one to leave
    /// removes its name, and the next join creates it afresh.
    #[test]
    fn the_last_member_to_leave_removes_the_registry() {
        let name = unique_name("registry");
        let path = format!(
            "/dev/shm/orbit-{name}-members-{}",
            orbit_rs::shm::current_uid()
        );
        let a = Fleet::join_shm_as(&name, 4, 1).unwrap();
        let b = Fleet::join_shm_as(&name, 4, 2).unwrap();
        assert!(std::path::Path::new(&path).exists());
        drop(a);
        assert!(std::path::Path::new(&path).exists(), "b still lives");
        drop(b);
        assert!(!std::path::Path::new(&path).exists(), "nobody lives");
        let c = Fleet::join_shm_as(&name, 4, 1).unwrap();
        assert!(std::path::Path::new(&path).exists());
        drop(c);
        assert!(!std::path::Path::new(&path).exists());
    }
    use orbit_rs::shm::{ShmError, SpecField};
    use std::sync::Arc;

    #[test]
    fn two_handles_share_rings_and_values() {
        let name = unique_name("handles");
        let a = Arc::new(Fleet::join_shm_as(&name, 256, 1).unwrap());
        let b = Arc::new(Fleet::join_shm_as(&name, 256, 2).unwrap());
        let _cleanup = common::TestFleet(a.clone());
        let mut cursor = b.ring::<Telemetry>().map(|r| r.cursor_at_head()).unwrap();
        assert!(b.created_ring::<Telemetry>().unwrap() ^ a.created_ring::<Telemetry>().unwrap());
        let id = a
            .ring::<Telemetry>()
            .and_then(|r| r.publish_frame(0, 0, b"from a"))
            .unwrap();
        let poll = b
            .ring::<Telemetry>()
            .map(|r| r.poll_frames(&mut cursor))
            .unwrap();
        assert_eq!(poll.frames[0].id, id);
        assert_eq!(poll.frames[0].id.node(), NodeId(1));
        Orbital::<Gauge>::new(b.clone())
            .unwrap()
            .store(&Gauge {
                value: 1.0,
                seq: 1,
                flags: 0,
            })
            .unwrap();
        let seen = Orbital::<Gauge>::new(a.clone()).unwrap().load();
        assert_eq!(
            seen,
            Some(Gauge {
                value: 1.0,
                seq: 1,
                flags: 0
            })
        );
        // Another process (handle) declaring the kind with another spec is refused by the
        // segment, naming it.
        match b
            .ring::<TelemetryV2>()
            .and_then(|r| r.publish_frame(0, 0, b"x"))
        {
            Err(Error::SpecMismatch { .. }) => {}
            other => panic!("expected a mismatch, got {other:?}"),
        }
        let c = Fleet::join_shm_as(&name, 256, 3).unwrap();
        match c
            .ring::<TelemetryV2>()
            .and_then(|r| r.publish_frame(0, 0, b"x"))
        {
            Err(Error::Shm(ShmError::SpecMismatch {
                segment,
                field: SpecField::Capacity,
                expected: 16,
                found: 8,
            })) => {
                assert!(segment.contains(&name), "{segment}");
            }
            other => panic!("expected a segment spec mismatch, got {other:?}"),
        }
        b.unlink().unwrap();
    }

    #[test]
    fn unlink_retires_and_every_member_moves_to_the_fresh_segment() {
        let name = unique_name("unlink");
        let old = Fleet::join_shm_as(&name, 256, 0).unwrap();
        let other = Fleet::join_shm_as(&name, 256, 2).unwrap();
        old.ring::<Telemetry>()
            .and_then(|r| r.publish_frame(0, 0, b"old"))
            .unwrap();
        let mut cursor = RingCursor::from_start();
        let poll = other
            .ring::<Telemetry>()
            .map(|r| r.poll_frames(&mut cursor))
            .unwrap();
        assert_eq!(poll.frames.len(), 1);
        let mut writer = other
            .ring::<Telemetry>()
            .unwrap()
            .exclusive_writer()
            .unwrap();
        // A handle kept across the unlink: its multi-writer publish must follow the move.
        let kept = other.ring::<Telemetry>().unwrap();

        old.unlink().unwrap();
        // The unlinker moves on at once (creating the fresh segment), the other member at its
        // next operation; its cursor reports the move, and its lease on the retired ring is
        // gone.
        old.ring::<Telemetry>()
            .and_then(|r| r.publish_frame(0, 0, b"new world"))
            .unwrap();
        assert!(old.created_ring::<Telemetry>().unwrap());
        let poll = other
            .ring::<Telemetry>()
            .map(|r| r.poll_frames(&mut cursor))
            .unwrap();
        assert!(poll.rewound, "{poll:?}");
        let payloads: Vec<&[u8]> = poll.frames.iter().map(|f| &f.payload[..]).collect();
        assert_eq!(payloads, [&b"new world"[..]]);
        // The same member takes the fresh ring's lease (its token may well equal the old one:
        // same tag, fresh epochs): the old writer still holds nothing, and its drop leaves the
        // new lease alone.
        let mut fresh_writer = other
            .ring::<Telemetry>()
            .unwrap()
            .exclusive_writer()
            .unwrap();
        assert!(matches!(
            writer.publish_frame(0, 0, b"retired"),
            Err(Error::Publish(PublishError::LeaseLost))
        ));
        drop(writer);
        fresh_writer.publish_frame(0, 0, b"fresh lease").unwrap();
        assert!(matches!(
            old.ring::<Telemetry>()
                .and_then(|r| r.publish_frame(0, 0, b"x")),
            Err(Error::Publish(PublishError::Leased))
        ));
        drop(fresh_writer);
        other
            .ring::<Telemetry>()
            .and_then(|r| r.publish_frame(0, 0, b"both"))
            .unwrap();
        kept.publish_frame(0, 0, b"kept").unwrap();
        let fresh = Fleet::join_shm_as(&name, 256, 1).unwrap();
        let ring = fresh.ring::<Telemetry>().unwrap();
        assert_eq!(ring.head(), 4);
        let poll = ring.poll_frames(&mut RingCursor::from_start());
        assert_eq!(
            poll.frames.last().map(|f| &f.payload[..]),
            Some(&b"kept"[..])
        );
        assert!(!fresh.created_ring::<Telemetry>().unwrap());
        fresh.unlink().unwrap();
    }
}

/// Tests that read back settings through the test hooks.
#[cfg(feature = "__test-hooks")]
mod hooks {
    use super::*;
    on_both_backings!(readers_take_the_fleets_head_check_period);
}
