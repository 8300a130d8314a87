//! Formatting: sizes in binary units, payloads as text or hex, and the JSON of observed
//! fleets, rings and members.

use std::time::{Duration, UNIX_EPOCH};

use orbit_rs::shm::{
    EntryProblem, FleetInfo, LaneInfo, LeaseInfo, MemberInfo, NameScope, RingInfo,
};
use serde_json::{Value, json};

/// `512 B`, `4.0 KiB`, `2.1 MiB`, ...
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The payload as text if it is printable UTF-8, else as lowercase hex.
pub(crate) fn payload(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(char::is_control) => format!("{text:?}"),
        _ => format!("0x{}", hex(bytes)),
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `HH:MM:SS.mmm` UTC of milliseconds since the Unix epoch.
pub(crate) fn clock(ms: u64) -> String {
    let day = ms % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}Z",
        day / 3_600_000,
        day / 60_000 % 60,
        day / 1000 % 60,
        day % 1000
    )
}

/// `user 1000` or `group 100`.
pub(crate) fn scope(scope: NameScope) -> String {
    match scope {
        NameScope::User(uid) => format!("user {uid}"),
        NameScope::Group(gid) => format!("group {gid}"),
    }
}

/// `running, 2 of 3 members alive` / `not running, ...`.
pub(crate) fn liveness(info: &FleetInfo) -> String {
    let alive = info.members.iter().filter(|m| m.alive).count();
    let state = if info.running() {
        "running"
    } else {
        "not running"
    };
    match info.registry {
        Some(_) => format!("{state}, {alive} of {} members alive", info.members.len()),
        None => format!("{state}, no member registry"),
    }
}

/// The writer lease of a lane, in words.
pub(crate) fn lease(lease: Option<LeaseInfo>) -> String {
    let Some(lease) = lease else {
        return "none".into();
    };
    let state = if lease.token.is_writer() {
        "exclusive writer"
    } else if lease.token.is_reset() {
        "reset"
    } else {
        "closing"
    };
    let who = match lease.node {
        Some(node) => format!("node {node}"),
        None => format!("tag {:#x}", lease.token.owner()),
    };
    let alive = match lease.alive {
        Some(true) => "alive",
        Some(false) => "DEAD",
        None => "liveness unknown",
    };
    format!("{state} {who}, {alive}")
}

/// `ring 9` or `lanes 7`.
pub(crate) fn ring_label(ring: &RingInfo) -> String {
    if ring.per_node {
        format!("lanes {}", ring.kind)
    } else {
        format!("ring {}", ring.kind)
    }
}

/// `64 × 32 B (stride 64 B), 4.2 KiB` (plus the lane count for per-node lanes).
pub(crate) fn spec(ring: &RingInfo) -> String {
    let l = ring.layout;
    let lanes = if ring.per_node {
        format!("{} lanes of ", l.lanes)
    } else {
        String::new()
    };
    format!(
        "{lanes}{} slots × {} payload (stride {}), {}",
        l.capacity,
        bytes(l.payload),
        bytes(l.stride),
        bytes(ring.bytes)
    )
}

/// Heads of a ring: a fleet ring's head, or the sum over lanes.
pub(crate) fn head(ring: &RingInfo) -> u64 {
    ring.lanes.iter().map(|l| l.head).sum()
}

fn lane_json(lane: &LaneInfo) -> Value {
    json!({
        "head": lane.head,
        "generation": lane.generation,
        "lease": lane.lease.map(|l| json!({
            "state": if l.token.is_writer() { "writer" } else if l.token.is_reset() { "reset" } else { "closing" },
            "tag": l.token.owner(),
            "node": l.node,
            "alive": l.alive,
        })),
    })
}

pub(crate) fn ring_json(ring: &RingInfo, rate: Option<f64>) -> Value {
    let first = ring.lanes.first();
    let mut value = json!({
        "name": ring.name.as_str(),
        "kind": ring.kind,
        "per_node": ring.per_node,
        "capacity": ring.layout.capacity,
        "payload": ring.layout.payload,
        "stride": ring.layout.stride,
        "lanes": ring.layout.lanes,
        "bytes": ring.bytes,
        "retired": ring.retired,
        "head": head(ring),
        "generation": first.map(|l| l.generation),
        "lease": first.map(lane_json).and_then(|l| l.get("lease").cloned()),
        "attached": ring.attached,
    });
    if ring.per_node {
        value["lane_states"] = ring.lanes.iter().map(lane_json).collect();
    }
    if let Some(rate) = rate {
        value["rate"] = json!(rate);
    }
    value
}

pub(crate) fn member_json(member: &MemberInfo) -> Value {
    let started = member
        .started
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    json!({
        "node": member.node,
        "tag": member.tag,
        "pid": member.pid,
        "started_ms": started.as_millis() as u64,
        "alive": member.alive,
    })
}

pub(crate) fn problem_json(problem: &EntryProblem) -> Value {
    json!({
        "name": problem.name,
        "kind": problem.kind.as_str(),
        "error": problem.error.to_string(),
    })
}

pub(crate) fn scope_json(scope: NameScope) -> Value {
    match scope {
        NameScope::User(uid) => json!({ "user": uid }),
        NameScope::Group(gid) => json!({ "group": gid }),
    }
}

/// A fleet as JSON; `rates` (per ring, in `info.rings` order) for `stat`.
pub(crate) fn fleet_json(info: &FleetInfo, rates: Option<&[f64]>) -> Value {
    let rings: Vec<Value> = info
        .rings
        .iter()
        .enumerate()
        .map(|(i, r)| ring_json(r, rates.and_then(|rates| rates.get(i).copied())))
        .collect();
    json!({
        "name": info.name,
        "scope": scope_json(info.scope),
        "running": info.running(),
        "registry": info.registry.as_ref().map(|r| r.as_str()),
        "members": info.members.iter().map(member_json).collect::<Vec<_>>(),
        "rings": rings,
        "problems": info.problems.iter().map(problem_json).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(2 * 1024 * 1024 + 300 * 1024), "2.3 MiB");
    }

    #[test]
    fn payloads_and_clock() {
        assert_eq!(payload(b"open"), "\"open\"");
        assert_eq!(payload(&[0, 255]), "0x00ff");
        assert_eq!(payload(b"a\nb"), "0x610a62");
        assert_eq!(clock(3_723_004), "01:02:03.004Z");
    }
}
