#!/usr/bin/env bash
# The core builds with no std and no allocator for the firmware targets. thumbv6m and
# riscv32imc have no CAS and none of the three has 64-bit atomics: portable-atomic fills in,
# here with its single-core cfg (a firmware user may pick `portable-atomic/critical-section`).
set -euo pipefail
export RUSTFLAGS="--cfg portable_atomic_unsafe_assume_single_core"
for target in thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imc-unknown-none-elf; do
    echo "--- $target"
    cargo build --no-default-features --features portable-atomic --target "$target"
done
echo "--- thumbv7em-none-eabihf + defmt"
cargo build --no-default-features --features portable-atomic,defmt --target thumbv7em-none-eabihf
