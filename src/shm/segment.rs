//! One POSIX shared-memory object holding one ring, created or attached with rustix and mapped
//! with memmap2.
//!
//! # Safety
//!
//! This is the one module that turns mapped bytes into references. The invariant: a
//! [`Segment`] maps at least `PREFIX_BYTES + capacity * size_of::<Slot<N>>()` bytes — checked
//! against the object's real size (`fstat`) *before* mapping, so no access faults on a short
//! object — and the mapping is page-aligned, so the header (offset 0), the head (offset 64)
//! and the slots (offset `PREFIX_BYTES` = 256) are aligned to their 64-byte alignment. Every field of those
//! types is an atomic integer: any bit pattern another process leaves is a valid value, and
//! shared mutation through `&` is what atomics are for. References never outlive the mapping
//! because they borrow the `Segment`.
//!
//! Not defended against: another process of the *same user* shrinking the object with
//! `ftruncate` after we mapped it (accesses past the new end raise SIGBUS). Foreign users are
//! refused at attach.
#![allow(unsafe_code)]

use std::fs::File;
use std::string::ToString;
use std::thread;
use std::time::{Duration, Instant};

use memmap2::{MmapOptions, MmapRaw};
use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::shm;

use super::header::{HeaderFields, Layout, PREFIX_BYTES, RawHeader};
use super::{SegmentName, ShmError};
use crate::ring::{Head, PayloadSize, Ring, Slot, SupportedPayload, check_capacity};

/// How long an attacher waits for a creator to size and initialise a fresh segment.
pub const INIT_WAIT: Duration = Duration::from_secs(2);

/// One mapped ring segment. Dropping it unmaps; the name stays until [`Segment::unlink`].
pub struct Segment<const N: usize>
where
    PayloadSize<N>: SupportedPayload,
{
    name: SegmentName,
    map: MmapRaw,
    layout: Layout,
    created: bool,
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
            .finish_non_exhaustive()
    }
}

fn io(segment: &SegmentName, op: &'static str, errno: Errno) -> ShmError {
    ShmError::Io {
        segment: segment.to_string(),
        op,
        source: errno.into(),
    }
}

fn map_io(segment: &SegmentName, op: &'static str, source: std::io::Error) -> ShmError {
    ShmError::Io {
        segment: segment.to_string(),
        op,
        source,
    }
}

impl<const N: usize> Segment<N>
where
    PayloadSize<N>: SupportedPayload,
{
    /// Creates the segment, or attaches to it if it exists. Any number of processes may race
    /// here: exactly one creates; the others wait for its header and attach.
    #[doc(alias = "shm_open")]
    pub fn open(name: SegmentName, kind: u8, capacity: usize) -> Result<Self, ShmError> {
        let layout = Self::checked_layout(&name, kind, capacity)?;
        loop {
            match Self::create_with(name.clone(), layout) {
                Err(ShmError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::AlreadyExists => {}
                other => return other,
            }
            match Self::attach_with(name.clone(), layout) {
                // Unlinked between our create and attach attempts: create again.
                Err(ShmError::Io {
                    source,
                    op: "shm_open",
                    ..
                }) if source.kind() == std::io::ErrorKind::NotFound => {}
                other => return other,
            }
        }
    }

    /// Creates a fresh segment; fails with an `AlreadyExists` I/O error if the name is taken.
    pub fn create(name: SegmentName, kind: u8, capacity: usize) -> Result<Self, ShmError> {
        let layout = Self::checked_layout(&name, kind, capacity)?;
        Self::create_with(name, layout)
    }

    /// Attaches to an existing segment after validating owner, mode, header and size.
    pub fn attach(name: SegmentName, kind: u8, capacity: usize) -> Result<Self, ShmError> {
        let layout = Self::checked_layout(&name, kind, capacity)?;
        Self::attach_with(name, layout)
    }

    fn checked_layout(name: &SegmentName, kind: u8, capacity: usize) -> Result<Layout, ShmError> {
        check_capacity(capacity).map_err(|error| ShmError::InvalidRing {
            segment: name.to_string(),
            error,
        })?;
        Ok(Layout::of::<N>(kind, capacity))
    }

    fn create_with(name: SegmentName, layout: Layout) -> Result<Self, ShmError> {
        let flags = shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR;
        let fd = shm::open(name.as_str(), flags, Mode::RUSR | Mode::WUSR)
            .map_err(|e| io(&name, "shm_open", e))?;
        let file = File::from(fd);
        let result = (|| {
            let bytes = layout.segment_bytes().unwrap_or(u64::MAX);
            rustix::fs::ftruncate(&file, bytes).map_err(|e| io(&name, "ftruncate", e))?;
            let map = Self::map(&name, &file, bytes)?;
            let segment = Self {
                name: name.clone(),
                map,
                layout,
                created: true,
            };
            // The object is fresh and zero-filled by ftruncate: slots are already "empty"; the
            // head starts at a random counter (cursors tell segments apart by it); publishing
            // the header makes the segment valid.
            segment.head().seed_start();
            segment.header().publish(&layout);
            Ok(segment)
        })();
        if result.is_err() {
            // Never leave a half-initialised segment behind under this name.
            let _ = shm::unlink(name.as_str());
        }
        result
    }

    fn attach_with(name: SegmentName, layout: Layout) -> Result<Self, ShmError> {
        let fd = shm::open(name.as_str(), shm::OFlags::RDWR, Mode::empty())
            .map_err(|e| io(&name, "shm_open", e))?;
        let file = File::from(fd);
        let stat = rustix::fs::fstat(&file).map_err(|e| io(&name, "fstat", e))?;
        let euid = rustix::process::geteuid().as_raw();
        if stat.st_uid != euid {
            return Err(ShmError::ForeignOwner {
                segment: name.to_string(),
                owner: stat.st_uid,
                euid,
            });
        }
        let mode = stat.st_mode & 0o7777;
        if mode & 0o077 != 0 {
            return Err(ShmError::InsecureMode {
                segment: name.to_string(),
                mode,
            });
        }
        let start = Instant::now();
        let not_ready = || ShmError::NotInitialized {
            segment: name.to_string(),
            waited_ms: start.elapsed().as_millis() as u64,
        };
        // The creator sizes the object right after creating it; wait for that.
        let mut size = Self::object_size(&name, &file)?;
        while size < PREFIX_BYTES as u64 {
            if start.elapsed() > INIT_WAIT {
                return Err(not_ready());
            }
            thread::sleep(Duration::from_millis(1));
            size = Self::object_size(&name, &file)?;
        }
        // Map only the prefix until the header is valid: its spec tells how much is safe.
        let prefix = Self::map(&name, &file, PREFIX_BYTES as u64)?;
        let fields = loop {
            // SAFETY: `prefix` maps PREFIX_BYTES (>= 64) page-aligned bytes of atomics; see the
            // module's Safety section.
            let raw = unsafe { &*prefix.as_ptr().cast::<RawHeader>() };
            let fields = HeaderFields::load(raw);
            if fields.magic != 0 {
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
        let map = Self::map(&name, &file, bytes)?;
        Ok(Self {
            name,
            map,
            layout,
            created: false,
        })
    }

    fn object_size(name: &SegmentName, file: &File) -> Result<u64, ShmError> {
        let stat = rustix::fs::fstat(file).map_err(|e| io(name, "fstat", e))?;
        Ok(u64::try_from(stat.st_size).unwrap_or(0))
    }

    fn map(name: &SegmentName, file: &File, bytes: u64) -> Result<MmapRaw, ShmError> {
        let len = usize::try_from(bytes).map_err(|_| ShmError::TooSmall {
            segment: name.to_string(),
            size: bytes,
            needed: bytes,
        })?;
        MmapOptions::new()
            .len(len)
            .map_raw(file)
            .map_err(|e| map_io(name, "mmap", e))
    }

    fn header(&self) -> &RawHeader {
        debug_assert!(self.map.len() >= PREFIX_BYTES);
        // SAFETY: the mapping holds at least PREFIX_BYTES page-aligned bytes; the header is at
        // offset 0 and made of atomics (module Safety section).
        unsafe { &*self.map.as_ptr().cast::<RawHeader>() }
    }

    fn head(&self) -> &Head {
        debug_assert!(self.map.len() >= PREFIX_BYTES);
        // SAFETY: `Head` spans offsets 64..PREFIX_BYTES, inside the mapping, 64-byte aligned;
        // it is made of atomics only (module Safety section).
        unsafe { &*self.map.as_ptr().add(64).cast::<Head>() }
    }

    fn slots(&self) -> &[Slot<N>] {
        let capacity = self.layout.capacity as usize;
        debug_assert!(self.map.len() >= PREFIX_BYTES + capacity * core::mem::size_of::<Slot<N>>());
        // SAFETY: the mapping holds PREFIX_BYTES + capacity * size_of::<Slot<N>>() bytes
        // (validated before mapping); offset PREFIX_BYTES is 64-byte aligned; slots are atomics
        // (module Safety section).
        unsafe {
            core::slice::from_raw_parts(
                self.map.as_ptr().add(PREFIX_BYTES).cast::<Slot<N>>(),
                capacity,
            )
        }
    }

    /// The ring stored in this segment (its kind set; node 0 until `with_node`).
    #[must_use]
    pub fn ring(&self) -> Ring<'_, N> {
        // The layout was validated as a power of two within MAX_CAPACITY when opened.
        match Ring::new(self.slots(), self.head()) {
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
