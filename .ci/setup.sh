#!/usr/bin/env bash
# Installs every toolchain piece CI needs when it is missing (idempotent).
set -euo pipefail
rustup component add rustfmt clippy
for target in thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imc-unknown-none-elf; do
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
done
missing=()
command -v qemu-system-arm >/dev/null 2>&1 || missing+=(qemu-system-arm)
command -v qemu-system-riscv32 >/dev/null 2>&1 || missing+=(qemu-system-misc)
command -v llvm-size >/dev/null 2>&1 && command -v llvm-nm >/dev/null 2>&1 || missing+=(llvm)
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update
    if ! apt-get install -y "${missing[@]}"; then
        # A machine may already carry QEMU pieces from the release's backports (qemu-utils
        # 10.x on bookworm), which Break the release's own qemu-system packages: take those
        # from backports too.
        codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
        echo "deb http://deb.debian.org/debian $codename-backports main" \
            > /etc/apt/sources.list.d/orbit-ci-backports.list
        apt-get update
        apt-get install -y -t "$codename-backports" "${missing[@]}"
    fi
fi
if ! rustup run nightly cargo miri --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal --component miri,rust-src
fi
rustup run nightly cargo miri setup >/dev/null
if [ -d fuzz ] && ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
