#!/usr/bin/env bash
# Fuzz smoke run: builds every target, then runs each for SECONDS (default 30), one at a time,
# from a scratch copy of its committed seed corpus (fuzz/corpus/ stays clean) with its
# dictionary. Exits non-zero if any target crashes; crash inputs land in fuzz/artifacts/<target>/.
#
#   fuzz/run.sh 45        # needs cargo-fuzz and a nightly toolchain (.ci/setup.sh installs both)
set -euo pipefail

SECONDS_EACH="${1:-30}"
case "$SECONDS_EACH" in
    '' | *[!0-9]*) echo "usage: $0 [SECONDS per target]" >&2; exit 2 ;;
esac

FUZZ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$FUZZ_DIR"

TARGETS=(event_decode ring_hostile netid_parse segment_header bridge_envelope)

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/orbit-fuzz.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT

echo "--- building fuzz targets"
cargo +nightly fuzz build

failed=()
for target in "${TARGETS[@]}"; do
    echo "--- $target: ${SECONDS_EACH}s"
    corpus="$SCRATCH/$target"
    mkdir -p "$corpus"
    if [ -d "corpus/$target" ]; then
        cp -R "corpus/$target/." "$corpus/"
    fi
    args=(-max_total_time="$SECONDS_EACH" -print_final_stats=1)
    if [ -f "dict/$target.dict" ]; then
        args+=(-dict="$FUZZ_DIR/dict/$target.dict")
    fi
    if ! cargo +nightly fuzz run "$target" "$corpus" -- "${args[@]}"; then
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -ne 0 ]; then
    echo "--- fuzz targets that crashed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "--- all fuzz targets ran ${SECONDS_EACH}s without a crash"
