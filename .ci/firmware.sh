#!/usr/bin/env bash
# The core builds with no std and no allocator for the firmware targets. None of the three has
# 64-bit atomics (thumbv6m and riscv32imc have no CAS either); src/sync.rs accepts exactly the
# interrupt-safe ways to get them, each built here for each target:
#   critical-section                    every 64-bit op inside critical_section::with
#   portable-atomic + single-core cfg   portable-atomic disables interrupts around each op
# and refuses the rest (portable-atomic's lock-based fallback, no feature at all) with a
# compile_error! naming what to enable; the refusals are checked too.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imc-unknown-none-elf)
single_core="--cfg portable_atomic_unsafe_assume_single_core"

for target in "${targets[@]}"; do
    echo "--- $target: critical-section"
    cargo clippy --no-default-features --features critical-section --target "$target" -- -D warnings
    echo "--- $target: portable-atomic + $single_core"
    RUSTFLAGS="$single_core" cargo clippy --no-default-features --features portable-atomic \
        --target "$target" -- -D warnings
done
echo "--- thumbv7em-none-eabihf + defmt"
RUSTFLAGS="$single_core" cargo build --no-default-features --features portable-atomic,defmt \
    --target thumbv7em-none-eabihf

# Unsupported configurations must not build, and must say what to enable.
refuse() {
    local what=$1 expect=$2
    shift 2
    echo "--- refused: $what"
    local log
    if log=$(cargo build "$@" 2>&1); then
        echo "FAIL: $what built; it must be refused" >&2
        exit 1
    fi
    if ! grep -q "$expect" <<<"$log"; then
        echo "FAIL: $what failed without the expected message ($expect):" >&2
        echo "$log" >&2
        exit 1
    fi
    grep -m1 "^error: orbit-rs" <<<"$log"
}
for target in "${targets[@]}"; do
    refuse "$target, portable-atomic without single-core (lock-based fallback)" \
        "needs portable-atomic's single-core mode" \
        --no-default-features --features portable-atomic --target "$target"
    refuse "$target, no atomics feature" "Enable ONE of" --no-default-features --target "$target"
done
