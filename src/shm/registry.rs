//! Fleet membership: a per-fleet registry file of live members, with liveness from OFD locks
//! (see [`liveness`](super::liveness)).
//!
//! The caller opens the registry file (for instance `/dev/shm/orbit-{fleet}-members-{uid}`,
//! read-write, without `O_APPEND`, through the same owner and mode checks as a segment) and
//! hands it to [`Member::join`]. Its all-zero content is valid, so it needs no initialisation:
//! the first joiner sizes an empty file with `ftruncate`, and entries are read and written with
//! `pread` / `pwrite`, never mapped — a full tmpfs answers `ENOSPC`, not `SIGBUS`.
//!
//! # Layout
//!
//! [`REGISTRY_BYTES`] (2 MiB, sparse on tmpfs): entry `node` at offset
//! `node * `[`ENTRY_BYTES`], four little-endian u64 words:
//!
//! | word | contents |
//! |------|----------|
//! | 0 | `tag` (bits 0..32) \| `node` (bits 32..48) \| `1 << 63` (present) |
//! | 1 | pid, as the member saw it (in its own pid namespace): for display only |
//! | 2 | start time, nanoseconds since the Unix epoch |
//! | 3 | checksum: `mix(mix(mix(w0 ^ K) ^ w1) ^ w2)`, `K` = `b"ORBITMBR"` read little-endian, `mix` the SplitMix64 finaliser |
//!
//! An entry is present when word 0 has the present bit, its node field equals its index and
//! the checksum matches; a torn, zero or garbage entry reads as absent. A dead member's entry
//! stays until the next member with that node id overwrites it, and reads as not alive.
//!
//! # Locks
//!
//! Locks, not entries, decide liveness and uniqueness; all are OFD locks on bytes past the
//! end of the file, held through the member's own open of the registry:
//!
//! - byte [`NODE_LOCK_BASE`]` + node`, exclusive: the live member with that node id. A second
//!   live member with the same node id is refused by the kernel, race-free — also two joins in
//!   one process, as long as each passes its own `open` of the file (not a `try_clone`, which
//!   shares the description and so its locks).
//! - byte [`TAG_LOCK_BASE`]` + tag`, exclusive: the member's tag is unique among live members.
//!
//! Both vanish when the member's process dies (even as an unreaped zombie), or when a forked
//! child that inherited the descriptor exits or execs, whichever is last.
//!
//! # References
//!
//! - [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html), [pread(2)](https://man7.org/linux/man-pages/man2/pread.2.html)
// Some items are `pub` for `shm::internals` (the crate's tests, feature `__test-hooks`).
#![cfg_attr(not(feature = "__test-hooks"), allow(unreachable_pub))]

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use std::vec::Vec;

use std::string::String;

use super::liveness::{
    TAG_LOCK_BASE, hold_shared, is_held, random_tag, release, try_hold_exclusive,
};
use super::{ShmError, object};

/// Bytes of one registry entry (four u64 words).
pub const ENTRY_BYTES: u64 = 32;

/// Size of a registry file: one entry per possible node id.
pub const REGISTRY_BYTES: u64 = (u16::MAX as u64 + 1) * ENTRY_BYTES;

/// Byte `NODE_LOCK_BASE + node` of the registry is locked exclusively by the live member with
/// that node id (2^39, below [`TAG_LOCK_BASE`]).
pub const NODE_LOCK_BASE: u64 = 1 << 39;

/// How many tags [`Member::join`] draws before giving up with [`ShmError::NoFreeTag`].
pub const TAG_DRAWS: u32 = 16;

/// Byte `GATE_BYTE` of the registry: every live member joined by name holds a shared lock on
/// it for its lifetime; the last one to leave takes it exclusively — which succeeds only when
/// no member lives — and removes the registry's name, so an empty fleet leaves no registry
/// behind. A joiner holds the gate before it checks that the name still names its registry,
/// so it never joins a registry whose name was just removed (2^38, below the node bytes).
pub(crate) const GATE_BYTE: u64 = 1 << 38;

/// How long a joiner waits for a leaver that holds the gate exclusively (removing the name).
const GATE_WAIT: Duration = Duration::from_secs(2);

/// Word 0's present bit.
const PRESENT: u64 = 1 << 63;

/// Checksum seed: `b"ORBITMBR"` little-endian.
const CHECK_SEED: u64 = u64::from_le_bytes(*b"ORBITMBR");

/// Bytes `members` reads per `pread`.
const CHUNK: usize = 64 * 1024;

/// SplitMix64's finaliser.
const fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

const fn checksum(w0: u64, w1: u64, w2: u64) -> u64 {
    mix(mix(mix(w0 ^ CHECK_SEED) ^ w1) ^ w2)
}

/// One decoded, checksummed registry entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    tag: u32,
    node: u16,
    pid: u32,
    /// Nanoseconds since the Unix epoch.
    started_ns: u64,
}

impl Entry {
    fn encode(&self) -> [u8; ENTRY_BYTES as usize] {
        let w0 = u64::from(self.tag) | u64::from(self.node) << 32 | PRESENT;
        let w1 = u64::from(self.pid);
        let w2 = self.started_ns;
        let mut bytes = [0; ENTRY_BYTES as usize];
        for (i, w) in [w0, w1, w2, checksum(w0, w1, w2)].into_iter().enumerate() {
            bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        bytes
    }

    /// The entry at index `node`, or `None` if it is absent, torn or garbage.
    fn decode(bytes: &[u8], node: u16) -> Option<Self> {
        let word = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
        let (w0, w1, w2, w3) = (word(0), word(1), word(2), word(3));
        let entry = Self {
            tag: w0 as u32,
            node: (w0 >> 32) as u16,
            pid: u32::try_from(w1).ok()?,
            started_ns: w2,
        };
        let valid = w0 & PRESENT != 0
            && (w0 >> 48) & 0x7fff == 0
            && entry.node == node
            && w3 == checksum(w0, w1, w2);
        valid.then_some(entry)
    }

    fn started(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.started_ns)
    }
}

fn entry_offset(node: u16) -> u64 {
    u64::from(node) * ENTRY_BYTES
}

fn node_byte(node: u16) -> u64 {
    NODE_LOCK_BASE + u64::from(node)
}

fn tag_byte(tag: u32) -> u64 {
    TAG_LOCK_BASE + u64::from(tag)
}

/// Reads entry `node`; `Ok(None)` if it is absent or invalid.
fn read_entry(file: &File, node: u16) -> io::Result<Option<Entry>> {
    let mut bytes = [0; ENTRY_BYTES as usize];
    file.read_exact_at(&mut bytes, entry_offset(node))?;
    Ok(Entry::decode(&bytes, node))
}

/// One live member of a fleet: it holds its node id and its tag in the fleet's registry until
/// it is dropped or its process dies.
///
/// Dropping it clears its entry (best effort) and releases both locks, also for any `dup` of
/// the descriptor.
///
/// # Examples
///
/// ```
/// use std::fs::OpenOptions;
/// use orbit_rs::shm::{Member, SegmentName, ShmError, current_uid};
///
/// let fleet = format!("doc-member-{}", std::process::id());
/// let path = format!("/dev/shm{}", SegmentName::members(&fleet, current_uid())?);
/// let open = || OpenOptions::new().read(true).write(true).create(true).open(&path);
///
/// let me = Member::join(open()?, 3)?;
/// assert_eq!((me.node(), me.pid()), (3, std::process::id()));
/// assert_ne!(me.tag(), 0);
///
/// let err = Member::join(open()?, 3).unwrap_err(); // node 3 is taken while `me` lives
/// assert!(matches!(err, ShmError::NodeInUse { node: 3, .. }));
/// drop(me);
/// Member::join(open()?, 3)?; // free again
/// std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Member {
    /// The member's own open of the registry; its description holds the locks.
    file: File,
    node: u16,
    /// Non-zero, unique among the fleet's live members.
    tag: u32,
    pid: u32,
    started: SystemTime,
    /// The name this member opened the registry under, if it joined by name
    /// ([`join_named`](Self::join_named)): the last member to leave removes it.
    name: Option<String>,
}

impl Member {
    /// [`join`](Self::join) a registry opened under `name`, holding the registry's gate (see
    /// [`GATE_BYTE`]) so that the last member to leave removes the name. `Ok(None)` if the name
    /// no longer names `file` — the last member of an empty fleet removed it after we opened
    /// it: open the name again.
    pub(crate) fn join_named(file: File, node: u16, name: &str) -> Result<Option<Self>, ShmError> {
        let io = |op: &'static str| move |source| ShmError::RegistryIo { op, source };
        let start = std::time::Instant::now();
        while !hold_shared(&file, GATE_BYTE).map_err(io("fcntl F_OFD_SETLK (gate)"))? {
            // A leaver is removing the name this very moment.
            if start.elapsed() > GATE_WAIT {
                return Err(ShmError::RegistryIo {
                    op: "fcntl F_OFD_SETLK (gate)",
                    source: io::ErrorKind::WouldBlock.into(),
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if !object::names(name, &file)? {
            return Ok(None);
        }
        let mut member = Self::join(file, node)?;
        member.name = Some(name.into());
        Ok(Some(member))
    }

    /// Joins the fleet whose registry is `file` as node `node`: sizes an empty registry to
    /// its 2 MiB, takes the node's lock, draws a tag no live member holds, and writes
    /// the entry.
    ///
    /// `file` must be opened read-write, without `O_APPEND`, by its own `open` (a `try_clone`
    /// of another member's descriptor shares that member's locks, and the kernel then cannot
    /// tell the two apart).
    ///
    /// # Errors
    ///
    /// - [`ShmError::NodeInUse`]: a live member holds `node`, with its pid and start time when
    ///   its entry is readable.
    /// - [`ShmError::RegistrySize`]: the file is neither empty nor a registry's 2 MiB long.
    /// - [`ShmError::NoFreeTag`]: 16 random tags were all held.
    /// - [`ShmError::RegistryIo`]: `fstat`, `ftruncate`, `fcntl` or `pwrite` failed (`ENOSPC`
    ///   when the shared-memory filesystem is full, `EBADF` for a read-only descriptor).
    pub fn join(file: File, node: u16) -> Result<Self, ShmError> {
        let io = |op: &'static str| move |source| ShmError::RegistryIo { op, source };
        let size = file.metadata().map_err(io("fstat"))?.len();
        if size == 0 {
            // Concurrent joiners may all do this: they set the same size.
            file.set_len(REGISTRY_BYTES).map_err(io("ftruncate"))?;
        } else if size != REGISTRY_BYTES {
            return Err(ShmError::RegistrySize {
                size,
                expected: REGISTRY_BYTES,
            });
        }
        if !try_hold_exclusive(&file, node_byte(node)).map_err(io("fcntl F_OFD_SETLK (node)"))? {
            // The entry names the holder only if its tag is live too; otherwise it is a dead
            // member's, and the holder has not written its own yet.
            let holder = read_entry(&file, node)
                .ok()
                .flatten()
                .filter(|e| is_held(&file, tag_byte(e.tag)).unwrap_or(false));
            return Err(ShmError::NodeInUse {
                node,
                pid: holder.map(|e| e.pid),
                since: holder.as_ref().map(Entry::started),
            });
        }
        let started = SystemTime::now();
        // From here on, dropping `member` clears the entry and releases what it took.
        let mut member = Self {
            file,
            node,
            tag: 0,
            pid: std::process::id(),
            started,
            name: None,
        };
        for _ in 0..TAG_DRAWS {
            let tag = random_tag();
            if try_hold_exclusive(&member.file, tag_byte(tag))
                .map_err(io("fcntl F_OFD_SETLK (tag)"))?
            {
                member.tag = tag;
                break;
            }
        }
        if member.tag == 0 {
            return Err(ShmError::NoFreeTag { draws: TAG_DRAWS });
        }
        let entry = Entry {
            tag: member.tag,
            node,
            pid: member.pid,
            started_ns: started
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        };
        member
            .file
            .write_all_at(&entry.encode(), entry_offset(node))
            .map_err(io("pwrite"))?;
        Ok(member)
    }

    /// The node id this member holds.
    #[must_use]
    pub fn node(&self) -> u16 {
        self.node
    }

    /// This member's tag: non-zero, unique among the fleet's live members while it lives.
    #[must_use]
    pub fn tag(&self) -> u32 {
        self.tag
    }

    /// The pid recorded in the entry (this process's, in its pid namespace).
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// When this member joined.
    #[must_use]
    pub fn started(&self) -> SystemTime {
        self.started
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        // We hold the node lock, so no live member writes this entry concurrently. Best
        // effort: the locks, not the entry, say whether a member lives.
        let _ = self
            .file
            .write_all_at(&[0; ENTRY_BYTES as usize], entry_offset(self.node));
        if self.tag != 0 {
            let _ = release(&self.file, tag_byte(self.tag));
        }
        let _ = release(&self.file, node_byte(self.node));
        // The last member to leave removes the registry's name (if it still names this
        // registry): taking the gate exclusively proves no member lives or is joining.
        if let Some(name) = &self.name {
            let _ = release(&self.file, GATE_BYTE);
            if try_hold_exclusive(&self.file, GATE_BYTE).unwrap_or(false) {
                if object::names(name, &self.file).unwrap_or(false) {
                    let _ = rustix::shm::unlink(name.as_str());
                }
                let _ = release(&self.file, GATE_BYTE);
            }
        }
    }
}

/// One registry entry as [`members`] found it.
///
/// # Examples
///
/// ```
/// use std::fs::OpenOptions;
/// use orbit_rs::shm::{Member, SegmentName, current_uid, members};
///
/// let fleet = format!("doc-member-info-{}", std::process::id());
/// let path = format!("/dev/shm{}", SegmentName::members(&fleet, current_uid())?);
/// let open = || OpenOptions::new().read(true).write(true).create(true).open(&path);
/// let member = Member::join(open()?, 5)?;
///
/// let found = members(&open()?)?; // through an open of our own, never the member's
/// assert_eq!(found.len(), 1);
/// let info = found[0];
/// assert_eq!((info.node, info.tag, info.pid), (5, member.tag(), std::process::id()));
/// assert!(info.alive);
/// drop(member);
/// assert!(members(&open()?)?.is_empty());
/// std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemberInfo {
    /// The node id.
    pub node: u16,
    /// The member's tag.
    pub tag: u32,
    /// Its pid as it recorded it (in its own pid namespace; possibly reused since): for
    /// display, never for a liveness decision.
    pub pid: u32,
    /// When it joined.
    pub started: SystemTime,
    /// Whether a live member holds both the node's and the tag's lock: `false` for a dead
    /// member's leftover entry.
    pub alive: bool,
}

/// Every present entry of the registry `file`, in node order, with its liveness.
///
/// Read `file` through an open of your own: a member's own descriptor does not see its own
/// locks and would report that member dead. A registry nobody has joined yet (empty file) has
/// no members. Reads the file in 64 KiB chunks (holes of a sparse file read as zeros cheaply).
///
/// # Errors
///
/// The OS error of `fstat`, `pread` or `fcntl`; `InvalidData` if the file is neither empty nor
/// a registry's 2 MiB long.
pub fn members(file: &File) -> io::Result<Vec<MemberInfo>> {
    let size = file.metadata()?.len();
    if size == 0 {
        return Ok(Vec::new());
    }
    if size != REGISTRY_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            std::format!("the fleet registry is {size} bytes, expected 0 or {REGISTRY_BYTES}"),
        ));
    }
    let mut found = Vec::new();
    let mut buf = std::vec![0u8; CHUNK];
    for start in (0..REGISTRY_BYTES).step_by(CHUNK) {
        file.read_exact_at(&mut buf, start)?;
        let first = start / ENTRY_BYTES;
        for (i, bytes) in buf.chunks_exact(ENTRY_BYTES as usize).enumerate() {
            if bytes.iter().all(|&b| b == 0) {
                continue;
            }
            let node = (first + i as u64) as u16;
            if let Some(e) = Entry::decode(bytes, node) {
                let alive = is_held(file, node_byte(node))? && is_held(file, tag_byte(e.tag))?;
                found.push(MemberInfo {
                    node,
                    tag: e.tag,
                    pid: e.pid,
                    started: e.started(),
                    alive,
                });
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::super::liveness::Scratch;
    use super::*;
    use std::fs::OpenOptions;

    #[test]
    fn entries_round_trip_and_reject_damage() {
        let e = Entry {
            tag: 0xdead_beef,
            node: 513,
            pid: 4242,
            started_ns: 1_700_000_000_123_456_789,
        };
        let bytes = e.encode();
        assert_eq!(Entry::decode(&bytes, 513), Some(e));
        assert_eq!(Entry::decode(&bytes, 514), None, "entry at the wrong index");
        assert_eq!(Entry::decode(&[0; 32], 0), None);
        for byte in 0..32 {
            let mut torn = bytes;
            torn[byte] ^= 0x10;
            assert_eq!(Entry::decode(&torn, 513), None, "flip in byte {byte}");
        }
    }

    #[test]
    fn join_sizes_writes_and_drop_clears() {
        let s = Scratch::new("join");
        let m = Member::join(s.open(), 3).unwrap();
        assert_eq!(s.open().metadata().unwrap().len(), REGISTRY_BYTES);
        assert_ne!(m.tag(), 0);
        let seen = members(&s.open()).unwrap();
        assert_eq!(seen.len(), 1);
        let info = seen[0];
        assert_eq!(
            (info.node, info.tag, info.pid, info.alive),
            (3, m.tag(), std::process::id(), true)
        );
        assert_eq!(
            read_entry(&s.open(), 3).unwrap().map(|e| e.tag),
            Some(m.tag())
        );
        drop(m);
        assert!(members(&s.open()).unwrap().is_empty());
        Member::join(s.open(), 3).expect("node 3 is free again");
    }

    #[test]
    fn other_sizes_are_refused() {
        let s = Scratch::new("size");
        s.open().set_len(4096).unwrap();
        let err = Member::join(s.open(), 1).unwrap_err();
        assert!(
            matches!(
                err,
                ShmError::RegistrySize {
                    size: 4096,
                    expected: REGISTRY_BYTES
                }
            ),
            "{err:?}"
        );
        let text = std::format!("{err}");
        assert!(text.contains("4096") && text.contains("2097152"), "{text}");
        assert_eq!(
            members(&s.open()).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn a_read_only_registry_is_an_io_error() {
        let s = Scratch::new("ro");
        s.open().set_len(REGISTRY_BYTES).unwrap();
        let ro = OpenOptions::new().read(true).open(&s.0).unwrap();
        let err = Member::join(ro, 1).unwrap_err();
        assert!(matches!(err, ShmError::RegistryIo { .. }), "{err:?}");
    }
}
