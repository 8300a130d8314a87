#!/usr/bin/env bash
# The Zenoh bridge (bridge/, package orbit-bridge): rustfmt, clippy, docs, tests (real
# processes over 127.0.0.1 only), and the bench compiles. Every step is bounded. A cold run
# builds Zenoh three times (check, debug, release): see the build times in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "--- bridge: $*"; }

step "rustfmt"
timeout 120 cargo fmt --package orbit-bridge --check
step "clippy"
timeout 900 cargo clippy -p orbit-bridge --all-targets -- -D warnings
step "docs"
RUSTDOCFLAGS="-D warnings" timeout 600 cargo doc -p orbit-bridge --no-deps
step "tests"
timeout 900 cargo test -p orbit-bridge
step "bench compiles"
timeout 900 cargo bench -p orbit-bridge --no-run
