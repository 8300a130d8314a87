//! [`ExclusiveWriter`]: the single-writer publish path, held under a lease in the head word.

use super::{LEASED, Ring, counter_of, seq};
use crate::id::NetId64;
use crate::ring::{PayloadSize, PublishError, SupportedPayload};
use crate::sync::{Ordering, fence};

/// The one writer of a ring, publishing without read-modify-write instructions.
///
/// Obtained from [`Ring::exclusive_writer`]; dropping it hands the ring back to multi-writer
/// [`Ring::publish`]. Readers see no difference.
///
/// # Protocol
///
/// [`Ring::exclusive_writer`] sets bit 63 of the head word (the lease bit) with a CAS from a
/// word without it; the counter it finds there is the lease's first counter `L`. While the bit
/// is set, multi-writer claims refuse ([`PublishError::Leased`]) instead of moving the head, so
/// the lease holder is the only writer that claims counters, and it does so with a plain store
/// of `(c + 1) | lease bit` — no read-modify-write on the head — made *after* the frame's
/// commit, so the commit never waits on the head's cache line (readers accept frames on slot
/// evidence alone). A holder that dies mid-write leaves the head on its counter: the next
/// writer finds the slot taken for it and abandons it (readers count it).
///
/// The holder re-reads the head word before each claim (its own store, in its own cache) and
/// continues from the counter it finds, so it follows a [`Ring::reset`], which keeps the bit and
/// sets the counter to 0. If the bit is gone — [`Ring::break_writer_lease`] — the holder gets
/// [`PublishError::LeaseLost`].
///
/// Taking the slot is where a plain store needs care. A multi-writer that claimed some counter
/// `s < L` *before* the lease may not have taken its slot yet: it will CAS the slot's seq from
/// an even value below `2s + 1` (so below `2L - 1`). Slot seqs only grow, so once a slot's seq
/// is at least `2L` no such stale claimant can ever take it again. The holder therefore:
///
/// * stores `2c + 1` plainly only if it loaded an even seq `>= 2L` (in practice: its own commit
///   of the previous lap);
/// * takes the slot with the usual CAS otherwise — on its first lap, and on slots an older
///   writer held when it first came by;
/// * abandons the frame, exactly like a multi-writer, if the seq is odd (an older writer still
///   holds the slot: [`PublishError::SlotBusy`]).
///
/// After the first lap, a slot this writer committed itself on the previous lap is taken with
/// a blind store of the odd seq (no load: see [`publish`](ExclusiveWriter::publish)); a slot it
/// had to abandon is checked again on its next lap. The publish is then: one load and one store
/// of the head word (a line that stays in this writer's cache while readers keep up), the odd
/// store, a release fence, the frame's words, the release store of the even seq, then the head.
///
/// Dropping the writer clears the bit; the head then holds the next counter and multi-writers
/// continue from it. A holder that dies (a killed process) leaves the bit set: other writers
/// get [`PublishError::Leased`] until [`Ring::break_writer_lease`] (for an owner that knows
/// the holder is gone) or [`Ring::reset`].
///
/// # Example
///
/// ```
/// use orbit_rs::{Cursor, Head, PublishError, Ring, Slot};
/// static SLOTS: [Slot<16>; 8] = [Slot::EMPTY; 8];
/// static HEAD: Head = Head::new();
/// let ring = Ring::new(&SLOTS, &HEAD).unwrap();
///
/// let mut writer = ring.exclusive_writer().unwrap();
/// writer.publish(1, 0, b"only me").unwrap();
/// assert_eq!(ring.publish(1, 0, b"not now"), Err(PublishError::Leased));
/// drop(writer);
/// ring.publish(1, 0, b"anyone").unwrap();
///
/// let mut cursor = Cursor::from_start();
/// assert_eq!(ring.poll(&mut cursor, |_| {}).delivered, 2);
/// ```
#[derive(Debug)]
pub struct ExclusiveWriter<'a, const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    ring: Ring<'a, N>,
    lease: Lease,
}

/// What a lease holder remembers between publishes; shared by [`ExclusiveWriter`] and the
/// `std` layer's fleet writer, which owns its ring memory and rebuilds the [`Ring`] per call.
#[derive(Debug)]
pub(crate) struct Lease {
    /// `L`: the head counter when the lease was taken.
    first: u64,
    /// Counters up to this one take their slot through [`Ring::take`] (load, check, CAS or
    /// store); later ones store blindly. See [`Lease::publish`].
    checked_until: u64,
    /// Set once the lease was found broken: releasing must leave the head alone.
    lost: bool,
}

impl<'a, const N: usize> Ring<'a, N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// Takes the writer lease: until the returned writer is dropped, it is the only writer of
    /// the ring (in every process mapping it) and publishes without atomic read-modify-writes.
    ///
    /// Fails with [`PublishError::Leased`] if another writer holds the lease.
    pub fn exclusive_writer(&self) -> Result<ExclusiveWriter<'a, N>, PublishError> {
        Ok(ExclusiveWriter {
            ring: *self,
            lease: self.take_lease(0)?,
        })
    }

    /// Takes the writer lease and records `owner` (0: unknown) as its holder.
    pub(crate) fn take_lease(&self, owner: u64) -> Result<Lease, PublishError> {
        let mut word = self.head.counter.load(Ordering::Relaxed);
        loop {
            if word & LEASED != 0 {
                return Err(PublishError::Leased);
            }
            // SYNC: Acquire pairs with the Release clear of a previous holder's lease (drop):
            // its slot stores happen before ours.
            match self.head.counter.compare_exchange_weak(
                word,
                word | LEASED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.head.lease_owner.store(owner, Ordering::Relaxed);
                    return Ok(Lease {
                        first: word,
                        // The first lap, L..L + capacity: slots other writers held last.
                        checked_until: word.saturating_add(self.capacity() as u64 - 1),
                        lost: false,
                    });
                }
                Err(now) => word = now,
            }
        }
    }

    /// The owner recorded by the current lease holder (the `std` layer records the process
    /// id), if a lease is held and its holder recorded one.
    #[cfg_attr(not(all(feature = "shm", unix)), allow(dead_code))]
    pub(crate) fn lease_owner(&self) -> Option<u64> {
        let owner = self.head.lease_owner.load(Ordering::Relaxed);
        (self.writer_leased() && owner != 0).then_some(owner)
    }
    /// True while an [`ExclusiveWriter`] holds the ring.
    #[must_use]
    pub fn writer_leased(&self) -> bool {
        self.head.counter.load(Ordering::Relaxed) & LEASED != 0
    }

    /// Ends the writer lease of a holder that is gone (its process was killed), so other
    /// writers can publish again. Returns whether a lease was held.
    ///
    /// Only for an owner who *knows* the holder will never publish again. A live holder finds
    /// out on its next publish ([`PublishError::LeaseLost`]) — unless a new lease was taken in
    /// between, which it cannot tell from its own — and one already inside a publish is not
    /// stopped: its frames could tear next to another writer's.
    pub fn break_writer_lease(&self) -> bool {
        self.head.counter.fetch_and(!LEASED, Ordering::AcqRel) & LEASED != 0
    }
}

impl<'a, const N: usize> ExclusiveWriter<'a, N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// The ring this writer publishes to.
    #[must_use]
    pub const fn ring(&self) -> &Ring<'a, N> {
        &self.ring
    }

    /// Publishes one frame and returns its id; the same frame and errors as [`Ring::publish`],
    /// plus [`PublishError::LeaseLost`] if the lease was broken. Wait-free.
    #[inline]
    pub fn publish(
        &mut self,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
    ) -> Result<NetId64, PublishError> {
        self.lease.publish(&self.ring, frame_kind, version, payload)
    }
}

impl Lease {
    /// [`ExclusiveWriter::publish`] on `ring`, the ring this lease was taken on.
    #[inline]
    pub(crate) fn publish<const N: usize>(
        &mut self,
        ring: &Ring<'_, N>,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
    ) -> Result<NetId64, PublishError>
    where
        PayloadSize<N>: SupportedPayload,
    {
        ring.check_len(payload)?;
        // The head word is this writer's: the load hits its own store. Following it (rather
        // than a cached counter) keeps up with a reset.
        let word = ring.head.counter.load(Ordering::Relaxed);
        if word & LEASED == 0 {
            self.lost = true;
            return Err(PublishError::LeaseLost);
        }
        let counter = counter_of(word);
        let Some(committed) = seq::committed(counter) else {
            return Err(PublishError::CounterExhausted { counter });
        };
        let slot = ring.slot(counter);
        // The head moves past the counter only after the commit (or the abandon): no reader
        // needs the head to accept a frame, and the commit's visibility never waits on the
        // head's cache line, which readers load now and then. Relaxed: nothing is published
        // through the head.
        let claimed = (counter + 1) | LEASED;
        if counter > self.checked_until {
            // This writer committed `counter - capacity` into this slot itself, in this lease
            // (counters move by one per publish, and every abandoned one extends
            // `checked_until` past its next lap), so the seq holds exactly that even value and
            // no other writer can move it: a blind store takes the slot. Not loading the seq
            // matters when a reader spins on this very line: a load would be a coherence round
            // trip of its own before the store's.
            slot.seq.store(2 * counter + 1, Ordering::Relaxed);
            fence(Ordering::Release);
        } else if let Err(abandoned) = ring.take(slot, counter, Some(self.first)) {
            ring.head.counter.store(claimed, Ordering::Relaxed);
            // The slot is not this writer's: check it again on the next lap.
            self.checked_until = self
                .checked_until
                .max(counter.saturating_add(ring.capacity() as u64));
            return Err(abandoned);
        }
        let id = ring.write(slot, counter, frame_kind, version, payload, usize::MAX);
        // SYNC: Release pairs with the Acquire seq load in inspect(): a reader that sees the
        // even seq sees every word stored above.
        slot.seq.store(committed, Ordering::Release);
        ring.head.counter.store(claimed, Ordering::Relaxed);
        Ok(id)
    }

    /// Hands the ring back to multi-writers, unless the lease was found broken.
    pub(crate) fn release<const N: usize>(&self, ring: &Ring<'_, N>)
    where
        PayloadSize<N>: SupportedPayload,
    {
        if self.lost {
            return;
        }
        // SYNC: Release pairs with the Acquire lease CAS of the next holder; multi-writers
        // order themselves through the slots' seqs.
        ring.head.counter.fetch_and(!LEASED, Ordering::Release);
    }
}

impl<const N: usize> Drop for ExclusiveWriter<'_, N>
where
    PayloadSize<N>: SupportedPayload,
{
    fn drop(&mut self) {
        self.lease.release(&self.ring);
    }
}
