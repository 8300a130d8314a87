#!/usr/bin/env bash
# Runs examples/firmware (Cortex-M) and examples/firmware-riscv (riscv32imc; the same test, its
# check.rs) under QEMU: a timer interrupt publishes 20 000 frames into a static ring while main
# polls and checks them and publishes frames of its own. Each (machine, atomics configuration)
# pair must exit with semihosting status 0 (every frame delivered or counted lost, none torn) and
# must really have exercised the protocol (frames overwritten, polls and main's publishes
# preempted by the interrupt's publishes).
# `-icount` ties QEMU's clocks to the instruction count: the numbers repeat run to run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
unset RUSTFLAGS
single_core="--cfg portable_atomic_unsafe_assume_single_core"
failed=0

run() {
    local machine=$1 target=$2 config=$3
    local example=firmware bin=orbit-firmware-qemu qemu=(qemu-system-arm -machine "$machine")
    if [[ $target == riscv* ]]; then
        example=firmware-riscv bin=orbit-firmware-qemu-riscv
        # No firmware: QEMU loads the ELF into RAM at 0x8000_0000 and the hart starts there.
        qemu=(qemu-system-riscv32 -machine "$machine" -bios none)
    fi
    local dir="${CARGO_TARGET_DIR:-$root/target}/$example-qemu/$config"
    local flags=()
    [ "$config" = portable-atomic ] && flags=(--no-default-features --features portable-atomic)
    echo "--- $machine ($target), atomics: $config"
    (
        cd "examples/$example"
        if [ "$config" = portable-atomic ]; then export RUSTFLAGS="$single_core"; fi
        CARGO_TARGET_DIR="$dir" cargo build --quiet --release --locked --target "$target" "${flags[@]}"
    )
    local elf="$dir/$target/release/$bin" out status=0
    out=$(timeout 60 "${qemu[@]}" -nographic -icount shift=3 \
        -semihosting-config enable=on,target=native -kernel "$elf" 2>&1) || status=$?
    echo "$out"
    if [ "$status" -ne 0 ]; then
        echo "FAIL: exit status $status" >&2
        failed=1
    elif ! grep -q "overwritten=[1-9]" <<<"$out" || ! grep -q "preempted_polls=[1-9]" <<<"$out" \
        || ! grep -q "preempted_publishes=[1-9]" <<<"$out"; then
        echo "FAIL: the run did not exercise overwrites, mid-poll and mid-publish preemption" >&2
        failed=1
    elif [ "$config" = critical-section ] && ! grep -q "async_sleeps=[1-9]" <<<"$out"; then
        echo "FAIL: the async phase (a task awaiting a RingSignal) did not run or never slept" >&2
        failed=1
    fi
}

for config in critical-section portable-atomic; do
    run mps2-an386 thumbv7em-none-eabihf "$config" # Cortex-M4
    run microbit thumbv6m-none-eabi "$config"      # Cortex-M0 (nRF51)
    run virt riscv32imc-unknown-none-elf "$config" # RISC-V RV32IMC, CLINT machine timer
done
exit "$failed"
