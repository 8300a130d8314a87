//! One POSIX shared-memory object holding one ring, created or attached with rustix (on Linux
//! as a file under `/dev/shm`, never following symlinks) and mapped with memmap2.
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
use rustix::fs::{FileType, Stat};
use rustix::io::Errno;
use rustix::shm;

use super::header::{HeaderFields, Layout, PREFIX_BYTES, RawHeader};
use super::{SegmentName, ShmError};
use crate::ring::{Head, PayloadSize, Ring, Slot, SupportedPayload, check_capacity};

/// How long an attacher waits for a creator to size and initialise a fresh segment.
pub const INIT_WAIT: Duration = Duration::from_secs(2);

/// How many create-then-attach rounds [`Segment::open`] makes while the name keeps
/// disappearing between them, before it gives up with [`ShmError::KeepsDisappearing`].
pub const OPEN_ROUNDS: u32 = 16;

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

/// What kind of directory entry `mode` describes, for errors.
fn kind_name(mode: u32) -> &'static str {
    match FileType::from_raw_mode(mode as _) {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symlink",
        FileType::Fifo => "fifo",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "file of unknown type",
    }
}

/// Refuses anything but a regular file with exactly one link (and, when `device` is known,
/// on that device). Looks only; never changes the entry.
fn check_entry(segment: &SegmentName, stat: &Stat, device: Option<u64>) -> Result<(), ShmError> {
    #[allow(clippy::unnecessary_cast)] // `st_mode` is u16 on some targets.
    let mode = stat.st_mode as u32;
    if FileType::from_raw_mode(mode as _) != FileType::RegularFile {
        return Err(ShmError::NotRegularFile {
            segment: segment.to_string(),
            kind: kind_name(mode),
        });
    }
    #[allow(clippy::unnecessary_cast)] // `st_nlink` is u32 on some targets.
    let links = stat.st_nlink as u64;
    if links != 1 {
        return Err(ShmError::HardLinked {
            segment: segment.to_string(),
            links,
        });
    }
    #[allow(clippy::unnecessary_cast)] // `st_dev` is u32 on some targets.
    let found = stat.st_dev as u64;
    match device {
        Some(expected) if found != expected => Err(ShmError::OtherDevice {
            segment: segment.to_string(),
            device: found,
            expected,
        }),
        _ => Ok(()),
    }
}

/// Opening the object behind a segment name.
///
/// On Linux the object is the file `/dev/shm/<name>`, opened relative to a descriptor of
/// `/dev/shm` with `O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC` (`shm_open` follows symlinks): a
/// symlink, hard link, FIFO, directory or mount at the name is refused and left untouched.
#[cfg(target_os = "linux")]
mod object {
    use std::fs::File;

    use rustix::fd::OwnedFd;
    use rustix::fs::{AtFlags, Mode, OFlags};
    use rustix::io::Errno;

    use super::{SegmentName, ShmError, check_entry, io};

    /// The directory POSIX shared-memory objects live in on Linux.
    const SHM_DIR: &str = "/dev/shm";

    struct ShmDir {
        fd: OwnedFd,
        device: u64,
    }

    fn shm_dir(name: &SegmentName) -> Result<ShmDir, ShmError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::open(SHM_DIR, flags, Mode::empty())
            .map_err(|e| io(name, "open /dev/shm", e))?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| io(name, "fstat /dev/shm", e))?;
        #[allow(clippy::unnecessary_cast)] // `st_dev` is u32 on some targets.
        let device = stat.st_dev as u64;
        Ok(ShmDir { fd, device })
    }

    fn entry(name: &SegmentName) -> &str {
        name.as_str().trim_start_matches('/')
    }

    fn open(name: &SegmentName, dir: &ShmDir, extra: OFlags) -> Result<File, ShmError> {
        let flags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | extra;
        match rustix::fs::openat(&dir.fd, entry(name), flags, Mode::RUSR | Mode::WUSR) {
            Ok(fd) => Ok(File::from(fd)),
            Err(e) => {
                // ELOOP (a symlink under O_NOFOLLOW), EISDIR, ENXIO, EACCES on a device: name
                // what sits there if it is not a regular file.
                if e != Errno::NOENT
                    && e != Errno::EXIST
                    && let Ok(stat) =
                        rustix::fs::statat(&dir.fd, entry(name), AtFlags::SYMLINK_NOFOLLOW)
                {
                    check_entry(name, &stat, None)?;
                }
                Err(io(name, "open", e))
            }
        }
    }

    /// Creates the object (`O_CREAT | O_EXCL`, mode 0600): a fresh regular file on the shm
    /// device, whatever sat at the name before (`EEXIST`, even for a dangling symlink).
    pub(super) fn create(name: &SegmentName) -> Result<File, ShmError> {
        let dir = shm_dir(name)?;
        open(name, &dir, OFlags::CREATE | OFlags::EXCL)
    }

    /// Opens an existing object, refusing anything but a regular single-link file on the shm
    /// device. The entry is looked at first (a FIFO or device is never opened), then the
    /// opened file is checked again (`fstat`) in case the name was replaced meanwhile.
    pub(super) fn attach(name: &SegmentName) -> Result<File, ShmError> {
        let dir = shm_dir(name)?;
        match rustix::fs::statat(&dir.fd, entry(name), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => check_entry(name, &stat, Some(dir.device))?,
            Err(e) => return Err(io(name, "open", e)),
        }
        let file = open(name, &dir, OFlags::empty())?;
        let stat = rustix::fs::fstat(&file).map_err(|e| io(name, "fstat", e))?;
        check_entry(name, &stat, Some(dir.device))?;
        Ok(file)
    }
}

/// Opening the object behind a segment name with `shm_open` where shared-memory objects are
/// not files in a directory we can open ourselves; the object is still checked to be a
/// regular file with one link.
#[cfg(not(target_os = "linux"))]
mod object {
    use std::fs::File;

    use rustix::fs::Mode;
    use rustix::shm;

    use super::{SegmentName, ShmError, check_entry, io};

    pub(super) fn create(name: &SegmentName) -> Result<File, ShmError> {
        let flags = shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR;
        let fd = shm::open(name.as_str(), flags, Mode::RUSR | Mode::WUSR)
            .map_err(|e| io(name, "open", e))?;
        Ok(File::from(fd))
    }

    pub(super) fn attach(name: &SegmentName) -> Result<File, ShmError> {
        let fd = shm::open(name.as_str(), shm::OFlags::RDWR, Mode::empty())
            .map_err(|e| io(name, "open", e))?;
        let file = File::from(fd);
        let stat = rustix::fs::fstat(&file).map_err(|e| io(name, "fstat", e))?;
        check_entry(name, &stat, None)?;
        Ok(file)
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
    /// here: exactly one creates; the others wait for its header and attach. A name that
    /// exists when we create and is gone when we attach is retried, at most [`OPEN_ROUNDS`]
    /// times, then [`ShmError::KeepsDisappearing`].
    #[doc(alias = "shm_open")]
    pub fn open(name: SegmentName, kind: u8, capacity: usize) -> Result<Self, ShmError> {
        let layout = Self::checked_layout(&name, kind, capacity)?;
        for _ in 0..OPEN_ROUNDS {
            match Self::create_with(name.clone(), layout) {
                Err(ShmError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::AlreadyExists => {}
                other => return other,
            }
            match Self::attach_with(name.clone(), layout) {
                // Unlinked between our create and attach attempts: create again.
                Err(ShmError::Io {
                    source, op: "open", ..
                }) if source.kind() == std::io::ErrorKind::NotFound => {}
                other => return other,
            }
        }
        Err(ShmError::KeepsDisappearing {
            segment: name.to_string(),
            rounds: OPEN_ROUNDS,
        })
    }

    /// Creates a fresh segment; fails with an `AlreadyExists` I/O error if the name is taken.
    /// The segment's memory is reserved here: a ring the shared-memory filesystem cannot hold
    /// is [`ShmError::NoSpace`], and nothing is left under the name.
    pub fn create(name: SegmentName, kind: u8, capacity: usize) -> Result<Self, ShmError> {
        let layout = Self::checked_layout(&name, kind, capacity)?;
        Self::create_with(name, layout)
    }

    /// Attaches to an existing segment after validating what the name is (a regular file
    /// with one link on the shared-memory device), owner, mode, header and size.
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
        let file = object::create(&name)?;
        let result = (|| {
            let bytes = layout.segment_bytes().unwrap_or(u64::MAX);
            reserve(&name, &file, bytes)?;
            let map = Self::map(&name, &file, bytes)?;
            let segment = Self {
                name: name.clone(),
                map,
                layout,
                created: true,
            };
            // The object is fresh and zero-filled: slots are already "empty"; the head starts
            // at a random counter (cursors tell segments apart by it); publishing the header
            // makes the segment valid.
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
        let file = object::attach(&name)?;
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
        // Owner-only is exactly read/write for the owner or less: no execute, no set-id or
        // sticky bit, nothing for group or others.
        if mode & !0o600 != 0 {
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
