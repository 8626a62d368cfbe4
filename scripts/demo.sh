#!/usr/bin/env bash
# README's first command: installs what is missing, builds, and runs the demonstration: an echo
# server and client as two processes, their latency beside gRPC's on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
# The test suite has a build of its own (scripts/test.sh); the other scripts build in build/ what
# they run (run-example.sh, hotel.sh, check-install.sh).
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DNOTNETS_BUILD_TESTS=OFF > /dev/null
cmake --build build -j"$(nproc)" --target notnets-bench
build/bench/notnets-bench echo --calls "${NOTNETS_DEMO_CALLS:-50000}" \
  --cases floor-shm-pingpong,notnets-native,notnets-native-zerocopy,grpc-http2-tcp
