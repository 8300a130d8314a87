//! `OrbitEventBus` — an append-only stream of topic-tagged events over one fleet ring.
//!
//! Event reads ask "which frames have appeared since my cursor?" — unlike a cache ("newest
//! value for this key", see [`Orbital`](crate::Orbital)). All topics share one ring (kind
//! [`EVENT_RING_KIND`]); the topic travels inside the frame ([`codec`]), so a new
//! event type needs no new segment. Frames that fail to decode are counted in `lagged`, never
//! delivered lossily.

use std::string::{String, ToString};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use std::vec::Vec;

use crate::codec::{self, EncodeError, EventRef};
use crate::error::{Error, Result};
use crate::fleet::{Fleet, HotRing, PAYLOAD_MAX, RingCursor, RingStore};
use crate::id::{NetId64, NodeId};
use crate::typed::OrbitTyped;

/// Largest encoded event frame (12-byte header + topic + payload): one fleet slot.
pub const EVENT_PAYLOAD_MAX: usize = PAYLOAD_MAX;

/// Ring kind of the event ring.
pub const EVENT_RING_KIND: u8 = 220;

/// Slots in the event ring unless [`OrbitEventBus::with_capacity`] says otherwise.
pub const EVENT_RING_CAPACITY: usize = 1024;

/// Frame kind byte of event frames: a writer that publishes encoded events into the event ring
/// itself (through [`FleetRing::exclusive_writer`](crate::FleetRing::exclusive_writer), say)
/// stamps its frames with it; frames of any other kind are counted as lost by the bus.
pub const EVENT_FRAME_KIND: u8 = 1;

/// The event ring's type key.
struct OrbitEventRecord;

impl OrbitTyped for OrbitEventRecord {
    const KIND: u8 = EVENT_RING_KIND;
    const CAPACITY: usize = EVENT_RING_CAPACITY;
}

/// One subscriber's position in the event stream. Caller-owned: consumers advance
/// independently.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use orbit_rs::{Fleet, OrbitEventBus, OrbitEventCursor};
///
/// let bus = OrbitEventBus::new(Arc::new(Fleet::join("doc-event-cursor", 1)?))?;
/// bus.publish("boot", b"")?;
///
/// let mut audit = OrbitEventCursor::from_start(); // replays history
/// let mut live = bus.cursor_at_head(); // only what comes next
/// bus.publish("door", b"open")?;
/// assert_eq!(bus.poll(&mut audit).events.len(), 2);
/// assert_eq!(bus.poll(&mut live).events.len(), 1);
/// assert_eq!(audit.next_counter(), 2);
/// # Ok::<(), orbit_rs::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrbitEventCursor {
    pub(crate) inner: RingCursor,
}

impl OrbitEventCursor {
    /// Start from the oldest event still in the ring.
    #[must_use]
    pub const fn from_start() -> Self {
        Self {
            inner: RingCursor::from_start(),
        }
    }

    /// Start from a known next counter.
    #[must_use]
    pub const fn from_counter(next_counter: u64) -> Self {
        Self {
            inner: RingCursor::from_counter(next_counter),
        }
    }

    /// The next counter this cursor will read.
    #[must_use]
    pub const fn next_counter(self) -> u64 {
        self.inner.next_counter()
    }
}

/// One decoded event.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use orbit_rs::event::EVENT_RING_KIND;
/// use orbit_rs::{Fleet, NodeId, OrbitEventBus};
///
/// let fleet = Arc::new(Fleet::join_as("doc-event", 4, 2)?);
/// let bus = OrbitEventBus::new(fleet)?;
/// let id = bus.publish("door", b"open")?;
///
/// let event = &bus.poll(&mut bus.cursor_from_start()).events[0];
/// assert_eq!((event.topic.as_str(), event.payload.as_slice()), ("door", b"open".as_slice()));
/// assert_eq!(event.id, id);
/// assert_eq!((event.id.kind(), event.id.node()), (EVENT_RING_KIND, NodeId(2)));
/// assert!(event.timestamp_ms > 0); // the publisher's wall clock
/// # Ok::<(), orbit_rs::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrbitEvent {
    /// Frame id (event ring kind, publishing node, counter).
    pub id: NetId64,
    /// The topic.
    pub topic: String,
    /// The payload.
    pub payload: Vec<u8>,
    /// Publisher's wall clock, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

/// What one poll returned.
///
/// # Examples
///
/// A subscriber more than a ring behind gets what is left and the count of what it missed:
///
/// ```
/// use std::sync::Arc;
/// use orbit_rs::{Fleet, OrbitEventBus};
///
/// let fleet = Arc::new(Fleet::join("doc-event-poll", 1)?);
/// let bus = OrbitEventBus::with_capacity(fleet, 4)?;
/// let mut cursor = bus.cursor_from_start();
/// for n in 0..6u8 {
///     bus.publish("tick", &[n])?;
/// }
///
/// let poll = bus.poll(&mut cursor);
/// assert_eq!((poll.events.len(), poll.lagged, poll.rewound), (4, 2, false));
/// assert_eq!(poll.events[0].payload, [2]); // ticks 0 and 1 were overwritten
/// assert!(bus.poll(&mut cursor).is_empty());
/// # Ok::<(), orbit_rs::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrbitEventPoll {
    /// Events, in publish (counter) order.
    pub events: Vec<OrbitEvent>,
    /// Counters that could not be delivered: overwritten because the subscriber fell more than
    /// a ring behind, unavailable (abandoned or stuck writes, invalid slots), or frames that
    /// failed to decode.
    pub lagged: u64,
    /// The ring was reset since this cursor's last poll; the cursor restarted at the new
    /// generation's first event.
    pub rewound: bool,
}

impl OrbitEventPoll {
    /// True if nothing was delivered, lost or reset.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.lagged == 0 && !self.rewound
    }
}

/// Fleet-shared raw event bus. Cheap to clone.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use orbit_rs::{Fleet, OrbitEventBus};
///
/// let fleet = Arc::new(Fleet::join("doc-event-bus", 1)?);
/// let bus = OrbitEventBus::new(fleet)?;
/// let mut alarms = bus.cursor_from_start();
///
/// bus.publish("door", b"open")?;
/// bus.publish("alarm", b"smoke")?;
/// let poll = bus.poll_topic(&mut alarms, "alarm");
/// assert_eq!(poll.events.len(), 1);
/// assert_eq!(poll.events[0].payload, b"smoke");
///
/// // A frame too large for a slot is refused, never truncated:
/// let err = bus.publish("blob", &[0; 1024]).unwrap_err();
/// assert!(err.to_string().contains("exceed the 480-byte slot"));
/// # Ok::<(), orbit_rs::Error>(())
/// ```
#[derive(Clone)]
pub struct OrbitEventBus {
    fleet: Arc<Fleet>,
    ring: Arc<RingStore<PAYLOAD_MAX>>,
    /// The ring as it was when the bus was opened, for publish and poll (see `HotRing`).
    hot: HotRing<PAYLOAD_MAX>,
}

impl core::fmt::Debug for OrbitEventBus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OrbitEventBus")
            .field("fleet", &self.fleet)
            .finish_non_exhaustive()
    }
}

impl OrbitEventBus {
    /// Opens the fleet's event ring (attach errors surface here).
    pub fn new(fleet: Arc<Fleet>) -> Result<Self> {
        let store = fleet.store::<OrbitEventRecord>()?;
        let ring = store.clone().into_max().ok_or(Error::PayloadMismatch {
            kind: OrbitEventRecord::KIND,
            expected: store.payload(),
            found: PAYLOAD_MAX,
        })?;
        let hot = HotRing::of(&ring);
        Ok(Self { fleet, ring, hot })
    }

    /// Opens the event ring with `capacity` slots (a power of two) instead of
    /// [`EVENT_RING_CAPACITY`]; every process of a shared-memory fleet must agree.
    pub fn with_capacity(fleet: Arc<Fleet>, capacity: usize) -> Result<Self> {
        fleet.ring_with_capacity::<OrbitEventRecord>(capacity)?;
        Self::new(fleet)
    }

    /// This peer's node id.
    #[must_use]
    pub fn node_id(&self) -> NodeId {
        self.fleet.node_id()
    }

    /// A cursor that sees only events published after this call.
    #[must_use]
    pub fn cursor_at_head(&self) -> OrbitEventCursor {
        OrbitEventCursor {
            inner: self.ring.cursor_at_head(),
        }
    }

    /// A cursor at counter 0: replays whatever history has not been overwritten.
    #[must_use]
    pub const fn cursor_from_start(&self) -> OrbitEventCursor {
        OrbitEventCursor::from_start()
    }

    /// Clears the event ring by starting a new generation, so live cursors resynchronise (their
    /// next poll reports `rewound`).
    ///
    /// Intended for owner-controlled boot-time cleanup before peers publish, so stale events
    /// from a previous lifetime are neither replayed nor counted.
    pub fn reset_ring(&self) -> Result<()> {
        self.ring.reset()
    }

    /// Publishes one event under `topic`, stamped with the system clock.
    pub fn publish(&self, topic: &str, payload: &[u8]) -> Result<NetId64> {
        let timestamp_ms = now_ms();
        let mut frame = [0u8; EVENT_PAYLOAD_MAX];
        let len = codec::encode_into(&mut frame, topic, payload, timestamp_ms).map_err(
            |EncodeError::FrameTooLarge {
                 topic_len,
                 payload_len,
                 max_payload,
             }| {
                Error::EventFrameTooLarge {
                    topic_len,
                    payload_len,
                    max_payload,
                }
            },
        )?;
        self.hot
            .publish(EVENT_FRAME_KIND, timestamp_ms, &frame[..len])
    }

    /// Commits `count` loss markers in the event ring: every subscriber counts them in
    /// [`lagged`](OrbitEventPoll::lagged), in order with the events around them, and none is
    /// delivered. For events lost before they reached this fleet (a bridge importing another
    /// host's stream); see [`FleetRing::publish_lost`](crate::FleetRing::publish_lost).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use orbit_rs::{Fleet, OrbitEventBus};
    ///
    /// let bus = OrbitEventBus::new(Arc::new(Fleet::join("doc-event-lost", 1)?))?;
    /// let mut cursor = bus.cursor_from_start();
    /// bus.publish("door", b"open")?;
    /// bus.publish_lost(2)?;
    /// bus.publish("door", b"closed")?;
    /// let poll = bus.poll(&mut cursor);
    /// assert_eq!((poll.events.len(), poll.lagged), (2, 2));
    /// # Ok::<(), orbit_rs::Error>(())
    /// ```
    pub fn publish_lost(&self, count: u32) -> Result<()> {
        self.ring.publish_lost(count)
    }

    /// Test hook: leaves one event frame half-written, as a writer killed mid-write would.
    /// Returns its counter.
    #[cfg(feature = "__test-hooks")]
    #[doc(hidden)]
    pub fn stall_mid_write_for_test(&self) -> Result<u64> {
        Ok(self
            .ring
            .ring()
            .stall_mid_write_for_test(EVENT_FRAME_KIND, 0, &[0xEE; 64], 1)?)
    }

    /// Hands every event after `cursor` to `visit` without allocating; returns the number of
    /// counters lost (as `lagged`) and whether the ring was reset.
    pub fn poll_with(
        &self,
        cursor: &mut OrbitEventCursor,
        mut visit: impl FnMut(NetId64, EventRef<'_>),
    ) -> (u64, bool) {
        let mut undecodable = 0u64;
        let poll = self.hot.poll(&mut cursor.inner, usize::MAX, |frame| {
            match (frame.kind, codec::decode(frame.payload)) {
                (EVENT_FRAME_KIND, Ok(event)) => visit(frame.id, event),
                _ => undecodable += 1,
            }
        });
        (poll.loss.total().saturating_add(undecodable), poll.rewound)
    }

    /// Blocks until a poll of `cursor` has something (an event, loss, a reset) or `timeout`
    /// passes, without spinning; across processes on a shared-memory fleet. See
    /// [`FleetRing::wait`](crate::FleetRing::wait).
    pub fn wait(&self, cursor: &OrbitEventCursor, timeout: std::time::Duration) -> crate::Waited {
        self.ring.wait(&cursor.inner, timeout)
    }

    /// [`wait`](Self::wait) as a future for any executor (see
    /// [`FleetRing::wait_async`](crate::FleetRing::wait_async)).
    #[cfg(unix)]
    pub fn wait_async(&self, cursor: &OrbitEventCursor) -> crate::fleet::WaitAsync {
        crate::fleet::WaitAsync::new(
            crate::fleet::AnyStore::P480(self.ring.clone()),
            cursor.inner,
        )
    }

    /// A descriptor that becomes readable when a poll has events for the cursor it is armed
    /// with (see [`FleetRing::readiness`](crate::FleetRing::readiness)); arm it with
    /// [`arm_events`](crate::fleet::Readiness::arm_events).
    ///
    /// # Errors
    ///
    /// [`Error::Readiness`] if the descriptor pair cannot be created.
    #[cfg(unix)]
    pub fn readiness(&self) -> Result<crate::fleet::Readiness> {
        crate::fleet::Readiness::new(crate::fleet::AnyStore::P480(self.ring.clone()))
            .map_err(Error::Readiness)
    }

    /// Polls all events since `cursor` and advances it past everything accounted for.
    pub fn poll(&self, cursor: &mut OrbitEventCursor) -> OrbitEventPoll {
        self.poll_filtered(cursor, |_| true)
    }

    /// Polls and keeps only events whose topic is `topic`. The cursor still advances past all
    /// events; use separate cursors for independent consumers.
    pub fn poll_topic(&self, cursor: &mut OrbitEventCursor, topic: &str) -> OrbitEventPoll {
        self.poll_filtered(cursor, |t| t == topic)
    }

    fn poll_filtered(
        &self,
        cursor: &mut OrbitEventCursor,
        keep: impl Fn(&str) -> bool,
    ) -> OrbitEventPoll {
        let mut events = Vec::new();
        let (lagged, rewound) = self.poll_with(cursor, |id, event| {
            if keep(event.topic) {
                events.push(OrbitEvent {
                    id,
                    topic: event.topic.to_string(),
                    payload: event.payload.to_vec(),
                    timestamp_ms: event.timestamp_ms,
                });
            }
        });
        OrbitEventPoll {
            events,
            lagged,
            rewound,
        }
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
