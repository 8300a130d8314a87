#!/usr/bin/env bash
# Runs the in-process benches (ring, peers, memory; the benches/suite crate), logs the machine
# state around them, then regenerates the tables and plots.
# Usage: scripts/bench_all.sh [LOG]   (default benches/suite/target/bench.log)
#
# Budget: about 8 minutes of measurement on the 2-core reference machine (plus the build).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-benches/suite/target}
LOG=${1:-$TARGET/bench.log}
mkdir -p "$(dirname "$LOG")"
{
    echo "=== $(date -u +%FT%TZ) $(rustc -V)"
    echo "loadavg before: $(cat /proc/loadavg)"
    cargo bench --manifest-path benches/suite/Cargo.toml --bench ring --bench peers --bench memory
    echo "loadavg after: $(cat /proc/loadavg)"
} 2>&1 | tee "$LOG"
python3 scripts/plot_benches.py --criterion "$TARGET/criterion" --out docs/benchmarks
