//! `orbit`: see and manage orbit-rs fleets in `/dev/shm` from a shell (feature `cli`, Linux).
//!
//! Every command reads through the library's read-only observer (`orbit_rs::shm::Observer`:
//! `O_RDONLY`, `PROT_READ`, no locks set) except `orbit pub`, which joins the fleet as a free
//! node and publishes one event, and `orbit rm`, which removes names. Human output by default,
//! `--json` for scripts. Exit codes: 0 success, 1 error (`error: …` on stderr), 2 usage.

#![cfg_attr(not(target_os = "linux"), allow(unused))]

#[cfg(target_os = "linux")]
mod commands;
#[cfg(target_os = "linux")]
mod render;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// See and manage orbit-rs fleets in /dev/shm.
#[derive(Parser, Debug)]
#[command(name = "orbit", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The commands.
#[derive(Subcommand, Debug)]
enum Command {
    /// List fleets of this user (or one fleet): rings, members, problems.
    Ls {
        /// Only this fleet.
        fleet: Option<String>,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show a fleet's rings (or one ring): head, rate, generation, writer lease, members.
    Stat {
        /// The fleet.
        fleet: String,
        /// Only the ring of this kind.
        kind: Option<u8>,
        /// Repeat every interval until interrupted (JSON: one object per line).
        #[arg(long)]
        watch: bool,
        /// Rate sampling interval, in milliseconds.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..))]
        interval_ms: u64,
        /// A group fleet of this gid (names ending in `-g{gid}`) instead of this user's.
        #[arg(long)]
        group: Option<u32>,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Follow a ring's frames, printing loss as it happens.
    Tail {
        /// The fleet.
        fleet: String,
        /// The ring kind (the event bus is 220).
        kind: u8,
        /// Start from the oldest frame still held instead of the head.
        #[arg(long)]
        from_start: bool,
        /// Decode frames as events (topic, payload, timestamp).
        #[arg(long)]
        events: bool,
        /// Only events of this topic (implies --events).
        #[arg(long)]
        topic: Option<String>,
        /// Stop after this many frames.
        #[arg(long)]
        count: Option<u64>,
        /// A group fleet of this gid instead of this user's.
        #[arg(long)]
        group: Option<u32>,
        /// JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Publish one event (joins the fleet as a free node, from the top down).
    Pub {
        /// The fleet.
        fleet: String,
        /// The topic.
        topic: String,
        /// The payload (UTF-8 text).
        payload: String,
        /// Join as this node id instead of the highest free one.
        #[arg(long)]
        node: Option<u16>,
        /// Create the fleet if it does not exist.
        #[arg(long)]
        create: bool,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove a fleet's names from /dev/shm (refused while a live member holds it).
    Rm {
        /// The fleet.
        fleet: String,
        /// Only the ring (and per-node lanes) of this kind.
        #[arg(long)]
        kind: Option<u8>,
        /// Remove even while live members hold the fleet (they keep their mappings).
        #[arg(long)]
        force: bool,
        /// A group fleet of this gid instead of this user's.
        #[arg(long)]
        group: Option<u32>,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check what makes fleets fail on this host.
    Doctor {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version print to stdout and exit 0; usage errors exit 2.
        Err(e) => e.exit(),
    };
    run(cli)
}

#[cfg(target_os = "linux")]
fn run(cli: Cli) -> ExitCode {
    match commands::run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn run(_cli: Cli) -> ExitCode {
    eprintln!("error: orbit observes fleets in /dev/shm, which only Linux has");
    ExitCode::from(1)
}
