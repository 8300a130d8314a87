//! Liveness from the kernel: open-file-description (OFD) byte-range locks.
//!
//! A lock taken with `fcntl(F_OFD_SETLK)` belongs to the *open file description* it was taken
//! through, not to a pid: the kernel drops it when the last descriptor of that description
//! closes — at the latest when the holding process exits, before it is reaped (a zombie holds
//! no descriptors). So "is this byte locked by someone?" (`F_OFD_GETLK`) tells a live holder
//! from a dead one across pid reuse and pid namespaces (containers sharing `/dev/shm`), and a
//! stopped holder (`SIGSTOP`, a debugger) stays alive. Every "is it dead?" decision of a fleet
//! uses this one mechanism (DESIGN.md §8).
//!
//! Each fleet member has a random non-zero 32-bit *tag*, one per join. Byte
//! [`TAG_LOCK_BASE`]` + tag` of any fleet file (ring segments, the member registry) is that
//! tag's liveness byte: the member holds a lock on it for as long as it lives. The bytes lie far
//! past the end of every file; Linux locks bytes beyond EOF without growing the file.
//!
//! # Caveats
//!
//! - **One's own locks are invisible through one's own description.** `F_OFD_GETLK` reports
//!   only locks that *conflict* with the probe, and a description never conflicts with itself:
//!   [`tag_alive`] through the descriptor that holds the tag (or a `dup`/`try_clone` of it)
//!   says `false`. Callers treat their own tag as alive; a probe through a separate `open` of
//!   the same file sees it.
//! - **Forked children share the description.** A child created by `fork` inherits the
//!   descriptor, so the lock outlives the parent until the child exits or calls `exec` (the
//!   descriptor should be `O_CLOEXEC`, as `std` opens it). An explicit release (`F_UNLCK`)
//!   releases it for both.
//! - Linux only (`F_OFD_*`). On targets whose `off_t` is 32 bits (32-bit glibc) the lock
//!   offsets do not fit and every call fails with `EOVERFLOW`.
//!
//! # Safety
//!
//! The only `unsafe` here is `libc::fcntl` with a `struct flock`: the descriptor is borrowed
//! from a live `File` for the duration of the call, and the struct is a fully initialised
//! local the kernel reads (and, for `F_OFD_GETLK`, writes) through the pointer during the call
//! only, with `l_pid == 0` as the `F_OFD_*` commands require.
//!
//! # References
//!
//! - [fcntl(2), "Open file description locks (non-POSIX)"](https://man7.org/linux/man-pages/man2/fcntl.2.html)
// Some items are `pub` for `shm::internals` (the crate's tests, feature `__test-hooks`).
#![cfg_attr(not(feature = "__test-hooks"), allow(unreachable_pub))]
#![allow(unsafe_code)]

use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::os::fd::AsRawFd;
use std::time::{SystemTime, UNIX_EPOCH};

/// Byte `TAG_LOCK_BASE + tag` of a fleet file is the liveness byte of the member with that tag
/// (2^40: beyond any ring segment; the registry's node bytes sit below it at 2^39).
pub const TAG_LOCK_BASE: u64 = 1 << 40;

/// One `F_OFD_*` lock command on the single byte at `offset`: `ty` is `F_RDLCK`, `F_WRLCK` or
/// `F_UNLCK`. Returns the kernel's answer in the struct (only `F_OFD_GETLK` writes it), or the
/// OS error; `EINTR` is retried.
fn ofd_lock(
    file: &File,
    cmd: libc::c_int,
    ty: libc::c_int,
    offset: u64,
) -> io::Result<libc::flock> {
    let start =
        libc::off_t::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
    let mut lock = libc::flock {
        l_type: ty as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: start,
        l_len: 1,
        l_pid: 0,
    };
    loop {
        debug_assert_eq!(lock.l_pid, 0);
        // SAFETY: `file` keeps the descriptor open for the call, and `lock` is a fully
        // initialised `struct flock` (l_pid = 0, as F_OFD_* require) that outlives the call.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), cmd, &raw mut lock) };
        if rc != -1 {
            return Ok(lock);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// `F_OFD_SETLK` of `ty` on one byte: `Ok(false)` when another description holds a
/// conflicting lock (`EAGAIN` / `EACCES`).
fn set_lock(file: &File, ty: libc::c_int, offset: u64) -> io::Result<bool> {
    match ofd_lock(file, libc::F_OFD_SETLK, ty, offset) {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Takes a shared (read) lock on the byte at `offset` through `file`'s description (needs a
/// descriptor open for reading). `Ok(false)`: another description holds it exclusively.
#[doc(alias = "F_OFD_SETLK")]
pub(crate) fn hold_shared(file: &File, offset: u64) -> io::Result<bool> {
    set_lock(file, libc::F_RDLCK, offset)
}

/// Takes an exclusive (write) lock on the byte at `offset` through `file`'s description (needs
/// a descriptor open for writing). `Ok(false)`: another description holds any lock on it.
#[doc(alias = "F_OFD_SETLK")]
pub(crate) fn try_hold_exclusive(file: &File, offset: u64) -> io::Result<bool> {
    set_lock(file, libc::F_WRLCK, offset)
}

/// Releases whatever lock `file`'s description holds on the byte at `offset` (none is fine).
pub(crate) fn release(file: &File, offset: u64) -> io::Result<()> {
    ofd_lock(file, libc::F_OFD_SETLK, libc::F_UNLCK, offset).map(drop)
}

/// Whether another open file description holds any lock on the byte at `offset`
/// (`F_OFD_GETLK` probing with a write lock). Locks held through `file`'s own description are
/// never reported (see the module's caveats). The answer can change right after the call.
#[doc(alias = "F_OFD_GETLK")]
pub(crate) fn is_held(file: &File, offset: u64) -> io::Result<bool> {
    let lock = ofd_lock(file, libc::F_OFD_GETLK, libc::F_WRLCK, offset)?;
    // l_pid is -1 for an OFD lock: the holder is a description, not a process.
    Ok(lock.l_type != libc::F_UNLCK as libc::c_short)
}

/// Whether a live member holds `tag`'s liveness byte ([`TAG_LOCK_BASE`]` + tag`) of `file`.
///
/// Probe through a description of your own: the holder's own descriptor (or a `dup` /
/// `try_clone` of it) never sees its own lock and answers `false`.
///
/// # Errors
///
/// The OS error of `fcntl(F_OFD_GETLK)`.
pub fn tag_alive(file: &File, tag: u32) -> io::Result<bool> {
    is_held(file, TAG_LOCK_BASE + u64::from(tag))
}

/// Holds `tag`'s liveness byte of `file` (a shared lock, so a read-only descriptor can hold it)
/// until the description closes — when the process exits at the latest. `Ok(false)`: some
/// description holds it exclusively (the fleet registry does, for its own members' tags).
///
/// # Errors
///
/// The OS error of `fcntl(F_OFD_SETLK)`.
pub fn hold_tag(file: &File, tag: u32) -> io::Result<bool> {
    hold_shared(file, TAG_LOCK_BASE + u64::from(tag))
}

/// A random non-zero tag. Not secret, only unlikely to collide: `std`'s randomly keyed SipHash
/// (fresh keys per call) over the time and the pid. Uniqueness among live members is enforced
/// by the registry's tag lock, not by this.
pub(crate) fn random_tag() -> u32 {
    loop {
        let mut hasher = RandomState::new().build_hasher();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        hasher.write_u128(now);
        hasher.write_u32(std::process::id());
        let h = hasher.finish();
        let tag = (h ^ (h >> 32)) as u32;
        if tag != 0 {
            return tag;
        }
    }
}

/// A fresh file in /dev/shm for unit tests, removed on drop.
#[cfg(test)]
pub(super) struct Scratch(pub(super) std::path::PathBuf);

#[cfg(test)]
impl Scratch {
    /// `/dev/shm/orbit-unit-{what}-{pid}-{random}`, created empty, mode 0600.
    pub(super) fn new(what: &str) -> Self {
        use std::fs::OpenOptions;
        use std::os::unix::fs::OpenOptionsExt;
        let path = std::path::PathBuf::from(std::format!(
            "/dev/shm/orbit-unit-{what}-{}-{:08x}",
            std::process::id(),
            random_tag()
        ));
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap();
        Self(path)
    }

    /// A new open (its own description) of the file.
    pub(super) fn open(&self) -> File {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.0)
            .unwrap()
    }
}

#[cfg(test)]
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    #[test]
    fn shared_and_exclusive_conflict_between_descriptions() {
        let s = Scratch::new("conflict");
        let (a, b) = (s.open(), s.open());
        let off = TAG_LOCK_BASE + 7;
        assert!(hold_shared(&a, off).unwrap());
        assert!(hold_shared(&b, off).unwrap(), "shared locks coexist");
        assert!(
            !try_hold_exclusive(&b, off).unwrap(),
            "a's shared lock blocks b"
        );
        assert!(is_held(&b, off).unwrap());
        release(&a, off).unwrap();
        assert!(
            try_hold_exclusive(&b, off).unwrap(),
            "b upgrades its own lock"
        );
        assert!(!hold_shared(&a, off).unwrap());
        assert!(!is_held(&b, off).unwrap(), "own lock is invisible");
        assert!(is_held(&a, off).unwrap());
        drop(b);
        assert!(
            !is_held(&a, off).unwrap(),
            "closing the description drops its lock"
        );
        assert!(!is_held(&a, off + 1).unwrap());
    }

    #[test]
    fn read_only_descriptor_holds_a_tag() {
        let s = Scratch::new("ro");
        let ro = OpenOptions::new().read(true).open(&s.0).unwrap();
        assert!(hold_tag(&ro, 42).unwrap());
        assert!(tag_alive(&s.open(), 42).unwrap());
        assert!(!tag_alive(&s.open(), 43).unwrap());
        let probe = OpenOptions::new().read(true).open(&s.0).unwrap();
        assert!(
            tag_alive(&probe, 42).unwrap(),
            "a read-only descriptor can probe"
        );
    }

    #[test]
    fn tags_are_non_zero_and_vary() {
        let tags: std::vec::Vec<u32> = (0..64).map(|_| random_tag()).collect();
        assert!(tags.iter().all(|&t| t != 0));
        let mut sorted = tags.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert!(sorted.len() > 60, "{tags:?}");
    }
}
