#!/usr/bin/env bash
# Firmware footprint of orbit-rs against embassy-sync and heapless (benches/footprint/).
#
# Builds, per target, with opt-level "z", LTO, panic=abort: a baseline binary (the shared loop,
# panic handler and critical-section implementation), orbit-rs (16 slots × 64 B; publish, poll,
# codec::decode), orbit-rs with codec::decode_raw (no UTF-8 check), orbit-rs without a decode,
# orbit-rs publishing only, embassy-sync's PubSubChannel (16 × [u8; 64], one subscriber) and
# heapless's spsc::Queue<[u8; 64], 16>, and prints each one's flash
# (.text + .rodata) and RAM (.data + .bss) over the baseline, memcpy/memset/memclr counted
# separately from the rest of the flash. orbit-rs is measured with feature critical-section (as
# embassy-sync's CriticalSectionRawMutex) and, on thumbv7em, with portable-atomic single-core.
#
# usage: scripts/footprint.sh [--check | --ci]
#   --check  exit 1 unless, on thumbv7em, orbit-rs (publish + poll + decode) needs at most
#            1.25 × embassy-sync's RAM and at most embassy-sync's flash (the #14 budgets).
#   --ci     what CI enforces: the RAM budget, and flash at most FLASH_CEILING (the flash budget
#            is not met; the ceiling, today's size plus 5 %, only lets it shrink toward it).
# Needs llvm-size and llvm-nm (Debian package `llvm`).
set -euo pipefail
cd "$(dirname "$0")/.."
# Flash of orbit-rs publish + poll + decode on thumbv7em that CI lets through (2750 B measured
# 2026-12-01, plus 5 %).
FLASH_CEILING=2890
check_ram=0 check_flash=0 check_ceiling=0
case "${1:-}" in
    --check) check_ram=1 check_flash=1 ;;
    --ci) check_ram=1 check_ceiling=1 ;;
    "") ;;
    *) echo "usage: $0 [--check | --ci]" >&2; exit 2 ;;
esac
for tool in llvm-size llvm-nm; do
    command -v "$tool" >/dev/null || { echo "$tool not found (apt-get install llvm)" >&2; exit 2; }
done
unset RUSTFLAGS
root=$PWD
out="${CARGO_TARGET_DIR:-$root/target}/footprint"
targets=(thumbv7em-none-eabihf thumbv6m-none-eabi riscv32imc-unknown-none-elf)
bins=(baseline orbit orbit_rawdecode orbit_nodecode orbit_publish embassy heapless)

build() { # dir, target, extra cargo args...
    local dir=$1 target=$2
    shift 2
    (cd benches/footprint && CARGO_TARGET_DIR="$dir" cargo build --quiet --release --locked \
        --target "$target" "$@")
}

# Prints "flash ram mem" for an ELF: flash = .text + .rodata (+ .data's initial image),
# ram = .data + .bss, mem = bytes of memcpy/memset/memclr/memmove routines (inside flash).
measure() {
    local elf=$1
    local sizes mem
    sizes=$(llvm-size -A "$elf" | awk '
        $1 == ".text" || $1 == ".rodata" { flash += $2 }
        $1 == ".data" { flash += $2; ram += $2 }
        $1 == ".bss" { ram += $2 }
        END { printf "%d %d", flash, ram }')
    mem=$(llvm-nm -S --radix=d "$elf" | awk '
        $4 ~ /(^|_)mem(cpy|set|clr|move)/ { total += $2 + 0 }
        END { printf "%d", total }')
    echo "$sizes $mem"
}

declare -A flash ram mem
row() { # label key
    local label=$1 key=$2 base=$3
    local df=$((flash[$key] - flash[$base])) dm=$((mem[$key] - mem[$base]))
    printf '| %-34s | %6d | %8d | %6d | %6d |\n' "$label" "$df" "$((df - dm))" "$dm" \
        "$((ram[$key] - ram[$base]))"
}

status=0
for target in "${targets[@]}"; do
    build "$out/critical-section" "$target"
    for bin in "${bins[@]}"; do
        read -r f r m < <(measure "$out/critical-section/$target/release/$bin")
        flash[$target/$bin]=$f ram[$target/$bin]=$r mem[$target/$bin]=$m
    done
    if [ "$target" = thumbv7em-none-eabihf ]; then
        RUSTFLAGS="--cfg portable_atomic_unsafe_assume_single_core" build "$out/portable-atomic" \
            "$target" --no-default-features --features portable-atomic --bin orbit --bin orbit_nodecode
        for bin in orbit orbit_nodecode; do
            read -r f r m < <(measure "$out/portable-atomic/$target/release/$bin")
            flash[$target/pa-$bin]=$f ram[$target/pa-$bin]=$r mem[$target/pa-$bin]=$m
        done
    fi
done

for target in "${targets[@]}"; do
    b=$target/baseline
    echo
    echo "### $target"
    echo
    echo "Baseline: ${flash[$b]} B flash (${mem[$b]} B mem*), ${ram[$b]} B RAM. Deltas over it, bytes:"
    echo
    echo "| binary                             |  flash | w/o mem* |   mem* |    RAM |"
    echo "|------------------------------------|-------:|---------:|-------:|-------:|"
    row "orbit-rs publish+poll+decode" "$target/orbit" "$b"
    row "orbit-rs publish+poll+decode_raw" "$target/orbit_rawdecode" "$b"
    row "orbit-rs publish+poll" "$target/orbit_nodecode" "$b"
    row "orbit-rs publish only" "$target/orbit_publish" "$b"
    if [ "$target" = thumbv7em-none-eabihf ]; then
        row "orbit-rs p+p+decode, single-core" "$target/pa-orbit" "$b"
        row "orbit-rs publish+poll, single-core" "$target/pa-orbit_nodecode" "$b"
    fi
    row "embassy-sync PubSubChannel" "$target/embassy" "$b"
    row "heapless spsc::Queue" "$target/heapless" "$b"
done

t=thumbv7em-none-eabihf
o_flash=$((flash[$t/orbit] - flash[$t/baseline])) o_ram=$((ram[$t/orbit] - ram[$t/baseline]))
e_flash=$((flash[$t/embassy] - flash[$t/baseline])) e_ram=$((ram[$t/embassy] - ram[$t/baseline]))
echo
echo "Budgets ($t, orbit-rs publish+poll+decode vs embassy-sync):"
verdict() { if [ "$1" -le "$2" ]; then echo ok; else echo OVER; fi; }
# RAM: orbit <= 1.25 × embassy, in integers: 4 × orbit <= 5 × embassy.
echo "  RAM   $o_ram B <= 1.25 × $e_ram B = $((e_ram * 5 / 4)) B: $(verdict $((o_ram * 4)) $((e_ram * 5)))"
echo "  flash $o_flash B <= $e_flash B: $(verdict "$o_flash" "$e_flash")"
echo "  flash $o_flash B <= ceiling $FLASH_CEILING B (CI): $(verdict "$o_flash" "$FLASH_CEILING")"
if [ "$check_ram" = 1 ] && [ $((o_ram * 4)) -gt $((e_ram * 5)) ]; then
    echo "RAM budget exceeded" >&2
    status=1
fi
if [ "$check_flash" = 1 ] && [ "$o_flash" -gt "$e_flash" ]; then
    echo "flash budget exceeded" >&2
    status=1
fi
if [ "$check_ceiling" = 1 ] && [ "$o_flash" -gt "$FLASH_CEILING" ]; then
    echo "flash grew past the ceiling: $o_flash B > $FLASH_CEILING B" >&2
    status=1
fi
exit "$status"
