#!/usr/bin/env bash
# loom models of the seq protocol (preemption bounds are set inside the tests).
set -euo pipefail
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 \
    timeout 900 cargo test --release --target-dir target/loom --test loom_ring
