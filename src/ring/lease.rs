//! The writer lease: [`ExclusiveWriter`] (the single-writer publish path), lease identity,
//! breaking the lease of a holder that is gone, and [`Ring::reset`], which runs under a lease.

use super::head::{HELD, LEASED, LeaseToken, RESETTING, counter_of};
use super::slot::{VOID_META, seq};
use super::{PayloadSize, PublishError, Ring, SupportedPayload};
use crate::id::NetId64;
use crate::sync::{Ordering, fence, mutant, mutants};

/// The one writer of a ring, publishing without read-modify-write instructions.
///
/// Obtained from [`Ring::exclusive_writer`]; dropping it hands the ring back to multi-writer
/// [`Ring::publish`]. Readers see no difference.
///
/// # Protocol
///
/// **Taking the lease.** The taker draws a fresh [`LeaseToken`] (its owner tag and an epoch
/// from the head's lease counter) and CASes the head's lease word from `0` (free) to it: one
/// taker wins. Only then does it set the lease bit in the head word (an RMW); the counter it
/// finds there is the lease's first counter `L`. From that RMW on, multi-writer claims refuse
/// ([`PublishError::Leased`]); every counter claimed before it is below `L`.
///
/// A breaker may close the lease between the token CAS and the bit (it took the taker for
/// gone: a taker killed mid-take is exactly that), so the taker then *confirms* its token with
/// a second RMW on the lease word, a CAS of the token to itself (Release). The confirmation
/// and the closer's CAS are ordered on the lease word: if the confirmation comes first, the
/// closer's CAS reads from it, so the closer sees the bit and clears it; if the close comes
/// first, the confirmation fails and the bit is the taker's to deal with. It waits until the
/// closer has freed the word, then closes the free word itself, which clears the bit — or, if
/// a new lease was taken meanwhile, leaves the bit to that lease (which sets it anyway), and
/// reports [`PublishError::LeaseLost`]. A load would not do as the confirmation: it may still
/// read the taker's token after the closer replaced it, while the closer's head load misses
/// the bit (store buffering); both would walk away from a bit nobody clears, and every
/// multi-writer would be refused until the next lease. Nor may the taker stop waiting while a
/// closer is at work: that closer's head load may have come before the bit.
///
/// **Publishing.** The holder keeps its next counter itself and checks on every publish that
/// the lease word still holds its token (one load of a line that stays in its cache), so a
/// holder whose lease was broken learns it ([`PublishError::LeaseLost`]) on its next publish.
/// It claims with a plain store of `(c + 1) | lease bit`, made *after* the frame's commit, so
/// the commit never waits on the head's cache line (readers accept frames on slot evidence).
///
/// Taking the slot is where a plain store needs care. A multi-writer that claimed some counter
/// `s < L` *before* the lease may not have taken its slot yet: it will CAS the slot's seq from
/// an even value below `2s + 1` (so below `2L - 1`). Slot seqs only grow, so once a slot's seq
/// is at least `2L` no such stale claimant can ever take it again. The holder therefore:
///
/// * takes the slot with the usual CAS on its first lap (`L..L + capacity`) and on slots it
///   had to abandon, checking them again on their next lap;
/// * abandons the frame, exactly like a multi-writer, if the seq is odd (an older writer still
///   holds the slot: [`PublishError::SlotBusy`]);
/// * after that, stores the odd seq blindly (no load) into slots that hold its own commit of
///   the previous lap — an even seq `>= 2L` no other writer can move. Not loading the seq
///   matters when a reader spins on that very line.
///
/// Counters never restart (a reset moves the generation's base instead), so the previous lap
/// of a slot is always the holder's own, across resets too.
///
/// **Releasing and breaking.** Ending a lease is one procedure, *close*: CAS the lease word
/// from the token to the same epoch in the *closing* state, naming the closer; clear the lease
/// bit (the head keeps the holder's next counter); then free the lease word. No new lease can
/// be taken before the word is free, so the bit a closer clears is always the lease it closes.
/// Dropping the writer closes its own lease; if it was broken meanwhile, the CAS fails and
/// nothing is touched. [`Ring::break_lease`] closes the lease of a holder that is *gone* and
/// returns the slot it died writing to service (its frame is counted unavailable by readers).
///
/// A holder that dies leaves the lease held: other writers get [`PublishError::Leased`] until
/// someone who knows the holder is gone breaks it. The `std` layer decides that with a lock
/// the kernel drops when the holder's process dies; a firmware owner knows it by design.
/// Breaking the lease of a *live* holder that is inside a publish cannot stop that publish
/// (its stores could tear a frame of the next writer): never break a lease on a guess.
///
/// # Examples
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
    token: LeaseToken,
    /// `L`: the head counter when the lease was taken.
    first: u64,
    /// The next counter this holder claims.
    next: u64,
    /// The base of the generation the holder publishes in (ids are relative to it).
    base: u64,
    /// Counters up to this one take their slot through [`Ring::take`] (load, check, CAS or
    /// store); later ones store blindly. See [`Lease::publish`].
    checked_until: u64,
    /// Set once the lease was found broken: releasing must leave everything alone.
    lost: bool,
    /// This process is registered for the waiters' barrier (checked once, at the take): the
    /// writer's side of waiting is then a compiler fence and one load per commit.
    #[cfg(all(feature = "std", not(target_os = "none")))]
    registered: bool,
}

impl<'a, const N: usize> Ring<'a, N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// Takes the writer lease: until the returned writer is dropped, it is the only writer of
    /// the ring (in every process mapping it) and publishes without atomic read-modify-writes.
    ///
    /// Fails with [`PublishError::Leased`] if another writer holds the lease (or
    /// [`PublishError::Resetting`] for a moment during a reset).
    /// The lease records this handle's [`owner`](Ring::owner) tag.
    pub fn exclusive_writer(&self) -> Result<ExclusiveWriter<'a, N>, PublishError> {
        self.exclusive_writer_for(self.owner)
    }

    /// [`exclusive_writer`](Ring::exclusive_writer), recording `owner` in the lease token
    /// ([`LeaseToken::owner`]) so that whoever finds the lease held can tell whose it is (the
    /// `std` layer records the fleet member).
    pub fn exclusive_writer_for(&self, owner: u32) -> Result<ExclusiveWriter<'a, N>, PublishError> {
        Ok(ExclusiveWriter {
            ring: *self,
            lease: self.take_lease(owner, HELD)?,
        })
    }

    /// Takes a lease for `owner` in `state` ([`HELD`] or [`RESETTING`]).
    pub(crate) fn take_lease(&self, owner: u32, state: u64) -> Result<Lease, PublishError> {
        let epoch = self.head.next_epoch();
        let token = LeaseToken::new(state, epoch, owner);
        // SYNC: Acquire pairs with the Release that freed the lease word (close()): the
        // previous holder's stores happen before ours.
        if let Err(current) =
            self.head
                .lease
                .compare_exchange(0, token.0, Ordering::Acquire, Ordering::Relaxed)
        {
            return Err(LeaseToken(current).refusal());
        }
        // SYNC: Acquire pairs with the Release head store of the last close; multi-writers
        // that claim after this RMW see the bit and refuse.
        let word = self.head.word.fetch_or(LEASED, Ordering::Acquire);
        self.confirm_take(token, owner)?;
        let first = counter_of(word);
        let base = self.head.base.load(Ordering::Relaxed).min(first);
        Ok(Lease {
            token,
            first,
            next: first,
            base,
            // The first lap, L..L + capacity: slots other writers held last.
            checked_until: first.saturating_add(self.capacity() as u64 - 1),
            lost: false,
            #[cfg(all(feature = "std", not(target_os = "none")))]
            registered: crate::park::register_writer(),
        })
    }

    /// After setting the lease bit, checks that the lease is still `token`'s: a breaker that
    /// took the taker for gone may have closed it between the token CAS and the bit. The check
    /// is an RMW, so that either the closer sees the bit or the taker sees the close (see
    /// "Taking the lease" on [`ExclusiveWriter`]). If the lease was closed, the bit belongs to
    /// whoever holds the lease word once the close is over — or, if nobody does, to nobody:
    /// the taker waits for the closer to free the word, closes the free word itself (so no new
    /// lease can be taken meanwhile), which clears the bit, and reports the lease lost.
    fn confirm_take(&self, token: LeaseToken, owner: u32) -> Result<(), PublishError> {
        let confirmed = if mutant(mutants::CONFIRM_TAKE_BY_LOAD) {
            let current = self.head.lease.load(Ordering::Acquire);
            if current == token.0 {
                Ok(current)
            } else {
                Err(current)
            }
        } else {
            // SYNC: an RMW, not a load. Release pairs with the Acquire CAS of a closer of
            // `token`: a closer whose CAS comes after this one reads from it and sees the bit;
            // one whose CAS came first makes this CAS fail. A load could read our own token
            // after a closer replaced it while that closer's head load missed the bit (store
            // buffering): both would walk away from the bit.
            self.head
                .lease
                .compare_exchange(token.0, token.0, Ordering::AcqRel, Ordering::Acquire)
        };
        let Err(mut current) = confirmed else {
            return Ok(());
        };
        loop {
            if current == 0 {
                // Nobody holds the word: closing it clears the bit nobody owns.
                if self.close(LeaseToken(0), owner, false) {
                    return Err(PublishError::LeaseLost);
                }
            } else if !LeaseToken(current).is_closing() {
                return Err(PublishError::LeaseLost); // The bit is the next holder's.
            } else if mutant(mutants::BROKEN_TAKER_LEAVES) {
                return Err(PublishError::LeaseLost);
            } else {
                // A closer is at work, and its head load may have missed our bit: wait until
                // it frees the word (a closer that is gone is broken by whoever finds it so).
                #[cfg(loom)]
                loom::hint::spin_loop();
                #[cfg(not(loom))]
                core::hint::spin_loop();
            }
            current = self.head.lease.load(Ordering::Acquire);
        }
    }

    /// Who holds the writer lease (or is closing it), if anyone.
    #[must_use]
    pub fn lease_holder(&self) -> Option<LeaseToken> {
        let word = self.head.lease.load(Ordering::Acquire);
        (word != 0).then_some(LeaseToken(word))
    }

    /// True while a lease is held (an [`ExclusiveWriter`], or a reset in progress).
    #[must_use]
    pub fn writer_leased(&self) -> bool {
        self.head.word.load(Ordering::Relaxed) & LEASED != 0
    }

    /// Ends the lease identified by `holder` (from [`lease_holder`](Ring::lease_holder)),
    /// whose holder — or, for a closing token, whose closer — is **gone**, so other writers
    /// can publish again; `by` is the breaker's own owner tag. If the holder died mid-write,
    /// its slot is returned to service (readers count that frame unavailable).
    ///
    /// Returns false, touching nothing, if `holder` no longer holds the lease (it was released
    /// or broken meanwhile, or a new lease taken): a breaker can only ever end the lease it
    /// looked at. Never break the lease of a live holder (see [`ExclusiveWriter`]).
    pub fn break_lease(&self, holder: LeaseToken, by: u32) -> bool {
        let broke = self.close(holder, by, !holder.is_reset());
        if broke {
            self.notify(); // A slot returned to service is news to a reader waiting on it.
        }
        broke
    }

    /// Empties the ring: starts a new generation at the current head. Counters restart at 0
    /// for every cursor; live cursors notice on their next poll ([`Poll::rewound`]) and no
    /// frame of the old generation is delivered after it — a writer that claimed before the
    /// reset and commits after it writes a frame of the old generation, which nobody reads.
    /// Slot memory is not touched.
    ///
    /// Runs under the writer lease for a moment (multi-writers that try to publish meanwhile
    /// get the transient [`PublishError::Resetting`]); fails with [`PublishError::Leased`]
    /// while an [`ExclusiveWriter`] holds the ring — reset through
    /// [`ExclusiveWriter::reset`] then, or break the lease of a holder that is gone first.
    ///
    /// [`Poll::rewound`]: crate::Poll::rewound
    pub fn reset(&self) -> Result<(), PublishError> {
        self.reset_by(self.owner)
    }

    /// [`reset`](Ring::reset) under a lease owned by `owner`.
    pub(crate) fn reset_by(&self, owner: u32) -> Result<(), PublishError> {
        let lease = self.take_lease(owner, RESETTING)?;
        self.start_generation(lease.first);
        self.close(lease.token, owner, false);
        self.notify();
        Ok(())
    }

    /// Moves the generation's base to `base`. Called by a lease holder only.
    fn start_generation(&self, base: u64) {
        // SYNC: Release pairs with the Acquire base loads of readers (walk start, cursor_at_head).
        // Frames of the new generation reach readers through commits that happen after this
        // store: claims after the lease's close (Acquire CAS), or the holder's own commits.
        self.head.base.store(base, Ordering::Release);
        self.head.bump_generation();
    }

    /// Closes the lease `from` on behalf of `by`; see "Releasing and breaking" on
    /// [`ExclusiveWriter`]. `recover`: the holder is dead — return a slot it left mid-write to
    /// service.
    fn close(&self, from: LeaseToken, by: u32, recover: bool) -> bool {
        let closing = from.closing_by(by);
        // SYNC: Acquire: the closer sees the holder's last head store and commits.
        if self
            .head
            .lease
            .compare_exchange(from.0, closing.0, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        // While the word is closing, nobody but this closer writes the head word: the holder
        // is gone (or is this closer), takers wait for a free lease word, and multi-writers
        // refuse while the bit is set. If the bit is not set (a taker died before setting it),
        // multi-writers are claiming: the CAS leaves their counters alone.
        let word = self.head.word.load(Ordering::Relaxed);
        let mut head = counter_of(word);
        if recover && word & LEASED != 0 {
            head = self.recover_in_flight(head);
        }
        self.clear_lease_bit(head);
        // SYNC: Release pairs with the Acquire of the next taker's CAS. Freed last: until now
        // no lease could be taken, so the bit cleared above was this lease's.
        let _ =
            self.head
                .lease
                .compare_exchange(closing.0, 0, Ordering::Release, Ordering::Relaxed);
        true
    }

    /// Clears the lease bit, leaving the head at `head` (or where claims moved it, if the bit
    /// was not set). Called only while holding the lease word in the closing state.
    fn clear_lease_bit(&self, head: u64) {
        let mut word = self.head.word.load(Ordering::Relaxed);
        while word & LEASED != 0 {
            // SYNC: Release pairs with the Acquire claim CAS of multi-writers (write.rs) and the
            // next taker's RMW: they see the lease's commits, and a reset's base.
            match self.head.word.compare_exchange_weak(
                word,
                head.max(counter_of(word)),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => word = now,
            }
        }
    }

    /// A dead lease holder's next counter is `counter`: if it died with that slot taken,
    /// commits a void frame there so later laps can take the slot, and returns the counter the
    /// head should resume at.
    fn recover_in_flight(&self, counter: u64) -> u64 {
        let (Some(writing), Some(committed)) = (seq::writing(counter), seq::committed(counter))
        else {
            return counter;
        };
        let slot = self.slot(counter);
        let current = slot.seq.load(Ordering::Acquire);
        if current == committed {
            return counter + 1; // It committed, and died before moving the head.
        }
        if current != writing {
            return counter; // It never took the slot.
        }
        slot.meta.store(VOID_META, Ordering::Relaxed);
        // SYNC: Release pairs with readers' Acquire seq load: a reader that sees the even seq
        // sees the void meta and counts the frame unavailable.
        match slot
            .seq
            .compare_exchange(writing, committed, Ordering::Release, Ordering::Relaxed)
        {
            Ok(_) => counter + 1,
            Err(_) => counter,
        }
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

    /// This writer's lease token.
    #[must_use]
    pub const fn token(&self) -> LeaseToken {
        self.lease.token
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

    /// Empties the ring, as [`Ring::reset`] does, from the lease holder: the writer keeps the
    /// lease and its next frame is counter 0 of the new generation.
    pub fn reset(&mut self) -> Result<(), PublishError> {
        self.lease.reset(&self.ring)
    }
}

#[cfg(feature = "__test-hooks")]
impl<const N: usize> ExclusiveWriter<'_, N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// Test hook (feature `__test-hooks`): publishes and commits one frame but leaves the head
    /// where it was, as the holder stands between its commit and its head store (or died
    /// there). Its next publish moves on as usual.
    #[doc(hidden)]
    pub fn publish_without_head_for_test(
        &mut self,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
    ) -> Result<NetId64, PublishError> {
        let before = self.ring.head.word.load(Ordering::Relaxed);
        let id = self.publish(frame_kind, version, payload)?;
        self.ring.head.word.store(before, Ordering::Relaxed);
        Ok(id)
    }

    /// Benchmark hook (feature `__test-hooks`): [`publish`](Self::publish) without the waiting
    /// protocol's writer side (no barrier, no look at the waiter count), the baseline that
    /// prices it. A reader waiting on the ring sleeps through these frames.
    #[doc(hidden)]
    #[inline]
    pub fn publish_unnotified_for_bench(
        &mut self,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
    ) -> Result<NetId64, PublishError> {
        self.lease
            .publish_as::<N, false>(&self.ring, frame_kind, version, payload)
    }
}

impl Lease {
    /// The token this lease was taken with.
    #[cfg(feature = "std")]
    pub(crate) fn token(&self) -> LeaseToken {
        self.token
    }

    /// True while the lease word still holds this lease's token; marks the lease lost if not.
    #[inline]
    fn check<const N: usize>(&mut self, ring: &Ring<'_, N>) -> Result<(), PublishError>
    where
        PayloadSize<N>: SupportedPayload,
    {
        if ring.head.lease.load(Ordering::Relaxed) == self.token.0 {
            Ok(())
        } else {
            self.lost = true;
            Err(PublishError::LeaseLost)
        }
    }

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
        self.publish_as::<N, true>(ring, frame_kind, version, payload)
    }

    /// [`publish`](Self::publish); `NOTIFY` false skips waking waiters (a benchmark's
    /// baseline only: a reader waiting on the ring would sleep through the frame).
    ///
    /// Always inlined: the steady-state publish is a few dozen instructions (the cold paths
    /// are calls), and a call of its own cost it a fifth of that in register saves.
    #[inline(always)]
    pub(crate) fn publish_as<const N: usize, const NOTIFY: bool>(
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
        self.check(ring)?;
        let counter = self.next;
        if counter <= self.checked_until
            || counter > seq::MAX_COUNTER
            || mutant(mutants::NO_FIRST_LAP_CAS)
        {
            return self.publish_checked::<N, NOTIFY>(ring, frame_kind, version, payload);
        }
        let slot = ring.slot(counter);
        // This writer committed `counter - capacity` into this slot itself, in this lease
        // (counters move by one per publish, and every abandoned one extends `checked_until`
        // past its next lap), so the seq holds exactly that even value, which no other writer
        // can move: a blind store takes the slot. Not loading the seq matters when a reader
        // spins on this very line.
        slot.seq.store(2 * counter + 1, Ordering::Relaxed);
        // SYNC: pairs with the Acquire fence in copy() (as in take()).
        fence(Ordering::Release);
        Ok(self.commit::<N, NOTIFY>(ring, slot, counter, frame_kind, version, payload))
    }

    /// The publish path that loads the slot's seq first: the first lap of the lease (slots
    /// other writers held last), slots it had to abandon, and exhausted counters. With the
    /// `NO_FIRST_LAP_CAS` loom control on, it stores blindly here too.
    #[cold]
    #[inline(never)]
    fn publish_checked<const N: usize, const NOTIFY: bool>(
        &mut self,
        ring: &Ring<'_, N>,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
    ) -> Result<NetId64, PublishError>
    where
        PayloadSize<N>: SupportedPayload,
    {
        let counter = self.next;
        let Some(writing) = seq::writing(counter) else {
            return Err(PublishError::CounterExhausted { counter });
        };
        let slot = ring.slot(counter);
        if mutant(mutants::NO_FIRST_LAP_CAS) {
            slot.seq.store(writing, Ordering::Relaxed);
            fence(Ordering::Release);
        } else if let Err(abandoned) = ring.take(slot, counter, Some(self.first)) {
            self.next = counter + 1;
            ring.head
                .word
                .store((counter + 1) | LEASED, Ordering::Relaxed);
            // The slot is not this writer's: check it again on the next lap.
            self.checked_until = self
                .checked_until
                .max(counter.saturating_add(ring.capacity() as u64));
            return Err(abandoned);
        }
        Ok(self.commit::<N, NOTIFY>(ring, slot, counter, frame_kind, version, payload))
    }

    /// Writes and commits the frame of `counter` into `slot`, which this writer holds, then
    /// moves the head past it.
    #[inline]
    fn commit<const N: usize, const NOTIFY: bool>(
        &mut self,
        ring: &Ring<'_, N>,
        slot: &super::Slot<N>,
        counter: u64,
        frame_kind: u8,
        version: u64,
        payload: &[u8],
    ) -> NetId64
    where
        PayloadSize<N>: SupportedPayload,
    {
        let id = ring.write(slot, counter, self.base, frame_kind, version, payload);
        // SYNC: Release pairs with the Acquire seq load in inspect(): a reader that sees the
        // even seq sees every word stored above. `counter <= MAX_COUNTER`: checked by callers.
        slot.seq.store(2 * counter + 2, Ordering::Release);
        self.next = counter + 1;
        // The head moves past the counter only after the commit: no reader needs the head to
        // accept a frame. Relaxed: nothing is published through the head.
        ring.head
            .word
            .store((counter + 1) | LEASED, Ordering::Relaxed);
        if NOTIFY {
            #[cfg(all(feature = "std", not(target_os = "none")))]
            ring.notify_as(self.registered);
            #[cfg(not(all(feature = "std", not(target_os = "none"))))]
            ring.notify();
        }
        id
    }

    /// [`ExclusiveWriter::reset`] on `ring`.
    pub(crate) fn reset<const N: usize>(&mut self, ring: &Ring<'_, N>) -> Result<(), PublishError>
    where
        PayloadSize<N>: SupportedPayload,
    {
        self.check(ring)?;
        ring.start_generation(self.next);
        self.base = self.next;
        ring.notify();
        Ok(())
    }

    /// Closes this lease, unless it was found broken (or was broken since: the close's CAS then
    /// fails and touches nothing).
    pub(crate) fn release<const N: usize>(&self, ring: &Ring<'_, N>)
    where
        PayloadSize<N>: SupportedPayload,
    {
        if self.lost {
            return;
        }
        if mutant(mutants::RELEASE_WITHOUT_TOKEN) {
            ring.head.word.fetch_and(!LEASED, Ordering::Release);
            ring.head.lease.store(0, Ordering::Release);
            return;
        }
        ring.close(self.token, self.token.owner(), false);
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
