//! Opening files in the shared-memory directory safely: the one place that opens, creates and
//! checks shared-memory objects, for ring segments and for any other object shm code keeps
//! (a registry, say).
//!
//! Every object accepted is a regular file with exactly one link, on the shared-memory
//! device, that satisfies the [`Sharing`] policy ([`check_access`], on the entry before it is
//! opened and again on the opened file): owner-only ([`check_private`]) — owned by this
//! process's effective uid, a mode that grants nothing beyond owner read/write — or a group
//! policy — the policy's group, a mode within `0660` (read-write) or `0640` (read), any owner.
//! Symlinks are never followed; a symlink, FIFO, directory, device, hard link or mount at a
//! name is refused and left untouched.
//!
//! Objects are created with exactly the policy's mode (`fchmod` after creation, so the umask
//! does not narrow a group's bits) and, for a group, the group (`fchown`), before any other
//! process can see them: on Linux before they are linked under their name. A process uses a
//! group's objects only if it is a member of the group ([`ShmError::NotInGroup`] otherwise).
//! An attacher that only reads (a read-policy observer) opens objects `O_RDONLY`.
//!
//! On Linux an object is the file `/dev/shm/<name>`, opened relative to a descriptor of
//! `/dev/shm` with `O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC` (`shm_open` follows symlinks). A ring
//! segment is created without a name (`create`: `O_TMPFILE`), initialised, and only then
//! linked under its name (`Creating::publish`: `linkat`), so no process ever sees a
//! half-initialised segment under a name, and a creator killed at any instruction leaves
//! nothing behind: the unnamed file dies with its last descriptor. Elsewhere objects are
//! opened with `shm_open`, and a segment is created under its name (`O_CREAT | O_EXCL`) and
//! initialised there.
//!
//! # References
//!
//! - [open(2)](https://man7.org/linux/man-pages/man2/open.2.html): `O_TMPFILE`, `O_NOFOLLOW`
//! - [linkat(2)](https://man7.org/linux/man-pages/man2/linkat.2.html): `AT_EMPTY_PATH`,
//!   `AT_SYMLINK_FOLLOW` on `/proc/self/fd/N`
//! - [shm_open(3)](https://man7.org/linux/man-pages/man3/shm_open.3.html)

use std::fs::File;
use std::string::ToString;

use rustix::fs::{FileType, Mode, Stat};
use rustix::io::Errno;

use super::{GroupAccess, Sharing, ShmError};

/// The longest object name accepted by [`open_or_create_plain`], slash included (`NAME_MAX`
/// plus the slash).
const OBJECT_NAME_MAX: usize = 256;

pub(super) fn io(segment: &str, op: &'static str, errno: Errno) -> ShmError {
    ShmError::Io {
        segment: segment.to_string(),
        op,
        source: errno.into(),
    }
}

/// What kind of directory entry `mode` describes, for errors.
pub(super) fn kind_name(mode: u32) -> &'static str {
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
pub(super) fn check_entry(segment: &str, stat: &Stat, device: Option<u64>) -> Result<(), ShmError> {
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

/// Refuses an object owned by another user than this process's effective uid, or whose mode
/// is not owner-only: exactly read/write for the owner or less — no execute, no set-id or
/// sticky bit, nothing for group or others. Looks only.
pub(super) fn check_private(segment: &str, stat: &Stat) -> Result<(), ShmError> {
    let euid = rustix::process::geteuid().as_raw();
    if stat.st_uid != euid {
        return Err(ShmError::ForeignOwner {
            segment: segment.to_string(),
            owner: stat.st_uid,
            euid,
        });
    }
    check_mode(segment, stat, Sharing::Owner)
}

/// Refuses a mode with any bit outside `sharing`'s (`0o600` owner-only, `0o660` / `0o640`
/// for a group).
fn check_mode(segment: &str, stat: &Stat, sharing: Sharing) -> Result<(), ShmError> {
    #[allow(clippy::unnecessary_cast)] // `st_mode` is u16 on some targets.
    let mode = stat.st_mode as u32 & 0o7777;
    if mode & !sharing.mode() != 0 {
        return Err(ShmError::InsecureMode {
            segment: segment.to_string(),
            mode,
            policy: sharing,
        });
    }
    Ok(())
}

/// Refuses an object `sharing` does not allow, the one check of owner and mode for segments
/// and registries alike. [`Sharing::Owner`]: exactly [`check_private`]. A group: the object's
/// group is the policy's ([`ShmError::GroupMismatch`]) and its mode within the policy's,
/// `mode & !0o660 == 0` (read-write) or `mode & !0o640 == 0` (read) — never an execute,
/// set-id or sticky bit, nothing for others ([`ShmError::InsecureMode`]); any owner. Looks
/// only.
pub(super) fn check_access(segment: &str, stat: &Stat, sharing: Sharing) -> Result<(), ShmError> {
    let Some(expected) = sharing.gid() else {
        return check_private(segment, stat);
    };
    if stat.st_gid != expected {
        return Err(ShmError::GroupMismatch {
            segment: segment.to_string(),
            gid: stat.st_gid,
            expected,
        });
    }
    check_mode(segment, stat, sharing)
}

/// Refuses a group policy whose group this process is not a member of (neither its effective
/// gid nor a supplementary group): it could neither give new objects that group nor, unless it
/// owns them, open the group's objects. Owner-only always passes.
///
/// # Errors
///
/// [`ShmError::NotInGroup`]; [`ShmError::Io`] (`getgroups`, naming `segment`) if the call
/// fails.
pub(crate) fn check_member_of(segment: &str, sharing: Sharing) -> Result<(), ShmError> {
    let Some(gid) = sharing.gid() else {
        return Ok(());
    };
    if rustix::process::getegid().as_raw() == gid {
        return Ok(());
    }
    let groups = rustix::process::getgroups().map_err(|e| io(segment, "getgroups", e))?;
    if groups.iter().any(|g| g.as_raw() == gid) {
        Ok(())
    } else {
        Err(ShmError::NotInGroup { gid })
    }
}

/// True if this process writes an object owned by `owner` under `sharing`: always, except
/// under a group's read policy for an object another user owns (only its owner writes).
#[cfg(target_os = "linux")]
pub(crate) fn writes(sharing: Sharing, owner: u32) -> bool {
    !matches!(
        sharing,
        Sharing::Group {
            access: GroupAccess::Read,
            ..
        }
    ) || owner == rustix::process::geteuid().as_raw()
}

/// Gives a new object the policy's group (`fchown`; the process is a member, see
/// [`check_member_of`]) and exactly the policy's mode (`fchmod`: the mode passed to `open` was
/// narrowed by the umask).
fn set_policy(segment: &str, file: &File, sharing: Sharing) -> Result<(), ShmError> {
    if let Some(gid) = sharing.gid() {
        let gid = rustix::fs::Gid::from_raw(gid);
        rustix::fs::fchown(file, None, Some(gid)).map_err(|e| io(segment, "fchown", e))?;
    }
    let mode = Mode::from_raw_mode(sharing.mode() as _);
    rustix::fs::fchmod(file, mode).map_err(|e| io(segment, "fchmod", e))
}

/// The checks every opened object passes, on the opened file itself (`fstat`, so a name
/// replaced between a look and the open is caught): [`check_entry`], then [`check_access`].
/// Returns the file's status.
fn check_opened(
    segment: &str,
    file: &File,
    device: Option<u64>,
    sharing: Sharing,
) -> Result<Stat, ShmError> {
    let stat = rustix::fs::fstat(file).map_err(|e| io(segment, "fstat", e))?;
    check_entry(segment, &stat, device)?;
    check_access(segment, &stat, sharing)?;
    Ok(stat)
}

/// Checks a plain object name: `/` followed by 1 to 255 bytes without `/` or NUL, and not `.`
/// or `..`.
fn check_object_name(name: &str) -> Result<(), ShmError> {
    let invalid = |reason: &'static str| ShmError::InvalidObjectName {
        name: name.to_string(),
        reason,
    };
    let Some(entry) = name.strip_prefix('/') else {
        return Err(invalid("it does not start with '/'"));
    };
    if entry.is_empty() || entry == "." || entry == ".." {
        return Err(invalid("it names no object after the '/'"));
    }
    if entry.contains('/') {
        return Err(invalid("it contains a '/' after the first"));
    }
    if entry.contains('\0') {
        return Err(invalid("it contains a NUL byte"));
    }
    if name.len() > OBJECT_NAME_MAX {
        return Err(invalid("it is longer than 256 bytes"));
    }
    Ok(())
}

/// Opens the object `name` (`/` then one path component), creating it empty if it does not
/// exist (`O_CREAT` without `O_EXCL`, mode 0600), for objects whose all-zero content is valid:
/// there is no initialisation step, so there is nothing a crashed creator can leave half done.
/// The object is checked like an attached segment: a regular file with one link on the
/// shared-memory device, owned by this user, owner-only. What it finds refused is left
/// untouched.
///
/// # Errors
///
/// [`ShmError::InvalidObjectName`] for a malformed name; [`ShmError::NotRegularFile`],
/// [`ShmError::HardLinked`], [`ShmError::OtherDevice`], [`ShmError::ForeignOwner`] or
/// [`ShmError::InsecureMode`] for a refused object; [`ShmError::Io`] if a call fails.
pub(crate) fn open_or_create_plain(name: &str) -> Result<File, ShmError> {
    check_object_name(name)?;
    plain(name)
}

/// [`open_or_create_plain`] under `sharing`; returns the object and whether it is open for
/// writing. Owner-only is exactly [`open_or_create_plain`]. Under a group policy an object
/// that does not exist is created unnamed (`O_TMPFILE`), given the policy's group and mode,
/// then linked under the name, so nobody ever finds it with another group or mode; one that
/// exists is opened without `O_CREAT` (which `fs.protected_regular` refuses for another user's
/// file in `/dev/shm`), read-write — or, under a read policy, read-only if another user owns
/// it ([`writes`]). A name that keeps disappearing between a look and the open is
/// [`ShmError::KeepsDisappearing`] after a few rounds.
///
/// # Errors
///
/// Those of [`open_or_create_plain`], and [`ShmError::NotInGroup`],
/// [`ShmError::GroupMismatch`], [`ShmError::CreateUnsupported`].
#[cfg(target_os = "linux")]
pub(crate) fn open_or_create_plain_shared(
    name: &str,
    sharing: Sharing,
) -> Result<(File, bool), ShmError> {
    if sharing == Sharing::Owner {
        return Ok((open_or_create_plain(name)?, true));
    }
    check_object_name(name)?;
    check_member_of(name, sharing)?;
    linux::plain_shared(name, sharing)
}

#[cfg(target_os = "linux")]
use linux::plain;
#[cfg(target_os = "linux")]
pub(super) use linux::{attach, create, names};
#[cfg(not(target_os = "linux"))]
use posix::plain;
#[cfg(not(target_os = "linux"))]
pub(super) use posix::{attach, create, names};

#[cfg(target_os = "linux")]
mod linux {
    use std::fs::File;
    use std::os::fd::AsRawFd;

    use rustix::fd::OwnedFd;
    use rustix::fs::{AtFlags, Mode, OFlags};
    use rustix::io::Errno;

    use super::{
        Sharing, ShmError, check_access, check_entry, check_member_of, check_opened, io,
        set_policy, writes,
    };

    /// Look-then-open rounds of [`plain_shared`] while the name keeps changing under it.
    const PLAIN_ROUNDS: u32 = 16;

    /// The directory POSIX shared-memory objects live in on Linux.
    const SHM_DIR: &str = "/dev/shm";

    /// Where a process finds links to its own descriptors.
    const PROC_SELF_FD: &str = "/proc/self/fd";

    /// An open descriptor of the shared-memory directory and its device.
    pub(super) struct ShmDir {
        fd: OwnedFd,
        device: u64,
    }

    impl ShmDir {
        fn open(segment: &str, path: &str) -> Result<Self, ShmError> {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            let fd = rustix::fs::open(path, flags, Mode::empty())
                .map_err(|e| io(segment, "open /dev/shm", e))?;
            let stat = rustix::fs::fstat(&fd).map_err(|e| io(segment, "fstat /dev/shm", e))?;
            #[allow(clippy::unnecessary_cast)] // `st_dev` is u32 on some targets.
            let device = stat.st_dev as u64;
            Ok(Self { fd, device })
        }
    }

    fn shm_dir(segment: &str) -> Result<ShmDir, ShmError> {
        ShmDir::open(segment, SHM_DIR)
    }

    /// The directory entry of an object name: the name without its leading `/`.
    fn entry(name: &str) -> &str {
        name.trim_start_matches('/')
    }

    /// The entry's status without following a symlink; `Ok(None)` if nothing is there.
    fn look(name: &str, dir: &ShmDir) -> Result<Option<rustix::fs::Stat>, ShmError> {
        match rustix::fs::statat(&dir.fd, entry(name), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(stat)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(io(name, "fstatat", e)),
        }
    }

    /// Opens the entry read-write, or read-only if `write` is false.
    fn open(name: &str, dir: &ShmDir, extra: OFlags, write: bool) -> Result<File, ShmError> {
        let access = if write { OFlags::RDWR } else { OFlags::RDONLY };
        let flags = access | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | extra;
        match rustix::fs::openat(&dir.fd, entry(name), flags, Mode::RUSR | Mode::WUSR) {
            Ok(fd) => Ok(File::from(fd)),
            Err(e) => {
                // ELOOP (a symlink under O_NOFOLLOW), EISDIR, ENXIO, EACCES on a device: name
                // what sits there if it is not a regular file.
                if e != Errno::NOENT
                    && e != Errno::EXIST
                    && let Ok(Some(stat)) = look(name, dir)
                {
                    check_entry(name, &stat, None)?;
                }
                Err(io(name, "open", e))
            }
        }
    }

    /// Opens an existing object, read-write or (`write` false) read-only, refusing anything
    /// but a regular single-link file on the shm device that `sharing` allows. The entry is
    /// looked at first (a FIFO or device is never opened; an owner or mode the policy refuses
    /// is named, not met with `EACCES`), then the opened file is checked again (`fstat`) in
    /// case the name was replaced meanwhile.
    pub(in super::super) fn attach(
        name: &str,
        sharing: Sharing,
        write: bool,
    ) -> Result<File, ShmError> {
        check_member_of(name, sharing)?;
        let dir = shm_dir(name)?;
        match look(name, &dir)? {
            Some(stat) => {
                check_entry(name, &stat, Some(dir.device))?;
                check_access(name, &stat, sharing)?;
            }
            None => return Err(io(name, "open", Errno::NOENT)),
        }
        let file = open(name, &dir, OFlags::empty(), write)?;
        check_opened(name, &file, Some(dir.device), sharing)?;
        Ok(file)
    }

    /// True if `name` is the entry of `file` right now (same device and inode), looked at
    /// without following a symlink. Not atomic with what the caller does next.
    pub(in super::super) fn names(name: &str, file: &File) -> Result<bool, ShmError> {
        let dir = shm_dir(name)?;
        let Some(entry) = look(name, &dir)? else {
            return Ok(false);
        };
        let opened = rustix::fs::fstat(file).map_err(|e| io(name, "fstat", e))?;
        Ok((entry.st_dev, entry.st_ino) == (opened.st_dev, opened.st_ino))
    }

    pub(super) fn plain(name: &str) -> Result<File, ShmError> {
        let dir = shm_dir(name)?;
        // Look before opening, so a FIFO or device at the name is never opened.
        if let Some(stat) = look(name, &dir)? {
            check_entry(name, &stat, Some(dir.device))?;
        }
        let file = open(name, &dir, OFlags::CREATE, true)?;
        check_opened(name, &file, Some(dir.device), Sharing::Owner)?;
        Ok(file)
    }

    /// See [`open_or_create_plain_shared`](super::open_or_create_plain_shared).
    pub(super) fn plain_shared(name: &str, sharing: Sharing) -> Result<(File, bool), ShmError> {
        for _ in 0..PLAIN_ROUNDS {
            let dir = shm_dir(name)?;
            let Some(stat) = look(name, &dir)? else {
                // Nothing there: create it with the policy's group and mode, then name it.
                match create_in(name, dir, sharing)?.publish(name) {
                    Ok(file) => return Ok((file, true)),
                    Err(ShmError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::AlreadyExists =>
                    {
                        continue; // Somebody else named theirs first: open that one.
                    }
                    Err(e) => return Err(e),
                }
            };
            check_entry(name, &stat, Some(dir.device))?;
            check_access(name, &stat, sharing)?;
            let write = writes(sharing, stat.st_uid);
            let file = match open(name, &dir, OFlags::empty(), write) {
                Ok(file) => file,
                Err(ShmError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    continue; // Removed between the look and the open.
                }
                Err(e) => return Err(e),
            };
            let opened = check_opened(name, &file, Some(dir.device), sharing)?;
            if (opened.st_ino, opened.st_uid) == (stat.st_ino, stat.st_uid) {
                return Ok((file, write));
            }
            // Replaced between the look and the open: decide again on what is there now.
        }
        Err(ShmError::KeepsDisappearing {
            segment: name.into(),
            rounds: PLAIN_ROUNDS,
        })
    }

    /// A new object that has no name yet: initialise it through [`file`](Self::file), then
    /// [`publish`](Self::publish) it. Dropped unpublished, it vanishes.
    pub(in super::super) struct Creating {
        dir: ShmDir,
        file: File,
    }

    /// Creates an unnamed object in the shared-memory directory (`O_TMPFILE`) with exactly
    /// `sharing`'s mode and group, after checking that `name` is free: a taken name fails at
    /// once with an `EEXIST` [`ShmError::Io`], before anything is reserved. The name can still
    /// be taken before [`Creating::publish`], which then fails the same way.
    pub(in super::super) fn create(name: &str, sharing: Sharing) -> Result<Creating, ShmError> {
        check_member_of(name, sharing)?;
        let dir = shm_dir(name)?;
        if look(name, &dir)?.is_some() {
            return Err(io(name, "open", Errno::EXIST));
        }
        create_in(name, dir, sharing)
    }

    pub(super) fn create_in(
        name: &str,
        dir: ShmDir,
        sharing: Sharing,
    ) -> Result<Creating, ShmError> {
        // No O_EXCL: an O_EXCL temporary file can never be linked.
        let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
        match rustix::fs::openat(&dir.fd, ".", flags, Mode::RUSR | Mode::WUSR) {
            Ok(fd) => {
                let file = File::from(fd);
                // Unnamed still: nobody sees it before it has the policy's group and mode.
                set_policy(name, &file, sharing)?;
                Ok(Creating { dir, file })
            }
            // The kernel or the filesystem has no O_TMPFILE (EISDIR, EINVAL before Linux
            // 3.11; EOPNOTSUPP from a filesystem without it).
            Err(e @ (Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL)) => {
                Err(ShmError::CreateUnsupported {
                    segment: name.into(),
                    cause: "the shared-memory directory does not support O_TMPFILE",
                    source: e.into(),
                })
            }
            Err(e) => Err(io(name, "open O_TMPFILE", e)),
        }
    }

    impl Creating {
        /// The object, to size and initialise.
        pub(in super::super) fn file(&self) -> &File {
            &self.file
        }

        /// Links the initialised object under `name` and returns it. If the name was taken
        /// meanwhile this fails with an `EEXIST` [`ShmError::Io`] and the object vanishes.
        pub(in super::super) fn publish(self, name: &str) -> Result<File, ShmError> {
            link(name, &self.dir, &self.file, PROC_SELF_FD)?;
            #[cfg(debug_assertions)]
            if let Ok(stat) = rustix::fs::fstat(&self.file) {
                debug_assert_eq!(stat.st_nlink, 1, "a published object has exactly one link");
            }
            Ok(self.file)
        }

        /// Gives up on the object: it was never named, so dropping it is all it takes.
        pub(in super::super) fn abandon(self, _name: &str) {}
    }

    /// Links `file` (an unnamed `O_TMPFILE` object) as `name` in `dir`: by descriptor
    /// (`AT_EMPTY_PATH`), or, where that needs a capability we lack (`ENOENT`, `EPERM`),
    /// through its link in `/proc/self/fd` (`proc_fd`, another directory only in tests).
    pub(super) fn link(
        name: &str,
        dir: &ShmDir,
        file: &File,
        proc_fd: &str,
    ) -> Result<(), ShmError> {
        match rustix::fs::linkat(file, "", &dir.fd, entry(name), AtFlags::EMPTY_PATH) {
            Ok(()) => Ok(()),
            Err(Errno::NOENT | Errno::PERM) => link_through_proc(name, dir, file, proc_fd),
            Err(e) => Err(io(name, "linkat", e)),
        }
    }

    fn link_through_proc(
        name: &str,
        dir: &ShmDir,
        file: &File,
        proc_fd: &str,
    ) -> Result<(), ShmError> {
        let path = std::format!("{proc_fd}/{}", file.as_raw_fd());
        let flags = AtFlags::SYMLINK_FOLLOW;
        match rustix::fs::linkat(rustix::fs::CWD, path.as_str(), &dir.fd, entry(name), flags) {
            Ok(()) => Ok(()),
            Err(e @ Errno::NOENT) if rustix::fs::stat(proc_fd).is_err() => {
                Err(ShmError::CreateUnsupported {
                    segment: name.into(),
                    cause: "linking an O_TMPFILE object needs CAP_DAC_READ_SEARCH or a mounted \
                            /proc, and /proc/self/fd is missing",
                    source: e.into(),
                })
            }
            Err(e) => Err(io(name, "linkat /proc/self/fd", e)),
        }
    }

    #[cfg(test)]
    mod tests {
        use std::string::ToString;

        use super::*;

        fn unique(label: &str) -> std::string::String {
            std::format!("/orbit-unit-{}-{label}", std::process::id())
        }

        fn links(name: &str) -> u64 {
            let stat = rustix::fs::stat(std::format!("{SHM_DIR}{name}")).unwrap();
            #[allow(clippy::unnecessary_cast)]
            let links = stat.st_nlink as u64;
            links
        }

        #[test]
        fn both_ways_of_linking_give_one_link_and_refuse_a_taken_name() {
            for through_proc in [false, true] {
                let name = unique(if through_proc { "byproc" } else { "bydesc" });
                let creating = create_in(&name, shm_dir(&name).unwrap(), Sharing::Owner).unwrap();
                if through_proc {
                    // The fallback on its own, as a process without the capability runs it.
                    link_through_proc(&name, &creating.dir, &creating.file, PROC_SELF_FD).unwrap();
                } else {
                    link(&name, &creating.dir, &creating.file, PROC_SELF_FD).unwrap();
                }
                assert_eq!(links(&name), 1);
                let again = create_in(&name, shm_dir(&name).unwrap(), Sharing::Owner).unwrap();
                let err = again.publish(&name).unwrap_err();
                assert!(
                    matches!(&err, ShmError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
                    "{err}"
                );
                assert_eq!(links(&name), 1);
                rustix::fs::unlinkat(&creating.dir.fd, entry(&name), AtFlags::empty()).unwrap();
            }
        }

        #[test]
        fn a_missing_proc_is_named_when_the_fallback_needs_it() {
            let name = unique("noproc");
            let creating = create_in(&name, shm_dir(&name).unwrap(), Sharing::Owner).unwrap();
            let err = link_through_proc(&name, &creating.dir, &creating.file, "/nonexistent/fd")
                .unwrap_err();
            assert!(
                matches!(err, ShmError::CreateUnsupported { .. })
                    && err.to_string().contains("/proc"),
                "{err}"
            );
            assert!(
                look(&name, &creating.dir).unwrap().is_none(),
                "nothing linked"
            );
        }

        #[test]
        fn a_directory_without_o_tmpfile_is_a_named_error() {
            // procfs has no O_TMPFILE.
            let dir = ShmDir::open("/x", "/proc").unwrap();
            let err = create_in("/x", dir, Sharing::Owner)
                .err()
                .expect("procfs refuses O_TMPFILE");
            assert!(
                matches!(err, ShmError::CreateUnsupported { .. })
                    && err.to_string().contains("O_TMPFILE"),
                "{err}"
            );
        }
    }
}

/// `shm_open` where shared-memory objects are not files in a directory we can open
/// ourselves; objects are still checked to be regular single-link files, ours, owner-only.
#[cfg(not(target_os = "linux"))]
mod posix {
    use std::fs::File;

    use rustix::fs::Mode;
    use rustix::shm;

    use super::{Sharing, ShmError, check_member_of, check_opened, io, set_policy};

    /// Whether `name` still names `file`: `shm_open` objects have no path to look at, so
    /// assume it does.
    pub(in super::super) fn names(_name: &str, _file: &File) -> Result<bool, ShmError> {
        Ok(true)
    }

    pub(in super::super) fn attach(
        name: &str,
        sharing: Sharing,
        write: bool,
    ) -> Result<File, ShmError> {
        check_member_of(name, sharing)?;
        let flags = if write {
            shm::OFlags::RDWR
        } else {
            shm::OFlags::RDONLY
        };
        let fd = shm::open(name, flags, Mode::empty()).map_err(|e| io(name, "open", e))?;
        let file = File::from(fd);
        check_opened(name, &file, None, sharing)?;
        Ok(file)
    }

    pub(super) fn plain(name: &str) -> Result<File, ShmError> {
        let flags = shm::OFlags::CREATE | shm::OFlags::RDWR;
        let fd =
            shm::open(name, flags, Mode::RUSR | Mode::WUSR).map_err(|e| io(name, "open", e))?;
        let file = File::from(fd);
        check_opened(name, &file, None, Sharing::Owner)?;
        Ok(file)
    }

    /// A new object already under its name (`O_CREAT | O_EXCL`): attachers wait for its
    /// magic, and [`abandon`](Self::abandon) unlinks it if initialising fails.
    pub(in super::super) struct Creating {
        file: File,
    }

    /// Creates the object under its name, then gives it `sharing`'s group and mode: until
    /// then (a few system calls) an attacher of a group policy finds it refused.
    pub(in super::super) fn create(name: &str, sharing: Sharing) -> Result<Creating, ShmError> {
        check_member_of(name, sharing)?;
        let flags = shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR;
        let fd =
            shm::open(name, flags, Mode::RUSR | Mode::WUSR).map_err(|e| io(name, "open", e))?;
        let creating = Creating {
            file: File::from(fd),
        };
        if let Err(e) = set_policy(name, &creating.file, sharing) {
            creating.abandon(name);
            return Err(e);
        }
        Ok(creating)
    }

    impl Creating {
        pub(in super::super) fn file(&self) -> &File {
            &self.file
        }

        pub(in super::super) fn publish(self, _name: &str) -> Result<File, ShmError> {
            Ok(self.file)
        }

        /// Never leaves a half-initialised segment behind under this name.
        pub(in super::super) fn abandon(self, name: &str) {
            let _ = shm::unlink(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_one_component_after_a_slash() {
        for bad in ["", "x", "/", "/.", "/..", "/a/b", "/a\0b"] {
            assert!(
                matches!(
                    check_object_name(bad),
                    Err(ShmError::InvalidObjectName { .. })
                ),
                "{bad:?}"
            );
        }
        let long = std::format!("/{}", "x".repeat(OBJECT_NAME_MAX));
        assert!(check_object_name(&long).is_err());
        assert!(check_object_name(&long[..OBJECT_NAME_MAX]).is_ok());
        assert!(check_object_name("/orbit-registry").is_ok());
    }

    #[test]
    fn plain_objects_are_created_once_then_reopened_and_hostile_ones_refused() {
        let name = std::format!("/orbit-unit-{}-plain", std::process::id());
        let first = open_or_create_plain(&name).unwrap();
        first.set_len(4096).unwrap();
        let again = open_or_create_plain(&name).unwrap();
        assert_eq!(again.metadata().unwrap().len(), 4096, "the same object");
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = std::format!("/dev/shm{name}");
            let meta = std::fs::metadata(&path).unwrap();
            assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                open_or_create_plain(&name),
                Err(ShmError::InsecureMode { mode: 0o644, .. })
            ));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            let linked = std::format!("{path}-hard");
            std::fs::hard_link(&path, &linked).unwrap();
            assert!(matches!(
                open_or_create_plain(&name),
                Err(ShmError::HardLinked { links: 2, .. })
            ));
            std::fs::remove_file(&linked).unwrap();
            let sym = std::format!("{name}-sym");
            std::os::unix::fs::symlink(&path, std::format!("/dev/shm{sym}")).unwrap();
            assert!(matches!(
                open_or_create_plain(&sym),
                Err(ShmError::NotRegularFile {
                    kind: "symlink",
                    ..
                })
            ));
            std::fs::remove_file(std::format!("/dev/shm{sym}")).unwrap();
        }
        rustix::shm::unlink(name.as_str()).unwrap();
    }
}
