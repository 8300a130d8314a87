//! One POSIX shared-memory object holding one ring, created or attached through
//! [`object`] (on Linux as a file under `/dev/shm`, never following symlinks)
//! and mapped with memmap2.
//!
//! Creation on Linux never exposes an uninitialised segment: the object is created without a
//! name (`O_TMPFILE`), its memory reserved (`fallocate`), its head seeded and its header
//! published (magic last), and only then linked under its name (`linkat`). A creator killed at
//! any instruction leaves nothing behind, and a name that is taken meanwhile (`EEXIST`) means
//! another creator won: [`Segment::open`] attaches to its segment. So an attacher on Linux
//! that finds no magic, or an object too short for a header, found something this crate never
//! publishes and says so at once ([`ShmError::BadMagic`], [`ShmError::TooSmall`]). Elsewhere
//! the object is created under its name (`O_CREAT | O_EXCL`) and attachers wait up to
//! [`INIT_WAIT`] for its magic. A segment larger than the process's file-size limit
//! (`ulimit -f`) is refused before anything is reserved ([`ShmError::FileSizeLimit`]), instead
//! of dying of SIGXFSZ.
//!
//! Segments are created and attached under a [`Sharing`] policy (owner-only unless
//! [`Segment::open_shared`] says otherwise): created with exactly its mode and group, attached
//! only if it allows what is there (see [`object`]). A fleet's read-policy observer attaches
//! `O_RDONLY` and maps the segment read-only (crate-internal: such a `Segment` is never handed
//! out, and nothing stores through it).
//!
//! # Safety
//!
//! This is the one module that turns mapped bytes into references. The invariant: a
//! [`Segment`] maps at least its layout's `segment_bytes()` — the header, `lanes` heads of 128
//! bytes from offset 64, and `lanes × capacity` slots of `size_of::<Slot<N>>()` bytes from the
//! prefix's end (see [`header`](super::header)) — checked against the object's real size
//! (`fstat`) *before* mapping, so no access faults on a short object; and the mapping is
//! page-aligned, so the header (offset 0), every head (64 + 128·lane) and every slot (the
//! prefix is a multiple of 128, strides of 64) are aligned to their 64-byte alignment. Every
//! field of those types is an atomic integer: any bit pattern another process leaves is a valid value, and
//! shared mutation through `&` is what atomics are for. References never outlive the mapping
//! because they borrow the `Segment`.
//!
//! A read-only mapping (an observer's) is only ever loaded from: polling and reading issue
//! 64-bit atomic loads only (`ring/read.rs` performs no store and no read-modify-write), and
//! the fleet layer refuses every writing operation on an observer's rings before it reaches
//! the ring; [`Segment::retire`] refuses too. Rust's atomics documentation ("Atomic accesses to
//! read-only memory") guarantees *Relaxed* loads of up to 8 bytes on read-only memory on the
//! 64-bit targets fleets run on (x86_64, aarch64, riscv64, ...), and the read path loads
//! nothing else: where it needs acquire ordering it makes a relaxed load followed by an
//! acquire fence (`sync::load_acquire`). A load that wrote would fault (SIGSEGV), which
//! `tests/shm_group.rs` would see as a dead observer. No compare-exchange or other
//! read-modify-write is ever issued on a read-only mapping.
//!
//! Not defended against: another process of the *same user* (in a read-write group fleet: of
//! the group) shrinking the object with `ftruncate` after we mapped it (accesses past the new
//! end raise SIGBUS). Users the sharing policy does not admit are refused at attach.
#![allow(unsafe_code)]

use std::fs::File;
use std::string::ToString;
use std::thread;
use std::time::{Duration, Instant};

use memmap2::{MmapOptions, MmapRaw};
use rustix::io::Errno;
use rustix::shm;

use core::mem::size_of;

use super::header::{HeaderFields, Layout, MAX_LANES, PREFIX_BYTES, RawHeader};
use super::{SegmentName, Sharing, ShmError, object};
use crate::ring::{Head, PayloadSize, Ring, Slot, SupportedPayload, check_capacity};
use crate::sync::Ordering;

/// How long an attacher waits for a creator to size and initialise a fresh segment, where
/// segments are created under their name (not on Linux, where a segment is named only once it
/// is initialised, and an attacher never waits).
pub const INIT_WAIT: Duration = Duration::from_secs(2);

/// True where a segment appears under its name only once it is complete (Linux: created
/// unnamed, then linked); there an attacher never waits for a creator.
const NAMED_WHEN_COMPLETE: bool = cfg!(target_os = "linux");

/// How many create-then-attach rounds [`Segment::open`] makes while the name keeps
/// disappearing between them, before it gives up with [`ShmError::KeepsDisappearing`].
pub const OPEN_ROUNDS: u32 = 16;

/// True if a segment's retired word ([`Segment::retired_flag`]) says the segment is retired.
#[inline]
pub(crate) fn retired(word: &crate::sync::AtomicU64) -> bool {
    // SYNC: Acquire pairs with the Release store in Segment::retire(): a member that sees the
    // segment retired sees the fresh segment's name in place (or being created).
    crate::sync::load_acquire(word) != 0
}

/// One mapped ring segment. Dropping it unmaps; the name stays until [`Segment::unlink`].
///
/// For a ring shared by processes without a fleet (no membership, no liveness: a writer that
/// dies mid-write stalls its slot until readers give up on it); fleets use segments inside.
///
/// # Examples
///
/// ```
/// use orbit_rs::Cursor;
/// use orbit_rs::shm::{Segment, SegmentName, current_uid};
///
/// let name = SegmentName::new(&format!("segment-doc-{}", std::process::id()), 3, current_uid())?;
/// let created = Segment::<64>::open(name.clone(), 3, 64)?; // creates it
/// let attached = Segment::<64>::open(name.clone(), 3, 64)?; // another process would do this
/// assert!(created.created() && !attached.created());
/// created.ring().publish(1, 0, b"over shared memory")?;
/// let mut cursor = Cursor::from_start();
/// let poll = attached.ring().poll(&mut cursor, |frame| {
///     assert_eq!(frame.payload, b"over shared memory");
/// });
/// assert_eq!(poll.delivered, 1);
/// Segment::<64>::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Segment<const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    name: SegmentName,
    map: MmapRaw,
    /// The object, open for the segment's lifetime (for locks on it).
    file: File,
    layout: Layout,
    created: bool,
    /// Opened `O_RDONLY` and mapped read-only (a read-policy observer's): nothing may store.
    read_only: bool,
}

impl<const N: usize> core::fmt::Debug for Segment<N>
where
    PayloadSize<N>: SupportedPayload,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Segment")
            .field("name", &self.name)
            .field("layout", &self.layout)
            .field("created", &self.created)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

fn io(segment: &SegmentName, op: &'static str, errno: Errno) -> ShmError {
    object::io(segment.as_str(), op, errno)
}

fn map_io(segment: &SegmentName, op: &'static str, source: std::io::Error) -> ShmError {
    ShmError::Io {
        segment: segment.to_string(),
        op,
        source,
    }
}

/// Refuses a segment larger than the soft file-size limit (`RLIMIT_FSIZE`, `ulimit -f`):
/// reserving it would raise SIGXFSZ, which kills the process unless it handles the signal.
fn check_file_size_limit(name: &SegmentName, bytes: u64) -> Result<(), ShmError> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Fsize).current;
    match limit {
        Some(limit) if bytes > limit => Err(ShmError::FileSizeLimit {
            segment: name.to_string(),
            bytes,
            limit,
        }),
        _ => Ok(()),
    }
}

/// Gives a fresh object its size and, on Linux, reserves its memory (`fallocate`), so a ring
/// the filesystem cannot hold fails here with [`ShmError::NoSpace`] instead of raising SIGBUS
/// at some later write.
fn reserve(name: &SegmentName, file: &File, bytes: u64) -> Result<(), ShmError> {
    let no_space = |errno: Errno| {
        let free = rustix::fs::fstatvfs(file)
            .ok()
            .map(|vfs| vfs.f_bavail.saturating_mul(vfs.f_frsize));
        ShmError::NoSpace {
            segment: name.to_string(),
            bytes,
            free,
            source: errno.into(),
        }
    };
    #[cfg(target_os = "linux")]
    loop {
        match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, bytes) {
            Ok(()) => return Ok(()),
            Err(Errno::INTR) => {}
            Err(e @ (Errno::NOSPC | Errno::FBIG)) => return Err(no_space(e)),
            // A filesystem without fallocate: size it at least.
            Err(Errno::OPNOTSUPP) => break,
            Err(e) => return Err(io(name, "fallocate", e)),
        }
    }
    match rustix::fs::ftruncate(file, bytes) {
        Ok(()) => Ok(()),
        Err(e @ (Errno::NOSPC | Errno::FBIG)) => Err(no_space(e)),
        Err(e) => Err(io(name, "ftruncate", e)),
    }
}

impl<const N: usize> Segment<N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// Creates the segment, or attaches to it if it exists. Any number of processes may race
    /// here: exactly one creates (on Linux the one whose initialised segment is linked under
    /// the name first; the others' unnamed segments vanish) and the others attach to its
    /// segment (elsewhere: once its header is published). A name that exists when we create
    /// and is gone when we attach is retried, at most [`OPEN_ROUNDS`] times, then
    /// [`ShmError::KeepsDisappearing`].
    ///
    /// # Errors
    ///
    /// Those of [`create`](Self::create) and [`attach`](Self::attach).
    #[doc(alias = "shm_open")]
    pub fn open(name: SegmentName, kind: u8, capacity: usize) -> Result<Self, ShmError> {
        Self::open_shared(name, kind, capacity, Sharing::Owner)
    }

    /// [`open`](Self::open) under `sharing`, read-write: a segment created here gets exactly
    /// the policy's mode and group before it is named; one attached must be allowed by the
    /// policy (name it with [`SegmentName::shared`]). Under a group's read policy only the
    /// segment's owner can open it read-write.
    ///
    /// # Errors
    ///
    /// Those of [`open`](Self::open); [`ShmError::NotInGroup`] if this process is not a
    /// member of the policy's group, [`ShmError::GroupMismatch`] for a segment of another
    /// group, [`ShmError::InsecureMode`] for one whose mode grants more than the policy.
    pub fn open_shared(
        name: SegmentName,
        kind: u8,
        capacity: usize,
        sharing: Sharing,
    ) -> Result<Self, ShmError> {
        Self::open_lanes(name, kind, capacity, 1, sharing)
    }

    /// [`open_shared`](Self::open_shared) for a segment of `lanes` rings (a fleet's per-node
    /// lanes).
    pub(crate) fn open_lanes(
        name: SegmentName,
        kind: u8,
        capacity: usize,
        lanes: usize,
        sharing: Sharing,
    ) -> Result<Self, ShmError> {
        let layout = Self::checked_layout(&name, kind, capacity, lanes)?;
        for _ in 0..OPEN_ROUNDS {
            match Self::create_with(name.clone(), layout, sharing) {
                Err(ShmError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::AlreadyExists => {}
                other => return other,
            }
            match Self::attach_with(name.clone(), layout, sharing, true) {
                // Unlinked between our create and attach attempts: create again.
                Err(ShmError::Io {
                    source, op: "open", ..
                }) if source.kind() == std::io::ErrorKind::NotFound => {}
                // Retired, and its retirer has not removed the name yet (or died before it
                // could): finish the retirement, then create a fresh one.
                Ok(segment) if segment.is_retired() => {
                    segment.unlink_if_named()?;
                }
                other => return other,
            }
        }
        Err(ShmError::KeepsDisappearing {
            segment: name.to_string(),
            rounds: OPEN_ROUNDS,
        })
    }

    /// Creates a fresh segment; fails with an `AlreadyExists` I/O error if the name is taken
    /// (by anything, even a dangling symlink). The segment's memory is reserved here, and on
    /// Linux the segment is named only once it is initialised: whatever fails, or kills the
    /// process, on the way, nothing is left under the name.
    ///
    /// # Errors
    ///
    /// [`ShmError::NoSpace`] if the shared-memory filesystem cannot hold the ring;
    /// [`ShmError::FileSizeLimit`] if it is larger than `ulimit -f` allows;
    /// [`ShmError::CreateUnsupported`] on a Linux system where it cannot be created unnamed
    /// (no `O_TMPFILE`, or no way to link it); [`ShmError::InvalidRing`] for a bad capacity;
    /// [`ShmError::Io`] if a call fails.
    pub fn create(name: SegmentName, kind: u8, capacity: usize) -> Result<Self, ShmError> {
        let layout = Self::checked_layout(&name, kind, capacity, 1)?;
        Self::create_with(name, layout, Sharing::Owner)
    }

    /// Attaches to an existing segment after validating what the name is (a regular file
    /// with one link on the shared-memory device), owner, mode, header and size.
    ///
    /// # Errors
    ///
    /// A typed refusal naming the segment ([`ShmError::NotRegularFile`],
    /// [`ShmError::HardLinked`], [`ShmError::OtherDevice`], [`ShmError::ForeignOwner`],
    /// [`ShmError::InsecureMode`], [`ShmError::BadMagic`], [`ShmError::LayoutVersion`],
    /// [`ShmError::SpecMismatch`], [`ShmError::TooSmall`]); on Linux an object without the
    /// magic is [`ShmError::BadMagic`] at once, elsewhere [`ShmError::NotInitialized`] after
    /// [`INIT_WAIT`]; an `NotFound` [`ShmError::Io`] if nothing is under the name.
    pub fn attach(name: SegmentName, kind: u8, capacity: usize) -> Result<Self, ShmError> {
        let layout = Self::checked_layout(&name, kind, capacity, 1)?;
        Self::attach_with(name, layout, Sharing::Owner, true)
    }

    /// Attaches to an existing segment that `sharing` allows, `O_RDONLY`, and maps it
    /// read-only: a read-policy observer's segment. Never creates, never unlinks; a missing
    /// segment is a `NotFound` [`ShmError::Io`] (its owner has not created it yet). Everything
    /// that could store through it must be refused by the caller (the fleet layer does).
    ///
    /// # Errors
    ///
    /// Those of [`attach`](Self::attach), with `sharing`'s checks.
    pub(crate) fn attach_read_only(
        name: SegmentName,
        kind: u8,
        capacity: usize,
        lanes: usize,
        sharing: Sharing,
    ) -> Result<Self, ShmError> {
        let layout = Self::checked_layout(&name, kind, capacity, lanes)?;
        Self::attach_with(name, layout, sharing, false)
    }

    fn checked_layout(
        name: &SegmentName,
        kind: u8,
        capacity: usize,
        lanes: usize,
    ) -> Result<Layout, ShmError> {
        check_capacity(capacity).map_err(|error| ShmError::InvalidRing {
            segment: name.to_string(),
            error,
        })?;
        let layout = Layout::lanes_of::<N>(kind, capacity, lanes);
        if lanes == 0 || layout.lanes > MAX_LANES || layout.segment_bytes().is_none() {
            return Err(ShmError::InvalidLanes {
                segment: name.to_string(),
                lanes: layout.lanes,
                max: MAX_LANES,
            });
        }
        Ok(layout)
    }

    fn create_with(name: SegmentName, layout: Layout, sharing: Sharing) -> Result<Self, ShmError> {
        let creating = object::create(name.as_str(), sharing)?;
        let bytes = layout.segment_bytes().unwrap_or(u64::MAX);
        let initialised = (|| {
            check_file_size_limit(&name, bytes)?;
            reserve(&name, creating.file(), bytes)?;
            let map = Self::map(&name, creating.file(), bytes, true)?;
            // The object is fresh and zero-filled: slots are already "empty"; the head starts
            // at a random counter (cursors tell segments apart by it); publishing the header
            // makes the segment valid.
            for lane in 0..layout.lanes as usize {
                Self::head_in(&map, &layout, lane).seed_start();
            }
            Self::header_in(&map).publish(&layout);
            Ok(map)
        })();
        match initialised {
            Ok(map) => {
                // Only now does the segment get its name (Linux): nobody ever sees it
                // half-initialised. EEXIST here means another creator won the name.
                let file = creating.publish(name.as_str())?;
                Ok(Self {
                    name,
                    map,
                    file,
                    layout,
                    created: true,
                    read_only: false,
                })
            }
            Err(e) => {
                creating.abandon(name.as_str());
                Err(e)
            }
        }
    }

    fn attach_with(
        name: SegmentName,
        layout: Layout,
        sharing: Sharing,
        write: bool,
    ) -> Result<Self, ShmError> {
        // A regular single-link file on the shm device that the policy allows (owner-only:
        // ours, 0600 or narrower).
        let file = object::attach(name.as_str(), sharing, write)?;
        let start = Instant::now();
        let not_ready = || ShmError::NotInitialized {
            segment: name.to_string(),
            waited_ms: start.elapsed().as_millis() as u64,
        };
        // Where segments are named before they are initialised, the creator sizes the object
        // right after creating it: wait for that. On Linux a named segment is complete.
        let mut size = Self::object_size(&name, &file)?;
        while size < PREFIX_BYTES as u64 {
            if NAMED_WHEN_COMPLETE {
                return Err(ShmError::TooSmall {
                    segment: name.to_string(),
                    size,
                    needed: layout.segment_bytes().unwrap_or(u64::MAX),
                });
            }
            if start.elapsed() > INIT_WAIT {
                return Err(not_ready());
            }
            thread::sleep(Duration::from_millis(1));
            size = Self::object_size(&name, &file)?;
        }
        // Map only the prefix until the header is valid: its spec tells how much is safe.
        let prefix = Self::map(&name, &file, PREFIX_BYTES as u64, write)?;
        let fields = loop {
            let fields = HeaderFields::load(Self::header_in(&prefix));
            // On Linux a zero magic is never published: `validate` reports it at once.
            if fields.magic != 0 || NAMED_WHEN_COMPLETE {
                break fields;
            }
            if start.elapsed() > INIT_WAIT {
                return Err(not_ready());
            }
            thread::sleep(Duration::from_millis(1));
        };
        drop(prefix);
        let size = Self::object_size(&name, &file)?;
        let bytes = fields.validate(name.as_str(), size, &layout)?;
        let map = Self::map(&name, &file, bytes, write)?;
        Ok(Self {
            name,
            map,
            file,
            layout,
            created: false,
            read_only: !write,
        })
    }

    fn object_size(name: &SegmentName, file: &File) -> Result<u64, ShmError> {
        let stat = rustix::fs::fstat(file).map_err(|e| io(name, "fstat", e))?;
        Ok(u64::try_from(stat.st_size).unwrap_or(0))
    }

    /// Maps `bytes` of `file`, read-write or (`write` false) read-only (`PROT_READ`: any store
    /// faults).
    fn map(name: &SegmentName, file: &File, bytes: u64, write: bool) -> Result<MmapRaw, ShmError> {
        let len = usize::try_from(bytes).map_err(|_| ShmError::TooSmall {
            segment: name.to_string(),
            size: bytes,
            needed: bytes,
        })?;
        let mut options = MmapOptions::new();
        options.len(len);
        if write {
            options.map_raw(file)
        } else {
            options.map_raw_read_only(file)
        }
        .map_err(|e| map_io(name, "mmap", e))
    }

    /// The header at offset 0 of `map`, which must hold at least PREFIX_BYTES bytes.
    ///
    /// # Panics
    ///
    /// If `map` is shorter than PREFIX_BYTES (never for a map made by [`map`](Self::map)
    /// with at least that many bytes).
    fn header_in(map: &MmapRaw) -> &RawHeader {
        assert!(map.len() >= PREFIX_BYTES, "the mapping holds the header");
        // SAFETY: the mapping holds at least PREFIX_BYTES page-aligned bytes (asserted above;
        // mmap returns page-aligned memory); the header is at offset 0 and made of atomics
        // (module Safety section); the reference borrows the mapping.
        unsafe { &*map.as_ptr().cast::<RawHeader>() }
    }

    /// Lane `lane`'s head in `map`, which must hold `layout` (a lane below `layout.lanes`).
    ///
    /// # Panics
    ///
    /// If the head would not lie inside `map` (never for a map of a validated layout).
    #[inline]
    fn head_in<'m>(map: &'m MmapRaw, layout: &Layout, lane: usize) -> &'m Head {
        let offset = layout.head_offset(lane);
        assert!(
            (lane as u64) < layout.lanes && offset + size_of::<Head>() <= map.len(),
            "the mapping holds the head"
        );
        // SAFETY: the head spans offset..offset + size_of::<Head>(), inside the mapping
        // (asserted above); offset is 64 + 128·lane, 64-byte aligned in page-aligned memory; a
        // `Head` is made of atomics only (module Safety section); the reference borrows the
        // mapping.
        unsafe { &*map.as_ptr().add(offset).cast::<Head>() }
    }

    /// Lane `lane`'s slots (a lane below `layout.lanes`).
    #[inline]
    fn slots(&self, lane: usize) -> &[Slot<N>] {
        let capacity = self.layout.capacity as usize;
        let offset = self.layout.slots_offset(lane);
        assert!(
            (lane as u64) < self.layout.lanes
                && offset + capacity * size_of::<Slot<N>>() <= self.map.len(),
            "the mapping holds the lane's slots"
        );
        // SAFETY: the lane's slots span offset..offset + capacity * size_of::<Slot<N>>(),
        // inside the mapping (asserted above; the whole layout was validated against the
        // object's size before mapping); offset is a multiple of 64 (a 128-aligned prefix
        // plus whole slots); slots are atomics (module Safety section).
        unsafe {
            core::slice::from_raw_parts(self.map.as_ptr().add(offset).cast::<Slot<N>>(), capacity)
        }
    }

    /// The ring stored in this segment — its first lane (its kind set; node 0 until
    /// `with_node`).
    ///
    /// Every `Segment` handed out by this API is mapped read-write; a read-only one (a fleet
    /// observer's, crate-internal) is only polled and read through it.
    #[must_use]
    #[inline]
    pub fn ring(&self) -> Ring<'_, N> {
        self.lane(0)
    }

    /// The ring of lane `lane` (below [`Layout::lanes`]); as [`ring`](Self::ring).
    ///
    /// # Panics
    ///
    /// If `lane` is not below the segment's lane count.
    #[inline]
    pub(crate) fn lane(&self, lane: usize) -> Ring<'_, N> {
        let head = Self::head_in(&self.map, &self.layout, lane);
        // The layout was validated as a power of two within MAX_CAPACITY when opened.
        match Ring::new(self.slots(lane), head) {
            Ok(ring) => ring.with_kind(self.layout.kind),
            Err(_) => unreachable!("segment capacity validated at open"),
        }
    }

    /// The segment's name.
    #[must_use]
    pub fn name(&self) -> &SegmentName {
        &self.name
    }

    /// True if this handle created the segment (false: attached to an existing one).
    #[must_use]
    pub fn created(&self) -> bool {
        self.created
    }

    /// The segment's layout.
    #[must_use]
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The segment's object, open as long as the segment is (for locks on it).
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// True once the segment was [retired](Self::retire): its name was removed (or is being
    /// removed) and members that notice move to whatever segment the name holds next.
    #[must_use]
    pub fn is_retired(&self) -> bool {
        retired(self.retired_flag())
    }

    /// The header word [`is_retired`](Self::is_retired) reads (non-zero: retired), for a
    /// handle that keeps it at hand and asks [`retired`].
    pub(crate) fn retired_flag(&self) -> &crate::sync::AtomicU64 {
        &Self::header_in(&self.map).retired
    }

    /// Retires the segment: marks it retired, so every attached member notices on its next
    /// use and re-attaches by name, then removes its name if the name still refers to this
    /// segment (not to a fresh one somebody created after an earlier retirement). Returns
    /// whether it removed the name. Mappings keep working; what is published into a retired
    /// segment reaches only those that have not noticed yet.
    ///
    /// # Errors
    ///
    /// An `EBADF` [`ShmError::Io`] (op `retire`) on a segment mapped read-only, untouched;
    /// those of [`unlink`](Self::unlink).
    pub fn retire(&self) -> Result<bool, ShmError> {
        if self.read_only {
            // The store below would fault on a read-only mapping.
            return Err(io(&self.name, "retire", Errno::BADF));
        }
        // SYNC: Release: a member that sees the mark sees everything published before it.
        Self::header_in(&self.map)
            .retired
            .store(1, Ordering::Release);
        // Members blocked in a wait on any lane look again (and find the mark).
        for lane in 0..self.layout.lanes as usize {
            self.lane(lane).wake_waiters();
        }
        self.unlink_if_named()
    }

    /// Removes the name if it still refers to this segment, *without* retiring it: members
    /// attached keep using it, and the next `open` creates a separate one. Returns whether it
    /// removed the name.
    pub fn unlink_if_named(&self) -> Result<bool, ShmError> {
        if !object::names(self.name.as_str(), &self.file)? {
            return Ok(false);
        }
        Self::unlink(&self.name)
    }

    /// Removes the name. Existing mappings keep working; the next `open` creates a fresh
    /// segment. Returns `Ok(false)` if the name did not exist.
    #[doc(alias = "shm_unlink")]
    pub fn unlink(name: &SegmentName) -> Result<bool, ShmError> {
        match shm::unlink(name.as_str()) {
            Ok(()) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(io(name, "shm_unlink", e)),
        }
    }
}

/// The effective uid segment names are built with.
#[must_use]
pub fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}
