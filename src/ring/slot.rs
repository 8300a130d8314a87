//! One ring slot: the `seq` word, the frame-header words and `N` payload bytes, all atomics.
//!
//! Layout (`#[repr(C)]`; on hosted targets a 32-byte header, aligned to 64 bytes, which keeps
//! neighbouring slots off each other's cache lines; on bare-metal ones (`target_os = "none"`)
//! packed, with a 24-byte header and no `writer` word — there is no process that could die
//! mid-write — so `Slot<64>` is 128 bytes on a host and 88 bytes on a microcontroller):
//!
//! | offset | word      | meaning                                                        |
//! |--------|-----------|----------------------------------------------------------------|
//! | 0      | `seq`     | `0` empty, `2c+1` counter `c` being written, `2c+2` committed  |
//! | 8      | `meta`    | frame kind (bits 0..8), publishing node (8..24), payload length (32..64) |
//! | 16     | `version` | caller's version / timestamp word                              |
//! | 24     | `writer`  | hosted only: `tag << 32 \| (c mod 2^32)` while a tagged multi-writer writes counter `c`, else `0` |
//! | 24/32  | payload   | `N / 8` 64-bit words (MCUs without 64-bit atomics: `N / 4` 32-bit words), bytes in native order |
//!
//! The `writer` word is how a reader that finds a slot stuck odd learns *who* holds it, so that
//! a writer proven dead (by the `std` layer's kernel-backed liveness) can have its slot
//! returned to service; see [`Ring::recover_stalled`](super::Ring::recover_stalled).
//!
//! The frame's [`NetId64`](crate::NetId64) is not stored whole: its counter is the one `seq`
//! names, its kind the ring's, its node the one in `meta` — one store fewer per publish, and no
//! id that could disagree with the seq.
//!
//! `N` must be a multiple of 8 between 8 and 4096: stable Rust cannot size an array by `N / 8`
//! in a generic type, so [`PayloadSize<N>`] implements [`SupportedPayload`] for exactly those
//! sizes, and `Slot<65>` is a compile error rather than a silent rounding.

#[cfg(not(target_os = "none"))]
use crate::sync::Ordering;
use crate::sync::{AtomicU64, PayloadWord};

/// Type-level payload size; see [`SupportedPayload`].
///
/// # Examples
///
/// Code generic over the payload size names the bound `PayloadSize<N>: SupportedPayload`:
///
/// ```
/// use orbit_rs::{Head, PayloadSize, Ring, Slot, SupportedPayload};
///
/// fn publish_reading<const N: usize>(ring: &Ring<'_, N>, reading: u32) -> bool
/// where
///     PayloadSize<N>: SupportedPayload,
/// {
///     ring.publish(0, 0, &reading.to_le_bytes()).is_ok()
/// }
///
/// let (small, large) = ([Slot::<8>::EMPTY; 4], [Slot::<256>::EMPTY; 4]);
/// let (head_a, head_b) = (Head::new(), Head::new());
/// assert!(publish_reading(&Ring::new(&small, &head_a)?, 7));
/// assert!(publish_reading(&Ring::new(&large, &head_b)?, 7));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PayloadSize<const N: usize>;

mod sealed {
    pub trait Sealed {}
}

/// Implemented by [`PayloadSize<N>`] for every `N` that is a multiple of 8 in `8..=4096`.
///
/// Sealed: it only exists to give each payload size its word array types.
///
/// # Examples
///
/// Payload sizes that are not a multiple of 8 in `8..=4096` do not compile:
///
/// ```compile_fail
/// use orbit_rs::Slot;
/// let slot = Slot::<65>::new(); // PayloadSize<65> does not implement SupportedPayload
/// ```
///
/// ```
/// use orbit_rs::Slot;
/// assert_eq!(Slot::<64>::PAYLOAD, 64);
/// assert_eq!(Slot::<4096>::PAYLOAD, 4096);
/// ```
pub trait SupportedPayload: sealed::Sealed {
    /// The payload as atomic words (`[AtomicU64; N / 8]`; `[AtomicU32; N / 4]` on MCUs
    /// without 64-bit atomics).
    type Words: AsRef<[PayloadWord]> + Send + Sync;
    /// A reader's plain copy of the payload words (`[u64; N / 8]`).
    type Buf: AsRef<[u64]> + AsMut<[u64]> + Copy;
    /// All-zero payload words.
    #[cfg(not(loom))]
    #[allow(clippy::declare_interior_mutable_const)] // Only ever used to build new slots.
    const EMPTY: Self::Words;
    /// An all-zero reader buffer.
    const ZERO_BUF: Self::Buf;
    /// All-zero payload words (non-`const` form, for loom).
    fn new_words() -> Self::Words;
}

macro_rules! supported_payloads {
    ($($n:literal)*) => {$(
        impl sealed::Sealed for PayloadSize<$n> {}
        impl SupportedPayload for PayloadSize<$n> {
            type Words = [PayloadWord; $n / super::words::WORD_BYTES];
            type Buf = [u64; $n / 8];
            #[cfg(not(loom))]
            #[allow(clippy::declare_interior_mutable_const)] // Template for new slots.
            const EMPTY: Self::Words = [const { PayloadWord::new(0) }; $n / super::words::WORD_BYTES];
            const ZERO_BUF: Self::Buf = [0; $n / 8];
            fn new_words() -> Self::Words {
                core::array::from_fn(|_| PayloadWord::new(0))
            }
        }
    )*};
}

supported_payloads! {
    8 16 24 32 40 48 56 64 72 80 88 96 104 112 120 128 136 144 152 160 168 176 184 192 200 208 216
    224 232 240 248 256 264 272 280 288 296 304 312 320 328 336 344 352 360 368 376 384 392 400 408
    416 424 432 440 448 456 464 472 480 488 496 504 512 520 528 536 544 552 560 568 576 584 592 600
    608 616 624 632 640 648 656 664 672 680 688 696 704 712 720 728 736 744 752 760 768 776 784 792
    800 808 816 824 832 840 848 856 864 872 880 888 896 904 912 920 928 936 944 952 960 968 976 984
    992 1000 1008 1016 1024 1032 1040 1048 1056 1064 1072 1080 1088 1096 1104 1112 1120 1128 1136
    1144 1152 1160 1168 1176 1184 1192 1200 1208 1216 1224 1232 1240 1248 1256 1264 1272 1280 1288
    1296 1304 1312 1320 1328 1336 1344 1352 1360 1368 1376 1384 1392 1400 1408 1416 1424 1432 1440
    1448 1456 1464 1472 1480 1488 1496 1504 1512 1520 1528 1536 1544 1552 1560 1568 1576 1584 1592
    1600 1608 1616 1624 1632 1640 1648 1656 1664 1672 1680 1688 1696 1704 1712 1720 1728 1736 1744
    1752 1760 1768 1776 1784 1792 1800 1808 1816 1824 1832 1840 1848 1856 1864 1872 1880 1888 1896
    1904 1912 1920 1928 1936 1944 1952 1960 1968 1976 1984 1992 2000 2008 2016 2024 2032 2040 2048
    2056 2064 2072 2080 2088 2096 2104 2112 2120 2128 2136 2144 2152 2160 2168 2176 2184 2192 2200
    2208 2216 2224 2232 2240 2248 2256 2264 2272 2280 2288 2296 2304 2312 2320 2328 2336 2344 2352
    2360 2368 2376 2384 2392 2400 2408 2416 2424 2432 2440 2448 2456 2464 2472 2480 2488 2496 2504
    2512 2520 2528 2536 2544 2552 2560 2568 2576 2584 2592 2600 2608 2616 2624 2632 2640 2648 2656
    2664 2672 2680 2688 2696 2704 2712 2720 2728 2736 2744 2752 2760 2768 2776 2784 2792 2800 2808
    2816 2824 2832 2840 2848 2856 2864 2872 2880 2888 2896 2904 2912 2920 2928 2936 2944 2952 2960
    2968 2976 2984 2992 3000 3008 3016 3024 3032 3040 3048 3056 3064 3072 3080 3088 3096 3104 3112
    3120 3128 3136 3144 3152 3160 3168 3176 3184 3192 3200 3208 3216 3224 3232 3240 3248 3256 3264
    3272 3280 3288 3296 3304 3312 3320 3328 3336 3344 3352 3360 3368 3376 3384 3392 3400 3408 3416
    3424 3432 3440 3448 3456 3464 3472 3480 3488 3496 3504 3512 3520 3528 3536 3544 3552 3560 3568
    3576 3584 3592 3600 3608 3616 3624 3632 3640 3648 3656 3664 3672 3680 3688 3696 3704 3712 3720
    3728 3736 3744 3752 3760 3768 3776 3784 3792 3800 3808 3816 3824 3832 3840 3848 3856 3864 3872
    3880 3888 3896 3904 3912 3920 3928 3936 3944 3952 3960 3968 3976 3984 3992 4000 4008 4016 4024
    4032 4040 4048 4056 4064 4072 4080 4088 4096
}

/// One ring slot holding up to `N` payload bytes. Every field is an atomic word, so any bit
/// pattern (a zeroed `static`, a fresh or hostile shared mapping) is a valid `Slot`.
///
/// # Examples
///
/// ```
/// use orbit_rs::{Head, Ring, Slot};
/// static SLOTS: [Slot<64>; 16] = [Slot::EMPTY; 16];
/// static HEAD: Head = Head::new();
/// let ring = Ring::new(&SLOTS, &HEAD).unwrap();
/// assert_eq!(ring.capacity(), 16);
/// ```
#[repr(C)]
#[cfg_attr(not(target_os = "none"), repr(align(64)))]
pub struct Slot<const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    pub(crate) seq: AtomicU64,
    pub(crate) meta: AtomicU64,
    pub(crate) version: AtomicU64,
    #[cfg(not(target_os = "none"))]
    pub(crate) writer: AtomicU64,
    pub(crate) words: <PayloadSize<N> as SupportedPayload>::Words,
}

impl<const N: usize> Slot<N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// Payload capacity in bytes.
    pub const PAYLOAD: usize = N;

    /// An empty slot (`seq == 0`), usable in `static` arrays: `[Slot::EMPTY; 16]`.
    #[cfg(not(loom))]
    #[allow(clippy::declare_interior_mutable_const)] // A template for array initialisers.
    pub const EMPTY: Self = Self {
        seq: AtomicU64::new(0),
        meta: AtomicU64::new(0),
        version: AtomicU64::new(0),
        #[cfg(not(target_os = "none"))]
        writer: AtomicU64::new(0),
        words: <PayloadSize<N> as SupportedPayload>::EMPTY,
    };

    /// An empty slot.
    #[must_use]
    pub fn new() -> Self {
        Self {
            seq: AtomicU64::new(0),
            meta: AtomicU64::new(0),
            version: AtomicU64::new(0),
            #[cfg(not(target_os = "none"))]
            writer: AtomicU64::new(0),
            words: <PayloadSize<N> as SupportedPayload>::new_words(),
        }
    }

    pub(crate) fn words(&self) -> &[PayloadWord] {
        self.words.as_ref()
    }

    /// Number of `u64` words in a slot: 4 header words, then `N / 8` payload words.
    #[cfg(feature = "__test-hooks")]
    #[doc(hidden)]
    pub const RAW_WORDS: usize = 4 + N / 8;

    /// Test and fuzz hook (feature `__test-hooks`): stores raw values into the slot's words in
    /// layout order (`seq`, `meta`, `version`, `writer`, payload…), as a buggy or hostile peer
    /// sharing the memory could. Extra values are ignored.
    #[cfg(feature = "__test-hooks")]
    #[doc(hidden)]
    pub fn overwrite_raw(&self, raw: &[u64]) {
        use crate::sync::Ordering::Relaxed;
        let header = [&self.seq, &self.meta, &self.version, &self.writer];
        for (word, value) in header.into_iter().chain(self.words()).zip(raw) {
            word.store(*value, Relaxed);
        }
    }
}

impl<const N: usize> Default for Slot<N>
where
    PayloadSize<N>: SupportedPayload,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Debug for Slot<N>
where
    PayloadSize<N>: SupportedPayload,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Slot")
            .field("payload", &N)
            .finish_non_exhaustive()
    }
}

/// The `writer` word of a slot taken by the writer tagged `tag` for `counter` (`tag != 0`).
#[cfg(not(target_os = "none"))]
pub(crate) const fn pack_writer(tag: u32, counter: u64) -> u64 {
    ((tag as u64) << 32) | (counter & 0xFFFF_FFFF)
}

impl<const N: usize> Slot<N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// Records that the writer tagged `tag` (non-zero) holds this slot for `counter`. Called
    /// right after taking the slot; relaxed: a reader that reads it back checks the counter
    /// bits, and one that reads an older value learns nothing (every commit clears the word).
    #[inline]
    pub(crate) fn mark_writer(&self, tag: u32, counter: u64) {
        #[cfg(not(target_os = "none"))]
        if tag != 0 {
            self.writer
                .store(pack_writer(tag, counter), Ordering::Relaxed);
        }
        #[cfg(target_os = "none")]
        let _ = (tag, counter);
    }

    /// Clears the `writer` word before the commit of a slot marked by [`mark_writer`]; ordered
    /// before the commit by its release store, so the next writer of the slot (whose take
    /// synchronises with that commit) never leaves a reader an older writer's tag to find.
    #[inline]
    pub(crate) fn unmark_writer(&self, tag: u32) {
        #[cfg(not(target_os = "none"))]
        if tag != 0 && !crate::sync::mutant(crate::sync::mutants::TRUST_STALE_WRITER) {
            self.writer.store(0, Ordering::Relaxed);
        }
        #[cfg(target_os = "none")]
        let _ = tag;
    }
}

/// `meta` of a slot returned to service after its writer died mid-write: a payload length no
/// slot has, so readers count the frame unavailable.
pub(crate) const VOID_META: u64 = pack_meta(0, 0, u32::MAX as usize);

/// `meta` word: frame kind in bits 0..8, publishing node in bits 8..24, payload length in bits
/// 32..64.
pub(crate) const fn pack_meta(frame_kind: u8, node: u16, len: usize) -> u64 {
    (frame_kind as u64) | ((node as u64) << 8) | ((len as u64) << 32)
}

/// Inverse of [`pack_meta`]: `(frame kind, node, length)`. The length is untrusted and must be
/// validated by the caller.
pub(crate) const fn unpack_meta(meta: u64) -> (u8, u16, u64) {
    (meta as u8, (meta >> 8) as u16, meta >> 32)
}

/// `seq` word encoding: `0` never written, `2c + 1` writing counter `c`, `2c + 2` committed.
pub(crate) mod seq {
    /// The largest counter whose seq values fit a `u64` (`2c + 2 <= u64::MAX`).
    pub(crate) const MAX_COUNTER: u64 = (u64::MAX - 2) / 2;

    /// The odd seq of counter `c` being written, if `c` is representable.
    pub(crate) const fn writing(counter: u64) -> Option<u64> {
        if counter > MAX_COUNTER {
            None
        } else {
            Some(2 * counter + 1)
        }
    }

    /// The even seq of counter `c` once committed, if `c` is representable.
    pub(crate) const fn committed(counter: u64) -> Option<u64> {
        if counter > MAX_COUNTER {
            None
        } else {
            Some(2 * counter + 2)
        }
    }

    /// True if the seq is odd, i.e. some writer holds the slot.
    pub(crate) const fn is_writing(seq: u64) -> bool {
        seq & 1 == 1
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn header_is_32_bytes_and_slots_are_cache_aligned() {
        assert_eq!(core::mem::offset_of!(Slot<64>, words), 32);
        assert_eq!(core::mem::align_of::<Slot<8>>(), 64);
        assert_eq!(core::mem::size_of::<Slot<32>>(), 64);
        assert_eq!(core::mem::size_of::<Slot<64>>(), 128);
        assert_eq!(core::mem::size_of::<Slot<224>>(), 256);
        assert_eq!(core::mem::size_of::<Slot<480>>(), 512);
        assert_eq!(core::mem::size_of::<Slot<4096>>(), 4096 + 64);
    }

    #[test]
    fn seq_encoding_never_overflows() {
        assert_eq!(seq::writing(0), Some(1));
        assert_eq!(seq::committed(0), Some(2));
        assert_eq!(seq::committed(seq::MAX_COUNTER), Some(u64::MAX - 1));
        assert_eq!(seq::writing(seq::MAX_COUNTER + 1), None);
        assert_eq!(seq::committed(u64::MAX), None);
        assert_eq!(seq::committed(1 << 63), None);
    }

    #[test]
    fn meta_round_trips() {
        assert_eq!(unpack_meta(pack_meta(7, 0xBEEF, 4096)), (7, 0xBEEF, 4096));
        assert_eq!(unpack_meta(u64::MAX), (255, u16::MAX, u64::from(u32::MAX)));
    }
}

// The compact bare-metal layout: a 24-byte header (seq, meta, version), no cache-line padding.
#[cfg(target_os = "none")]
const _: () = {
    assert!(core::mem::offset_of!(Slot<64>, words) == 24);
    assert!(core::mem::size_of::<Slot<64>>() == 88);
};
