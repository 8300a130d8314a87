//! Per-node lanes: the newest value of every node of a fleet, in one call.
//!
//! A type's lanes are one small ring per node id ([`LANE_CAPACITY`](super::LANE_CAPACITY) slots), all in one
//! shared-memory segment (`/orbit-{fleet}-lanes{kind}-{uid}`, one head per lane) or one
//! in-process allocation. Each lane is a ring like any other: its node publishes with the
//! ring's multi-writer protocol (so a second handle joined as the same node in one process is
//! still safe, and a writer killed mid-write is recovered as on any fleet ring), and readers
//! read its newest committed frame or poll it with a cursor. No new protocol: a lane is the
//! ring, `lanes` times over.
//!
//! Reading the newest value is what the lanes are for, so a value a newer value of the same
//! node replaced before the reader looked is *superseded*, not lost; a poll still counts every
//! one ([`LanesPoll::superseded`]), and what could not be read at all is
//! [`LanesPoll::unavailable`], so nothing goes uncounted.

use core::marker::PhantomData;
use std::vec::Vec;

use super::Sample;
use super::store::{AnyStore, with_store};
use super::value::{VALUE_FRAME_KIND, check_fits, decode};
use crate::error::Result;
use crate::id::{NetId64, NodeId};
use crate::typed::OrbitTyped;

/// The per-node lanes of a `Pod` type `T` ([`Fleet::lanes`](super::Fleet::lanes)): this
/// handle's node publishes into its own lane; anyone reads the newest value of every node.
/// Cheap to clone.
///
/// # Examples
///
/// ```
/// use orbit_rs::bytemuck::{Pod, Zeroable};
/// use orbit_rs::{Fleet, LanesCursor, OrbitTyped};
///
/// #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
/// #[bytemuck(crate = "orbit_rs::bytemuck")]
/// #[repr(C)]
/// struct Load {
///     percent: f32,
/// }
/// impl OrbitTyped for Load {
///     const KIND: u8 = 12;
///     const PAYLOAD: usize = size_of::<Self>();
/// }
///
/// // Three nodes of one fleet (threads or, with `join_shm_as`, processes).
/// let nodes: Vec<Fleet> = (0..3u16)
///     .map(|node| Fleet::join_as("lanes-doc", 3, node))
///     .collect::<Result<_, _>>()?;
/// for (node, fleet) in nodes.iter().enumerate() {
///     let lanes = fleet.lanes::<Load>()?;
///     for step in 0..10 {
///         lanes.publish(&Load { percent: (node * 10 + step) as f32 })?;
///     }
/// }
/// let reader = nodes[0].lanes::<Load>()?;
/// let newest: Vec<(u16, f32)> = reader
///     .newest()
///     .iter()
///     .map(|sample| (sample.id.node().get(), sample.value.percent))
///     .collect();
/// assert_eq!(newest, [(0, 9.0), (1, 19.0), (2, 29.0)]);
///
/// // A cursor reports what changed since it last looked, and how many values it skipped.
/// let mut cursor = LanesCursor::new();
/// let poll = reader.poll(&mut cursor);
/// assert_eq!(poll.values.len(), 3);
/// assert_eq!(reader.poll(&mut cursor).values.len(), 0); // nothing new
/// # Ok::<(), orbit_rs::Error>(())
/// ```
pub struct FleetLanes<T> {
    store: AnyStore,
    node: NodeId,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for FleetLanes<T> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            node: self.node,
            _type: PhantomData,
        }
    }
}

impl<T> core::fmt::Debug for FleetLanes<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FleetLanes")
            .field("kind", &self.store.kind())
            .field("node", &self.node)
            .field("nodes", &self.nodes())
            .field("payload", &self.store.payload())
            .finish_non_exhaustive()
    }
}

/// A reader's position in every lane of a [`FleetLanes`]: the newest value it has seen of each
/// node.
///
/// # Examples
///
/// ```
/// # use orbit_rs::bytemuck::{Pod, Zeroable};
/// use orbit_rs::{Fleet, LanesCursor, OrbitTyped};
/// # #[derive(Clone, Copy, Pod, Zeroable)]
/// # #[bytemuck(crate = "orbit_rs::bytemuck")]
/// # #[repr(C)]
/// # struct Temp(f32);
/// # impl OrbitTyped for Temp { const KIND: u8 = 17; const PAYLOAD: usize = 4; }
/// let fleet = Fleet::join("lanes-cursor-doc", 2)?;
/// let temps = fleet.lanes::<Temp>()?;
/// let mut cursor = LanesCursor::new();
/// temps.publish(&Temp(20.5))?;
/// assert_eq!(temps.poll(&mut cursor).values.len(), 1);
/// assert!(temps.poll(&mut cursor).values.is_empty()); // seen: nothing new
/// temps.publish(&Temp(21.0))?;
/// assert_eq!(temps.poll(&mut cursor).values[0].value.0, 21.0);
/// # Ok::<(), orbit_rs::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LanesCursor {
    /// Per lane: the generation key and the counter within it of the newest value returned.
    lanes: Vec<Option<(u64, u64)>>,
}

impl LanesCursor {
    /// A cursor that has seen nothing: its first poll returns each node's newest value and
    /// counts every older one of its lane's generation superseded.
    #[must_use]
    pub const fn new() -> Self {
        Self { lanes: Vec::new() }
    }
}

/// What one [`FleetLanes::poll`] found.
///
/// # Examples
///
/// ```
/// # use orbit_rs::bytemuck::{Pod, Zeroable};
/// use orbit_rs::{Fleet, LanesCursor, OrbitTyped};
/// # #[derive(Clone, Copy, Pod, Zeroable)]
/// # #[bytemuck(crate = "orbit_rs::bytemuck")]
/// # #[repr(C)]
/// # struct Rpm(u32);
/// # impl OrbitTyped for Rpm { const KIND: u8 = 14; const PAYLOAD: usize = 4; }
///
/// let fleet = Fleet::join("lanes-poll-doc", 1)?;
/// let lanes = fleet.lanes::<Rpm>()?;
/// let mut cursor = LanesCursor::new();
/// for rpm in [900, 1200, 1500] {
///     lanes.publish(&Rpm(rpm))?;
/// }
/// let poll = lanes.poll(&mut cursor);
/// assert_eq!(poll.values[0].value.0, 1500);
/// assert_eq!(poll.superseded, 2); // 900 and 1200: counted, not silently dropped
/// # Ok::<(), orbit_rs::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LanesPoll<T> {
    /// The newest value of each node that published since the cursor's last poll, by node.
    pub values: Vec<Sample<T>>,
    /// Writes since the cursor's last poll that a newer value of the same node replaced
    /// before this poll: older values, and writes that never completed (a writer killed
    /// mid-write). Not lost: the newest value is what a lane reader asks for.
    pub superseded: u64,
    /// Newest frames that could not be returned: a frame in the lane that is not a `T`.
    pub unavailable: u64,
    /// A lane was reset (or moved to a fresh segment) since the cursor's last poll.
    pub rewound: bool,
}

impl<T> Default for LanesPoll<T> {
    fn default() -> Self {
        Self {
            values: Vec::new(),
            superseded: 0,
            unavailable: 0,
            rewound: false,
        }
    }
}

impl<T> FleetLanes<T> {
    pub(super) fn new(store: AnyStore, node: NodeId) -> Result<Self> {
        Ok(Self {
            store,
            node,
            _type: PhantomData,
        })
    }

    /// The number of lanes: the fleet's size, one per node id.
    #[must_use]
    pub fn nodes(&self) -> usize {
        with_store!(&self.store, s => s.lanes())
    }

    /// This handle's node: the lane [`publish`](Self::publish) writes.
    #[must_use]
    pub fn node(&self) -> NodeId {
        self.node
    }
}

impl<T: OrbitTyped + bytemuck::Pod> FleetLanes<T> {
    /// Publishes `value` as this node's newest. [`Error::ValueTooLarge`] if `T` does not fit
    /// a slot; [`Error::ReadOnly`] for an observer.
    ///
    /// [`Error::ValueTooLarge`]: crate::Error::ValueTooLarge
    /// [`Error::ReadOnly`]: crate::Error::ReadOnly
    pub fn publish(&self, value: &T) -> Result<NetId64> {
        check_fits::<T>(self.store.payload())?;
        let lane = usize::from(self.node.get());
        let bytes = bytemuck::bytes_of(value);
        let now = crate::event::now_ms();
        with_store!(&self.store, s => s.publish_after(lane, None, VALUE_FRAME_KIND, now, bytes))
    }

    /// The newest value of `node`, if it has published one (and `node` is in the fleet).
    #[must_use]
    pub fn latest(&self, node: impl Into<NodeId>) -> Option<Sample<T>> {
        let lane = usize::from(node.into().get());
        with_store!(&self.store, s => {
            if lane >= s.lanes() {
                return None;
            }
            let frame = s.view_lane(lane).ring.read_head()?;
            decode(&frame.as_ref())
        })
    }

    /// The newest value of every node that has published one, by node: the whole fleet's
    /// state in one call.
    #[must_use]
    pub fn newest(&self) -> Vec<Sample<T>> {
        with_store!(&self.store, s => (0..s.lanes())
            .filter_map(|lane| decode(&s.view_lane(lane).ring.read_head()?.as_ref()))
            .collect())
    }

    /// The newest value of each node that published since `cursor` last looked, with the
    /// count of writes it superseded (by their counters: every write between two returned
    /// values of a lane is counted, committed or not). Never waits: a writer stalled
    /// mid-write does not hold back the values committed after it.
    pub fn poll(&self, cursor: &mut LanesCursor) -> LanesPoll<T> {
        let mut out = LanesPoll::default();
        with_store!(&self.store, s => {
            cursor.lanes.resize(s.lanes(), None);
            for (lane, seen) in cursor.lanes.iter_mut().enumerate() {
                let Some((key, counter, frame)) = s.view_lane(lane).ring.read_head_counted() else {
                    continue;
                };
                let skipped = match *seen {
                    Some((seen_key, seen_counter)) if seen_key == key => {
                        if counter <= seen_counter {
                            continue; // Nothing newer.
                        }
                        counter - seen_counter - 1
                    }
                    // A reset, or a move to a fresh segment: a new generation of the lane.
                    Some(_) => {
                        out.rewound = true;
                        counter
                    }
                    None => counter,
                };
                *seen = Some((key, counter));
                out.superseded += skipped;
                match decode::<T>(&frame.as_ref()) {
                    Some(sample) => out.values.push(sample),
                    None => out.unavailable += 1,
                }
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::Fleet;
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    #[repr(C)]
    struct Gauge(u64);
    impl OrbitTyped for Gauge {
        const KIND: u8 = 40;
        const PAYLOAD: usize = 8;
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "fleets seed ring heads from the clock, which Miri isolates"
    )]
    fn a_poll_counts_every_value_it_does_not_return() {
        let a = Fleet::join_as("lanes-unit-count", 2, 0u16).unwrap();
        let b = Fleet::join_as("lanes-unit-count", 2, 1u16).unwrap();
        let (la, lb) = (a.lanes::<Gauge>().unwrap(), b.lanes::<Gauge>().unwrap());
        let mut cursor = LanesCursor::new();
        assert_eq!(la.poll(&mut cursor), LanesPoll::default());
        // Node 0: 3 values (2 superseded, all still in its lane); node 1: 10 values (9
        // superseded, 6 of them already overwritten in a 4-slot lane).
        for i in 0..3 {
            la.publish(&Gauge(i)).unwrap();
        }
        for i in 100..110 {
            lb.publish(&Gauge(i)).unwrap();
        }
        let poll = la.poll(&mut cursor);
        let values: Vec<(u16, u64)> = poll
            .values
            .iter()
            .map(|s| (s.id.node().get(), s.value.0))
            .collect();
        assert_eq!(values, [(0, 2), (1, 109)]);
        // A fresh cursor starts at each lane's first value: node 1's six overwritten ones are
        // counted too.
        assert_eq!((poll.superseded, poll.unavailable), (2 + 9, 0));
        lb.publish(&Gauge(110)).unwrap();
        for i in 111..120 {
            lb.publish(&Gauge(i)).unwrap();
        }
        let poll = la.poll(&mut cursor);
        assert_eq!(poll.values.len(), 1);
        assert_eq!(poll.values[0].value, Gauge(119));
        assert_eq!(poll.superseded, 9, "10 published, 1 returned");
        assert_eq!(la.latest(1u16).map(|s| s.value), Some(Gauge(119)));
        assert_eq!(la.latest(7u16), None);
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "fleets seed ring heads from the clock, which Miri isolates"
    )]
    fn a_size_mismatch_is_refused_in_process() {
        let a = Fleet::join_as("lanes-unit-size", 2, 0u16).unwrap();
        let b = Fleet::join_as("lanes-unit-size", 3, 0u16).unwrap();
        a.lanes::<Gauge>().unwrap();
        let err = b.lanes::<Gauge>().unwrap_err();
        assert!(
            matches!(
                err,
                crate::Error::FleetSizeMismatch {
                    kind: 40,
                    expected: 2,
                    found: 3
                }
            ),
            "{err}"
        );
    }
}
