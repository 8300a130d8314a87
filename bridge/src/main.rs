//! `orbit-bridge export|import`: one ring of a fleet to and from Zenoh. See the crate docs.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use orbit_bridge::{
    BridgeError, ExportStats, Exporter, ImportEvent, ImportStats, Importer, RingSource, key_expr,
    open_session,
};
use orbit_rs::Fleet;
use orbit_rs::event::EVENT_RING_CAPACITY;
use orbit_rs::fleet::{DEFAULT_FLEET_SIZE, PAYLOAD_MAX};
use zenoh::Wait;
use zenoh::qos::CongestionControl;

/// Bridges one ring of an orbit-rs fleet to other hosts over Zenoh.
#[derive(Parser, Debug)]
#[command(name = "orbit-bridge", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Follow a ring of a local fleet and put its frames and loss on Zenoh.
    Export {
        #[command(flatten)]
        common: Common,
        /// This host's origin id: importers republish its frames as this node of their fleet.
        /// Unique among the hosts bridged into one fleet.
        #[arg(long, default_value_t = 1)]
        origin: u16,
        /// The node id the exporter joins its fleet as (it only reads).
        #[arg(long, default_value_t = DEFAULT_FLEET_SIZE - 1)]
        node: u16,
        /// When the network is full: `block` (the ring overwrites meanwhile, counted as the
        /// exporter's loss) or `drop` (the batch is dropped, counted by the importer as the
        /// network's loss).
        #[arg(long, default_value = "block", value_parser = ["block", "drop"])]
        congestion: String,
    },
    /// Subscribe to Zenoh and republish into a local fleet, one node per origin.
    Import {
        #[command(flatten)]
        common: Common,
        /// The remote fleet whose key expression to subscribe to (default: --fleet).
        #[arg(long)]
        from: Option<String>,
    },
}

#[derive(Args, Debug)]
struct Common {
    /// The local fleet (shared memory).
    #[arg(long)]
    fleet: String,
    /// Bridge the typed ring of this kind.
    #[arg(long, conflicts_with = "events", required_unless_present = "events")]
    kind: Option<u8>,
    /// Bridge the event bus.
    #[arg(long)]
    events: bool,
    /// Slots of the ring (default: 1024 for events, 256 for a kind, the library's defaults).
    #[arg(long)]
    capacity: Option<usize>,
    /// Payload bytes of the typed ring's slots (its type's PAYLOAD).
    #[arg(long, default_value_t = PAYLOAD_MAX)]
    payload: usize,
    /// Nodes in the fleet.
    #[arg(long, default_value_t = DEFAULT_FLEET_SIZE)]
    size: u16,
    /// The Zenoh key expression (default: orbit/{fleet}/{events|kind}).
    #[arg(long)]
    key: Option<String>,
    /// A Zenoh config file (Zenoh's JSON5 format: mode, listen and connect endpoints, ...).
    #[arg(long)]
    zenoh_config: Option<PathBuf>,
}

impl Common {
    fn source(&self) -> RingSource {
        match self.kind {
            Some(kind) => RingSource::Kind {
                kind,
                capacity: self.capacity.unwrap_or(256),
                payload: self.payload,
            },
            None => RingSource::Events {
                capacity: self.capacity.unwrap_or(EVENT_RING_CAPACITY),
            },
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        if let Err(e) = ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed)) {
            eprintln!("orbit-bridge: cannot handle Ctrl-C: {e}");
            return ExitCode::FAILURE;
        }
    }
    let result = match cli.command {
        Command::Export {
            common,
            origin,
            node,
            congestion,
        } => {
            let congestion = match congestion.as_str() {
                "drop" => CongestionControl::Drop,
                _ => CongestionControl::Block,
            };
            export(&common, origin, node, congestion, &stop)
        }
        Command::Import { common, from } => import(&common, from.as_deref(), &stop),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orbit-bridge: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One line on stdout, flushed (tests and scripts read them as they come).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "orbit-bridge: {line}");
    let _ = out.flush();
}

fn export(
    common: &Common,
    origin: u16,
    node: u16,
    congestion: CongestionControl,
    stop: &AtomicBool,
) -> Result<(), BridgeError> {
    let source = common.source();
    let fleet = Fleet::join_shm_as(&common.fleet, common.size, node)
        .map_err(|e| BridgeError::Fleet(format!("joining {} as node {node}: {e}", common.fleet)))?;
    let mut exporter =
        Exporter::new(Arc::new(fleet), source, origin)?.with_congestion_control(congestion);
    let session = open_session(common.zenoh_config.as_deref())?;
    let key = common
        .key
        .clone()
        .unwrap_or_else(|| key_expr(&common.fleet, &source));
    say(&format!(
        "export ready fleet={} key={key} origin={origin} session={:016x}",
        common.fleet,
        exporter.session()
    ));
    let mut last = Instant::now();
    let stats = exporter.run_with(&session, &key, stop, |stats| {
        if last.elapsed() >= Duration::from_secs(1) {
            last = Instant::now();
            say(&export_line(stats));
        }
    });
    let _ = session.close().wait();
    let stats = stats?;
    say(&export_line(&stats));
    say("export stopped");
    Ok(())
}

fn export_line(s: &ExportStats) -> String {
    format!(
        "export stats batches={} frames={} overwritten={} unavailable={} resets={} put_errors={}",
        s.batches, s.frames, s.overwritten, s.unavailable, s.resets, s.put_errors
    )
}

fn import(common: &Common, from: Option<&str>, stop: &AtomicBool) -> Result<(), BridgeError> {
    let source = common.source();
    let mut importer = Importer::new(
        &common.fleet,
        common.size,
        orbit_bridge::Backing::SharedMemory,
        source,
    );
    let session = open_session(common.zenoh_config.as_deref())?;
    let key = common
        .key
        .clone()
        .unwrap_or_else(|| key_expr(from.unwrap_or(&common.fleet), &source));
    say(&format!("import ready fleet={} key={key}", common.fleet));
    let mut last = Instant::now();
    let stats = importer.run(&session, &key, stop, |event| match event {
        ImportEvent::NewStream { origin, session } => {
            say(&format!(
                "import stream origin={origin} session={session:016x}"
            ));
        }
        ImportEvent::Batch(stats) if last.elapsed() >= Duration::from_secs(1) => {
            last = Instant::now();
            say(&import_line(stats));
        }
        ImportEvent::Error(e) => eprintln!("orbit-bridge: import: {e}"),
        _ => {}
    });
    let _ = session.close().wait();
    let stats = stats?;
    for (origin, stats) in importer.origin_stats() {
        say(&format!("origin={origin} {}", import_line(&stats)));
    }
    say(&import_line(&stats));
    say("import stopped");
    Ok(())
}

fn import_line(s: &ImportStats) -> String {
    format!(
        "import stats batches={} frames={} upstream_overwritten={} upstream_unavailable={} \
         network_lost={} streams={} resets={} malformed={} foreign={} publish_errors={} \
         protocol_errors={}",
        s.batches,
        s.frames,
        s.upstream_overwritten,
        s.upstream_unavailable,
        s.network_lost,
        s.streams,
        s.resets,
        s.malformed,
        s.foreign,
        s.publish_errors,
        s.protocol_errors
    )
}
