//! Returning a slot stuck mid-write by a dead multi-writer to service.
//!
//! A multi-writer whose handle carries an owner tag ([`Ring::with_owner`]) records
//! `tag | counter` in the slot's `writer` word right after taking the slot, and clears it just
//! before its commit (see the slot layout in `slot.rs`). A reader stalled on that slot can read
//! the tag back, ask whoever can tell (the `std` layer asks the kernel) whether that writer is
//! alive, and if it is *gone*, commit a void frame in its place:
//!
//! 1. check the slot is still odd for the counter (`2c + 1`);
//! 2. CAS the `writer` word from exactly `tag | c` to `0`: of any number of recoverers, one
//!    wins; a value written for another counter (the word is cleared at every commit, so only
//!    a writer of *this* counter can have left `tag | c` there while the seq is `2c + 1`)
//!    never matches;
//! 3. the winner stores the void `meta` (a length no slot has), then CASes the seq from
//!    `2c + 1` to `2c + 2` with release: readers that see the commit see the void meta and
//!    count the counter unavailable; the next lap's writer takes the slot as usual.
//!
//! Losers touch nothing, so no late void store can land on the next lap's frame. Recovering the
//! slot of a writer that is alive — stopped, say — would let its later stores tear the next
//! lap's frame: the liveness decision is the caller's, and must never be a guess.
#![cfg(not(target_os = "none"))]

use super::slot::{VOID_META, pack_writer, seq};
use super::{Cursor, PayloadSize, Ring, SupportedPayload};
use crate::sync::{Ordering, mutant, mutants};

impl<const N: usize> Ring<'_, N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// The owner tag of the writer holding the slot of `cursor`'s next counter mid-write — for
    /// that counter, or for an older one whose writer stopped there (then this counter's own
    /// writer abandoned it) — if that writer recorded one ([`Ring::with_owner`]). `None` if no
    /// writer holds the slot or it left no tag (an untagged writer, an exclusive writer — whose
    /// lease token names it — or one that stopped between taking the slot and recording its
    /// tag).
    #[must_use]
    pub fn stalled_writer(&self, cursor: &Cursor) -> Option<u32> {
        self.writer_of(self.held_at(cursor)?)
    }

    /// If the writer tagged `writer` still holds the slot of `cursor`'s next counter mid-write
    /// (for whichever counter it holds it), returns the slot to service — commits a void frame
    /// for the held counter, which every reader counts [unavailable](crate::Loss::unavailable)
    /// once — and returns true. False, touching nothing, if the slot is not (or no longer)
    /// held by that writer, or another caller recovered it first.
    ///
    /// Call it only for a writer that is **gone** (its process dead, as the `std` layer's
    /// kernel-backed liveness tells): a stopped writer that resumed after its slot was
    /// recovered would store into the next frame written there.
    pub fn recover_stalled(&self, cursor: &Cursor, writer: u32) -> bool {
        self.held_at(cursor)
            .is_some_and(|held| self.recover_counter(held, writer))
    }

    /// The internal counter a writer holds the slot of `cursor`'s next counter for, if any.
    fn held_at(&self, cursor: &Cursor) -> Option<u64> {
        let slot = self.slot(cursor.base.saturating_add(cursor.next));
        let seq = slot.seq.load(Ordering::Acquire);
        seq::is_writing(seq).then_some(seq / 2)
    }

    /// [`stalled_writer`](Ring::stalled_writer) for internal counter `counter`.
    pub(crate) fn writer_of(&self, counter: u64) -> Option<u32> {
        let slot = self.slot(counter);
        if slot.seq.load(Ordering::Acquire) != seq::writing(counter)? {
            return None;
        }
        let word = slot.writer.load(Ordering::Relaxed);
        let tag = (word >> 32) as u32;
        let named = word == pack_writer(tag, counter) || mutant(mutants::TRUST_STALE_WRITER);
        (tag != 0 && named).then_some(tag)
    }

    /// [`recover_stalled`](Ring::recover_stalled) for internal counter `counter`.
    pub(crate) fn recover_counter(&self, counter: u64, writer: u32) -> bool {
        let (Some(writing), Some(committed)) = (seq::writing(counter), seq::committed(counter))
        else {
            return false;
        };
        let slot = self.slot(counter);
        if writer == 0 || slot.seq.load(Ordering::Acquire) != writing {
            return false;
        }
        let claimed = if mutant(mutants::TRUST_STALE_WRITER) {
            slot.writer.load(Ordering::Relaxed)
        } else {
            pack_writer(writer, counter)
        };
        // SYNC: the CAS only elects one recoverer; the seq CAS below publishes its stores.
        if slot
            .writer
            .compare_exchange(claimed, 0, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        slot.meta.store(VOID_META, Ordering::Relaxed);
        // SYNC: Release pairs with readers' Acquire seq load: a reader that sees the even seq
        // sees the void meta and counts the frame unavailable; the next lap's writer takes the
        // slot after it (its take's Acquire).
        let recovered = slot
            .seq
            .compare_exchange(writing, committed, Ordering::Release, Ordering::Relaxed)
            .is_ok();
        if recovered {
            self.notify(); // A reader waiting on the counter now has it to count.
        }
        recovered
    }
}
