#!/usr/bin/env bash
# loom models of the ring protocol and their must-fail controls (tests/loom_ring.rs). Each
# model prints how many executions loom explored and fails below its floor; each control
# switches one protocol guard off and must fail. One test thread: the controls flip a
# process-wide switch.
set -euo pipefail
RUSTFLAGS="--cfg loom" \
    timeout 1500 cargo test --release --features critical-section --target-dir target/loom --test loom_ring -- \
    --test-threads=1 --nocapture 2>&1 | tee target/loom.log | grep -E "loom (model|control)|test result|panicked at|error" || true
grep -q "test result: ok" target/loom.log
