//! The commands: each observes (or, for `pub` and `rm`, acts) through the library and prints
//! text or JSON.

use std::error::Error;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use orbit_rs::event::EVENT_RING_KIND;
use orbit_rs::shm::{
    FleetInfo, NameScope, ObjectName, ObjectRole, Observer, ProblemKind, Segment, ShmError,
    current_uid, survey,
};
use orbit_rs::{Cursor, Fleet, OrbitEventBus, codec};
use serde_json::{Value, json};

use crate::Command;
use crate::render::{self, bytes};

type Fallible<T> = Result<T, Box<dyn Error>>;

/// Polls of an idle ring by `tail` are this far apart.
const TAIL_IDLE: Duration = Duration::from_millis(10);

/// Fleet size `orbit pub` joins with (the library's default).
const PUB_FLEET_SIZE: u16 = orbit_rs::fleet::DEFAULT_FLEET_SIZE;

/// Runs one command. A closed stdout (`orbit tail | head`) ends it successfully.
pub(crate) fn run(command: Command) -> Fallible<ExitCode> {
    let out = &mut io::stdout().lock();
    let result = match command {
        Command::Ls { fleet, json } => ls(out, fleet.as_deref(), json),
        Command::Stat {
            fleet,
            kind,
            watch,
            interval_ms,
            group,
            json,
        } => stat(
            out,
            &observer(&fleet, group)?,
            kind,
            watch,
            Duration::from_millis(interval_ms),
            json,
        ),
        Command::Tail {
            fleet,
            kind,
            from_start,
            events,
            topic,
            count,
            group,
            json,
        } => tail(
            out,
            &observer(&fleet, group)?,
            kind,
            Tail {
                from_start,
                events: events || topic.is_some(),
                topic,
                count,
                json,
            },
        ),
        Command::Pub {
            fleet,
            topic,
            payload,
            node,
            create,
            json,
        } => publish(out, &fleet, &topic, payload.as_bytes(), node, create, json),
        Command::Rm {
            fleet,
            kind,
            force,
            group,
            json,
        } => rm(out, &observer(&fleet, group)?, kind, force, json),
        Command::Doctor { json } => doctor(out, json),
    };
    match result {
        Err(e)
            if e.downcast_ref::<io::Error>().map(io::Error::kind)
                == Some(io::ErrorKind::BrokenPipe) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        other => other,
    }
}

fn observer(fleet: &str, group: Option<u32>) -> Fallible<Observer> {
    let scope = group.map_or(NameScope::User(current_uid()), NameScope::Group);
    Ok(Observer::with_scope(fleet, scope)?)
}

/// The fleet's state now, or "fleet F not found".
fn info(observer: &Observer) -> Fallible<FleetInfo> {
    match observer.info() {
        Err(ShmError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Err(format!("fleet {} not found in /dev/shm", observer.fleet()).into())
        }
        other => Ok(other?),
    }
}

fn print_json(out: &mut impl Write, value: &Value) -> Fallible<()> {
    writeln!(out, "{value}")?;
    Ok(())
}

// ---- ls ----------------------------------------------------------------------------------

fn ls(out: &mut impl Write, only: Option<&str>, json: bool) -> Fallible<ExitCode> {
    let mut found = survey()?;
    if let Some(only) = only {
        orbit_rs::shm::check_fleet_name(only)?;
        found.fleets.retain(|f| f.name == only);
        found.problems.clear();
        if found.fleets.is_empty() {
            return Err(format!("fleet {only} not found in /dev/shm").into());
        }
    }
    if json {
        print_json(
            out,
            &json!({
                "fleets": found.fleets.iter().map(|f| render::fleet_json(f, None)).collect::<Vec<_>>(),
                "problems": found.problems.iter().map(render::problem_json).collect::<Vec<_>>(),
                "other_users": found.other_users,
            }),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if found.fleets.is_empty() && found.problems.is_empty() {
        writeln!(out, "no fleets in /dev/shm")?;
    }
    for (i, fleet) in found.fleets.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        write_fleet(out, fleet, None)?;
    }
    if !found.problems.is_empty() {
        writeln!(out, "\nnot fleet objects:")?;
        for p in &found.problems {
            writeln!(out, "  {:<9} {}: {}", p.kind.as_str(), p.name, p.error)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The text form of a fleet: a title line, one line per ring, member, problem.
fn write_fleet(out: &mut impl Write, fleet: &FleetInfo, rates: Option<&[f64]>) -> Fallible<()> {
    writeln!(
        out,
        "fleet {} ({}): {}",
        fleet.name,
        render::scope(fleet.scope),
        render::liveness(fleet)
    )?;
    for (i, ring) in fleet.rings.iter().enumerate() {
        let flags = if ring.retired { "  RETIRED" } else { "" };
        writeln!(
            out,
            "  {:<9} {}{flags}",
            render::ring_label(ring),
            ring.name
        )?;
        writeln!(out, "            {}", render::spec(ring))?;
        let lane = ring.lanes.first();
        let rate = rates
            .and_then(|r| r.get(i))
            .map(|r| format!(", {r:.0} frames/s"))
            .unwrap_or_default();
        writeln!(
            out,
            "            head {}{rate}, generation {}, writer: {}",
            render::head(ring),
            lane.map_or(0, |l| l.generation),
            render::lease(lane.and_then(|l| l.lease)),
        )?;
        let attached: Vec<String> = ring.attached.iter().map(u16::to_string).collect();
        if !attached.is_empty() {
            writeln!(out, "            attached: node {}", attached.join(", "))?;
        }
    }
    for m in &fleet.members {
        let state = if m.alive { "alive" } else { "dead" };
        writeln!(
            out,
            "  member    node {:<5} pid {:<8} {state}",
            m.node, m.pid
        )?;
    }
    for p in &fleet.problems {
        writeln!(out, "  {:<9} {}: {}", p.kind.as_str(), p.name, p.error)?;
    }
    Ok(())
}

// ---- stat --------------------------------------------------------------------------------

fn stat(
    out: &mut impl Write,
    observer: &Observer,
    kind: Option<u8>,
    watch: bool,
    interval: Duration,
    json: bool,
) -> Fallible<ExitCode> {
    let sample = || -> Fallible<(FleetInfo, Instant)> {
        let mut fleet = info(observer)?;
        if let Some(kind) = kind {
            fleet.rings.retain(|r| r.kind == kind && !r.per_node);
            if fleet.rings.is_empty() {
                return Err(
                    format!("fleet {} has no ring of kind {kind}", observer.fleet()).into(),
                );
            }
        }
        Ok((fleet, Instant::now()))
    };
    let mut before = sample()?;
    loop {
        thread::sleep(interval);
        let now = sample()?;
        let seconds = now.1.duration_since(before.1).as_secs_f64();
        let rates: Vec<f64> = now
            .0
            .rings
            .iter()
            .map(|ring| {
                let then = before.0.rings.iter().find(|r| r.name == ring.name);
                let same_generation = then.is_some_and(|t| {
                    t.lanes.first().map(|l| l.generation)
                        == ring.lanes.first().map(|l| l.generation)
                });
                let from = then.filter(|_| same_generation).map_or(0, render::head);
                render::head(ring).saturating_sub(from) as f64 / seconds
            })
            .collect();
        if json {
            print_json(out, &render::fleet_json(&now.0, Some(&rates)))?;
        } else {
            write_fleet(out, &now.0, Some(&rates))?;
        }
        out.flush()?;
        if !watch {
            return Ok(ExitCode::SUCCESS);
        }
        if !json {
            writeln!(out)?;
        }
        before = now;
    }
}

// ---- tail --------------------------------------------------------------------------------

struct Tail {
    from_start: bool,
    events: bool,
    topic: Option<String>,
    count: Option<u64>,
    json: bool,
}

fn tail(out: &mut impl Write, observer: &Observer, kind: u8, how: Tail) -> Fallible<ExitCode> {
    let mut ring = observer.ring(kind)?;
    let mut cursor = if how.from_start {
        Cursor::from_start()
    } else {
        ring.cursor_at_head()
    };
    let mut shown = 0u64;
    loop {
        let mut lines: Vec<String> = Vec::new();
        let poll = ring.poll(&mut cursor, |frame| {
            if how.count.is_some_and(|c| shown >= c) {
                return;
            }
            if let Some(line) = frame_line(&frame, &how) {
                lines.push(line);
                shown += 1;
            }
        });
        for line in &lines {
            writeln!(out, "{line}")?;
        }
        let lost = poll.loss.total();
        if lost > 0 {
            let (o, u) = (poll.loss.overwritten, poll.loss.unavailable);
            if how.json {
                print_json(
                    out,
                    &json!({ "lost": lost, "overwritten": o, "unavailable": u }),
                )?;
            } else {
                writeln!(
                    out,
                    "-- lost {lost} frames ({o} overwritten, {u} unavailable)"
                )?;
            }
        }
        if poll.rewound && !how.json {
            writeln!(out, "-- ring reset: following generation from its start")?;
        }
        out.flush()?;
        if how.count.is_some_and(|c| shown >= c) {
            return Ok(ExitCode::SUCCESS);
        }
        if ring.is_retired() {
            // The fleet was unlinked: follow the name to its fresh segment once there is one.
            if let Ok(next) = observer.ring(kind) {
                if !how.json {
                    writeln!(out, "-- {} retired: following the new segment", ring.name())?;
                }
                ring = next;
                cursor = Cursor::from_start();
                continue;
            }
        }
        if poll.is_empty() {
            thread::sleep(TAIL_IDLE);
        }
    }
}

/// One frame's line, or `None` if filtered out (another topic, or not an event with --events).
fn frame_line(frame: &orbit_rs::FrameRef<'_>, how: &Tail) -> Option<String> {
    let node = frame.id.node().get();
    if !how.events {
        return Some(if how.json {
            json!({
                "counter": frame.counter,
                "id": frame.id.to_string(),
                "node": node,
                "kind": frame.kind,
                "version": frame.version,
                "payload_hex": render::hex(frame.payload),
                "payload_text": std::str::from_utf8(frame.payload).ok(),
            })
            .to_string()
        } else {
            format!(
                "#{} node {node} kind {} version {} {}",
                frame.counter,
                frame.kind,
                frame.version,
                render::payload(frame.payload)
            )
        });
    }
    let event = match codec::decode(frame.payload) {
        Ok(event) if frame.kind == orbit_rs::event::EVENT_FRAME_KIND => event,
        _ => {
            return Some(if how.json {
                json!({ "counter": frame.counter, "id": frame.id.to_string(), "undecodable": true })
                    .to_string()
            } else {
                format!("#{} node {node}: not an event frame", frame.counter)
            });
        }
    };
    if how.topic.as_deref().is_some_and(|t| t != event.topic) {
        return None;
    }
    Some(if how.json {
        json!({
            "counter": frame.counter,
            "id": frame.id.to_string(),
            "node": node,
            "topic": event.topic,
            "payload_text": std::str::from_utf8(event.payload).ok(),
            "payload_hex": render::hex(event.payload),
            "timestamp_ms": event.timestamp_ms,
        })
        .to_string()
    } else {
        format!(
            "#{} {} node {node} {} {}",
            frame.counter,
            render::clock(event.timestamp_ms),
            event.topic,
            render::payload(event.payload)
        )
    })
}

// ---- pub ---------------------------------------------------------------------------------

fn publish(
    out: &mut impl Write,
    fleet: &str,
    topic: &str,
    payload: &[u8],
    node: Option<u16>,
    create: bool,
    json: bool,
) -> Fallible<ExitCode> {
    let observer = Observer::new(fleet)?;
    // The bus ring's capacity, if it exists: joining must match it.
    let capacity = match observer.ring(EVENT_RING_KIND) {
        Ok(ring) => Some(ring.layout().capacity as usize),
        Err(ShmError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    if capacity.is_none() && !create && observer.info().is_err() {
        return Err(format!("fleet {fleet} not found in /dev/shm (--create makes it)").into());
    }
    let joined = match node {
        Some(node) => Fleet::join_shm_as(fleet, PUB_FLEET_SIZE, node)?,
        None => join_free_node(fleet)?,
    };
    let fleet_handle = Arc::new(joined);
    let bus = match capacity {
        Some(capacity) => OrbitEventBus::with_capacity(fleet_handle.clone(), capacity)?,
        None => OrbitEventBus::new(fleet_handle.clone())?,
    };
    let id = bus.publish(topic, payload)?;
    if json {
        print_json(
            out,
            &json!({ "fleet": fleet, "node": id.node().get(), "id": id.to_string(), "counter": id.counter(), "topic": topic }),
        )?;
    } else {
        writeln!(
            out,
            "published {topic} to {fleet} as node {} (id {id})",
            id.node()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Joins `fleet` as the highest node id no live member holds.
fn join_free_node(fleet: &str) -> Fallible<Fleet> {
    for node in (0..PUB_FLEET_SIZE).rev() {
        match Fleet::join_shm_as(fleet, PUB_FLEET_SIZE, node) {
            Ok(joined) => return Ok(joined),
            Err(orbit_rs::Error::Shm(ShmError::NodeInUse { .. })) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(format!("every node id of fleet {fleet} is held by a live member").into())
}

// ---- rm ----------------------------------------------------------------------------------

fn rm(
    out: &mut impl Write,
    observer: &Observer,
    kind: Option<u8>,
    force: bool,
    json: bool,
) -> Fallible<ExitCode> {
    let fleet = info(observer)?;
    let alive: Vec<String> = fleet
        .members
        .iter()
        .filter(|m| m.alive)
        .map(|m| format!("node {} (pid {})", m.node, m.pid))
        .collect();
    if !alive.is_empty() && !force {
        return Err(format!(
            "fleet {} is running: {} alive; stop it first, or --force",
            fleet.name,
            alive.join(", ")
        )
        .into());
    }
    let mut removed = Vec::new();
    for name in fleet.names() {
        let Some(object) = ObjectName::parse(&name) else {
            continue;
        };
        let wanted = match (kind, object.role) {
            (None, _) => true,
            (Some(k), ObjectRole::Ring(r) | ObjectRole::Lanes(r)) => k == r,
            (Some(_), ObjectRole::Members) => false,
        };
        if wanted && Segment::<32>::unlink(&object.segment_name()?)? {
            if !json {
                writeln!(out, "removed {name}")?;
            }
            removed.push(name);
        }
    }
    if kind.is_some() && removed.is_empty() {
        return Err(format!(
            "fleet {} has no ring of kind {}",
            fleet.name,
            kind.unwrap_or_default()
        )
        .into());
    }
    if json {
        print_json(
            out,
            &json!({ "fleet": fleet.name, "removed": removed, "forced": force && !alive.is_empty() }),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

// ---- doctor ------------------------------------------------------------------------------

/// One finding: `ok`, `warn` or `fail`.
struct Finding {
    level: &'static str,
    what: String,
}

fn doctor(out: &mut impl Write, json: bool) -> Fallible<ExitCode> {
    let mut findings = Vec::new();
    let mut add = |level: &'static str, what: String| findings.push(Finding { level, what });
    match rustix::fs::statvfs("/dev/shm") {
        Ok(fs) => {
            let free = fs.f_bavail.saturating_mul(fs.f_frsize);
            let total = fs.f_blocks.saturating_mul(fs.f_frsize);
            let level = if free < 64 << 20 { "warn" } else { "ok" };
            add(
                level,
                format!("/dev/shm: {} free of {}", bytes(free), bytes(total)),
            );
        }
        Err(e) => add("fail", format!("/dev/shm: statvfs failed: {e}")),
    }
    match std::fs::metadata("/dev/shm") {
        Ok(meta) => {
            use std::os::unix::fs::MetadataExt;
            if meta.mode() & 0o1000 == 0 {
                add(
                    "warn",
                    "/dev/shm is not sticky: other users may remove this user's names".into(),
                );
            }
        }
        Err(e) => add("fail", format!("/dev/shm: {e}")),
    }
    match std::fs::read_to_string("/proc/sys/fs/protected_symlinks") {
        Ok(v) if v.trim() == "1" => add("ok", "fs.protected_symlinks = 1".into()),
        Ok(v) => add(
            "warn",
            format!(
                "fs.protected_symlinks = {}: symlinks planted in /dev/shm are followed by tools that open names naively (orbit never follows them)",
                v.trim()
            ),
        ),
        Err(e) => add("warn", format!("fs.protected_symlinks unreadable: {e}")),
    }
    let found = survey()?;
    for p in found
        .problems
        .iter()
        .chain(found.fleets.iter().flat_map(|f| f.problems.iter()))
    {
        let level = match p.kind {
            ProblemKind::UnknownName | ProblemKind::Unreadable => "warn",
            _ => "fail",
        };
        add(
            level,
            format!("{} {}: {}", p.kind.as_str(), p.name, p.error),
        );
    }
    for fleet in &found.fleets {
        for ring in fleet.rings.iter().filter(|r| r.retired) {
            add(
                "warn",
                format!(
                    "retired segment still named: {} (`orbit rm {}` removes it)",
                    ring.name, fleet.name
                ),
            );
        }
        if !fleet.running() {
            add(
                "warn",
                format!(
                    "fleet {} has no live member: leftover names (`orbit rm {}` removes them)",
                    fleet.name, fleet.name
                ),
            );
        }
    }
    if found.problems.is_empty() && found.fleets.iter().all(|f| f.problems.is_empty()) {
        add(
            "ok",
            "no foreign, insecure or bricked objects under orbit-*".into(),
        );
    }
    let failed = findings.iter().any(|f| f.level == "fail");
    if json {
        let list: Vec<Value> = findings
            .iter()
            .map(|f| json!({ "level": f.level, "what": f.what }))
            .collect();
        print_json(out, &json!({ "ok": !failed, "findings": list }))?;
    } else {
        for f in &findings {
            writeln!(out, "{:<4}  {}", f.level, f.what)?;
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
