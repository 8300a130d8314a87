#!/usr/bin/env bash
# Miri over the core: unit tests, the single-threaded ring, exclusive-writer and soundness
# tests, and the threaded writer/reader tests (sized down under cfg(miri)).
set -euo pipefail
MIRIFLAGS="-Zmiri-strict-provenance" \
    timeout 1200 cargo +nightly miri test --no-default-features --features std,__test-hooks \
    --lib --test ring_basic --test ring_writer --test ring_soundness --test ring_lapping \
    --test auto_traits
# The fleet layer in-process (threads, no shared memory): an exclusive writer keeps its ring
# borrowed from the store it holds (fleet/hot.rs, HotRing); Miri checks that the borrow stays
# valid while the writer and the store move. Isolation off: the fleet reads the clock.
MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-disable-isolation" \
    timeout 600 cargo +nightly miri test --no-default-features --features std,__test-hooks \
    --test fleet_typed in_process
