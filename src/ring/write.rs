//! The multi-writer publish path: claim a counter, take its slot, write, commit.

use super::head::LEASED;
use super::slot::{pack_meta, seq};
use super::{PayloadSize, PublishError, Ring, Slot, SupportedPayload, words};
use crate::id::NetId64;
use crate::sync::{Ordering, fence, mutant, mutants};

impl<const N: usize> Ring<'_, N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// Publishes one frame and returns its id.
    ///
    /// Claims the next counter and writes its slot under the seq protocol. Wait-free with one
    /// writer; with several, a writer never waits for another (see [`PublishError`]).
    pub fn publish(
        &self,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
    ) -> Result<NetId64, PublishError> {
        let (counter, base, slot) = self.claim(payload)?;
        let id = self.write(slot, counter, base, frame_kind, version, payload);
        self.commit_claimed(slot, counter);
        Ok(id)
    }

    /// Commits `counter`, claimed by this handle and written into `slot`, and wakes waiters.
    #[inline]
    pub(super) fn commit_claimed(&self, slot: &Slot<N>, counter: u64) {
        slot.unmark_writer(self.owner);
        // Cannot fail: claim() checked the counter.
        let committed = seq::committed(counter).unwrap_or(u64::MAX);
        // SYNC: Release pairs with the Acquire seq load in inspect(): a reader that sees the
        // even seq sees every word stored before it.
        slot.seq.store(committed, Ordering::Release);
        self.notify();
    }

    /// Claims a counter and takes its slot exclusively (seq odd); returns the counter and the
    /// base of its generation. On success the caller owns the slot until it stores the
    /// committed seq.
    pub(super) fn claim(&self, payload: &[u8]) -> Result<(u64, u64, &Slot<N>), PublishError> {
        self.check_len(payload)?;
        let counter = self.claim_counter()?;
        self.take_claimed(counter)
    }

    /// Claims the next counter with one RMW on the head: a CAS, because it must also refuse
    /// while a lease is held (its holder moves the head with plain stores).
    #[inline]
    fn claim_counter(&self) -> Result<u64, PublishError> {
        let mut word = self.head.word.load(Ordering::Relaxed);
        loop {
            if word & LEASED != 0 {
                return Err(self.lease_refusal());
            }
            let Some(_) = seq::writing(word) else {
                return Err(PublishError::CounterExhausted { counter: word });
            };
            // SYNC: Acquire pairs with the Release store that ends a lease (lease.rs close()):
            // a claim made after a reset sees the reset's base below. Uniqueness of the counter
            // needs only the RMW; slot contents are ordered by the slot's own seq.
            match self.head.word.compare_exchange_weak(
                word,
                word + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(word),
                Err(now) => word = now,
            }
        }
    }

    /// After the claim of `counter`: checks its generation and takes its slot; returns the
    /// counter, its generation's base and the slot.
    #[inline]
    fn take_claimed(&self, counter: u64) -> Result<(u64, u64, &Slot<N>), PublishError> {
        // A counter below the base was claimed before a reset that has happened since: the
        // frame would belong to a generation nobody reads any more. Abandon it before touching
        // the slot (readers of the old generation move on at their next base check).
        let mut base = self.head.base.load(Ordering::Relaxed);
        if counter < base && !mutant(mutants::NO_CLAIM_BASE_CHECK) {
            // A genuine base never passes the head (a reset moves it *to* the head); one past
            // it is hostile memory, which must not stop every writer: ignore it.
            if base <= self.head_counter() {
                return Err(PublishError::Reset { counter });
            }
            base = counter;
        }
        let slot = self.slot(counter);
        self.take(slot, counter, None)?;
        slot.mark_writer(self.owner, counter);
        Ok((counter, base, slot))
    }

    #[inline]
    pub(super) fn check_len(&self, payload: &[u8]) -> Result<(), PublishError> {
        if payload.len() > N {
            return Err(PublishError::PayloadTooLarge {
                len: payload.len(),
                max: N,
            });
        }
        Ok(())
    }

    /// Takes `slot` for the claimed `counter`: moves its seq from an even value of an older lap
    /// to `2 * counter + 1`. A CAS, unless the caller holds a writer lease taken at counter `L`
    /// (`lease = Some(L)`) and the seq is already at least `2L`: a value no other writer can
    /// still move (see [`ExclusiveWriter`](super::ExclusiveWriter)), so a plain store takes
    /// the slot.
    #[inline]
    pub(super) fn take(
        &self,
        slot: &Slot<N>,
        counter: u64,
        lease: Option<u64>,
    ) -> Result<(), PublishError> {
        let Some(writing) = seq::writing(counter) else {
            return Err(PublishError::CounterExhausted { counter });
        };
        // A lease counter is below 2^63, so 2L fits.
        let plain_above = lease.map(|first| first.saturating_mul(2));
        // SYNC: Acquire pairs with the Release commit of the slot's previous writer, so our
        // stores below come after its stores in every word's modification order (the CAS below
        // repeats it for the values it reads).
        let mut current = slot.seq.load(Ordering::Acquire);
        loop {
            if current == writing {
                // Only a writer that claimed this very counter stores this value: a lease
                // broken under a dead holder can hand its in-flight counter out again.
                return Err(PublishError::SlotBusy {
                    counter,
                    holder: counter,
                });
            }
            if current > writing {
                return Err(PublishError::Lapped { counter });
            }
            if seq::is_writing(current) {
                return Err(PublishError::SlotBusy {
                    counter,
                    holder: current / 2,
                });
            }
            if plain_above.is_some_and(|above| current >= above) {
                slot.seq.store(writing, Ordering::Relaxed);
                break;
            }
            match slot
                .seq
                .compare_exchange(current, writing, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        // SYNC: pairs with the Acquire fence in copy(): a reader whose copy saw any store
        // below will see the odd seq (or later) when it reloads seq, and reject the copy.
        fence(Ordering::Release);
        Ok(())
    }

    /// Stores the frame's words into a slot this writer owns; returns the frame's id
    /// (counters in ids are relative to the generation's `base`).
    #[inline]
    pub(super) fn write(
        &self,
        slot: &Slot<N>,
        counter: u64,
        base: u64,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
    ) -> NetId64 {
        self.write_words(slot, frame_kind, version, payload, payload.len());
        // claim() and the lease guarantee `counter >= base` (wrapping only under a loom control).
        NetId64::new(self.kind, self.node, counter.wrapping_sub(base))
    }

    /// Stores the header words and the first `stored` payload bytes (all of them, except in
    /// the test hook that stops part-way).
    #[inline]
    fn write_words(
        &self,
        slot: &Slot<N>,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
        stored: usize,
    ) {
        slot.meta.store(
            pack_meta(frame_kind, self.node.get(), payload.len()),
            Ordering::Relaxed,
        );
        slot.version.store(version, Ordering::Relaxed);
        words::store(slot.words(), &payload[..stored.min(payload.len())]);
    }

    /// Why a claim found the lease bit set: an exclusive writer holds the ring, or (transient)
    /// a reset holds it, or a lease is ending.
    #[cold]
    fn lease_refusal(&self) -> PublishError {
        match self.lease_holder() {
            Some(token) => token.refusal(),
            // The lease ended between our two loads.
            None => PublishError::LeaseEnding,
        }
    }
}

/// Test hooks that leave shared memory in states only a crash or a hostile peer produces.
/// Behind the `__test-hooks` feature: no user can poison a shared slot through a safe call of
/// the normal API.
#[cfg(any(feature = "__test-hooks", loom))]
impl<const N: usize> Ring<'_, N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// Claims a counter and writes `words` payload words of its frame, then returns *without
    /// committing*, as a writer that crashed or was preempted mid-write would. Returns the
    /// counter (relative to the generation).
    #[doc(hidden)]
    pub fn stall_mid_write_for_test(
        &self,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
        words: usize,
    ) -> Result<u64, PublishError> {
        let (counter, base, slot) = self.claim(payload)?;
        self.write_words(
            slot,
            frame_kind,
            version,
            payload,
            words.saturating_mul(words::WORD_BYTES),
        );
        Ok(counter - base)
    }

    /// Claims a counter and abandons it without taking its slot, as a writer that stopped
    /// between its claim and its slot CAS would. Returns the counter (relative).
    #[doc(hidden)]
    pub fn claim_only_for_test(&self) -> Result<u64, PublishError> {
        let counter = self.claim_counter()?;
        let base = self.head.base.load(Ordering::Relaxed);
        Ok(counter.saturating_sub(base))
    }

    /// Publishes like [`Ring::publish`], but runs `pause` between the claim of the counter and
    /// the rest (generation check, slot CAS, stores, commit): a writer preempted right after
    /// its claim, while others act.
    #[doc(hidden)]
    pub fn publish_with_pause_for_test(
        &self,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
        pause: impl FnOnce(),
    ) -> Result<NetId64, PublishError> {
        self.check_len(payload)?;
        let counter = self.claim_counter()?;
        pause();
        let (counter, base, slot) = self.take_claimed(counter)?;
        let id = self.write(slot, counter, base, frame_kind, version, payload);
        self.commit_claimed(slot, counter);
        Ok(id)
    }
}
