#!/usr/bin/env bash
# Builds the library and the gRPC integration with clang's thread-safety analysis as errors: a
# member read or written without the lock its NOTNETS_GUARDED_BY names, or a function called
# without the lock it NOTNETS_REQUIRES, fails the build (src/rpc/thread_annotations.h). The
# command-line tool comes too: its health.proto goes through protoc-gen-notnets, whose generated
# code users build with clang as well as gcc.
#   scripts/check-thread-safety.sh [build-dir]     (default build-thread-safety)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-thread-safety}
cmake -S . -B "$dir" -DCMAKE_CXX_COMPILER=clang++ -DNOTNETS_THREAD_SAFETY=ON \
  -DNOTNETS_BUILD_TESTS=OFF -DNOTNETS_BUILD_BENCH=OFF -DNOTNETS_BUILD_EXAMPLES=OFF > /dev/null
cmake --build "$dir" -j"$(nproc)" --target notnets_pool notnets_channel notnets_rpc notnets_grpc \
  notnets-cli
echo "thread-safety analysis: clean"
