#!/usr/bin/env bash
# Builds the native stack (pool, channel and RPC layers, which need only the C++ library) with
# Debian's aarch64 cross compiler, warnings as errors, and runs tests/cross/noncoherent_smoke.cc
# under qemu-user: the cache-maintenance instructions of another architecture compile, run in user
# mode, and carry calls over a pool without cache coherence.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
out=build-cross-aarch64
mkdir -p "$out"
cxx=aarch64-linux-gnu-g++
flags=(-std=c++20 -O2 -Wall -Wextra -Werror -Iinclude -Isrc)
sources=(src/pool/*.cc src/channel/*.cc src/rpc/*.cc)
printf '%s\n' "${sources[@]}" |
  xargs -P "$(nproc)" -I{} sh -c "$cxx ${flags[*]} -c {} -o $out/\$(echo {} | tr / _).o"
"$cxx" "${flags[@]}" tests/cross/noncoherent_smoke.cc "$out"/src_*.o -static -pthread \
  -o "$out/noncoherent_smoke"
qemu-aarch64 "$out/noncoherent_smoke"
