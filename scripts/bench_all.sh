#!/usr/bin/env bash
# Runs the in-process benches (ring, peers, memory), logs the machine state around them, then
# regenerates the tables and plots. Usage: scripts/bench_all.sh [LOG]   (default target/bench.log)
#
# Budget: about 8 minutes of measurement on the 2-core reference machine (plus the build).
set -euo pipefail
cd "$(dirname "$0")/.."
LOG=${1:-target/bench.log}
{
    echo "=== $(date -u +%FT%TZ) $(rustc -V)"
    echo "loadavg before: $(cat /proc/loadavg)"
    cargo bench --bench ring --bench peers --bench memory
    echo "loadavg after: $(cat /proc/loadavg)"
} 2>&1 | tee "$LOG"
python3 scripts/plot_benches.py --out docs/benchmarks
