//! Word-wise atomic copies of payload bytes in and out of a slot (the atomic-memcpy technique).
//!
//! A seqlock reader races with writers by design. Copying slot memory with plain loads would be
//! a data race, which is undefined behaviour even if the seq check later discards the copy, so
//! every payload byte moves inside a relaxed atomic `u64` load or store. Bytes are packed into
//! words in native byte order, so a reader's `[u64]` buffer viewed as bytes (via `bytemuck`,
//! no padding involved) is the payload as written.

use crate::sync::{Ordering, PayloadWord};

/// The plain value of one [`PayloadWord`].
#[cfg(any(loom, target_has_atomic = "64"))]
type Raw = u64;
/// The plain value of one [`PayloadWord`].
#[cfg(not(any(loom, target_has_atomic = "64")))]
type Raw = u32;

/// Bytes per payload word: 8 on hosts, 4 on MCUs without 64-bit atomics.
pub(crate) const WORD_BYTES: usize = core::mem::size_of::<Raw>();

/// Number of payload words that hold `len` bytes.
pub(crate) const fn words_for(len: usize) -> usize {
    len.div_ceil(WORD_BYTES)
}

/// Stores `bytes` into the leading words of `words` (relaxed; the seq protocol orders them).
/// The tail of the last word is zero-filled. `bytes.len()` must be at most
/// `WORD_BYTES * words.len()`.
#[inline]
pub(crate) fn store(words: &[PayloadWord], bytes: &[u8]) {
    debug_assert!(bytes.len() <= words.len() * WORD_BYTES);
    let mut chunks = bytes.chunks_exact(WORD_BYTES);
    let mut dst = words.iter();
    for (chunk, word) in (&mut chunks).zip(&mut dst) {
        let mut raw = [0u8; WORD_BYTES];
        raw.copy_from_slice(chunk);
        word.store(Raw::from_ne_bytes(raw), Ordering::Relaxed);
    }
    let tail = chunks.remainder();
    if let (false, Some(word)) = (tail.is_empty(), dst.next()) {
        let mut raw = [0u8; WORD_BYTES];
        raw[..tail.len()].copy_from_slice(tail);
        word.store(Raw::from_ne_bytes(raw), Ordering::Relaxed);
    }
}

/// Payload words a reader copies whatever the frame's length says: on hosts, those in a slot's
/// first two cache lines (128 bytes less the 32-byte header); none on MCUs (no caches to
/// miss, and flash to save).
///
/// The length lives in the slot's `meta` word; a copy sized by it cannot issue a single payload
/// load before that load returns, and under contention every one of them is a miss. Loading a
/// fixed prefix instead lets all of them go out at once (the words past the frame's length are
/// copied into the reader's buffer and never exposed).
#[cfg(not(target_os = "none"))]
pub(crate) const EAGER_WORDS: usize = 12;
/// Payload words a reader copies whatever the frame's length says (none on MCUs).
#[cfg(target_os = "none")]
pub(crate) const EAGER_WORDS: usize = 0;

/// Loads the leading words of `words` into `out` (viewed as payload words): the first
/// `min(EAGER_WORDS, ..)` always, then up to `used` (relaxed; validated by the caller's seq
/// recheck). `used` counts payload words ([`words_for`]).
#[inline]
pub(crate) fn load(words: &[PayloadWord], out: &mut [u64], used: usize) {
    let out: &mut [Raw] = bytemuck::cast_slice_mut(out);
    #[allow(clippy::unnecessary_min_or_max)] // EAGER_WORDS is 0 on MCUs.
    let eager = out.len().min(words.len()).min(EAGER_WORDS);
    for (dst, word) in out[..eager].iter_mut().zip(&words[..eager]) {
        *dst = word.load(Ordering::Relaxed);
    }
    if used > eager {
        let rest = used.min(out.len()).min(words.len());
        for (dst, word) in out[eager..rest].iter_mut().zip(&words[eager..rest]) {
            *dst = word.load(Ordering::Relaxed);
        }
    }
}

/// The first `len` bytes of a word buffer (all of it if `len` is larger). Always inlined: the
/// read path hands frames out through it, and a non-generic function is otherwise reached
/// through a call from another crate's busy-polling loop.
#[inline(always)]
pub(crate) fn bytes(buf: &[u64], len: usize) -> &[u8] {
    let all: &[u8] = bytemuck::cast_slice(buf);
    &all[..len.min(all.len())]
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn loads_past_the_eager_prefix_by_length() {
        let words: [PayloadWord; 40] = core::array::from_fn(|i| PayloadWord::new(i as u64 + 1));
        for used in [0, 1, EAGER_WORDS, EAGER_WORDS + 1, 40] {
            let mut out = [0u64; 40];
            load(&words, &mut out, used);
            for (i, &w) in out.iter().enumerate() {
                let copied = i < EAGER_WORDS.max(used);
                assert_eq!(
                    w,
                    if copied { i as u64 + 1 } else { 0 },
                    "used {used} word {i}"
                );
            }
        }
    }

    #[test]
    fn round_trips_every_length() {
        let words: [PayloadWord; 4] = [const { PayloadWord::new(u64::MAX) }; 4];
        let src: [u8; 32] = core::array::from_fn(|i| i as u8 + 1);
        for len in 0..=32 {
            store(&words, &src[..len]);
            let mut out = [0u64; 4];
            load(&words, &mut out, words_for(len));
            assert_eq!(bytes(&out, len), &src[..len]);
            if len % 8 != 0 {
                // The tail of the last word is zeroed, never left over from an older frame.
                let last = bytes(&out, words_for(len) * WORD_BYTES);
                assert!(last[len..].iter().all(|&b| b == 0));
            }
        }
    }
}
